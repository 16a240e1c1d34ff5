"""The outbox against a real SMTP server (aiosmtpd) and a real SQLite store (PostgreSQL too when
WATCH_TEST_PG_URL is set): routing into deliveries, outages, crashes, refusals, digests, .eml."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import uuid
from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import pytest
from alembic import command
from mailtools import SmtpServer, minor_report, policy_block, record_change, report, settings_for
from sqlalchemy import MetaData, create_engine, func, select

from watcher import notify
from watcher.events import ChangeRecorded
from watcher.notify import CHANNELS, LEASE, drain, planner
from watcher.notify.mail import Mail, build_message, make_message_id, parse_address, serialize
from watcher.store import HEAD, AlertRow, ChangeRow, Delivery, DigestItem, PolicyRow, Store, utcnow
from watcher.store.migrate import alembic_config, migrate

ROOT = Path(__file__).resolve().parent.parent
USER, STAFF = "user@example.net", "privacy@example.org"


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def open_store(settings):
    store = Store(settings.store)
    return store


def deliveries(store) -> list[Delivery]:
    with store.session() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def change_state(store, change_id) -> str:
    with store.session() as s:
        return s.get(ChangeRow, change_id).state


# --- queueing ----------------------------------------------------------------------------------


def test_nothing_is_queued_when_the_change_transaction_rolls_back(tmp_path, smtp):
    settings = settings_for(tmp_path, smtp_port=smtp.port, policies=policy_block())
    store = open_store(settings)
    with pytest.raises(RuntimeError):
        record_change(store, settings, "enmono", report(), fail_after_enqueue=True)
    assert deliveries(store) == []
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(ChangeRow)) == 0
    assert drain(settings, store).sent == 0 and smtp.received == []


@pytest.mark.parametrize("mode, verdict, severity, users_expected", [
    ("auto", True, "consent", True),
    ("auto", False, "consent", False),      # the old revision clause promises nothing: staff only
    ("never", True, "consent", False),
    ("always", False, "notice", True),
    ("always", False, "minor", False),      # users hear of material changes only
])
def test_routing_and_the_per_policy_override(tmp_path, mode, verdict, severity, users_expected):
    extra = f'notify_users = "{mode}"\nstaff = ["legal@example.org"]'
    settings = settings_for(tmp_path, policies=policy_block(extra=extra))
    store = open_store(settings)
    r = report(severity, users=verdict) if severity != "minor" else minor_report()
    _, ids = record_change(store, settings, "enmono", r)
    rows = deliveries(store)
    assert [d.id for d in rows] == ids
    users = sorted(d.recipient for d in rows if d.audience == "users")
    staff = sorted(d.recipient for d in rows if d.audience == "staff")
    assert users == ([USER] if users_expected else [])
    if severity == "minor":
        assert staff == []                 # waits for the digest
        with store.session() as s:
            [item] = s.scalars(select(DigestItem))
            assert sorted(e for e, _ in item.recipients) == ["legal@example.org", STAFF]
    else:
        assert staff == ["legal@example.org", STAFF]
        assert {d.kind for d in rows} == ({"alert", "notice"} if users_expected else {"alert"})


@pytest.mark.parametrize("mode, users, told", [
    ("auto", (USER,), "あり"),
    ("never", (USER,), "なし"),      # the override: the verdict says users, nobody is mailed
    ("auto", (), "なし"),            # nobody to mail
])
def test_staff_read_whether_users_were_actually_mailed(tmp_path, smtp, mode, users, told):
    settings = settings_for(tmp_path, smtp_port=smtp.port,
                            policies=policy_block(users=users, extra=f'notify_users = "{mode}"'))
    store = open_store(settings)
    record_change(store, settings, "enmono", report("consent", users=True))
    drain(settings, store)
    [staff] = smtp.sink.to(STAFF)
    assert f"利用者への通知: {told}" in staff.part("plain") and f"利用者への通知: {told}" in staff.part("html")
    assert len(smtp.sink.to(USER)) == (1 if told == "あり" else 0)


def test_one_mail_per_staff_address_however_it_is_written(tmp_path):
    extra = 'staff = ["Privacy Team <PRIVACY@example.org>", "legal@example.org"]'
    settings = settings_for(tmp_path, policies=policy_block(users=(), extra=extra))
    store = open_store(settings)
    record_change(store, settings, "enmono", report())
    assert sorted(d.recipient.lower() for d in deliveries(store)) == ["legal@example.org", STAFF]


def test_effective_dates_are_found_as_the_segmenter_finds_them():
    from watcher.notify import effective_date

    r = report()
    r["changes"][0]["categories"] = ["effective_date_changed"]
    r["changes"][0]["new"]["text"] = "Changes\nThis policy takes effect on 1 June 2026."
    assert effective_date(r) == "1 June 2026"


def test_formatting_only_changes_queue_nothing(tmp_path):
    settings = settings_for(tmp_path, policies=policy_block())
    store = open_store(settings)
    r = report("none", users=False, categories=["formatting"])
    change_id, ids = record_change(store, settings, "enmono", r)
    assert ids == []
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(DigestItem)) == 0
    assert change_state(store, change_id) == "notified"     # nothing left pending for it


def test_users_file_recipients_get_their_own_language(tmp_path, smtp):
    users = tmp_path / "users.csv"
    users.write_text("email,language\nja-user@example.net,ja\nen-user@example.net,en\n", encoding="utf-8")
    settings = settings_for(tmp_path, smtp_port=smtp.port,
                            policies=policy_block(users=(), extra=f'users_file = "{users}"'))
    store = open_store(settings)
    record_change(store, settings, "enmono", report())
    assert drain(settings, store).sent == 3
    [ja] = smtp.sink.to("ja-user@example.net")
    [en] = smtp.sink.to("en-user@example.net")
    assert "改定後" in ja.part("plain") and "同意" in ja.part("html")
    assert "Old and new text" in en.part("plain") and "About your consent" in en.part("html")


def test_user_notices_say_how_to_stop_them_without_inventing_an_unsubscribe_header(tmp_path, smtp):
    users = tmp_path / "users.csv"
    users.write_text("ja-user@example.net,ja\nen-user@example.net,en\n", encoding="utf-8")
    settings = settings_for(tmp_path, smtp_port=smtp.port,
                            policies=policy_block(users=(), extra=f'users_file = "{users}"'))
    store = open_store(settings)
    record_change(store, settings, "enmono", report())
    drain(settings, store)
    stop = {"ja": "このメールの送信元にご連絡ください", "en": "contact the sender of this email"}
    for lang in ("ja", "en"):
        [mail] = smtp.sink.to(f"{lang}-user@example.net")
        assert mail.msg["List-Unsubscribe"] is None
        assert stop[lang] in mail.part("plain") and stop[lang] in mail.part("html")


def test_changes_recorded_with_no_notify_plan_nothing(tmp_path):
    settings = settings_for(tmp_path, policies=policy_block())
    store = open_store(settings)
    change_id, _ = record_change(store, settings, "enmono", report())
    with store.unit_of_work() as uow:
        assert planner.plan_change(store, uow, settings, ChangeRecorded(
            policy="enmono", policy_id=1, change_id=change_id, severity="consent", material=True, notify=False,
            report=report())) == []
    assert len(deliveries(store)) == 2       # only the first recording's


def test_every_channel_kind_is_documented():
    assert "email" in CHANNELS
    for kind, cls in CHANNELS.items():
        assert cls.kind == kind and (vars(cls).get("__doc__") or "").strip(), kind
        assert all(callable(getattr(cls, name, None)) for name in ("build", "unsendable", "send", "__enter__"))


# --- sending -----------------------------------------------------------------------------------


def test_sent_once_with_the_stored_message_id_and_change_marked_notified(tmp_path, smtp):
    settings = settings_for(tmp_path, smtp_port=smtp.port, policies=policy_block())
    store = open_store(settings)
    change_id, ids = record_change(store, settings, "enmono", report())
    assert change_state(store, change_id) == "pending"
    result = drain(settings, store)
    assert (result.sent, result.deferred, result.failed) == (2, 0, 0)
    rows = deliveries(store)
    assert {r.state for r in rows} == {"sent"} and all(r.attempts == 1 for r in rows)
    assert sorted(m.message_id for m in smtp.received) == sorted(r.message_id for r in rows)
    assert all(m.mail_from == "watcher@example.org" for m in smtp.received)
    assert change_state(store, change_id) == "notified"
    assert drain(settings, store).sent == 0 and len(smtp.received) == 2


def test_smtp_outage_loses_nothing_and_each_mail_goes_out_once(tmp_path):
    server = SmtpServer()          # down: nothing listens yet
    settings = settings_for(tmp_path, smtp_port=server.port, policies=policy_block(users=(USER, "b@example.net")))
    store = open_store(settings)
    record_change(store, settings, "enmono", report())
    record_change(store, settings, "enmono", report("notice"))
    t0 = utcnow()
    first = drain(settings, store, now=t0)
    assert (first.sent, first.deferred) == (0, 6) and "cannot connect" in str(first)
    rows = deliveries(store)
    assert all(r.state == "pending" and r.attempts == 1 and "cannot connect" in r.last_error for r in rows)
    assert all(r.next_attempt_at >= t0 + timedelta(seconds=59) for r in rows)
    assert drain(settings, store, now=t0 + timedelta(seconds=10)).deferred == 0   # backing off: not due
    assert all(r.attempts == 1 for r in deliveries(store))
    server.start()
    try:
        assert drain(settings, store, now=t0 + timedelta(seconds=10)).sent == 0    # still backing off
        done = drain(settings, store, now=t0 + timedelta(minutes=2))
        assert done.sent == 6
        assert drain(settings, store, now=t0 + timedelta(hours=5)).sent == 0
        ids = [m.message_id for m in server.received]
        assert len(ids) == 6 and len(set(ids)) == 6
        assert sorted(ids) == sorted(r.message_id for r in deliveries(store))
        assert sorted(a for m in server.received for a in m.rcpt_tos) == sorted(
            [USER, USER, "b@example.net", "b@example.net", STAFF, STAFF])
    finally:
        server.stop()


def test_a_temporary_refusal_is_retried_and_a_permanent_one_waits_for_retry(tmp_path, smtp):
    settings = settings_for(tmp_path, smtp_port=smtp.port, policies=policy_block(users=("gone@example.net",)))
    store = open_store(settings)
    record_change(store, settings, "enmono", report())
    smtp.sink.reply = "451 4.3.0 mailbox busy"
    smtp.sink.refuse.add("gone@example.net")
    t0 = utcnow()
    result = drain(settings, store, now=t0)
    assert (result.sent, result.deferred, result.failed) == (0, 1, 1)
    by_rcpt = {r.recipient: r for r in deliveries(store)}
    assert by_rcpt[STAFF].state == "pending" and "451" in by_rcpt[STAFF].last_error
    assert by_rcpt["gone@example.net"].state == "failed" and "550" in by_rcpt["gone@example.net"].last_error
    smtp.sink.reply = None
    assert drain(settings, store, now=t0 + timedelta(minutes=5)).sent == 1      # the 4xx one
    assert drain(settings, store, now=t0 + timedelta(hours=9)).sent == 0        # a 5xx waits for a person
    smtp.sink.refuse.clear()
    assert drain(settings, store, retry=True).sent == 1                          # watch outbox --retry
    assert len(smtp.received) == 2 and counts_of(store) == {"sent": 2}


def counts_of(store):
    return store.delivery_counts()


CRASHING_SENDER = textwrap.dedent("""
    import os, sys
    from watcher.config import load_settings
    from watcher.notify import drain, open_transport

    class DiesAfterTheServerAccepted:
        alive = True
        def __init__(self, inner):
            self.inner = inner
        def __enter__(self):
            self.inner.__enter__()
            return self
        def send(self, *args):
            self.inner.send(*args)
            os._exit(17)             # killed before the row is marked sent
        def __exit__(self, *exc):
            self.inner.__exit__(*exc)

    settings = load_settings(sys.argv[1])
    drain(settings, transport=DiesAfterTheServerAccepted(open_transport(settings)))
""")


def test_sender_killed_between_send_and_mark_resends_at_most_once_with_the_same_message_id(tmp_path, smtp):
    config = tmp_path / "config.toml"
    settings = settings_for(tmp_path, smtp_port=smtp.port, policies=policy_block(users=(USER, "b@example.net")))
    store = open_store(settings)
    record_change(store, settings, "enmono", report())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CRASHING_SENDER, str(config)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 17, proc.stderr
    assert len(smtp.received) == 1
    crashed = smtp.received[0].message_id
    states = {r.message_id: r.state for r in deliveries(store)}
    assert states[crashed] == "sending" and list(states.values()).count("pending") == 2
    # A drain right away leaves the claimed row alone (its sender might still be alive) ...
    assert drain(settings, store).sent == 2
    assert [m.message_id for m in smtp.received].count(crashed) == 1
    # ... and sends it again once the lease has run out: the same bytes, the same Message-ID.
    assert drain(settings, store, now=utcnow() + LEASE + timedelta(seconds=1)).sent == 1
    ids = [m.message_id for m in smtp.received]
    assert len(ids) == 4 and ids.count(crashed) == 2 and len(set(ids)) == 3
    assert smtp.received[0].data == smtp.received[-1].data
    assert {r.state for r in deliveries(store)} == {"sent"}


def test_concurrent_senders_never_send_a_row_twice(tmp_path, smtp):
    users = tuple(f"u{i}@example.net" for i in range(12))
    settings = settings_for(tmp_path, smtp_port=smtp.port, policies=policy_block(users=users))
    store = open_store(settings)
    record_change(store, settings, "enmono", report())
    results = []

    def run():
        results.append(drain(settings, Store(settings.store)))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.sent for r in results) == 13
    ids = [m.message_id for m in smtp.received]
    assert len(ids) == 13 and len(set(ids)) == 13


def test_without_smtp_each_delivery_is_an_eml_file_sent_at_once(tmp_path):
    settings = settings_for(tmp_path, policies=policy_block())
    assert settings.smtp is None
    store = open_store(settings)
    change_id, ids = record_change(store, settings, "enmono", report())
    assert drain(settings, store).sent == 2
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert [f.name for f in files] == [f"delivery-{i:08d}.eml" for i in ids]
    parsed = [message_from_bytes(f.read_bytes(), policy=email_policy.default) for f in files]
    assert sorted(str(p["To"]) for p in parsed) == sorted([USER, STAFF])
    assert all(str(p["From"]).endswith("@localhost>") for p in parsed)
    assert {r.state for r in deliveries(store)} == {"sent"} and change_state(store, change_id) == "notified"
    assert not list((tmp_path / "outbox").glob(".tmp-*"))


# --- the daily digest ------------------------------------------------------------------------------


def add_alert(store, policy_name, message):
    with store.session() as s:
        prow = s.scalars(select(PolicyRow).where(PolicyRow.name == policy_name)).first()
        if prow is None:
            prow = PolicyRow(name=policy_name, url="https://example.com/" + policy_name)
            s.add(prow)
            s.flush()
        s.add(AlertRow(policy_id=prow.id, message=message, failures=3))


def test_daily_digest_collects_minor_changes_and_alerts_once(tmp_path, smtp):
    policies = policy_block() + policy_block(name="infox", url="https://infox.example.com/pp", users=(),
                                             extra='staff = ["infox-legal@example.org"]')
    settings = settings_for(tmp_path, smtp_port=smtp.port, policies=policies)
    store = open_store(settings)
    minor_id, ids = record_change(store, settings, "enmono", minor_report())
    assert ids == [] and drain(settings, store).sent == 0 and change_state(store, minor_id) == "pending"
    add_alert(store, "infox", "3 failed checks in a row: HTTP 503")
    run = notify.send_daily_digest(settings, store)
    assert run.drained.sent == 2
    [staff] = smtp.sink.to(STAFF)
    [infox] = smtp.sink.to("infox-legal@example.org")
    for part in (staff.part("plain"), staff.part("html")):
        assert "第11条 お問い合わせ" in part and "contact_changed" in part and "privacy@enmono.jp" in part
        assert "HTTP 503" in part and "watch show enmono@2" in part
    assert "日次ダイジェスト" in str(staff.msg["Subject"])
    assert "HTTP 503" in infox.part("plain") and "お問い合わせ" not in infox.part("plain")
    assert change_state(store, minor_id) == "notified"
    with store.session() as s:
        assert all(a.notified_at is not None for a in s.scalars(select(AlertRow)))
    again = notify.send_daily_digest(settings, store)
    assert again.mails == [] and len(smtp.received) == 2


def test_digest_dry_run_writes_nothing(tmp_path):
    settings = settings_for(tmp_path, policies=policy_block())
    store = open_store(settings)
    record_change(store, settings, "enmono", minor_report())
    run = notify.build_digests(store, settings, record=False)
    assert len(run.mails) == 1 and "第11条" in run.mails[0].mail.text
    assert store.list_deliveries() == []
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(DigestItem).where(DigestItem.digest_id.is_(None))) == 1


# --- PostgreSQL -----------------------------------------------------------------------------------


@pytest.fixture
def pg_url():
    url = os.environ.get("WATCH_TEST_PG_URL")
    if not url:
        pytest.skip("WATCH_TEST_PG_URL not set")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"pw_outbox_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_outage_then_once_on_postgresql(tmp_path, pg_url):
    server = SmtpServer()
    settings = settings_for(tmp_path, smtp_port=server.port, policies=policy_block())
    settings.store.url = pg_url
    store = open_store(settings)
    try:
        record_change(store, settings, "enmono", report())
        t0 = utcnow()
        assert drain(settings, store, now=t0).deferred == 2
        server.start()
        assert drain(settings, store, now=t0 + timedelta(minutes=2)).sent == 2
        assert drain(settings, store, now=t0 + timedelta(hours=2)).sent == 0
        assert len({m.message_id for m in server.received}) == len(server.received) == 2
    finally:
        server.stop()
        store.close()


# --- command line ----------------------------------------------------------------------------------


def test_watch_outbox_lists_and_retries(tmp_path, capsys):
    from watcher.cli import main

    server = SmtpServer()
    settings = settings_for(tmp_path, smtp_port=server.port, policies=policy_block())
    store = open_store(settings)
    record_change(store, settings, "enmono", report())
    config = str(tmp_path / "config.toml")
    assert main(["outbox", "--retry", "--config", config]) == 1          # server down: still unsent
    out = capsys.readouterr().out
    assert "0 sent, 2 deferred" in out and "cannot connect" in out and "pending" in out and USER in out
    assert "【同意が必要】enmono" in out
    server.start()
    try:
        assert main(["outbox", "--retry", "--config", config]) == 0      # sent now, without waiting
        out = capsys.readouterr().out
        assert "2 sent" in out and "total: 2 sent" in out
        assert len(server.received) == 2
    finally:
        server.stop()


def test_watch_digest_dry_run_then_send(tmp_path, smtp, capsys):
    from watcher.cli import main

    settings = settings_for(tmp_path, smtp_port=smtp.port, policies=policy_block())
    store = open_store(settings)
    record_change(store, settings, "enmono", minor_report())
    config = str(tmp_path / "config.toml")
    assert main(["digest", "--config", config]) == 0
    assert f"{STAFF}: [policy-watcher]" in capsys.readouterr().out
    assert main(["digest", "--dry-run", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "第11条 お問い合わせ" in out and "[+privacy+]" in out and smtp.received == []
    assert main(["digest", "--send", "--config", config]) == 0
    assert "1 sent" in capsys.readouterr().out and len(smtp.sink.to(STAFF)) == 1
    assert main(["digest", "--send", "--config", config]) == 0
    assert "nothing to send" in capsys.readouterr().out and len(smtp.received) == 1


def test_an_unusable_address_is_an_invalid_row_never_sent_and_told_to_staff(tmp_path, capsys):
    from watcher.cli import main

    settings = settings_for(tmp_path, policies=policy_block())     # no [smtp]: .eml files
    settings.policies[0].users.append("bad\r\naddress@example.net")    # what a hand-edited store could hold
    store = open_store(settings)
    change_id, ids = record_change(store, settings, "enmono", report())
    rows = {r.recipient: r for r in deliveries(store)}
    assert len(rows) == 3 and change_id is not None
    [bad] = [r for r in rows.values() if r.state == "invalid"]
    assert "line break" in bad.last_error and bad.message == ""
    # recorded as a domain event in the change's transaction, with the staff alert it opened
    [event] = store.events("mail_undeliverable")
    assert event["delivery_id"] == bad.id and event["change_id"] == change_id and event["alert_id"]
    assert drain(settings, store).sent == 2
    # `watch outbox --retry` must neither requeue it nor "send" an empty message.
    config = str(tmp_path / "config.toml")
    assert main(["outbox", "--retry", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "invalid" in out and "line break" in out and "total: 1 invalid, 2 sent" in out
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2 and all(f.stat().st_size > 0 for f in files)
    assert f"delivery-{bad.id:08d}.eml" not in {f.name for f in files}
    assert {r.id: r.state for r in deliveries(store)}[bad.id] == "invalid"
    assert change_state(store, change_id) == "pending"          # the user was never told
    # Staff read it in the daily digest's alerts, once.
    run = notify.send_daily_digest(settings, store)
    [digest] = run.mails
    assert digest.recipient == STAFF and digest.alerts == 1
    for part in (digest.mail.text, digest.mail.html):
        assert "bad" in part and "line break" in part and f"#{change_id}" in part
    assert notify.send_daily_digest(settings, store).mails == []
    assert change_state(store, change_id) == "pending"


def old_store_with_a_failed_row_without_message(settings) -> int:
    """A store at revision 0001 (before the "invalid" state existed) holding a change and its two
    deliveries: the staff one pending with its message, the user one saved "failed" with no message.
    Returns the change id."""
    Path(settings.store.bodies_dir).mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.store.url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    meta = MetaData()
    meta.reflect(engine)
    t, now = meta.tables, utcnow()
    message = serialize(build_message(Mail("subject", "text"), sender=parse_address("pw <pw@localhost>", "from"),
                                      recipient=parse_address(STAFF, "to"),
                                      message_id=make_message_id(2, "abc", "localhost"))).decode("ascii")
    with engine.begin() as conn:
        conn.execute(t["policies"].insert().values(id=1, name="enmono", url="https://example.com/privacy",
                                                   created_at=now, consecutive_failures=0, candidate_seen=0))
        for sid in (1, 2):
            conn.execute(t["snapshots"].insert().values(
                id=sid, policy_id=1, version=sid, fetched_at=now, body_sha256="0" * 64, body_size=0,
                url="https://example.com/privacy", content_type="", charset="", title="", text="x", lines=[],
                outline=[], text_key="", text_length=0, clauses=0, extractor_version=""))
        conn.execute(t["changes"].insert().values(id=1, policy_id=1, old_snapshot_id=1, new_snapshot_id=2,
                                                  report=report(), severity="consent", material=True,
                                                  created_at=now, state="pending"))
        common = dict(created_at=now, audience="users", policy="enmono", change_id=1, language="ja",
                      subject="s", attempts=0, next_attempt_at=now)
        conn.execute(t["deliveries"].insert().values(id=1, kind="notice", recipient=USER, message="",
                                                     state="failed", last_error="cannot build the message",
                                                     **common))
        conn.execute(t["deliveries"].insert().values(id=2, kind="alert", recipient=STAFF, message=message,
                                                     message_id=make_message_id(2, "abc", "localhost"),
                                                     state="pending", **{**common, "audience": "staff"}))
    engine.dispose()
    return 1


def test_a_row_saved_failed_without_a_message_is_not_requeued(tmp_path):
    """Such rows (stored before "invalid" existed) are made invalid by migration 0002, not at run time."""
    settings = settings_for(tmp_path, policies=policy_block())
    change_id = old_store_with_a_failed_row_without_message(settings)
    assert migrate(settings.store) == ("0001", HEAD)     # through 0002 (and every later revision)
    store = open_store(settings)
    result = drain(settings, store, retry=True)
    assert (result.sent, result.invalid) == (1, 0)
    assert sorted(r.state for r in deliveries(store)) == ["invalid", "sent"]
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    assert change_state(store, change_id) == "pending"


def test_a_non_ascii_local_part_is_invalid_at_enqueue_and_an_idn_domain_is_sent(tmp_path, smtp):
    settings = settings_for(tmp_path, smtp_port=smtp.port, policies=policy_block(users=("user@例え.jp", USER)))
    settings.policies[0].users.insert(0, "ユーザー@example.com")   # config refuses it; a users file edited later
    store = open_store(settings)
    change_id, _ = record_change(store, settings, "enmono", report())
    states = {r.recipient: r.state for r in deliveries(store)}
    assert states == {"ユーザー@example.com": "invalid", "user@xn--r8jz45g.jp": "pending", USER: "pending",
                      STAFF: "pending"}
    assert drain(settings, store).sent == 3
    assert sorted(a for m in smtp.received for a in m.rcpt_tos) == sorted([USER, STAFF, "user@xn--r8jz45g.jp"])
    assert change_state(store, change_id) == "pending"


def test_one_unsendable_row_never_blocks_the_others(tmp_path, smtp):
    """Rows written before addresses were checked at enqueue: smtplib cannot even write the command."""
    settings = settings_for(tmp_path, smtp_port=smtp.port, policies=policy_block(users=(USER, "b@example.net")))
    store = open_store(settings)
    record_change(store, settings, "enmono", report())
    with store.session() as s:
        row = s.scalars(select(Delivery).where(Delivery.recipient == USER)).one()
        row.recipient = "ユーザー@example.com"
        bad_id = row.id
    result = drain(settings, store)
    assert (result.sent, result.invalid) == (2, 1)
    states = {r.id: r.state for r in deliveries(store)}
    assert states.pop(bad_id) == "invalid" and set(states.values()) == {"sent"}
    # After the lease, nothing is retried: no row was left "sending".
    assert drain(settings, store, now=utcnow() + LEASE + timedelta(minutes=1)).sent == 0
    assert len(smtp.received) == 2


class Flaky:
    """A transport that raises a surprise (not a SendError) for one key, and sends the rest."""
    alive = True

    def __init__(self, inner, bad_key):
        self.inner, self.bad_key = inner, bad_key

    def __enter__(self):
        self.inner.__enter__()
        return self

    def send(self, raw, sender, recipient, key):
        if key == self.bad_key:
            raise UnicodeEncodeError("ascii", recipient, 0, 1, "ordinal not in range(128)")
        self.inner.send(raw, sender, recipient, key)

    def __exit__(self, *exc):
        self.inner.__exit__(*exc)


def test_any_exception_is_recorded_on_its_row_and_the_drain_goes_on(tmp_path, smtp):
    from watcher.notify import open_transport

    settings = settings_for(tmp_path, smtp_port=smtp.port, policies=policy_block(users=(USER, "b@example.net")))
    store = open_store(settings)
    _, ids = record_change(store, settings, "enmono", report())
    result = drain(settings, store, transport=Flaky(open_transport(settings), f"delivery-{ids[0]:08d}"))
    assert (result.sent, result.failed) == (2, 1)
    rows = {r.id: r for r in deliveries(store)}
    assert rows[ids[0]].state == "failed" and "UnicodeEncodeError" in rows[ids[0]].last_error
    assert {rows[i].state for i in ids[1:]} == {"sent"}


def test_two_digest_builds_at_once_send_one_digest(tmp_path, smtp):
    settings = settings_for(tmp_path, smtp_port=smtp.port, policies=policy_block())
    store = open_store(settings)
    record_change(store, settings, "enmono", minor_report())
    first, second = Store(settings.store), Store(settings.store)
    try:
        seen_by_second = notify.pending_digest(second)     # the second build reads first ...
        notify.build_digests(first, settings)              # ... the first builds and commits ...
        with pytest.raises(notify.DigestRace):             # ... and the second must not send it again
            notify.build_digests(second, settings, pending=seen_by_second)   # (its unit of work rolls back)
    finally:
        first.close()
        second.close()
    assert drain(settings, store).sent == 1 and len(smtp.received) == 1
