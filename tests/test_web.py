"""`watch serve`: a real uvicorn server on 127.0.0.1 (its own process) driven by Playwright with
Debian's chromium, and by a plain HTTP client for what a browser would not send: the overview, a
change, its review form and audit trail; CSRF; the loopback-only rule without accounts; roles;
page text that looks like markup; Atom feeds and their 304s."""

from __future__ import annotations

import base64
import html
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import feedparser
import pytest
import requests
from playwright.sync_api import sync_playwright
from reviewtools import CHROMIUM, CHROMIUM_ARGS, CONSENT_PAIR, CORPUS, Served, record_change

from watcher.config import load_settings
from watcher.report import reason_texts
from watcher.store import Store
from watcher.web.auth import Csrf, hash_password

HOSTILE = "<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\">"
ATOM = "{http://www.w3.org/2005/Atom}"


def hostile_text() -> str:
    new = (CORPUS / CONSENT_PAIR / "new.txt").read_text(encoding="utf-8")
    return new + f"\n\n第20条（お知らせ）\n{HOSTILE}\n"


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """A store with a consent change whose new text carries markup, served without accounts."""
    tmp = tmp_path_factory.mktemp("web")
    _, config = record_change(tmp, new_text=hostile_text())
    with Served(config) as served:
        served.tmp, served.config_path = tmp, config
        yield served


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    """The same served with accounts: a reviewer (scrypt hash), a viewer (password from the
    environment), and a feed read token."""
    tmp = tmp_path_factory.mktemp("web-accounts")
    web = (f'[web]\nfeed_token_env = "T_FEED_TOKEN"\nsecret_env = "T_WEB_SECRET"\n\n'
           f'[[web.account]]\nname = "rita"\nrole = "reviewer"\npassword_hash = "{hash_password("rita-secret")}"\n\n'
           '[[web.account]]\nname = "vic"\nrole = "viewer"\npassword_env = "T_VIC_PASSWORD"\n')
    _, config = record_change(tmp, web=web)
    env = {"T_FEED_TOKEN": "feed-token-1", "T_WEB_SECRET": "s3cret", "T_VIC_PASSWORD": "vic-secret"}
    with Served(config, env=env) as served:
        yield served


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def audit(config: Path, change_id: int = 1):
    store = Store(load_settings(config).store)
    try:
        return store.audit_events(change_id)
    finally:
        store.close()


@pytest.mark.slow
def test_a_reviewer_reviews_a_change_in_a_real_browser(local):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium not installed (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="ja-JP")
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(local.url + "/")
            assert page.locator("#policies").is_visible()
            page.click("text=#1")                                  # the last change of the policy
            assert page.locator("h1").inner_text().startswith("変更 #1")
            assert page.locator("table.cmp").count() >= 1           # the 新旧対照表
            assert page.locator("#review-state").inner_text() == "未着手"
            page.check("input[name=action][value=legal_review]")
            page.fill("textarea[name=note]", "法務確認を依頼した <b>太字ではない</b>")
            page.click("#submit-review")
            page.wait_for_load_state()
            assert page.url.endswith("/change/1#history"), (page.url, page.content()[:3000])
            assert page.locator("#review-state").inner_text() == "レビュー中"
            row = page.locator("#audit tr").last
            assert "legal_review" in row.inner_text() and "<b>太字ではない</b>" in row.inner_text()
            assert page.locator("#audit b").count() == 0            # the note is text, not markup
            assert page.is_checked("input[name=action][value=legal_review]")
            # the page text that looks like markup stays text
            page.goto(local.url + "/policy/enmono/v/2")
            assert HOSTILE in page.locator("#text").inner_text()
            assert page.evaluate("typeof window.pwned") == "undefined"
            assert page.locator("main script, main img").count() == 0
            page.goto(local.url + "/change/1")
            assert page.evaluate("typeof window.pwned") == "undefined"
            page.goto(local.url + "/audit?lang=en")
            assert "Audit trail" in page.locator("h1").inner_text()
            assert "legal_review" in page.locator("#audit").inner_text()
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            browser.close()
    [start, tick] = audit(local.config_path)
    assert (tick.action, tick.value, tick.note) == ("tick", "legal_review", "法務確認を依頼した <b>太字ではない</b>")
    assert tick.actor.startswith("local:")


def test_headers_escaping_and_pages(local):
    r = requests.get(local.url + "/change/1", timeout=10)
    assert r.status_code == 200
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Referrer-Policy"] == "same-origin"
    assert "<script" not in r.text.lower()
    text = requests.get(local.url + "/policy/enmono/v/2", timeout=10).text
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in text and "<script" not in text
    for path in ("/", "/?severity=consent&review=open", "/policy/enmono", "/policy/enmono/v/1?outline=1",
                 "/policy/enmono/diff?old=1&new=2", "/audit", "/?lang=en"):
        assert requests.get(local.url + path, timeout=10).status_code == 200, path
    assert "enmono" not in requests.get(local.url + "/?severity=minor", timeout=10).text.split("<main>")[1]
    assert requests.get(local.url + "/change/999", timeout=10).status_code == 404
    assert requests.get(local.url + "/policy/enmono/diff?old=1&new=x", timeout=10).status_code == 400


def test_a_post_without_the_csrf_token_is_refused(local):
    before = len(audit(local.config_path))
    form = {"action": "publish", "note": "forged"}
    r = requests.post(local.url + "/change/1/review", data=form, timeout=10, allow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    r = requests.post(local.url + "/change/1/review", data={**form, "csrf": "1700000000.deadbeef"}, timeout=10,
                      allow_redirects=False)
    assert r.status_code == 403
    token = csrf_of(requests.get(local.url + "/change/1", timeout=10).text)
    r = requests.post(local.url + "/change/1/review", data={**form, "csrf": token}, timeout=10,
                      headers={"Origin": "http://evil.example"}, allow_redirects=False)
    assert r.status_code == 403                       # a valid token from another site's page
    assert len(audit(local.config_path)) == before
    r = requests.post(local.url + "/change/1/review", data={"action": ["legal_review", "publish"], "csrf": token,
                                                            "note": "ok"}, timeout=10, allow_redirects=False)
    assert r.status_code == 303
    assert audit(local.config_path)[-1].value == "publish"


def test_binding_a_network_address_without_accounts_refuses_to_start(tmp_path, watch):
    _, config = record_change(tmp_path)
    result = watch("serve", "--host", "0.0.0.0", "--port", "1", "--config", config)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "refusing to listen on 0.0.0.0" in result.stderr and "[[web.account]]" in result.stderr
    config.write_text(config.read_text() + '\n[web]\nhost = "192.0.2.1"\n')
    result = watch("serve", "--config", config)
    assert result.returncode == 2 and "refusing to listen on 192.0.2.1" in result.stderr


def test_accounts_roles_and_a_viewer_cannot_review(accounts):
    assert requests.get(accounts.url + "/", timeout=10).status_code == 401
    assert requests.get(accounts.url + "/", headers=basic("rita", "wrong"), timeout=10).status_code == 401
    assert requests.get(accounts.url + "/", headers=basic("vic", "vic-secret"), timeout=10).status_code == 200
    page = requests.get(accounts.url + "/change/1", headers=basic("vic", "vic-secret"), timeout=10).text
    assert 'id="review-form"' not in page and "閲覧権限" in page
    token = re.search(r"(\d+\.[0-9a-f]{64})", requests.get(
        accounts.url + "/change/1", headers=basic("rita", "rita-secret"), timeout=10).text).group(1)
    # the viewer, even with a token of its own kind, cannot post a review
    viewer_token = _token_for(accounts, "vic")
    r = requests.post(accounts.url + "/change/1/review", headers=basic("vic", "vic-secret"), timeout=10,
                      data={"action": "legal_review", "csrf": viewer_token}, allow_redirects=False)
    assert r.status_code == 403 and "viewer role cannot review" in r.text
    # rita's token is rita's: it does not work for vic
    r = requests.post(accounts.url + "/change/1/review", headers=basic("vic", "vic-secret"), timeout=10,
                      data={"action": "legal_review", "csrf": token}, allow_redirects=False)
    assert r.status_code == 403
    assert audit(accounts.config) == []
    r = requests.post(accounts.url + "/change/1/review", headers=basic("rita", "rita-secret"), timeout=10,
                      data={"action": "obtain_consent", "decision": "consent_obtained", "csrf": token},
                      allow_redirects=False)
    assert r.status_code == 303
    assert [(e.actor, e.role, e.action) for e in audit(accounts.config)] == [
        ("rita", "reviewer", "start"), ("rita", "reviewer", "tick"), ("rita", "reviewer", "decide")]


def _token_for(served, who: str) -> str:
    # the server's key comes from the environment: the same key makes the same tokens
    return Csrf(served.env["T_WEB_SECRET"].encode()).token(who)


def test_the_feed_parses_as_atom_and_answers_304(local, accounts):
    r = requests.get(local.url + "/feed.atom", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(r.content)
    assert root.tag == f"{ATOM}feed"
    [entry] = root.findall(f"{ATOM}entry")
    entry_id = entry.find(f"{ATOM}id").text
    assert re.fullmatch(r"tag:policy-watcher\.invalid,\d{4}-\d\d-\d\d:change/1", entry_id)
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo and parsed.version == "atom10" and parsed.entries[0].id == entry_id
    assert parsed.entries[0].link.endswith("/change/1")
    assert requests.get(local.url + "/feed.atom", timeout=10).text == r.text       # stable
    etag, modified = r.headers["ETag"], r.headers["Last-Modified"]
    assert requests.get(local.url + "/feed.atom", headers={"If-None-Match": etag}, timeout=10).status_code == 304
    assert requests.get(local.url + "/feed.atom", headers={"If-Modified-Since": modified},
                        timeout=10).status_code == 304
    assert requests.get(local.url + "/feed.atom", headers={"If-None-Match": '"other"'},
                        timeout=10).status_code == 200
    assert requests.get(local.url + "/feed.atom", headers={"If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"},
                        timeout=10).status_code == 200
    per_policy = feedparser.parse(requests.get(local.url + "/policy/enmono/feed.atom", timeout=10).content)
    assert not per_policy.bozo and [e.id for e in per_policy.entries] == [entry_id]
    assert requests.get(local.url + "/policy/nope/feed.atom", timeout=10).status_code == 404
    # with accounts: the read token, or an account
    assert requests.get(accounts.url + "/feed.atom", timeout=10).status_code == 401
    assert requests.get(accounts.url + "/feed.atom?token=wrong", timeout=10).status_code == 401
    assert requests.get(accounts.url + "/feed.atom?token=feed-token-1", timeout=10).status_code == 200
    assert requests.get(accounts.url + "/feed.atom", headers=basic("vic", "vic-secret"), timeout=10).status_code == 200


def test_the_diff_page_draws_the_change_pages_rows(local):
    """/policy/NAME/diff draws each changed clause's 新旧対照表 rows (one per changed paragraph,
    （略） between) as the change page does, not one block per clause."""
    def rows(path):
        page = requests.get(local.url + path, timeout=10).text
        tables = re.findall(r'<table class="cmp">(.*?)</table>', page, re.S)
        return [tr.strip() for table in tables for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)
                if "<th>" not in tr]
    on_diff, on_change = rows("/policy/enmono/diff?old=1&new=2"), rows("/change/1")
    assert on_diff and on_diff == on_change


def test_reasons_are_shown_in_the_readers_language_on_the_change_diff_and_feed(local):
    store = Store(load_settings(local.config).store)
    try:
        report = store.change(1).report
    finally:
        store.close()
    changed = [ch for ch in report["changes"] if ch.get("reason_details")]
    ja = [t for ch in changed for t in reason_texts(ch, "ja")]
    en = [t for ch in changed for t in reason_texts(ch, "en")]
    only_en = [t for t in en if t not in ja]
    assert only_en, "the change's reasons read differently in English"
    page = html.unescape(requests.get(local.url + "/change/1?lang=en", timeout=10).text)
    assert all(t in page for t in only_en)
    page_ja = html.unescape(requests.get(local.url + "/change/1?lang=ja", timeout=10).text)
    assert not any(t in page_ja for t in only_en) and all(t in page_ja for t in ja)
    feed = feedparser.parse(requests.get(local.url + "/feed.atom?lang=en", timeout=10).content)
    assert any(only_en[0] in e.summary for e in feed.entries)
