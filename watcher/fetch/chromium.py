"""The browser kind's driver: Playwright's async API on a thread of its own, one chromium process.

Loaded by name (watcher.fetch.browser.DRIVER) on the first browser fetch; this module is the only
one that imports playwright. `Driver.render(url)` may be called from any thread: it queues the
render on the driver's loop, where a semaphore lets `browser_concurrency` pages render at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Sequence

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import async_playwright

from watcher.config import FetchSettings
from watcher.fetch.base import FetchResult

# Rendered text needs the DOM and the CSS (display:none hides text), not pictures or fonts.
BLOCKED_RESOURCES = frozenset({"image", "media", "font"})
LAUNCH_TIMEOUT = 60.0

# True once the policy body (the `select` matches, else main content, else body) holds `min`
# characters that have not changed for `quiet` ms.
_RENDERED = """([sel, min, quiet]) => {
  let els = sel ? Array.from(document.querySelectorAll(sel)) : [];
  if (!els.length) {
    const main = document.querySelector('main, article, [role=main]');
    els = main ? [main] : (document.body ? [document.body] : []);
  }
  const n = els.reduce((sum, el) => sum + (el.innerText || '').trim().length, 0);
  const w = window.__policyWatcher || (window.__policyWatcher = {n: -1, t: 0});
  const now = performance.now();
  if (n !== w.n) { w.n = n; w.t = now; return false; }
  return n >= min && now - w.t >= quiet;
}"""


class Driver:
    def __init__(self, settings: FetchSettings, *, args: Sequence[str], min_text: int, settle_ms: int):
        self.settings, self.args, self.min_text, self.settle_ms = settings, list(args), min_text, settle_ms
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="browser", daemon=True)
        self.thread.start()
        self._playwright = self._browser = self._slots = None
        try:
            asyncio.run_coroutine_threadsafe(self._launch(), self.loop).result(LAUNCH_TIMEOUT)
        except BaseException:
            self.close()
            raise

    async def _launch(self):
        self._slots = asyncio.Semaphore(self.settings.browser_concurrency)
        self._playwright = await async_playwright().start()
        self._browser = await self._playwright.chromium.launch(
            executable_path=self.settings.browser_path, args=self.args, headless=True,
            timeout=LAUNCH_TIMEOUT * 1000)

    def render(self, url: str, *, wait_for: str | None, timeout: float) -> FetchResult:
        future = asyncio.run_coroutine_threadsafe(self._render(url, wait_for, timeout), self.loop)
        try:
            # queued behind other renders: allow for their time too, then give up on this one
            return future.result(timeout * (1 + self.settings.concurrency / self.settings.browser_concurrency))
        except concurrent.futures.TimeoutError:
            future.cancel()
            return FetchResult(url=url, final_url=url, attempts=1, transient=True,
                               error=f"browser: no render slot within the wait (browser_concurrency = "
                                     f"{self.settings.browser_concurrency})")

    async def _render(self, url: str, wait_for: str | None, timeout: float) -> FetchResult:
        result = FetchResult(url=url, final_url=url, attempts=1)
        async with self._slots:
            deadline = self.loop.time() + timeout
            context = await self._browser.new_context(
                user_agent=self.settings.user_agent, locale="ja-JP",
                extra_http_headers={"Accept-Language": "ja,en;q=0.5"})
            try:
                await context.route("**/*", _route)
                page = await context.new_page()
                try:
                    response = await page.goto(url, wait_until="load", timeout=timeout * 1000)
                except PlaywrightTimeout:
                    result.error, result.transient = f"browser: page did not load within {timeout:g}s", True
                    return result
                result.final_url = page.url
                if response is not None:
                    result.status = response.status
                    result.headers = {k.lower(): v for k, v in (await response.all_headers()).items()}
                    result.redirects = _redirects(response)
                    if not 200 <= response.status < 300:
                        result.error = f"HTTP {response.status} {response.status_text or ''}".strip()
                        result.transient = response.status in (429, 500, 502, 503, 504)
                        return result
                else:
                    result.status = 200      # file:// has no response
                left = max(0.1, deadline - self.loop.time())
                try:
                    await page.wait_for_function(_RENDERED, arg=[wait_for, self.min_text, self.settle_ms],
                                                 polling=100, timeout=left * 1000)
                except PlaywrightTimeout:
                    where = f"select {wait_for!r}" if wait_for else "the main content"
                    result.error = (f"browser: no policy text appeared in {where} within {timeout:g}s "
                                    f"(fewer than {self.min_text} characters)")
                    return result
                body = (await page.content()).encode("utf-8")
            except PlaywrightError as e:
                result.error = f"browser: {_short(e)}"
                result.transient = "net::" in str(e)
                return result
            finally:
                try:
                    await context.close()
                except PlaywrightError:
                    pass
        if len(body) > self.settings.max_bytes:
            result.error = f"body too large: {len(body)} bytes rendered (max_bytes = {self.settings.max_bytes})"
            return result
        result.body = body
        # the rendered DOM, not the bytes the server sent: no validators (a script's data may change
        # under an unchanged shell), and it is UTF-8 whatever the page declared
        result.headers["content-type"] = "text/html; charset=utf-8"
        result.headers.pop("etag", None)
        result.headers.pop("last-modified", None)
        return result

    def close(self):
        if self.loop.is_closed():
            return
        if self.thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(30)
            except Exception:      # the browser died already: nothing left to close
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()

    async def _shutdown(self):
        if self._browser is not None:
            await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()


async def _route(route):
    if route.request.resource_type in BLOCKED_RESOURCES:
        await route.abort()
    else:
        await route.continue_()


def _redirects(response) -> list[str]:
    hops = []
    request = response.request.redirected_from
    while request is not None:
        hops.append(request.url)
        request = request.redirected_from
    return [f"3xx {u}" for u in reversed(hops)]


def _short(error: Exception) -> str:
    text = str(error).split("\n=")[0].split("Call log:")[0]
    return " ".join(text.split())[:200]
