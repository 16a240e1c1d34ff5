"""user_notices: the users told of each content of a policy (deduplicated notices: a flapping page
never mails the same notice to one person twice).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_notices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("policy", sa.String(200), nullable=False),
        sa.Column("content_key", sa.String(80), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("change_id", sa.Integer, sa.ForeignKey("changes.id"), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("policy", "content_key", "recipient", name="uq_user_notices"),
    )
    op.create_index("ix_user_notices_change_id", "user_notices", ["change_id"])


def downgrade() -> None:
    raise NotImplementedError("policy-watcher does not downgrade a store: restore the backup made before "
                              "`watch migrate`")
