"""fanouts: a change's notice to many users planned as one row and expanded by the drain in
batches; deliveries indexed by (change_id, state) so settling a change after each mail is cheap.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fanouts",
        sa.Column("change_id", sa.Integer, sa.ForeignKey("changes.id"), primary_key=True),
        sa.Column("policy", sa.String(200), nullable=False),
        sa.Column("content_key", sa.String(80), nullable=False),
        sa.Column("templates", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("done_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_fanouts_state", "fanouts", ["state"])
    op.create_index("ix_deliveries_change_state", "deliveries", ["change_id", "state"])


def downgrade() -> None:
    raise NotImplementedError("policy-watcher does not downgrade a store: restore the backup made before "
                              "`watch migrate`")
