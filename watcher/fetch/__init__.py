"""Fetch policy pages: polite, bounded, conditional.

    Fetcher(settings, stop=...)        one per process; .fetch(url, etag=, last_modified=),
                                       .fetch_many(jobs, on_start=), .close()
    fetch_once(url, settings)          one unconditional fetch (raises FetchError)
    fetch_file(url, ...), file_path(url), is_url(text)

How a URL is fetched is a registered kind (watcher.fetch.base.FETCHERS, chosen by URL
scheme): "http" (http.py: conditional GET, retries, size cap) and "file" (file.py: `file://`
and plain paths, mtime/size validators); "browser" (browser.py: headless Chromium, the DOM after
the page's scripts ran) serves a URL when the policy's `fetch` mode asks for it: "browser"
always, "auto" when the HTTP page is a script shell or a bot wall — the Fetcher's `needs_browser`
hook says so (the caller passes watcher.suspect.needs_browser: the rules live there) — and the
result's `fetcher` / `escalated` say which kind produced it and why.

The Fetcher dispatches each URL to its kind and is the politeness layer above them: never
more than `per_host` requests at a time against one host of a `remote` kind, in `fetch` as
in `fetch_many`. `fetch_many` runs many fetches on a thread pool of `concurrency` workers; a
worker only takes a job whose host has a free slot, so a slow host cannot starve the others.

Decoding the body (charset) is the extract stage's job; this package returns bytes.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator

from watcher.config import FetchSettings
from watcher.errors import FetchError
from watcher.fetch.base import (
    FETCHERS,
    MODES,
    FetcherKind,
    FetchJob,
    FetchRequest,
    FetchResult,
    host_key,
    kind_for,
    register,
    url_scheme,
)
from watcher.fetch.browser import BrowserFetcher
from watcher.fetch.file import FileFetcher, fetch_file, file_path
from watcher.fetch.http import CHUNK, MAX_REDIRECTS, RETRY_STATUSES, HttpFetcher

__all__ = ["CHUNK", "FETCHERS", "MAX_REDIRECTS", "MODES", "RETRY_STATUSES", "BrowserFetcher", "FetchJob",
           "FetchRequest", "FetchResult", "Fetcher", "FetcherKind", "FileFetcher", "HttpFetcher", "fetch_file", "fetch_once", "file_path",
           "is_url", "register"]


NeedsBrowser = Callable[[FetchResult], "str | None"]   # why an HTTP result needs the browser, or None


class Fetcher:
    """Dispatches URLs to the registered fetcher kinds; limits requests per host."""

    def __init__(self, settings: FetchSettings | None = None, *, stop: threading.Event | None = None,
                 needs_browser: NeedsBrowser | None = None):
        self.settings = settings or FetchSettings()
        self.stop = stop or threading.Event()   # set it to abandon retries and queued jobs
        self.needs_browser = needs_browser      # mode "auto": without it, auto is plain HTTP
        self._kinds: dict[str, FetcherKind] = {}   # made on first use: a browser kind is costly to start
        self._kinds_lock = threading.Lock()
        self._host_slots: dict[str, threading.Semaphore] = {}
        self._slots_lock = threading.Lock()

    @property
    def requests_made(self) -> int:
        """Requests sent to servers (retries and redirects included)."""
        return sum(getattr(kind, "requests_made", 0) for kind in list(self._kinds.values()))

    @property
    def kinds_started(self) -> set[str]:
        """The kinds this fetcher has made an instance of (a browser kind starts chromium on first use)."""
        return {name for name, kind in list(self._kinds.items()) if getattr(kind, "launches", 1)}

    # ------------------------------------------------------------ one page

    def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
              mode: str = "http", select: str | None = None, allow_insecure_redirect: bool = False) -> FetchResult:
        """Fetch one URL. Never raises for network or HTTP trouble: the result carries `error`.

        `mode` is a policy's `fetch` (MODES); `select` its policy-body selector (what a browser
        waits for). A local file is read as it is in every mode."""
        cls = kind_for(url)
        if cls is None:
            return FetchResult(url=url, final_url=url, error=f"unsupported URL scheme {url_scheme(url)!r}")
        if mode not in MODES:
            return FetchResult(url=url, final_url=url, error=f"unknown fetch mode {mode!r} (expected {', '.join(MODES)})")
        request = FetchRequest(url, etag, last_modified, select, allow_insecure_redirect)
        if not cls.remote:
            return self._fetch_with(cls, request)
        if mode == "browser":
            return self._fetch_with(FETCHERS["browser"], FetchRequest(url, None, None, select))
        result = self._fetch_with(cls, request)
        if mode == "auto" and self.needs_browser is not None and not result.not_modified and not self.stop.is_set():
            reason = self.needs_browser(result)
            if reason:
                rendered = self._fetch_with(FETCHERS["browser"], FetchRequest(url, None, None, select))
                rendered.escalated = reason
                if rendered.error:
                    rendered.error = f"{reason}, and the browser fetch failed: {rendered.error}"
                return rendered
        return result

    def _fetch_with(self, cls: type[FetcherKind], request: FetchRequest) -> FetchResult:
        fetcher = self._kind(cls)
        if cls.remote:
            with self._slot(host_key(request.url)):
                result = fetcher.fetch(request)
        else:
            result = fetcher.fetch(request)
        result.fetcher = result.fetcher or cls.kind
        return result

    def _kind(self, cls: type[FetcherKind]) -> FetcherKind:
        fetcher = self._kinds.get(cls.kind)
        if fetcher is None:
            with self._kinds_lock:
                fetcher = self._kinds.get(cls.kind)
                if fetcher is None:
                    fetcher = self._kinds[cls.kind] = cls(self.settings, stop=self.stop)
        return fetcher

    def _slot(self, host: str) -> threading.Semaphore:
        with self._slots_lock:
            slot = self._host_slots.get(host)
            if slot is None:
                slot = self._host_slots[host] = threading.BoundedSemaphore(self.settings.per_host)
            return slot

    # ------------------------------------------------------------ many pages

    def fetch_many(self, jobs: Iterable[FetchJob],
                   on_start: Callable[[FetchJob], None] | None = None) -> Iterator[tuple[FetchJob, FetchResult]]:
        """Yield (job, result) as fetches complete, `concurrency` at a time and `per_host` per host.

        Setting `self.stop` stops handing out queued jobs; the generator then ends after the
        fetches in flight return (their results are still yielded).
        """
        done: queue.SimpleQueue[tuple[FetchJob, FetchResult] | None] = queue.SimpleQueue()
        if self.fetch_into(jobs, done.put, on_start) == 0:
            return
        while (item := done.get()) is not None:
            yield item

    def fetch_into(self, jobs: Iterable[FetchJob], deliver: Callable[[tuple[FetchJob, FetchResult] | None], None],
                   on_start: Callable[[FetchJob], None] | None = None) -> int:
        """fetch_many's fetches, each (job, result) handed to `deliver` by the thread that fetched it, then
        None once, when the last fetch is done; returns at once with the number of jobs (0: no thread,
        no None). For a caller that waits for more than fetches (checker: one queue, one hand-off less)."""
        queues: OrderedDict[str, deque[FetchJob]] = OrderedDict()
        total = 0
        for job in jobs:
            queues.setdefault(host_key(job.url), deque()).append(job)
            total += 1
        if not total:
            return 0
        active: dict[str, int] = {host: 0 for host in queues}
        cond = threading.Condition()     # guards queues and active; waited on only by idle workers
        # local files are not a server to be polite to
        limits = {host: (self.settings.concurrency if host == "" else self.settings.per_host) for host in queues}

        def take() -> FetchJob | None:
            with cond:
                while True:
                    if self.stop.is_set() or not queues:
                        return None
                    for host in list(queues):
                        if active[host] < limits[host]:
                            q = queues[host]
                            job = q.popleft()
                            if not q:
                                del queues[host]
                                if not queues:
                                    cond.notify_all()    # nothing left to hand out: idle workers end
                            else:
                                queues.move_to_end(host)   # round-robin over hosts
                            active[host] += 1
                            return job
                    cond.wait()

        def worker():
            nonlocal running
            try:
                while True:
                    job = take()
                    if job is None:
                        return
                    if on_start:
                        on_start(job)
                    try:
                        result = self.fetch(job.url, etag=job.etag, last_modified=job.last_modified,
                                            mode=job.mode, select=job.select,
                                            allow_insecure_redirect=job.allow_insecure_redirect)
                    except Exception as e:   # a bug must not hang the pass: report it on the job
                        result = FetchResult(url=job.url, final_url=job.url, error=f"internal error: {e!r}")
                    with cond:
                        active[host_key(job.url)] -= 1
                        # One slot came free: one idle worker can use it. Waking them all made every
                        # response cost a dozen thread switches (a 304 cost twice its serial CPU).
                        cond.notify()
                    deliver((job, result))
            finally:
                with cond:
                    cond.notify_all()    # `stop` may be set: the idle workers look again and end
                    running -= 1
                    last = running == 0
                if last:
                    deliver(None)

        # No more workers than can ever be busy at once: one host at per_host = 2 needs two, not 16.
        busy_at_most = sum(min(limits[host], len(q)) for host, q in queues.items())
        n_workers = min(self.settings.concurrency, busy_at_most)
        running = n_workers     # threads not yet ended (guarded by cond): the last one delivers None
        for i in range(n_workers):
            threading.Thread(target=worker, name=f"fetch-{i}", daemon=True).start()
        return total

    def close(self):
        with self._kinds_lock:
            kinds = list(self._kinds.values())
        for fetcher in kinds:
            fetcher.close()


def fetch_once(url: str, settings: FetchSettings | None = None, *, mode: str = "http", select: str | None = None,
               needs_browser: NeedsBrowser | None = None) -> FetchResult:
    """One unconditional fetch (for `watch diff URL ...`). Raises FetchError on failure."""
    fetcher = Fetcher(settings, needs_browser=needs_browser)
    try:
        result = fetcher.fetch(url, mode=mode, select=select)
    finally:
        fetcher.close()
    if result.error:
        raise FetchError(f"{url}: {result.error}")
    return result


def is_url(text: str) -> bool:
    """A URL some registered kind fetches (http, https, file...), not a plain path."""
    scheme = url_scheme(text)
    return bool(scheme) and kind_for(text) is not None
