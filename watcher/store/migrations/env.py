"""Alembic environment: run by watcher.store.migrate with a connection of the store's engine."""

from __future__ import annotations

from alembic import context

from watcher.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
