"""watcher.mail and watcher.compose: safe headers, SMTP transports against a real aiosmtpd server,
.eml files, and the rendered mails (text + HTML, Japanese + English, escaping, inline CSS)."""

from __future__ import annotations

import html
import random
import shutil
import ssl
import subprocess
from email import message_from_bytes
from email import policy as email_policy

import pytest
from aiosmtpd.smtp import AuthResult
from mailtools import SmtpServer, report

from watcher.config import SmtpSettings
from watcher.errors import ConfigError
from watcher.notify import compose
from watcher.notify.channels import EmlTransport, SendError, SmtpTransport
from watcher.notify.mail import (
    Mail,
    _readable_by_parsing,
    _readable_parts,
    build_message,
    header_text,
    make_message_id,
    parse_address,
    readable,
    sender_address,
    serialize,
)


def parse(raw: bytes):
    return message_from_bytes(raw, policy=email_policy.default)


def message(subject="件名", text="本文", html="<p>本文</p>", to="user@example.net"):
    return build_message(Mail(subject, text, html), sender=parse_address("pw <pw@example.org>", "from"),
                         recipient=parse_address(to, "to"), message_id=make_message_id(7, "abc", "example.org"))


# --- headers -------------------------------------------------------------------------------


def test_header_text_removes_line_breaks_controls_and_bidi():
    assert header_text("enmono\r\nBcc: x@example.com") == "enmono Bcc: x@example.com"
    assert header_text("a\x00b\x1bc\u202ed\u2028e") == "a b c d e"
    long = header_text("あ" * 200, limit=30)
    assert len(long) == 30 and long.endswith("…")


def test_subject_from_page_text_cannot_add_a_header():
    raw = serialize(message(subject="Policy\r\nBcc: x@example.com\r\nX-Evil: 1"))
    head = raw.split(b"\r\n\r\n", 1)[0]
    parsed = parse(raw)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert b"\r\nBcc:" not in head and b"\r\nX-Evil:" not in head
    assert "\n" not in str(parsed["Subject"])
    assert str(parsed["Subject"]).startswith("Policy Bcc:")


def test_message_structure_and_stable_message_id():
    msg = message(subject="【同意が必要】enmono", text="日本語の本文\r\nです", html="<p>日本語</p>")
    raw = serialize(msg)
    raw.decode("ascii")   # 7-bit clean: stored and resent byte for byte
    parsed = parse(raw)
    assert parsed.get_content_type() == "multipart/alternative"
    assert str(parsed["Message-ID"]) == "<pw-7.abc@example.org>"
    assert str(parsed["Subject"]) == "【同意が必要】enmono"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed.get_body(("plain",)).get_content().splitlines() == ["日本語の本文", "です"]
    assert "日本語" in parsed.get_body(("html",)).get_content()
    assert serialize(msg) == raw


@pytest.mark.parametrize("bad", ["not-an-address", "a@b@c.com", "x@example.com\r\nBcc: y@example.com", "@example.com"])
def test_bad_addresses_are_config_errors(bad):
    with pytest.raises(ConfigError, match="staff"):
        parse_address(bad, "notify.staff")


def test_addresses_are_ascii_or_idna():
    with pytest.raises(ConfigError, match="non-ASCII"):
        parse_address("ユーザー@example.com", "policy.users")
    assert parse_address("User <user@例え.jp>", "to").addr_spec == "user@xn--r8jz45g.jp"


def test_smtp_transport_refuses_an_unwritable_address_and_keeps_the_connection():
    server = SmtpServer().start()
    try:
        raw = serialize(message())
        with SmtpTransport(SmtpSettings(host="127.0.0.1", port=server.port, timeout=5)) as t:
            with pytest.raises(SendError) as err:
                t.send(raw, "pw@example.org", "ユーザー@example.com", "k1")
            assert err.value.permanent and "UnicodeEncodeError" in str(err.value)
            t.send(raw, "pw@example.org", "user@example.net", "k2")     # the same connection still works
        assert [r.rcpt_tos for r in server.received] == [["user@example.net"]]
    finally:
        server.stop()


def test_sender_defaults_without_smtp():
    assert sender_address(None).domain == "localhost"
    assert sender_address(SmtpSettings(sender="Privacy <p@corp.example>")).addr_spec == "p@corp.example"


# --- transports ------------------------------------------------------------------------------


def test_smtp_transport_delivers_to_a_real_server():
    server = SmtpServer().start()
    try:
        raw = serialize(message())
        with SmtpTransport(SmtpSettings(host="127.0.0.1", port=server.port, timeout=5)) as t:
            t.send(raw, "pw@example.org", "user@example.net", "k")
        [got] = server.received
        assert got.rcpt_tos == ["user@example.net"] and got.mail_from == "pw@example.org"
        assert got.message_id == "<pw-7.abc@example.org>"
        assert got.part("plain").strip() == "本文"
    finally:
        server.stop()


def test_smtp_transport_reports_down_server_and_refusals():
    server = SmtpServer()   # not started: nothing listens on the port
    with pytest.raises(SendError, match="cannot connect") as err:
        SmtpTransport(SmtpSettings(host="127.0.0.1", port=server.port, timeout=2)).__enter__()
    assert not err.value.permanent
    server.start()
    try:
        server.sink.refuse.add("gone@example.net")
        with SmtpTransport(SmtpSettings(host="127.0.0.1", port=server.port, timeout=5)) as t:
            with pytest.raises(SendError, match="550") as err:
                t.send(serialize(message()), "pw@example.org", "gone@example.net", "k")
            assert err.value.permanent
            server.sink.reply = "451 4.3.0 try again later"
            with pytest.raises(SendError, match="451") as err:
                t.send(serialize(message()), "pw@example.org", "user@example.net", "k")
            assert not err.value.permanent
        assert server.received == []
    finally:
        server.stop()


class _Auth:
    def __init__(self):
        self.logins = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        login, password = (v.decode() if isinstance(v, bytes) else v for v in (auth_data.login, auth_data.password))
        ok = (login, password) == ("watcher", "s3cret")
        self.logins.append((login, ok))
        return AuthResult(success=ok, handled=False)


def test_login_uses_the_password_from_the_environment(monkeypatch):
    auth = _Auth()
    server = SmtpServer(authenticator=auth, auth_require_tls=False).start()
    try:
        smtp = SmtpSettings(host="127.0.0.1", port=server.port, username="watcher", password_env="PW_TEST_SECRET",
                            timeout=5)
        monkeypatch.delenv("PW_TEST_SECRET", raising=False)
        with pytest.raises(ConfigError, match="PW_TEST_SECRET is not set"):
            SmtpTransport(smtp).__enter__()
        monkeypatch.setenv("PW_TEST_SECRET", "wrong")
        with pytest.raises(SendError, match="login"):
            SmtpTransport(smtp).__enter__()
        monkeypatch.setenv("PW_TEST_SECRET", "s3cret")
        with SmtpTransport(smtp) as t:
            t.send(serialize(message()), "pw@example.org", "user@example.net", "k")
        assert auth.logins[-1] == ("watcher", True)
        assert len(server.received) == 1
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(d / "cert.pem", d / "key.pem")
    client_ctx = ssl.create_default_context(cafile=str(d / "cert.pem"))
    return server_ctx, client_ctx


def test_starttls_and_implicit_ssl(tls_files):
    server_ctx, client_ctx = tls_files
    starttls = SmtpServer(tls_context=server_ctx, require_starttls=True).start()
    implicit = SmtpServer(ssl_context=server_ctx).start()
    try:
        raw = serialize(message())
        plain = SmtpSettings(host="127.0.0.1", port=starttls.port, timeout=5)
        with pytest.raises(SendError):   # the server insists on STARTTLS
            with SmtpTransport(plain) as t:
                t.send(raw, "pw@example.org", "user@example.net", "k")
        with SmtpTransport(SmtpSettings(host="127.0.0.1", port=starttls.port, starttls=True, timeout=5),
                           ssl_context=client_ctx) as t:
            t.send(raw, "pw@example.org", "user@example.net", "k")
        with SmtpTransport(SmtpSettings(host="127.0.0.1", port=implicit.port, ssl=True, timeout=5),
                           ssl_context=client_ctx) as t:
            t.send(raw, "pw@example.org", "user@example.net", "k")
        assert len(starttls.received) == 1 and len(implicit.received) == 1
        # The default context verifies certificates: a self-signed one is refused.
        with pytest.raises(SendError):
            SmtpTransport(SmtpSettings(host="127.0.0.1", port=implicit.port, ssl=True, timeout=5)).__enter__()
    finally:
        starttls.stop()
        implicit.stop()


def test_eml_transport_writes_one_file_per_key_atomically(tmp_path):
    raw = serialize(message())
    with EmlTransport(tmp_path / "outbox") as t:
        t.send(raw, "pw@example.org", "user@example.net", "delivery-00000001")
        t.send(raw, "pw@example.org", "user@example.net", "delivery-00000001")   # a resend replaces it
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == ["delivery-00000001.eml"]
    written = (tmp_path / "outbox" / files[0]).read_bytes()
    assert parse(written)["Message-ID"] == "<pw-7.abc@example.org>"
    # readable with `cat`: the text part in 8-bit UTF-8 (the stored message stays 7-bit), same content
    assert b"Content-Transfer-Encoding: base64" in raw and "本文".encode() in written
    assert parse(written).get_body(("plain",)).get_content() == parse(raw).get_body(("plain",)).get_content()
    assert parse(written).get_body(("html",)).get_content() == parse(raw).get_body(("html",)).get_content()
    assert raw.isascii() and not written.isascii()      # the stored (and SMTP) message stays 7-bit


# --- rendering -------------------------------------------------------------------------------


def rows_for(old: str, new: str) -> dict:
    change = {"type": "modified", "old": {"number": "第5条", "title": "", "text": old},
              "new": {"number": "第5条", "title": "", "text": new}}
    [row] = compose.clause_rows(change)
    return row


def test_mail_marks_are_those_of_watch_diff_html():
    from watcher.report import marked_pair

    for old, new in [("当社は閲覧履歴を分析します", "当社は閲覧履歴及び購買履歴を分析します"),
                     ("We send news.", "We send ads."),
                     ("氏名、<住所> & 電話番号", "氏名、<住所>、位置情報 & 電話番号")]:
        row = rows_for(old, new)
        assert (row["old_html"], row["new_html"]) == marked_pair(old, new)
    row = rows_for("当社は閲覧履歴を分析します", "当社は閲覧履歴及び購買履歴を分析します")
    assert row["new_text"] == "当社は閲覧履歴[+及び購買履歴+]を分析します"
    assert row["old_text"] == "当社は閲覧履歴を分析します"
    row = rows_for("We send news.", "We send ads.")
    assert row["old_text"] == "We send [-news-]." and row["new_text"] == "We send [+ads+]."
    row = rows_for("氏名、<住所> & 電話番号", "氏名、<住所>、位置情報 & 電話番号")
    assert row["new_text"].startswith("氏名、<住所>[+、位置情報")       # page text as written, not HTML
    assert "&lt;住所&gt;" in row["new_html"] and "<住所>" not in row["new_html"]


def test_long_clauses_keep_changed_lines_and_context_as_watch_diff_does():
    from watcher.report import marked_pair

    old = "\n".join(f"{i}. 項目{i}" for i in range(1, 21))
    new = old.replace("12. 項目12", "12. 項目12を変更")
    row = rows_for(old, new)
    assert (row["old_html"], row["new_html"]) == marked_pair(old, new)
    text = row["new_text"]
    assert "12. 項目12[+を変更+]" in text and "11. 項目11" in text and "13. 項目13" in text
    assert "5. 項目5" not in text and "⋯" in text
    assert "12. 項目12" in row["old_text"] and "5. 項目5" not in row["old_text"]
    r = report("notice")
    r["changes"] = [{"type": "modified", "severity": "notice", "categories": ["purpose_added"],
                     "old": {"number": "第5条", "title": "", "text": old},
                     "new": {"number": "第5条", "title": "", "text": new}}]
    mail = compose.staff_mail(POLICY, r, "ja")
    assert str(row["new_html"]) in mail.html and "12. 項目12[+を変更+]" in mail.text


POLICY = {"name": "enmono", "url": "https://example.com/privacy"}


def test_user_notice_ja_has_comparison_verdict_and_consent():
    mail = compose.user_mail(POLICY, report(), "ja")
    assert mail.subject == "【同意が必要】enmono プライバシーポリシー改定のお知らせ"
    for part in (mail.text, mail.html):
        assert "第2条 情報の利用目的" in part
        assert "改定後" in part and "改定前" in part
        assert "新しい目的に使われる" in part                # the plain sentence for purpose_added
        assert "同意" in part and "あなたの同意について" in part
    assert "[+3. ユーザーの閲覧履歴を分析し、ターゲティング広告を配信するため+]" in mail.text
    assert "background:#dcf5dc" in mail.html and "ターゲティング広告を配信するため</span>" in mail.html
    assert "<style" not in mail.html and "<ins" not in mail.html and "<del" not in mail.html


def test_user_notice_en_and_effective_date():
    r = report("notice", categories=["data_added"])
    r["changes"].append({"type": "modified", "old": {"number": "", "title": "制定・改定日"},
                         "new": {"number": "", "title": "制定・改定日"}, "categories": ["effective_date_changed"],
                         "severity": "none", "reasons": [], "evidence": [], "items": [],
                         "hunks": [{"op": "replace", "old": "2023年4月1日", "new": "2026年6月1日"}]})
    r["revision_clause"]["promises"]["lead_time_days"] = 7
    mail = compose.user_mail(POLICY, r, "en")
    assert mail.subject == "enmono privacy policy change: notice needed"
    assert "More kinds of information about you will be collected." in mail.text
    assert "2026年6月1日" in mail.text and "2026年6月1日" in mail.html
    assert "at least 7 days" in mail.text
    assert "About your consent" not in mail.text   # notice, not consent


def test_hostile_page_text_is_escaped_and_kept_out_of_headers():
    r = report()
    c = r["changes"][0]
    c["new"]["title"] = "利用目的<script>alert(1)</script>\r\nBcc: x@example.com"
    c["new"]["text"] += "\n<img src=x onerror=alert(2)>"
    c["items"].append({"op": "added", "number": None, "old_number": None, "title": "", "old_text": None,
                       "text": "<img src=x onerror=alert(2)>", "hunks": []})   # a changed paragraph is shown
    c["evidence"] = ["<b>bold</b>"]
    for mail in (compose.user_mail(POLICY, r, "ja"), compose.staff_mail(POLICY, r, "en", {})):
        assert "<script>" not in mail.html and "<img" not in mail.html and "<b>bold" not in mail.html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.html
        assert "&lt;img src=x onerror=alert(2)&gt;" in mail.html
        assert "<script>alert(1)</script>" in mail.text      # the text part is plain text, not HTML
        assert "\n" not in mail.subject and "Bcc" not in mail.subject and "script" not in mail.subject


def test_staff_alert_lists_actions_reasons_evidence_and_snapshot_hints():
    ref = {"show": "watch show enmono@2", "diff": "watch diff enmono@1 enmono@2"}
    mail = compose.staff_mail(POLICY, report(), "en", ref)
    assert mail.subject == "[consent needed] enmono: 1 change(s)"
    for part in (mail.text, html.unescape(mail.html)):
        for expected in ("purpose_added", "obtain the users' consent", "get a legal review", "behavioural ad targeting",
                         "watch show enmono@2", "watch diff enmono@1 enmono@2", "https://example.com/privacy"):
            assert expected in part, expected


def test_revision_clause_missing_is_told_to_staff():
    r = report()
    r["revision_clause"] = None
    r["notify"]["users"] = False
    mail = compose.staff_mail(POLICY, r, "ja", {})
    assert "旧版に改定条項がありません" in mail.text and "旧版に改定条項がありません" in mail.html


def test_only_http_links_are_rendered():
    from watcher.notify import safe_url

    assert safe_url("javascript:alert(1)") == "" and safe_url("file:///etc/passwd") == ""
    assert safe_url("https://example.com/p") == "https://example.com/p"


def test_an_eml_files_readable_text_is_the_same_bytes_as_the_email_package_makes():
    """readable() rewrites the messages build_message makes in their bytes; the email package's
    parse-and-generate gives the same bytes (and is the fallback for anything else)."""
    rng = random.Random(7)
    alphabet = "あいう漢字テストabc XYZ 123 。、\n=?!\t"
    rewritten = 0
    mails = [compose.user_mail({"name": "shop", "url": "https://shop.example/privacy"}, report(), lang)
             for lang in ("ja", "en")]
    for i in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 40, 400, 3000])))
        if i % 4 == 0:
            text = "Plain ASCII, quoted-printable: = signs and tabs\t\n" * rng.randint(1, 20)
        mails.append(Mail(f"件名 {i}", text, None if i % 3 == 0 else f"<p>{text[:300]}</p>"))
    for mail in mails:
        raw = serialize(message(mail.subject, mail.text, mail.html))
        fast = _readable_parts(raw)
        if fast is not None:
            rewritten += 1
            assert fast == _readable_by_parsing(raw)
        assert readable(raw) == _readable_by_parsing(raw)
    assert rewritten > 250
    long_line = serialize(message(text="x" * 1200))
    assert _readable_parts(long_line) is None and readable(long_line) == _readable_by_parsing(long_line)
