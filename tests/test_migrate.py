"""Schema migrations: a store written by the previous release is refused until `watch migrate`
upgrades it, after which every command reads its history; the migrations build the same schema
as watcher.store.schema describes.

tests/data/legacy-store holds a store the previous release (before migrations) wrote: its SQLite
dump (two versions of one policy, a consent change mailed to a user and staff, failed checks of a
second policy, a delivery stored as "failed" with no message as that release did for an unusable
address) and its body files. On PostgreSQL the same rows are copied into the first revision's tables.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Boolean, MetaData, create_engine, func, select, text
from sqlalchemy.types import JSON

from watcher.store import HEAD, Base, ChangeRow, Delivery, SnapshotRow, Store, StoreError
from watcher.store import migrate as migrations

LEGACY = Path(__file__).parent / "data" / "legacy-store"
TABLES = ("policies", "snapshots", "bodies", "checks", "changes", "alerts", "digests", "deliveries", "digest_items")


def write_config(tmp_path: Path, url: str) -> Path:
    (tmp_path / "policy.txt").write_text((LEGACY / "policy-v2.txt").read_text(encoding="utf-8"), encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\nurl = "{url}"\nbodies_dir = "snapshots/bodies"\n\n'
                      '[notify]\nstaff = ["legal@example.com"]\noutbox_dir = "outbox"\n\n'
                      '[[policy]]\nname = "demo"\nurl = "policy.txt"\nusers = ["user@example.net"]\n',
                      encoding="utf-8")
    return config


def legacy_sqlite() -> sqlite3.Connection:
    con = sqlite3.connect(":memory:")
    con.executescript((LEGACY / "watch.sql").read_text(encoding="utf-8"))
    return con


def build_legacy_store(tmp_path: Path, url: str) -> None:
    """The previous release's store at `url`: on SQLite its own file; on PostgreSQL its rows in the
    first revision's tables (that release created them with create_all), bodies in the bodies table."""
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(path)
        legacy_sqlite().backup(target)
        target.close()
        for body in (LEGACY / "bodies").rglob("*.gz"):
            dest = tmp_path / "snapshots" / "bodies" / body.parent.name / body.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(body.read_bytes())
        return
    engine = create_engine(url)
    config = migrations.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(text("DROP TABLE alembic_version"))   # that release had no version table
    meta = MetaData()
    meta.reflect(engine)
    source = legacy_sqlite()
    source.row_factory = sqlite3.Row
    with engine.begin() as conn:
        for name in TABLES:
            table = meta.tables[name]
            rows = [dict(r) for r in source.execute(f"SELECT * FROM {name} ORDER BY 1")]
            if name == "bodies":
                rows = [{"sha256": p.stem, "size": len(gzip.decompress(p.read_bytes())), "data": p.read_bytes(),
                         "created_at": "2026-12-01 00:00:00"} for p in (LEGACY / "bodies").rglob("*.gz")]
            for row in rows:
                for column in table.columns:
                    if isinstance(column.type, Boolean) and row.get(column.name) is not None:
                        row[column.name] = bool(row[column.name])
                    if isinstance(column.type, JSON) and isinstance(row.get(column.name), str):
                        row[column.name] = json.loads(row[column.name])
            if rows:
                conn.execute(table.insert(), rows)
                if "id" in table.columns:
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                      f"(SELECT max(id) FROM {name}))"))
    engine.dispose()


def test_migrations_head_is_the_schema_the_code_describes(tmp_path):
    assert migrations.head() == HEAD
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    engine = create_engine(url)
    config = migrations.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    engine.dispose()
    assert diffs == [], diffs


def test_a_store_from_the_previous_release_is_refused_until_migrated(tmp_path, store_url, watch):
    build_legacy_store(tmp_path, store_url)
    config = write_config(tmp_path, store_url)
    refused = watch("history", "demo", "--config", config, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "watch migrate" in refused.stderr
    assert "before schema migrations" in refused.stderr
    assert watch("check", "--config", config, cwd=tmp_path).returncode == 2     # nothing written meanwhile

    migrated = watch("migrate", "--config", config, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert f"to revision {HEAD}" in migrated.stdout
    again = watch("migrate", "--config", config, cwd=tmp_path)
    assert again.returncode == 0 and "nothing to do" in again.stdout

    history = watch("history", "demo", "--json", "--config", config, cwd=tmp_path)
    assert history.returncode == 0, history.stderr
    data = json.loads(history.stdout)
    assert [s["version"] for s in data["snapshots"]] == [1, 2]
    assert [(c["severity"], c["state"], c["old_version"], c["new_version"]) for c in data["changes"]] == [
        ("consent", "notified", 1, 2)]
    shown = watch("show", "demo@1", "--config", config, cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout.startswith("プライバシーポリシー")
    diff = watch("diff", "demo@1", "demo@2", "--format", "json", "--config", config, cwd=tmp_path)
    assert diff.returncode == 1, diff.stderr
    assert json.loads(diff.stdout)["severity"] == "consent"

    # The same page again is the stored version: nothing reported although the extraction code
    # that derived the old snapshots has changed since (they are re-derived from their bodies).
    check = watch("check", "demo", "--json", "--config", config, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)[0]["status"] == "unchanged"

    store = Store(write_settings(config).store)
    try:
        with store.session() as s:
            # the data fix that used to run at every `watch outbox --retry`
            assert dict(s.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all()) == {
                "sent": 2, "invalid": 1}
            assert set(s.scalars(select(Delivery.channel))) == {"email"}
            report = s.scalars(select(ChangeRow.report)).one()
            assert report["schema"] == "policy-watcher/diff/v1" and report["severity"] == "consent"
            outline = s.scalars(select(SnapshotRow.outline).where(SnapshotRow.version == 1)).one()
            assert outline and any(c.get("title") == "取得する情報及び利用方法" for c in outline)
            # stored compressed: the raw column is zlib, not JSON with \\u escapes
            raw = s.execute(text("SELECT outline FROM snapshots WHERE version = 1")).scalar_one()
            assert isinstance(raw, bytes | memoryview) and bytes(raw)[:1] == b"\x78"
    finally:
        store.close()


def write_settings(config: Path):
    from watcher.config import load_settings

    return load_settings(config)


def test_a_store_at_an_unknown_revision_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'snapshots' / 'watch.db'}"
    Store(write_settings(write_config(tmp_path, url)).store).close()
    con = sqlite3.connect(tmp_path / "snapshots" / "watch.db")
    con.execute("UPDATE alembic_version SET version_num = '0001'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match=r"at revision 0001; this release needs revision .*watch migrate"):
        Store(write_settings(tmp_path / "config.toml").store)


def test_a_migration_that_cannot_run_is_one_line_and_changes_nothing(tmp_path, watch):
    config = write_config(tmp_path, "postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    r = watch("migrate", "--config", config, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "cannot migrate the store at postgresql+psycopg://nobody:***@127.0.0.1:1/none" in r.stderr
    assert "secret" not in r.stderr

    url = f"sqlite:///{tmp_path / 'snapshots' / 'watch.db'}"
    build_legacy_store(tmp_path, url)
    con = sqlite3.connect(tmp_path / "snapshots" / "watch.db")
    con.execute("UPDATE changes SET report = '{not json'")
    con.commit()
    con.close()
    config = write_config(tmp_path, url)
    r = watch("migrate", "--config", config, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "changes row 1: report is not JSON" in r.stderr and "nothing was changed" in r.stderr
    con = sqlite3.connect(tmp_path / "snapshots" / "watch.db")
    tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert "events" not in tables, "the failed upgrade was rolled back"
