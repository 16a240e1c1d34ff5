"""`watch check` end to end: a real local web server serving the seed policies as HTML pages,
changed between checks; a real SQLite store. What is and what is not a new version."""

from __future__ import annotations

import json
import re
import shlex
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from webserver import PageServer, login_page, maintenance_page, policy_page, seed_texts, truncated

from watcher.app import check_policies, open_app
from watcher.config import parse_settings
from watcher.derive import EXTRACTOR_VERSION, decode_lines, encode_lines, stored_clauses, stored_document
from watcher.models import Document, Line
from watcher.store import AlertRow, BodyRow, ChangeRow, CheckRow, Delivery, SnapshotRow, Store, sha256

SEEDS = seed_texts()
ENMONO = SEEDS["000_e00ebf84e0ab835f"]
# A real revision: a new kind of personal data collected (位置情報).
ENMONO_NEW = ENMONO.replace("メールアドレス、パスワードを取得", "メールアドレス、パスワード、位置情報を取得")
assert ENMONO_NEW != ENMONO


def make_settings(tmp_path: Path, policies: list[dict], url: str = "sqlite:///store/watch.db", **fetch):
    raw = {
        "store": {"url": url, "bodies_dir": "store/bodies"},
        "fetch": {"timeout_connect": 2, "timeout_read": 3, "retries": 1, "backoff": 0.01, **fetch},
        "notify": {"staff": ["staff@example.com"], "outbox_dir": "outbox"},
        "policy": policies,
    }
    return parse_settings(raw, base_dir=tmp_path)


def count(store: Store, model, *where) -> int:
    with store.Session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def statuses(outcomes) -> dict[str, str]:
    return {o.name: o.status for o in outcomes}


def test_first_unchanged_changed_across_the_seeds(tmp_path, server):
    for stem, text in SEEDS.items():
        server.set(f"/{stem}", policy_page(text, nonce="fixed", views=1, stamp="2026-05-01"))
    settings = make_settings(tmp_path, [{"name": f"p{stem[:3]}", "url": server.url(f"/{stem}")} for stem in SEEDS])
    store = Store(settings.store)

    first = check_policies(settings, store=store)
    assert statuses(first) == {f"p{s[:3]}": "first" for s in SEEDS}
    assert count(store, SnapshotRow) == 5
    with store.Session() as session:
        for snap in session.scalars(select(SnapshotRow)):
            assert snap.version == 1 and snap.extractor_version.startswith(EXTRACTOR_VERSION)
            # a first version is stored unsegmented: its clauses are counted, and its outline made, when read
            assert snap.clauses is None and snap.outline is None and stored_clauses(snap) >= 5
            assert snap.text_length > 2000 and snap.status == 200
            assert "閲覧数" not in snap.text and "fixed" not in snap.text      # page chrome is not policy text
            assert store.get_body(snap.body_sha256, verify=True).startswith(b"<!DOCTYPE html>")

    server.reset_counts()
    again = check_policies(settings, store=store)
    assert statuses(again) == {f"p{s[:3]}": "unchanged" for s in SEEDS}
    assert all(o.not_modified and o.http_status == 304 for o in again)
    assert server.statuses == {304: 5}, "an unchanged page must cost a 304"
    assert count(store, SnapshotRow) == 5 and count(store, ChangeRow) == 0

    server.set("/000_e00ebf84e0ab835f", policy_page(ENMONO_NEW, nonce="fixed", views=1, stamp="2026-05-01"))
    third = check_policies(settings, store=store)
    changed = [o for o in third if o.status == "changed"]
    assert [o.name for o in changed] == ["p000"] and changed[0].severity in ("notice", "consent")
    assert statuses(third)["p001"] == "unchanged"
    with store.Session() as session:
        change = session.scalars(select(ChangeRow)).one()
        assert change.old_snapshot.version == 1 and change.new_snapshot.version == 2
        # the compare segmented the new version: its outline and clause count are stored with it
        assert change.new_snapshot.outline and change.new_snapshot.clauses == stored_clauses(change.old_snapshot)
        assert change.report["schema"] == "policy-watcher/diff/v1" and change.material
        assert change.severity == change.report["severity"] == changed[0].severity
        assert any("位置情報" in " ".join(c["evidence"]) or "位置情報" in json.dumps(c["hunks"], ensure_ascii=False)
                   for c in change.report["changes"])
        assert change.state == "pending"
        checks = session.scalars(select(CheckRow).order_by(CheckRow.id)).all()
        assert len(checks) == 15 and [c.outcome for c in checks].count("changed") == 1
    store.close()


def test_outbox_hook_runs_in_the_change_transaction(tmp_path, server):
    server.set("/p", policy_page(ENMONO, nonce="n"))
    settings = make_settings(tmp_path, [{"name": "a", "url": server.url("/p"), "users": ["u@example.com"]}])
    store = Store(settings.store)
    check_policies(settings, store=store)
    server.set("/p", policy_page(ENMONO_NEW, nonce="n"))
    [outcome] = check_policies(settings, store=store)
    assert outcome.status == "changed"
    with store.Session() as session:
        deliveries = session.scalars(select(Delivery).where(Delivery.change_id == outcome.change_id)).all()
        assert deliveries, "a detected change must queue its notifications"
    # --no-notify: recorded, not mailed
    server.set("/p", policy_page(ENMONO, nonce="n"))
    [quiet] = check_policies(settings, store=store, notify=False)
    assert quiet.status == "changed"
    with store.Session() as session:
        assert session.get(ChangeRow, quiet.change_id).state == "silenced"
        assert not session.scalars(select(Delivery).where(Delivery.change_id == quiet.change_id)).all()
    store.close()


def test_page_noise_is_not_a_version(tmp_path, server):
    # every request: new nonce, view counter, timestamp and cache-busting URLs; the server's ETag changes too
    server.set("/noisy", dynamic=lambda n: policy_page(ENMONO, nonce=f"nonce{n:04d}", views=10_000 + n,
                                                       stamp=f"2026-05-0{n} 12:00:0{n}"))
    settings = make_settings(tmp_path, [{"name": "noisy", "url": server.url("/noisy")}])
    store = Store(settings.store)
    results = [check_policies(settings, store=store)[0] for _ in range(3)]
    assert [r.status for r in results] == ["first", "unchanged", "unchanged"]
    assert not results[1].not_modified, "the bytes differed: it was parsed, and found to be the same text"
    assert count(store, SnapshotRow) == 1 and count(store, ChangeRow) == 0
    store.close()


@pytest.mark.parametrize(("case", "expect"), [
    ("500", "HTTP 500"),
    ("404", "HTTP 404"),
    ("login", "login page"),
    ("maintenance", "maintenance page"),
    ("empty", "empty body"),
    ("blank", "empty body"),
    ("truncated", "truncated or broken page"),
    ("form-only", "no policy text|truncated or broken page"),
])
def test_failed_fetches_are_not_versions(tmp_path, server, case, expect):
    good = policy_page(ENMONO, nonce="n", views=1, stamp="s")
    server.set("/p", good)
    settings = make_settings(tmp_path, [{"name": "a", "url": server.url("/p")}])
    store = Store(settings.store)
    assert check_policies(settings, store=store)[0].status == "first"
    bad = {
        "500": dict(body=b"<html><body>Internal Server Error</body></html>", status=500),
        "404": dict(body=b"<html><body>not here</body></html>", status=404),
        "login": dict(body=login_page()),
        "maintenance": dict(body=maintenance_page()),
        "empty": dict(body=b""),
        "blank": dict(body=b" \n\t "),
        "truncated": dict(body=truncated(good, 0.3)),
        "form-only": dict(body=b"<html><body><nav>menu</nav><form><input name=q></form></body></html>"),
    }[case]
    server.set("/p", **bad)
    [outcome] = check_policies(settings, store=store)
    assert outcome.status == "failed" and re.search(expect, outcome.error), outcome.error
    assert count(store, SnapshotRow) == 1 and count(store, ChangeRow) == 0
    with store.Session() as session:
        last = session.scalars(select(CheckRow).order_by(CheckRow.id.desc())).first()
        assert last.outcome == "failed" and last.error == outcome.error
    # the page comes back as it was: not a change (the failure left no trace in the versions)
    server.set("/p", policy_page(ENMONO, nonce="m", views=2, stamp="t"))
    assert check_policies(settings, store=store)[0].status == "unchanged"
    assert count(store, ChangeRow) == 0
    store.close()


def test_login_page_on_first_check_is_not_the_first_version(tmp_path, server):
    server.set("/p", login_page())
    settings = make_settings(tmp_path, [{"name": "a", "url": server.url("/p")}])
    store = Store(settings.store)
    [outcome] = check_policies(settings, store=store)
    assert outcome.status == "failed" and "login page" in outcome.error
    assert count(store, SnapshotRow) == 0
    store.close()


def test_alert_after_consecutive_failures_and_resolution(tmp_path, server):
    server.set("/p", policy_page(ENMONO, nonce="n"))
    settings = make_settings(tmp_path, [{"name": "a", "url": server.url("/p")}], failures_before_alert=3)
    store = Store(settings.store)
    check_policies(settings, store=store)
    server.set("/p", b"down", status=503)
    for expected_alerts in (0, 0, 1, 1):
        assert check_policies(settings, store=store)[0].status == "failed"
        assert count(store, AlertRow) == expected_alerts
    with store.Session() as session:
        alert = session.scalars(select(AlertRow)).one()
        assert alert.failures == 3 and "HTTP 503" in alert.message and alert.resolved_at is None
        assert alert.notified_at is None
    server.set("/p", policy_page(ENMONO, nonce="n"))
    assert check_policies(settings, store=store)[0].status == "unchanged"
    with store.Session() as session:
        assert session.scalars(select(AlertRow)).one().resolved_at is not None
    store.close()


def test_confirm_two_holds_a_change_until_seen_twice(tmp_path, server):
    server.set("/p", policy_page(ENMONO, nonce="n"))
    settings = make_settings(tmp_path, [{"name": "a", "url": server.url("/p"), "confirm": 2}])
    store = Store(settings.store)
    assert check_policies(settings, store=store)[0].status == "first"
    old_page = server.pages["/p"]

    # a change that flips back on the next check is never reported
    server.set("/p", policy_page(ENMONO_NEW, nonce="x"))
    held = check_policies(settings, store=store)[0]
    assert held.status == "unchanged" and held.held
    server.pages["/p"] = old_page
    server.reset_counts()
    back = check_policies(settings, store=store)[0]
    assert back.status == "unchanged" and not back.held and server.statuses == {304: 1}
    assert count(store, ChangeRow) == 0

    # a change seen twice in a row is reported, once
    server.set("/p", policy_page(ENMONO_NEW, nonce="y"))
    assert check_policies(settings, store=store)[0].held
    server.set("/p", policy_page(ENMONO_NEW, nonce="z"))    # same text, new noise
    confirmed = check_policies(settings, store=store)[0]
    assert confirmed.status == "changed" and confirmed.version == 2
    assert check_policies(settings, store=store)[0].status == "unchanged"
    assert count(store, ChangeRow) == 1 and count(store, SnapshotRow) == 2
    store.close()


def test_new_extractor_rederives_instead_of_reporting(tmp_path, server):
    server.set("/p", policy_page(ENMONO, nonce="n"))
    settings = make_settings(tmp_path, [{"name": "a", "url": server.url("/p")}])
    store = Store(settings.store)
    check_policies(settings, store=store)
    # what an older extractor might have stored: the footer debris kept, a line split differently
    with store.session() as session:
        snap = session.scalars(select(SnapshotRow)).one()
        lines = [[line.text, line.heading] for line in stored_document(snap).lines]
        lines += [["閲覧数 123", 0], ["© 2026 example. All rights reserved.", 0]]
        lines[3][0] = lines[3][0][:10]
        snap.lines, snap.text = lines, "\n".join(t for t, _ in lines)
        snap.text_key, snap.extractor_version = "0" * 64, "extract=0:old"
    server.set("/p", policy_page(ENMONO, nonce="other"))    # new bytes, same policy text
    [outcome] = check_policies(settings, store=store)
    assert outcome.status == "unchanged", "a difference made only by the code is never a change"
    with store.Session() as session:
        snap = session.scalars(select(SnapshotRow)).one()
        assert snap.extractor_version.startswith(EXTRACTOR_VERSION) and "閲覧数" not in snap.text
    # and a real change is still compared against the re-derived text: one modified clause, no debris
    server.set("/p", policy_page(ENMONO_NEW, nonce="third"))
    [changed] = check_policies(settings, store=store)
    assert changed.status == "changed"
    with store.Session() as session:
        report = session.get(ChangeRow, changed.change_id).report
        assert report["summary"]["added"] == 0 and report["summary"]["removed"] == 0
    store.close()


def test_redirects_and_file_policies(tmp_path, server):
    server.set("/new-privacy", policy_page(ENMONO, nonce="n"))
    server.set("/privacy", redirect=server.url("/new-privacy"))
    local = tmp_path / "policy.txt"
    local.write_text(SEEDS["001_b5fad133b5170cf9"], encoding="utf-8")
    settings = make_settings(tmp_path, [{"name": "moved", "url": server.url("/privacy")},
                                        {"name": "local", "url": "policy.txt"}])
    store = Store(settings.store)
    assert statuses(check_policies(settings, store=store)) == {"moved": "first", "local": "first"}
    with store.Session() as session:
        snap = session.scalars(select(SnapshotRow).where(SnapshotRow.url.like("%new-privacy"))).one()
        check = session.scalars(select(CheckRow).where(CheckRow.snapshot_id == snap.id)).one()
        assert check.redirects == [f"301 {server.url('/privacy')}"]
    second = check_policies(settings, store=store)
    assert all(o.status == "unchanged" and o.not_modified for o in second)
    local.write_text(SEEDS["001_b5fad133b5170cf9"].replace("法令", "法律"), encoding="utf-8")
    assert statuses(check_policies(settings, store=store, notify=False))["local"] == "changed"
    store.close()


def test_select_and_remove_are_used(tmp_path, server):
    page = policy_page(ENMONO, nonce="n").replace(
        b"<article class=\"entry\">", b"<article class=\"entry\"><div class=\"promo\">\xe4\xbb\x8a\xe3\x81\xa0\xe3\x81\x91</div>")
    server.set("/p", page)
    settings = make_settings(tmp_path, [{"name": "a", "url": server.url("/p"), "select": "article.entry",
                                         "remove": [".promo"]}])
    with open_app(settings) as app:
        outcome = app.checker.check_one(settings.policies[0])
        assert outcome.status == "first"
        text = app.repo.snapshot(outcome.snapshot_id).text
    assert "今だけ" not in text and text.startswith("top of page") is False and "第1条" in text


def test_two_checks_of_one_policy_at_once_store_one_version(tmp_path, server, store_url):
    """Two checks of the same policy at once (daemon + `watch check`), on SQLite and PostgreSQL:
    one version, one change; the loser finds the very version it was about to store: unchanged."""
    server.set("/p", policy_page(ENMONO, nonce="n"))
    settings = make_settings(tmp_path, [{"name": "a", "url": server.url("/p")}], url=store_url)
    check_policies(settings)
    server.set("/p", policy_page(ENMONO_NEW, nonce="n"), delay=0.3)
    outcomes = []
    barrier = threading.Barrier(2)

    def run():
        with open_app(settings, notify=False) as app:
            barrier.wait()
            outcomes.append(app.checker.check_one(settings.policies[0]))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(o.status for o in outcomes) == ["changed", "unchanged"], [(o.status, o.error) for o in outcomes]
    store = Store(settings.store)
    assert count(store, SnapshotRow) == 2 and count(store, ChangeRow) == 1
    assert count(store, CheckRow) == 3, "the loser's fallback check is written once"
    assert store.load_states([("a", settings.policies[0].url)])["a"].consecutive_failures == 0
    with store.session() as session:
        assert session.scalars(select(SnapshotRow.version).order_by(SnapshotRow.version)).all() == [1, 2]
        for snap in session.scalars(select(SnapshotRow)):
            assert sha256(store.get_body(snap.body_sha256)) == snap.body_sha256
    store.close()


def test_bodies_are_content_addressed_and_shared(tmp_path, server):
    page = policy_page(ENMONO, nonce="n")
    server.set("/a", page)
    server.set("/b", page)
    settings = make_settings(tmp_path, [{"name": "a", "url": server.url("/a")}, {"name": "b", "url": server.url("/b")}])
    check_policies(settings)
    with Store(settings.store).session() as session:
        assert session.scalars(select(BodyRow.sha256)).all() == [sha256(page)]
        assert {s.body_sha256 for s in session.scalars(select(SnapshotRow))} == {sha256(page)}


# ---------------------------------------------------------------- through the command line


def write_config(tmp_path: Path, server: PageServer) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[store]
url = "sqlite:///snaps/watch.db"
bodies_dir = "snaps/bodies"
[fetch]
retries = 0
timeout_read = 3
[[policy]]
name = "enmono"
url = "{server.url('/enmono')}"
[[policy]]
name = "broken"
url = "{server.url('/broken')}"
""", encoding="utf-8")
    return path


def test_cli_check_history_show_and_diff_refs(tmp_path, server, watch):
    cli = watch
    server.set("/enmono", policy_page(ENMONO, nonce="n"))
    server.set("/broken", b"oops", status=500)
    write_config(tmp_path, server)

    r = watch("check", "--json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr          # one check failed
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert set(rows["enmono"]) == {"name", "status", "severity", "error", "version", "snapshot_id", "change_id",
                                   "diff_command"}
    assert rows["enmono"]["version"] == 1 and rows["enmono"]["change_id"] is None
    assert rows["enmono"]["diff_command"] is None and rows["broken"]["version"] is None
    assert rows["enmono"]["status"] == "first" and rows["broken"]["status"] == "failed"
    assert rows["broken"]["error"].startswith("HTTP 500")

    server.set("/enmono", policy_page(ENMONO_NEW, nonce="n"))
    r = cli("check", "enmono", "--no-notify", cwd=tmp_path)
    assert r.returncode == 0 and "changed" in r.stdout and "1 changed" in r.stdout, r.stdout + r.stderr

    r = cli("history", "enmono", "--json", cwd=tmp_path)
    hist = json.loads(r.stdout)
    assert [s["version"] for s in hist["snapshots"]] == [1, 2]
    assert hist["changes"][0]["old_version"] == 1 and hist["changes"][0]["state"] == "silenced"
    assert "changed" in cli("history", "enmono", cwd=tmp_path).stdout

    old_text = cli("show", "enmono@1", cwd=tmp_path).stdout
    new_text = cli("show", "enmono", cwd=tmp_path).stdout
    assert "位置情報" in new_text and "位置情報" not in old_text and "第9条" in old_text
    outline = cli("show", "enmono@-1", "--outline", cwd=tmp_path).stdout
    assert outline.splitlines()[0] and "第1条" in outline and len(outline.splitlines()) < len(old_text.splitlines())

    r = cli("diff", "enmono@-1", "enmono@latest", "--format", "json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert out["old"]["source"] == "enmono@-1" and out["severity"] in ("notice", "consent")
    # a stored operand says which snapshot it is (JSON v1 additions, README "JSON v1")
    assert out["old"]["policy"] == "enmono" and out["old"]["version"] == 1 and out["new"]["version"] == 2
    assert out["old"]["url"] == server.url("/enmono") and len(out["new"]["sha256"]) == 64
    assert out["old"]["fetched_at"].endswith("Z") and out["old"]["snapshot"] != out["new"]["snapshot"]
    assert "effective_date" in out["new"]
    # a URL against a stored version; a date before anything was stored
    r = cli("diff", "enmono@latest", server.url("/enmono"), "--format", "json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["changes"] == [], r.stderr
    (tmp_path / "old.txt").write_text(ENMONO, encoding="utf-8")
    r = cli("diff", "old.txt", "enmono@2", cwd=tmp_path)
    assert r.returncode == 1
    r = cli("diff", "enmono@2001-01-01", "enmono", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no version stored before" in r.stderr
    r = cli("show", "nosuch", cwd=tmp_path)
    assert r.returncode == 2 and "nosuch" in r.stderr and r.stderr.count("\n") == 1
    r = cli("show", "enmono@7", cwd=tmp_path)
    assert r.returncode == 2 and "no such version" in r.stderr
    r = watch("check", "nosuch", cwd=tmp_path)
    assert r.returncode == 2 and "no policy named 'nosuch'" in r.stderr

    # --json names the version, snapshot and change, and the `watch diff` that shows the change
    server.set("/enmono", policy_page(ENMONO, nonce="n"))
    r = cli("check", "enmono", "--json", "--no-notify", cwd=tmp_path)
    [row] = json.loads(r.stdout)
    assert row["status"] == "changed" and row["version"] == 3 and isinstance(row["change_id"], int), row
    assert isinstance(row["snapshot_id"], int) and row["diff_command"] == "watch diff enmono@2 enmono@3"
    r = cli(*shlex.split(row["diff_command"])[1:], "--format", "json", cwd=tmp_path)
    shown = json.loads(r.stdout)
    assert r.returncode == 1 and shown["new"]["snapshot"] == row["snapshot_id"] and shown["old"]["version"] == 2


def test_diff_on_files_needs_no_config(tmp_path, watch):
    (tmp_path / "a.txt").write_text(ENMONO, encoding="utf-8")
    (tmp_path / "b.txt").write_text(ENMONO_NEW, encoding="utf-8")
    r = watch("diff", "a.txt", "b.txt", "--format", "json", cwd=tmp_path)
    assert r.returncode == 1 and json.loads(r.stdout)["material"], r.stderr
    r = watch("diff", "a.txt", "enmono@-1", cwd=tmp_path)
    assert r.returncode == 2 and "config file not found" in r.stderr


def test_stored_lines_round_trip():
    doc = Document(source="x", lines=[Line("第1条 目的", 2), Line("本文です。"), Line("・項目", 0)])
    assert encode_lines(doc) == [2, 0, 0]
    assert decode_lines(doc.text, encode_lines(doc)) == doc.lines
    odd = Document(source="x", lines=[Line("two\nlines", 1), Line("b")])   # a newline inside a line
    assert decode_lines(odd.text, encode_lines(odd)) == odd.lines


def test_a_check_writes_its_events_and_check_one_can_run_again(tmp_path, server):
    """The check's events are written with its rows: the first version, the change (the planner
    subscribed by watcher.app queues its mail in that transaction), each failed check with the
    streak counted in SQL. Running check_one again (a redelivered task) stores nothing twice."""
    server.set("/p", policy_page(ENMONO, nonce="n"))
    settings = make_settings(tmp_path, [{"name": "a", "url": server.url("/p"), "users": ["u@example.com"]}],
                             retries=0)
    with open_app(settings) as app:
        policy = settings.policies[0]
        assert app.checker.check_one(policy).status == "first"
        assert app.checker.check_one(policy).status == "unchanged"
        server.set("/p", policy_page(ENMONO_NEW, nonce="n"))
        changed = app.checker.check_one(policy)
        assert changed.status == "changed"
        assert app.checker.check_one(policy).status == "unchanged"     # the same bytes again: nothing new
        server.set("/p", b"down", status=500)
        assert app.checker.check_one(policy).status == "failed"
        events = app.repo.events()
        assert [e["kind"] for e in events] == ["version_stored", "version_stored", "change_recorded", "check_failed"]
        assert events[0]["first"] is True and events[1]["version"] == 2
        assert events[2]["change_id"] == changed.change_id and events[2]["notify"] is True
        assert events[3]["failures"] == 1 and events[3]["error"].startswith("HTTP 500")
        assert count(app.repo, SnapshotRow) == 2 and count(app.repo, ChangeRow) == 1
        assert count(app.repo, Delivery, Delivery.change_id == changed.change_id) == 2   # the user and staff
