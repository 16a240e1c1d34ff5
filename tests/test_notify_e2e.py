"""End to end: a policy page served by a real local HTTP server changes, `check` records the change,
the outbox sends it to a real SMTP server (aiosmtpd), and the right people get the right mail.

For every seed policy the users are mailed only where its OLD revision clause promises it
(corpus pairs/*/expected.toml `users_when`), staff for every substantive change (at once when
material, in the daily digest when minor), nobody for formatting. The parsed text and HTML
parts must carry the changed clause and the verdict.
"""

from __future__ import annotations

import html
import tomllib
from pathlib import Path

import pytest
from mailtools import SmtpServer, settings_for
from webserver import PageServer, policy_page

from watcher.app import check_policies
from watcher.notify import compose, drain, send_daily_digest
from watcher.store import ChangeRow, Store

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"   # a copy of ../shared/corpus
USER, STAFF, POLICY_STAFF = "subscriber@example.net", "privacy@example.org", "legal@example.org"

if not CORPUS.is_dir():
    pytest.skip(f"corpus not found at {CORPUS}", allow_module_level=True)


def pair_pages(pair: str) -> tuple[bytes, bytes]:
    """A realistic page for both versions: the site-template rendering when the corpus has one,
    else the text pair wrapped in a site's chrome (with per-request noise)."""
    for d in sorted((CORPUS / "html-pairs").glob(pair + ".*")):
        return (d / "old.html").read_bytes(), (d / "new.html").read_bytes()
    d = CORPUS / "pairs" / pair
    return (policy_page((d / "old.txt").read_text(encoding="utf-8")),
            policy_page((d / "new.txt").read_text(encoding="utf-8")))


def expected(pair: str) -> dict:
    with open(CORPUS / "pairs" / pair / "expected.toml", "rb") as fh:
        return tomllib.load(fh)


def configure(tmp_path, url: str, smtp_port: int):
    policy = f"""
[[policy]]
name = "watched"
url = "{url}"
users = ["{USER}"]
staff = ["{POLICY_STAFF}"]
"""
    return settings_for(tmp_path, smtp_port=smtp_port, policies=policy)


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def check_twice(tmp_path, smtp_port: int, old: bytes, new: bytes):
    """`watch check` on the old page, then on the new one: (settings, outcome of the second check)."""
    with PageServer() as web:
        web.set("/privacy", old)
        settings = configure(tmp_path, web.url("/privacy"), smtp_port)
        [first] = check_policies(settings)
        assert first.status == "first", first
        web.set("/privacy", new)
        [second] = check_policies(settings)
    return settings, second


def run_change(tmp_path, smtp, pair):
    settings, second = check_twice(tmp_path, smtp.port, *pair_pages(pair))
    assert second.status in ("changed", "unchanged"), second
    store = Store(settings.store)
    report = None
    if second.change_id is not None:
        with store.session() as s:
            report = s.get(ChangeRow, second.change_id).report
    drain(settings, store)
    return settings, store, second, report


# One pair per seed (each seed has its own revision clause), plus formatting and minor edits.
PAIRS = [
    "d01-enmono-purpose-ad-targeting",       # seed 000: a new purpose; clause announces material changes
    "d04-saas-joint-use-partners",           # seed 001: joint use widened; announced on the website only
    "d08-eclore-purpose-broadened",          # seed 002: consent / notify users promised
    "d09-coorum-meta-pixel",                 # seed 003: consent obtained; notices on website / service only
    "d11-infox-ad-partner-provision",        # seed 004: a new third party; website only
    "d02-enmono-reflow-width",               # formatting only: nobody
    "d10-coorum-statistics-sharing-removed",  # minor: the daily staff digest
]


@pytest.mark.parametrize("pair", PAIRS)
def test_the_right_people_get_the_right_mail(tmp_path, smtp, pair):
    exp = expected(pair)
    settings, store, outcome, report = run_change(tmp_path, smtp, pair)
    severity = report["severity"] if report else "none"
    accepted = exp["severity"] if isinstance(exp["severity"], list) else [exp["severity"]]
    assert severity in accepted, f"{pair}: verdict {severity}, expected {accepted}"
    material = severity in ("notice", "consent")
    users_expected = material and exp["users_when"][severity]

    user_mails = smtp.sink.to(USER)
    staff_mails = smtp.sink.to(STAFF) + smtp.sink.to(POLICY_STAFF)
    assert len(user_mails) == (1 if users_expected else 0), f"{pair}: users mailed {len(user_mails)}"
    assert len(staff_mails) == (2 if material else 0), f"{pair}: staff mailed {len(staff_mails)}"

    if material:
        t = compose.messages()["ja"]
        verdict = t["severity"][severity]
        changed = [c for c in report["changes"] if c["severity"] == severity]
        side = changed[0]["new"] or changed[0]["old"]
        label = " ".join(x for x in (side["number"], side["title"]) if x)
        for mail in staff_mails + user_mails:
            text, page = mail.part("plain"), html.unescape(mail.part("html"))
            assert verdict in str(mail.msg["Subject"]) and "\n" not in str(mail.msg["Subject"])
            for part in (text, page):
                assert label in part, f"{pair}: clause {label!r} missing"
                assert verdict in part
            assert "<script" not in mail.part("html") and "<style" not in mail.part("html")
        told = t["users_notified"].format(value=t["yes"] if users_expected else t["no"])
        for mail in staff_mails:
            assert told in mail.part("plain") and told in mail.part("html"), f"{pair}: staff not told {told!r}"
            for category in changed[0]["categories"]:
                assert category in mail.part("plain") and category in mail.part("html")
        # the changed words are marked in the 新旧対照表; staff see the evidence behind the verdict
        for mail in staff_mails + user_mails:
            assert "改定後" in mail.part("html") and "改定前" in mail.part("html")
            assert 'class="ins" style="background:' in mail.part("html") or \
                'class="del" style="background:' in mail.part("html")
            assert "[+" in mail.part("plain") or "[-" in mail.part("plain")
        for mail in staff_mails:
            for e in (e for c in changed for e in c["evidence"]):
                assert e in mail.part("plain") and e in html.unescape(mail.part("html"))

    # minor changes wait for the daily digest; nothing else arrives later
    before = len(smtp.received)
    run = send_daily_digest(settings, store)
    if severity == "minor":
        assert len(run.mails) == 2 and run.drained.sent == 2
        minor = [c for c in report["changes"] if c["severity"] == "minor"]
        for mail in smtp.received[before:]:
            assert mail.rcpt_tos[0] in (STAFF, POLICY_STAFF)
            for part in (mail.part("plain"), html.unescape(mail.part("html"))):
                for change in minor:
                    side = change["new"] or change["old"]
                    assert " ".join(x for x in (side["number"], side["title"]) if x) in part
                    assert all(category in part for category in change["categories"])
    else:
        assert run.mails == [] and len(smtp.received) == before
    assert drain(settings, store).sent == 0
    store.close()


def test_failed_fetches_reach_staff_in_the_digest_alerts_section(tmp_path, smtp):
    with PageServer() as web:
        web.set("/privacy", b"", status=500)
        settings = configure(tmp_path, web.url("/privacy"), smtp.port)
        for _ in range(settings.fetch.failures_before_alert):
            [outcome] = check_policies(settings)
            assert outcome.status == "failed"
    store = Store(settings.store)
    assert drain(settings, store).sent == 0          # alerts wait for the digest
    run = send_daily_digest(settings, store)
    again = send_daily_digest(settings, store)
    store.close()
    assert run.drained.sent == 2 and smtp.sink.to(USER) == []
    assert again.mails == []                          # told once
    for mail in smtp.received:
        section = mail.part("plain").split(compose.messages()["ja"]["alerts_heading"], 1)[1]
        assert "watched" in section and "500" in section
        assert "500" in mail.part("html")


def test_smtp_down_during_the_check_then_each_mail_once(tmp_path):
    from datetime import timedelta

    from watcher.store import utcnow

    smtp = SmtpServer()            # not listening while the check runs
    settings, outcome = check_twice(tmp_path, smtp.port, *pair_pages("d01-enmono-purpose-ad-targeting"))
    assert outcome.status == "changed" and outcome.severity == "consent"
    store = Store(settings.store)
    assert drain(settings, store).deferred == 3            # staff x2 + the user, nothing lost
    smtp.start()
    try:
        assert drain(settings, store, now=utcnow() + timedelta(minutes=2)).sent == 3
        assert drain(settings, store, now=utcnow() + timedelta(hours=3)).sent == 0
        assert sorted(r for m in smtp.received for r in m.rcpt_tos) == sorted([USER, STAFF, POLICY_STAFF])
        with store.session() as s:
            assert s.get(ChangeRow, outcome.change_id).state == "notified"
    finally:
        smtp.stop()
        store.close()


def test_hostile_clause_title_gives_safe_headers_and_escaped_html(tmp_path, smtp):
    """The purposes clause's heading carries markup and a header injection; a purpose is added to it."""
    d = CORPUS / "pairs" / "d01-enmono-purpose-ad-targeting"
    title = "第2条 情報の利用目的"
    hostile = "第2条 情報の利用目的<script>alert(1)</script>@@BREAK@@"

    def page(path):
        text = path.read_text(encoding="utf-8").replace(title, hostile, 1)
        # markup in the added purpose too: the 新旧対照表 always shows a changed line
        text = text.replace("広告を配信するため", "広告を配信するため<img src=x onerror=alert(2)>", 1)
        return policy_page(text).replace(b"@@BREAK@@", b"\r\nBcc: x@example.com")

    old, new = page(d / "old.txt"), page(d / "new.txt")
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;\r\nBcc: x@example.com<" in new
    settings, outcome = check_twice(tmp_path, smtp.port, old, new)
    assert outcome.status == "changed" and outcome.severity == "consent", outcome
    store = Store(settings.store)
    assert drain(settings, store).sent == 3
    store.close()
    assert sorted(r for m in smtp.received for r in m.rcpt_tos) == sorted([USER, STAFF, POLICY_STAFF])
    for mail in smtp.received:
        assert len(mail.rcpt_tos) == 1 and "x@example.com" not in mail.rcpt_tos   # no Bcc smuggled in
        assert mail.msg["Bcc"] is None
        head = mail.data.split(b"\r\n\r\n", 1)[0]
        assert b"\nBcc:" not in head and b"script" not in head.lower()
        assert all("\n" not in str(v) for v in mail.msg.values())
        body = mail.part("html")
        assert "<script" not in body and "<img" not in body
        assert "&lt;img src=x onerror=alert(2)&gt;" in body
        assert "<img src=x onerror=alert(2)>" in mail.part("plain")   # plain text shows it as text
