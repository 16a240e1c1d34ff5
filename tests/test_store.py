"""The store behind its Repository, on real SQLite and (with WATCH_TEST_PG_URL) real PostgreSQL:
WAL, content-addressed compressed bodies, references, integrity, counters kept in SQL, events
written and handed to subscribers in the writer's transaction."""

from __future__ import annotations

import gzip
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from watcher.config import StoreSettings
from watcher.errors import InputError
from watcher.events import ChangeRecorded, VersionStored
from watcher.store import (
    AlertRow,
    Base,
    BodyRow,
    ChangeRow,
    CheckRecord,
    EventRow,
    PolicyRow,
    SnapshotRow,
    Store,
    StoreConflict,
    StoreError,
    codec,
    sha256,
    utcnow,
)


@pytest.fixture()
def store(tmp_path):
    s = Store(StoreSettings(url=f"sqlite:///{tmp_path}/db/watch.db", bodies_dir=tmp_path / "bodies"))
    yield s
    s.close()


@pytest.fixture()
def repo(tmp_path, store_url):
    """The same tests on SQLite and PostgreSQL."""
    s = Store(StoreSettings(url=store_url, bodies_dir=tmp_path / "bodies"))
    yield s
    s.close()


def policy_id(store, name="a") -> int:
    return store.load_states([(name, "http://example/p")])[name].policy_id


def add_snapshot(store, session, pid, version, fetched_at, body=b"<p>x</p>"):
    digest = store.put_body(session, body)
    snap = SnapshotRow(policy_id=pid, version=version, fetched_at=fetched_at, body_sha256=digest,
                       body_size=len(body), url="http://example/p", status=200, text=f"v{version}",
                       lines=[0], outline=[], text_key=str(version), extractor_version="x")
    session.add(snap)
    session.flush()
    return snap


def count(store, model, *where) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def failed(pid: int, name: str = "a", error: str = "HTTP 503") -> CheckRecord:
    return CheckRecord(policy_id=pid, policy=name, outcome="failed", started_at=utcnow(), url="http://example/p",
                       final_url="http://example/p", error=error)


def good(pid: int, name: str = "a") -> CheckRecord:
    return CheckRecord(policy_id=pid, policy=name, outcome="unchanged", started_at=utcnow(), url="http://example/p",
                       final_url="http://example/p", http_status=304, validators=("e1", None))


def test_sqlite_is_in_wal_mode_with_foreign_keys(store, tmp_path):
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert (tmp_path / "db" / "watch.db").exists()
    assert {"policies", "snapshots", "bodies", "checks", "changes", "alerts", "events", "deliveries",
            "digests", "digest_items"} <= set(Base.metadata.tables)


def test_bodies_are_compressed_content_addressed_and_verified(store, tmp_path):
    body = "個人情報の取扱いについて".encode() * 500
    with store.session() as session:
        digest = store.put_body(session, body)
        assert store.put_body(session, body) == digest == sha256(body)
    with store.session() as session:
        row = session.get(BodyRow, digest)
        assert row.size == len(body) and len(row.data) < len(body) / 5
        assert row.data[:4] == codec.ZSTD_MAGIC and codec.decompress(row.data) == body
    assert not (tmp_path / "bodies").exists()      # rows, no files
    assert store.get_body(digest, verify=True) == body
    with store.session() as session:
        session.get(BodyRow, digest).data = codec.compress(b"tampered")
    with pytest.raises(StoreError, match="does not match its sha256"):
        store.get_body(digest, verify=True)
    assert store.repair_body(body) is True and store.get_body(digest) == body
    with store.session() as session:
        session.get(BodyRow, digest).data = b"not compressed at all"
    with pytest.raises(StoreError, match="corrupt"):
        store.get_body(digest)
    with store.session() as session:
        session.delete(session.get(BodyRow, digest))
    with pytest.raises(StoreError, match="missing"):
        store.get_body(digest)


def test_bodies_of_a_store_from_before_0008_are_read_from_their_files(tmp_path):
    """A SQLite store from before 0008 kept its bodies as gzip files: they are read where they
    are, a body that comes back again goes into the table, and a damaged file is one line."""
    store = Store(StoreSettings(url=f"sqlite:///{tmp_path}/watch.db", bodies_dir=tmp_path / "bodies"))
    old = "第1条 個人情報の利用目的".encode() * 200
    digest = sha256(old)
    path = tmp_path / "bodies" / digest[:2] / f"{digest}.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(old))
    assert store.body_exists(digest) and store.get_body(digest, verify=True) == old
    path.write_bytes(b"not gzip")
    with pytest.raises(StoreError, match="corrupt"):
        store.get_body(digest)
    assert store.repair_body(old) is True and store.get_body(digest, verify=True) == old   # now a row
    with store.session() as session:
        assert codec.decompress(session.get(BodyRow, digest).data) == old
    store.close()


def test_a_failed_transaction_leaves_no_rows(repo):
    with pytest.raises(RuntimeError), repo.unit_of_work() as uow:
        uow.session.add(PolicyRow(name="a", url="http://example/p", consecutive_failures=0, candidate_seen=0))
        uow.session.flush()
        raise RuntimeError("crash before commit")
    assert not repo.has_policy("a")


def test_no_change_without_its_snapshot(repo):
    pid = policy_id(repo)
    with repo.session() as session:
        snap = add_snapshot(repo, session, pid, 1, utcnow())
    with pytest.raises(StoreConflict), repo.unit_of_work() as uow:
        uow.session.add(ChangeRow(policy_id=pid, old_snapshot_id=snap.id, new_snapshot_id=snap.id + 99,
                                  report={}, severity="minor", material=False))
    with pytest.raises(StoreConflict), repo.unit_of_work() as uow:   # one version number per policy
        add_snapshot(repo, uow.session, pid, 1, utcnow(), body=b"other")


def test_references(repo):
    base = utcnow() - timedelta(days=30)
    pid = policy_id(repo, "enmono")
    with repo.session() as session:
        for v in (1, 2, 3):
            add_snapshot(repo, session, pid, v, base + timedelta(days=10 * (v - 1)), body=f"b{v}".encode())

    def version(ref):
        return repo.resolve_ref("enmono", ref).version

    assert version("latest") == version("") == version("head") == 3
    assert version("-1") == 2 and version("-2") == 1 and version("1") == 1 and version("+2") == 2
    day = (base + timedelta(days=10)).replace(tzinfo=UTC).astimezone()   # the local day of version 2
    assert version(day.strftime("%Y-%m-%d")) == 2
    assert version((base + timedelta(days=25)).strftime("%Y-%m-%d")) == 3
    exact = datetime.fromisoformat((base + timedelta(days=10)).isoformat() + "+00:00")
    assert version(exact.isoformat()) == 2
    assert version((exact - timedelta(seconds=1)).isoformat()) == 1
    assert repo.resolve_ref("enmono", "2").text == "v2"
    with pytest.raises(InputError, match="no such version"):
        version("-3")
    with pytest.raises(InputError, match="no version stored before"):
        version("2001-01-01")
    with pytest.raises(InputError, match="cannot read reference"):
        version("yesterday")
    with pytest.raises(InputError, match="nothing stored for policy 'other'"):
        repo.resolve_ref("other", "latest")


def test_the_failure_streak_is_counted_in_sql_by_concurrent_writers(repo, tmp_path, store_url):
    """Two processes checking one policy never lose a count: each failure adds one in SQL, and only
    the failure that reaches the threshold opens the alert (once)."""
    pid = policy_id(repo)
    writers = [Store(StoreSettings(url=store_url, bodies_dir=tmp_path / "bodies")) for _ in range(4)]
    start = threading.Barrier(len(writers))
    errors = []

    def fail_five_times(w):
        start.wait()
        try:
            for _ in range(5):
                with w.unit_of_work() as uow:
                    w.record_checks(uow, [failed(pid)], alert_after=7)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=fail_five_times, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in writers:
        w.close()
    assert errors == []
    assert repo.load_states([("a", "http://example/p")])["a"].consecutive_failures == 20
    assert count(repo, AlertRow) == 1
    with repo.session() as session:
        alert = session.scalars(select(AlertRow)).one()
        assert alert.failures == 7 and alert.kind == "check_failures"


def test_a_good_check_resolves_the_failed_check_alert_only(repo):
    """A good fetch ends the failed-fetch alert; an undeliverable-mail alert stays until it is seen to."""
    pid = policy_id(repo)
    with repo.unit_of_work() as uow:
        recorded = repo.record_checks(uow, [failed(pid), failed(pid)], alert_after=2)
        uow.session.add(AlertRow(policy_id=pid, kind="undeliverable", failures=0, message="a: mail to x not sent"))
    assert [r.failures for r in recorded] == [1, 2] and recorded[0].alert_id is None and recorded[1].alert_id
    with repo.unit_of_work() as uow:
        repo.record_checks(uow, [good(pid)], alert_after=2)
    with repo.session() as session:
        alerts = {a.kind: a.resolved_at for a in session.scalars(select(AlertRow))}
    assert alerts["check_failures"] is not None
    assert alerts["undeliverable"] is None
    state = repo.load_states([("a", "http://example/p")])["a"]
    assert state.consecutive_failures == 0 and state.etag is None   # no version: validators are meaningless


def test_load_states_adds_new_policies_and_follows_a_changed_url(repo):
    first = repo.load_states([("a", "http://example/a"), ("b", "http://example/b")])
    assert first["a"].policy_id != first["b"].policy_id and first["a"].latest_id is None
    # the configuration moved b to a new URL and added c: same rows for a and b, one new row
    again = repo.load_states([("a", "http://example/a"), ("b", "http://example/b2"), ("c", "http://example/c")])
    assert again["a"].policy_id == first["a"].policy_id and again["b"].policy_id == first["b"].policy_id
    assert again["c"].policy_id not in (first["a"].policy_id, first["b"].policy_id)
    with repo.session() as session:
        assert dict(session.execute(select(PolicyRow.name, PolicyRow.url)).all()) == {
            "a": "http://example/a", "b": "http://example/b2", "c": "http://example/c"}


def test_load_states_reads_the_latest_version_of_each_policy(repo):
    pid = policy_id(repo)
    with repo.session() as session:
        for version in (1, 2, 3):
            add_snapshot(repo, session, pid, version, datetime(2026, 5, version))
    state = repo.load_states([("a", "http://example/p")])["a"]
    assert state.latest_version == 3 and state.latest_text_key == "3"


def test_events_are_stored_and_handed_to_subscribers_in_the_same_transaction(repo):
    pid = policy_id(repo)
    seen = []
    repo.subscribe("change_recorded", lambda uow, e: seen.append((e.change_id, uow.session.in_transaction())))
    with repo.unit_of_work() as uow:
        uow.publish(VersionStored(policy="a", policy_id=pid, snapshot_id=0, version=1, first=True),
                    ChangeRecorded(policy="a", policy_id=pid, change_id=41, severity="notice", report={"x": 1}))
    assert seen == [(41, True)]
    kinds = [e["kind"] for e in repo.events()]
    assert kinds == ["version_stored", "change_recorded"]
    assert repo.events("change_recorded", policy="a")[0]["change_id"] == 41
    assert "report" not in repo.events("change_recorded")[0]        # the report is stored once, on its change

    def broken(uow, event):
        raise RuntimeError("the planner failed")

    repo.subscribe("change_recorded", broken, name="planner")
    with pytest.raises(RuntimeError), repo.unit_of_work() as uow:
        uow.session.add(PolicyRow(name="b", url="http://example/b", consecutive_failures=0, candidate_seen=0))
        uow.publish(ChangeRecorded(policy="a", policy_id=pid, change_id=42))
    assert not repo.has_policy("b") and count(repo, EventRow) == 2   # all or nothing


def test_json_is_stored_as_compressed_utf8(store):
    pid = policy_id(store)
    outline = [{"number": "第1条", "title": "個人情報の利用目的", "kind": "clause",
                "body": ["当社は、お客様の個人情報を次の目的で利用します。" * 2]}] * 40
    with store.session() as session:
        snap = add_snapshot(store, session, pid, 1, utcnow())
        snap.outline = outline
    with store.engine.connect() as conn:
        raw = conn.execute(text("SELECT outline FROM snapshots")).scalar_one()
    decoded = codec.decompress(raw).decode("utf-8")
    assert "個人情報の利用目的" in decoded and "\\u" not in decoded
    assert len(raw) < len(decoded.encode("utf-8")) / 5
    assert store.resolve_ref("a", "latest").outline == outline


def test_bad_store_url_is_one_line(tmp_path):
    with pytest.raises(StoreError) as info:
        Store(StoreSettings(url="postgresql+psycopg://nobody:secret@127.0.0.1:1/none", bodies_dir=tmp_path))
    message = str(info.value)
    assert message.startswith("cannot open store postgresql+psycopg://nobody:***@127.0.0.1:1/none")
    assert "secret" not in message and "\n" not in message


def test_a_held_candidate_is_counted_in_sql(repo):
    """confirm >= 2: each sighting of the same candidate text adds one in SQL (two checkers that both
    saw it once make it twice); a different candidate starts again at one."""
    pid = policy_id(repo)

    def hold(key: str) -> CheckRecord:
        record = good(pid)
        record.hold, record.validators = key, None
        return record

    for key in ("k1", "k1"):
        with repo.unit_of_work() as uow:
            repo.record_checks(uow, [hold(key)], alert_after=3)
    state = repo.load_states([("a", "http://example/p")])["a"]
    assert (state.candidate_key, state.candidate_seen) == ("k1", 2)
    with repo.unit_of_work() as uow:
        repo.record_checks(uow, [hold("k2")], alert_after=3)
    state = repo.load_states([("a", "http://example/p")])["a"]
    assert (state.candidate_key, state.candidate_seen) == ("k2", 1)
    with repo.unit_of_work() as uow:
        repo.record_checks(uow, [good(pid)], alert_after=3)     # the page went back: no candidate
    state = repo.load_states([("a", "http://example/p")])["a"]
    assert (state.candidate_key, state.candidate_seen) == (None, 0)


def test_a_broken_outbox_table_is_a_one_line_store_error(store):
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE deliveries"))
    for read in (store.delivery_counts, lambda: store.list_deliveries(limit=5)):
        with pytest.raises(StoreError) as info:
            read()
        assert "no such table: deliveries" in str(info.value) and "\n" not in str(info.value)


def _open_new_store(url: str, bodies: str, results) -> None:
    try:
        Store(StoreSettings(url=url, bodies_dir=bodies)).close()
        results.put("ok")
    except Exception as e:  # noqa: BLE001 - reported to the test
        results.put(f"{type(e).__name__}: {e}")


def test_processes_opening_one_new_store_at_once_all_get_it(tmp_path):
    """SQLite runs each CREATE TABLE on its own: another process may see the tables before the
    version row and must not take a store being created for one from before migrations."""
    import multiprocessing

    context = multiprocessing.get_context("fork")   # forked before the test opens any store
    for trial in range(3):
        url = f"sqlite:///{tmp_path}/s{trial}/watch.db"
        results = context.Queue()
        procs = [context.Process(target=_open_new_store, args=(url, str(tmp_path / "b"), results)) for _ in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert sorted({results.get(timeout=5) for _ in procs}) == ["ok"]
