"""Policies as data: each policy row carries its table (spec), source, schedule and next_due (the
schedulers of watcher.runners claim due rows); one change per (old, new) snapshot pair.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policies") as batch:
        batch.add_column(sa.Column("spec", sa.JSON))
        batch.add_column(sa.Column("source", sa.String(16)))
        batch.add_column(sa.Column("schedule", sa.String(200)))
        batch.add_column(sa.Column("next_due", sa.DateTime))
        batch.create_index("ix_policies_next_due", ["next_due"])
    with op.batch_alter_table("changes") as batch:
        batch.create_unique_constraint("uq_changes_snapshots", ["old_snapshot_id", "new_snapshot_id"])


def downgrade() -> None:
    raise NotImplementedError("policy-watcher does not downgrade a store: restore the backup made before "
                              "`watch migrate`")
