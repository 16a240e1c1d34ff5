"""Snapshots record which fetcher kind produced them (http, browser, file); "" for older versions.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("fetcher", sa.String(16), nullable=False, server_default=""))


def downgrade() -> None:
    raise NotImplementedError("policy-watcher does not downgrade a store: restore the backup made before "
                              "`watch migrate`")
