"""Events table; a channel per delivery; derived text, outlines and reports compressed UTF-8 JSON.

Also the data fixes that earlier releases ran as runtime code: deliveries stored as "failed"
without a message (before the "invalid" state existed) become "invalid".

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
import zlib

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BATCH = 500


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("policy_id", sa.Integer, sa.ForeignKey("policies.id")),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    op.create_index("ix_events_created_at", "events", ["created_at"])
    op.create_index("ix_events_kind", "events", ["kind"])
    op.create_index("ix_events_policy_id", "events", ["policy_id"])
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("channel", sa.String(16), nullable=False, server_default="email"))
    op.execute("UPDATE deliveries SET state = 'invalid' WHERE state = 'failed' AND message = ''")
    _compress("snapshots", {"text": "text", "lines": "list", "outline": "list"})
    _compress("changes", {"report": "object"})


def _compress(table: str, columns: dict[str, str]) -> None:
    """Rewrite each column as a zlib-compressed BLOB (JSON re-encoded as UTF-8, not \\u escapes);
    `columns` maps a column to its kind: text, list or object (JSON)."""
    with op.batch_alter_table(table) as batch:
        for name in columns:
            batch.add_column(sa.Column(f"z_{name}", sa.LargeBinary))
    conn = op.get_bind()
    t = sa.table(table, sa.column("id", sa.Integer), *(sa.column(n, sa.Text) for n in columns),
                 *(sa.column(f"z_{n}", sa.LargeBinary) for n in columns))
    last = 0
    while True:
        rows = conn.execute(sa.select(t.c.id, *(sa.cast(t.c[n], sa.Text).label(n) for n in columns))
                            .where(t.c.id > last).order_by(t.c.id).limit(BATCH)).all()
        if not rows:
            break
        updates = []
        for row in rows:
            values = {"b_id": row.id}
            for name, kind in columns.items():
                raw = getattr(row, name)
                if kind != "text":
                    try:
                        value = json.loads(raw) if raw else ({} if kind == "object" else [])
                    except ValueError as e:
                        raise ValueError(f"{table} row {row.id}: {name} is not JSON ({e})") from None
                    raw = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
                values[f"b_{name}"] = zlib.compress((raw or "").encode("utf-8"), 6)
            updates.append(values)
        conn.execute(t.update().where(t.c.id == sa.bindparam("b_id"))
                     .values({f"z_{n}": sa.bindparam(f"b_{n}") for n in columns}), updates)
        last = rows[-1].id
    with op.batch_alter_table(table) as batch:
        for name in columns:
            batch.drop_column(name)
    with op.batch_alter_table(table) as batch:
        for name in columns:
            batch.alter_column(f"z_{name}", new_column_name=name, existing_type=sa.LargeBinary, nullable=False)


def downgrade() -> None:
    raise NotImplementedError("policy-watcher does not downgrade a store: restore the backup made before "
                              "`watch migrate`")
