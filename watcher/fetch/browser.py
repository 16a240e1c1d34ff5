"""The "browser" fetcher kind: pages whose policy text a script writes after load.

Playwright drives Debian's chromium (`fetch.browser_path`, /usr/bin/chromium; no browser is
downloaded). One browser process per fetcher, started on the first browser fetch and never
before: a pass whose pages need no browser never starts one. Each fetch gets a fresh context
(no cookies or storage carried from one policy to the next), waits for the load event, then for
the policy's `select` (or the main content: main, article, [role=main], else body) to hold at
least MIN_TEXT characters that stay put for SETTLE_MS, all within `fetch.browser_timeout`. The
rendered DOM is the body (UTF-8 HTML): it goes through the same extractor as an HTTP page.

The browser runs on a thread of its own with an asyncio loop (Playwright objects belong to the
thread that made them): `fetch()` from any fetch thread queues a render on it, and at most
`fetch.browser_concurrency` pages render at once — the browser's own queue, below the per-host
limit the dispatcher applies (this kind is `remote`).

Playwright is loaded with the driver module (watcher.fetch.chromium) on the first browser fetch,
by name: `watch diff a.txt b.txt` and a pass of plain pages never import it.
"""

from __future__ import annotations

import importlib
import threading
import time

from watcher.config import FetchSettings
from watcher.fetch.base import FetchRequest, FetchResult, register

DRIVER = "watcher.fetch.chromium"   # imports playwright: loaded by name on the first browser fetch
MIN_TEXT = 100      # characters the policy body must hold before the page counts as rendered
SETTLE_MS = 300     # ... unchanged for this long (a script writing in several steps)
# Debian's chromium in a closed network, with no sandbox (containers) and no GPU.
LAUNCH_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run")


@register
class BrowserFetcher:
    """Headless Chromium (Playwright, Debian's chromium): the DOM after the page's scripts have run."""

    kind = "browser"
    schemes = ()          # chosen by a policy's `fetch` setting, never by URL scheme
    remote = True

    def __init__(self, settings: FetchSettings, *, stop: threading.Event):
        self.settings = settings
        self.stop = stop
        self._driver = None
        self._lock = threading.Lock()
        self.requests_made = 0
        self.launches = 0          # browser processes started (tests: a plain page starts none)

    def fetch(self, request: FetchRequest) -> FetchResult:
        start = time.monotonic()
        try:
            driver = self._started()
        except Exception as e:     # chromium missing or failing to start: this fetch fails, one line
            return FetchResult(url=request.url, final_url=request.url, attempts=1, fetcher=self.kind,
                               elapsed=time.monotonic() - start, error=f"browser: cannot start chromium: {_short(e)}")
        with self._lock:
            self.requests_made += 1
        result = driver.render(request.url, wait_for=request.wait_for, timeout=self.settings.browser_timeout)
        result.fetcher = self.kind
        result.elapsed = time.monotonic() - start
        return result

    def _started(self):
        with self._lock:
            if self._driver is None:
                module = importlib.import_module(DRIVER)
                self._driver = module.Driver(self.settings, args=LAUNCH_ARGS, min_text=MIN_TEXT,
                                             settle_ms=SETTLE_MS)
                self.launches += 1
            return self._driver

    def close(self):
        with self._lock:
            driver, self._driver = self._driver, None
        if driver is not None:
            driver.close()


def _short(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return " ".join(text.split())[:200]
