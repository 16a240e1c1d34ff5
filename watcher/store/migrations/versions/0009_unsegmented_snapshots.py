"""snapshots.outline and snapshots.clauses may be NULL: a first version is stored unsegmented
(watcher.derive: they are caches of its text, made when read). Stored values stay as they are.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: SQLite cannot drop a NOT NULL in place (the table is copied); PostgreSQL alters it
    with op.batch_alter_table("snapshots") as batch:
        batch.alter_column("outline", existing_type=sa.LargeBinary, nullable=True)
        batch.alter_column("clauses", existing_type=sa.Integer, nullable=True)


def downgrade() -> None:
    raise NotImplementedError("policy-watcher does not downgrade a store: restore the backup made before "
                              "`watch migrate`")
