"""The schema of the first release (created by create_all, before migrations existed).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("body_sha256", sa.String(64)),
        sa.Column("last_checked_at", sa.DateTime),
        sa.Column("last_outcome", sa.String(16)),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("candidate_key", sa.String(64)),
        sa.Column("candidate_seen", sa.Integer, nullable=False),
    )
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("policy_id", sa.Integer, sa.ForeignKey("policies.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("fetched_at", sa.DateTime, nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("body_size", sa.Integer, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("charset", sa.String(40), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("lines", sa.JSON, nullable=False),
        sa.Column("outline", sa.JSON, nullable=False),
        sa.Column("text_key", sa.String(64), nullable=False),
        sa.Column("text_length", sa.Integer, nullable=False),
        sa.Column("clauses", sa.Integer, nullable=False),
        sa.Column("extractor_version", sa.String(200), nullable=False),
        sa.UniqueConstraint("policy_id", "version", name="uq_snapshots_policy_version"),
    )
    op.create_index("ix_snapshots_policy_id", "snapshots", ["policy_id"])
    op.create_index("ix_snapshots_fetched_at", "snapshots", ["fetched_at"])
    op.create_table(
        "bodies",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "checks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("policy_id", sa.Integer, sa.ForeignKey("policies.id"), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("final_url", sa.Text, nullable=False),
        sa.Column("redirects", sa.JSON, nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("elapsed", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id")),
    )
    op.create_index("ix_checks_policy_id", "checks", ["policy_id"])
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("policy_id", sa.Integer, sa.ForeignKey("policies.id"), nullable=False),
        sa.Column("old_snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=False),
        sa.Column("new_snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("material", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
    )
    op.create_index("ix_changes_policy_id", "changes", ["policy_id"])
    op.create_index("ix_changes_created_at", "changes", ["created_at"])
    op.create_index("ix_changes_state", "changes", ["state"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("policy_id", sa.Integer, sa.ForeignKey("policies.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("opened_at", sa.DateTime, nullable=False),
        sa.Column("notified_at", sa.DateTime),
        sa.Column("resolved_at", sa.DateTime),
    )
    op.create_index("ix_alerts_policy_id", "alerts", ["policy_id"])
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("alerts", sa.Integer, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("audience", sa.String(8), nullable=False),
        sa.Column("policy", sa.String(200)),
        sa.Column("change_id", sa.Integer, sa.ForeignKey("changes.id")),
        sa.Column("digest_id", sa.Integer, sa.ForeignKey("digests.id")),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("message_id", sa.String(250), unique=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("claimed_at", sa.DateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", sa.DateTime),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_attempt_at"])
    op.create_index("ix_deliveries_change_id", "deliveries", ["change_id"])
    op.create_index("ix_deliveries_digest_id", "deliveries", ["digest_id"])
    op.create_table(
        "digest_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("change_id", sa.Integer, sa.ForeignKey("changes.id"), nullable=False),
        sa.Column("policy", sa.String(200), nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("digest_id", sa.Integer, sa.ForeignKey("digests.id")),
    )
    op.create_index("ix_digest_items_change_id", "digest_items", ["change_id"])
    op.create_index("ix_digest_items_digest_id", "digest_items", ["digest_id"])


def downgrade() -> None:
    for table in ("digest_items", "deliveries", "digests", "alerts", "changes", "checks", "bodies", "snapshots",
                  "policies"):
        op.drop_table(table)
