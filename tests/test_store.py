"""The store on real SQLite: WAL, content-addressed compressed bodies, references, integrity."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from watcher.config import StoreSettings
from watcher.errors import InputError
from watcher.store import (
    AlertRow,
    Base,
    ChangeRow,
    SnapshotRow,
    Store,
    StoreError,
    pending_alerts,
    sha256,
    utcnow,
)


@pytest.fixture()
def store(tmp_path):
    s = Store(StoreSettings(url=f"sqlite:///{tmp_path}/db/watch.db", bodies_dir=tmp_path / "bodies"))
    yield s
    s.close()


def add_snapshot(store, session, policy, version, fetched_at, body=b"<p>x</p>"):
    digest = store.put_body(session, body)
    snap = SnapshotRow(policy_id=policy.id, version=version, fetched_at=fetched_at, body_sha256=digest,
                       body_size=len(body), url="http://example/p", status=200, text=f"v{version}",
                       lines=[[f"v{version}", 0]], outline=[], text_key=str(version), extractor_version="x")
    session.add(snap)
    session.flush()
    return snap


def test_sqlite_is_in_wal_mode_with_foreign_keys(store, tmp_path):
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert (tmp_path / "db" / "watch.db").exists()
    assert {"policies", "snapshots", "bodies", "checks", "changes", "alerts"} <= set(Base.metadata.tables)


def test_bodies_are_compressed_content_addressed_and_verified(store, tmp_path):
    body = "個人情報の取扱いについて".encode() * 500
    with store.session() as session:
        digest = store.put_body(session, body)
        assert store.put_body(session, body) == digest == sha256(body)
    path = tmp_path / "bodies" / digest[:2] / f"{digest}.gz"
    assert path.exists() and path.stat().st_size < len(body) / 5
    assert gzip.decompress(path.read_bytes()) == body
    with store.Session() as session:
        assert store.get_body(session, digest, verify=True) == body
        path.write_bytes(gzip.compress(b"tampered"))
        with pytest.raises(StoreError, match="does not match its sha256"):
            store.get_body(session, digest, verify=True)
        path.write_bytes(b"not gzip at all")
        with pytest.raises(StoreError, match="corrupt"):
            store.get_body(session, digest)
        path.unlink()
        with pytest.raises(StoreError, match="missing"):
            store.get_body(session, digest)
    assert not list((tmp_path / "bodies").rglob(".tmp-*"))


def test_a_failed_transaction_leaves_no_rows(store):
    with pytest.raises(RuntimeError), store.session() as session:
        policy = store.policy_row(session, "a", "http://example/p")
        add_snapshot(store, session, policy, 1, utcnow())
        raise RuntimeError("crash before commit")
    with store.Session() as session:
        assert store.policy_row(session, "a", create=False) is None


def test_no_change_without_its_snapshot(store):
    with store.session() as session:
        policy = store.policy_row(session, "a", "http://example/p")
        snap = add_snapshot(store, session, policy, 1, utcnow())
    with pytest.raises(IntegrityError), store.session() as session:
        session.add(ChangeRow(policy_id=policy.id, old_snapshot_id=snap.id, new_snapshot_id=snap.id + 99,
                              report={}, severity="minor", material=False))
    with pytest.raises(IntegrityError), store.session() as session:   # one version number per policy
        add_snapshot(store, session, policy, 1, utcnow(), body=b"other")


def test_references(store):
    base = utcnow() - timedelta(days=30)
    with store.session() as session:
        policy = store.policy_row(session, "enmono", "http://example/p")
        for v in (1, 2, 3):
            add_snapshot(store, session, policy, v, base + timedelta(days=10 * (v - 1)), body=f"b{v}".encode())
    with store.Session() as session:
        def version(ref):
            return store.resolve_ref(session, "enmono", ref).version

        assert version("latest") == version("") == version("head") == 3
        assert version("-1") == 2 and version("-2") == 1 and version("1") == 1 and version("+2") == 2
        day = (base + timedelta(days=10)).replace(tzinfo=UTC).astimezone()   # the local day of version 2
        assert version(day.strftime("%Y-%m-%d")) == 2
        assert version((base + timedelta(days=25)).strftime("%Y-%m-%d")) == 3
        exact = datetime.fromisoformat((base + timedelta(days=10)).isoformat() + "+00:00")
        assert version(exact.isoformat()) == 2
        assert version((exact - timedelta(seconds=1)).isoformat()) == 1
        with pytest.raises(InputError, match="no such version"):
            version("-3")
        with pytest.raises(InputError, match="no version stored before"):
            version("2001-01-01")
        with pytest.raises(InputError, match="cannot read reference"):
            version("yesterday")
        with pytest.raises(InputError, match="nothing stored for policy 'other'"):
            store.resolve_ref(session, "other", "latest")


def test_pending_alerts_for_the_mail_step(store):
    with store.session() as session:
        policy = store.policy_row(session, "a", "http://example/p")
        session.add(AlertRow(policy_id=policy.id, message="a: 3 checks failed", failures=3))
    with store.session() as session:
        [alert] = pending_alerts(session)
        alert.notified_at = utcnow()
    with store.Session() as session:
        assert pending_alerts(session) == []


def test_bad_store_url_is_one_line(tmp_path):
    with pytest.raises(StoreError) as info:
        Store(StoreSettings(url="postgresql+psycopg://nobody:secret@127.0.0.1:1/none", bodies_dir=tmp_path))
    message = str(info.value)
    assert message.startswith("cannot open store postgresql+psycopg://nobody:***@127.0.0.1:1/none")
    assert "secret" not in message and "\n" not in message
