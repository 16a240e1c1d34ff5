"""dictionaries: the zstd dictionaries a store trains from its own bodies and texts
(watcher.store.codec). Values written before stay as they are (gzip bodies, zlib text and JSON;
the older bodies of a SQLite store stay files): every reader takes every format.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dictionaries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("policy-watcher does not downgrade a store: restore the backup made before "
                              "`watch migrate`")
