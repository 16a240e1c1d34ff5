"""The browser fetcher kind against a real local server and Debian's chromium (one browser for the module).

A page whose policy text a script writes 500 ms after load: the HTTP fetcher gets the shell,
`fetch = "auto"` escalates to the browser and stores the real text (the snapshot records the
browser); a plain page never starts a browser; a bot wall is escalated; a page whose text never
comes is a clear one-line failure, never a version.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from webserver import policy_page

from watcher import suspect
from watcher.check import Checker
from watcher.config import FetchSettings, parse_settings
from watcher.derive import stored_clauses
from watcher.errors import ConfigError, InputError
from watcher.extract import extract
from watcher.fetch import Fetcher
from watcher.store import SnapshotRow, Store

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium "
                                "(.ci/run installs it with apt-get; `playwright install` is never used)")

PAIR = Path(__file__).parent / "data" / "corpus" / "pairs" / "d01-enmono-purpose-ad-targeting"
POLICY = (PAIR / "old.txt").read_text(encoding="utf-8")


def policy_html(text: str) -> str:
    return "<main id=\"policy\">" + "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines()
                                          if line.strip()) + "</main>"


def shell_page(text: str, *, delay_ms: int = 500) -> str:
    """An application shell: the policy is written into #app by a script, `delay_ms` after load."""
    inner = policy_html(text)
    return f"""<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>プライバシーポリシー</title></head>
<body><div id="app"></div><noscript>このページを表示するにはJavaScriptを有効にしてください。</noscript>
<script>window.addEventListener("load", () => setTimeout(() => {{
  document.getElementById("app").innerHTML = {json.dumps(inner)};
}}, {delay_ms}));</script></body></html>"""


def settings_for(tmp_path: Path, policies: list[dict]):
    return parse_settings({
        "store": {"url": "sqlite:///store/watch.db", "bodies_dir": "store/bodies"},
        "fetch": {"timeout_connect": 2, "timeout_read": 3, "retries": 0, "backoff": 0.01, "browser_timeout": 8},
        "notify": {"staff": ["staff@example.com"], "outbox_dir": "outbox"},
        "policy": policies,
    }, base_dir=tmp_path)


@pytest.fixture(scope="module")
def browser_fetcher():
    """One Fetcher (so one chromium) for the whole module, with the auto-mode hook."""
    fetcher = Fetcher(FetchSettings(retries=0, timeout_read=3, browser_timeout=8), needs_browser=suspect.needs_browser)
    yield fetcher
    fetcher.close()


def checker_with(settings, store, fetcher) -> Checker:
    checker = Checker(settings, store, notify=False, workers=1)
    checker.fetcher.close()
    checker.fetcher = fetcher          # the module's browser, not one more
    return checker


def snapshots(store: Store) -> list[SnapshotRow]:
    with store.Session() as session:
        return list(session.scalars(select(SnapshotRow).order_by(SnapshotRow.id)))


def test_auto_escalates_a_script_shell_and_stores_the_rendered_text(tmp_path, server, browser_fetcher):
    server.set("/privacy", shell_page(POLICY))
    url = server.url("/privacy")

    # the HTTP fetcher gets the shell: no policy text in it
    plain = Fetcher(FetchSettings(retries=0))
    try:
        shell = plain.fetch(url, mode="http")
    finally:
        plain.close()
    assert shell.ok and shell.fetcher == "http" and "browser" not in plain.kinds_started
    with pytest.raises(InputError, match="no policy text found"):
        extract(shell.body, source=url, content_type=shell.content_type)
    assert suspect.needs_browser(shell).startswith("a script shell")

    server.reset_counts()
    settings = settings_for(tmp_path, [{"name": "spa", "url": url}])     # fetch = "auto", the default
    store = Store(settings.store)
    outcome = checker_with(settings, store, browser_fetcher).check_one(settings.policy("spa"))
    assert outcome.status == "first", outcome.error
    [snap] = snapshots(store)
    assert snap.fetcher == "browser" and snap.status == 200
    assert "アカウント名、メールアドレス、パスワード" in snap.text and stored_clauses(snap) >= 3
    # the same text as the page would give if the server had sent the policy itself
    static = f"<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"></head><body>{policy_html(POLICY)}</body></html>"
    assert snap.text == extract(static.encode(), source="static").text
    assert server.hits["/privacy"] == 2         # one HTTP request (the shell), one from the browser

    # the same rendered text again: unchanged, no new version
    again = checker_with(settings, store, browser_fetcher).check_one(settings.policy("spa"))
    assert again.status == "unchanged" and len(snapshots(store)) == 1


def test_a_page_that_needs_no_browser_never_starts_one(tmp_path, server):
    server.set("/plain", policy_page(POLICY))
    settings = settings_for(tmp_path, [{"name": "plain", "url": server.url("/plain")}])
    store = Store(settings.store)
    checker = Checker(settings, store, notify=False, workers=1)
    try:
        assert checker.check_one(settings.policy("plain")).status == "first"
        assert checker.fetcher.kinds_started == {"http"}
    finally:
        checker.close()
    [snap] = snapshots(store)
    assert snap.fetcher == "http" and server.hits["/plain"] == 1


def test_fetch_browser_never_asks_http_and_http_never_escalates(server, browser_fetcher):
    server.set("/spa", shell_page(POLICY, delay_ms=100))
    rendered = browser_fetcher.fetch(server.url("/spa"), mode="browser", select="#policy")
    assert rendered.ok and rendered.fetcher == "browser" and rendered.escalated is None
    assert rendered.content_type == "text/html; charset=utf-8" and rendered.etag is None
    doc = extract(rendered.body, source="spa", content_type=rendered.content_type, select="#policy")
    assert doc.text == extract(policy_html(POLICY).encode(), source="static").text
    assert server.hits["/spa"] == 1
    shell = browser_fetcher.fetch(server.url("/spa"), mode="http")
    assert shell.fetcher == "http" and shell.escalated is None


def test_text_that_never_comes_is_a_one_line_failure(tmp_path, server, browser_fetcher):
    server.set("/empty", shell_page(POLICY, delay_ms=60_000))     # the script writes long after the timeout
    settings = settings_for(tmp_path, [{"name": "slow", "url": server.url("/empty"), "fetch": "browser"}])
    store = Store(settings.store)
    saved, browser_fetcher.settings.browser_timeout = browser_fetcher.settings.browser_timeout, 1.5
    try:
        outcome = checker_with(settings, store, browser_fetcher).check_one(settings.policy("slow"))
    finally:
        browser_fetcher.settings.browser_timeout = saved
    assert outcome.status == "failed"
    assert "browser: no policy text appeared in the main content within" in outcome.error
    assert "\n" not in outcome.error and snapshots(store) == []


def test_a_bot_wall_is_escalated(server, browser_fetcher):
    wall = ("<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
            "<p>Checking your browser before accessing the site.</p></body></html>")
    server.set("/walled", wall, status=403)
    result = browser_fetcher.fetch(server.url("/walled"), mode="auto")
    assert result.escalated and result.escalated.startswith("looks bot-blocked (HTTP 403")
    assert result.fetcher == "browser" and result.error.endswith("the browser fetch failed: HTTP 403 Forbidden")
    assert server.hits["/walled"] == 2


def test_config_fetch_mode_is_validated(tmp_path):
    with pytest.raises(ConfigError, match=r"policy\[1\]\.fetch"):
        settings_for(tmp_path, [{"name": "x", "url": "https://example.com/p", "fetch": "selenium"}])
    assert settings_for(tmp_path, [{"name": "x", "url": "https://example.com/p"}]).policy("x").fetch == "auto"

