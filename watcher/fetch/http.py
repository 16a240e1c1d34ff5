"""Fetch policy pages: polite, bounded, conditional.

One `Fetcher` per process: a `requests` session per worker thread (sessions are not
thread-safe), a named User-Agent, connect/read timeouts, bounded retries with
exponential backoff on connection errors / timeouts / 429 / 5xx (a server's
Retry-After is honoured, capped), a streamed size cap, redirects followed and
recorded, and conditional GET (If-None-Match / If-Modified-Since) so that an
unchanged page costs a 304 and no parsing. `file://` URLs and local paths are read
from disk with the same result type (an mtime/size validator gives them 304s too).

`fetch_many` runs many fetches on a thread pool of `concurrency` workers but never
more than `per_host` at a time against one host: a worker only takes a job whose
host has a free slot, so a slow host cannot starve the others.

Decoding the body (charset) is the extract stage's job; this module returns bytes.
"""

from __future__ import annotations

import email.utils
import functools
import mimetypes
import os
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import requests

from watcher.config import FetchSettings
from watcher.errors import FetchError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
CHUNK = 64 * 1024
MAX_REDIRECTS = 10


@dataclass
class FetchResult:
    url: str                                  # as requested
    status: int | None = None                 # HTTP status of the final response; None when none arrived
    final_url: str = ""
    redirects: list[str] = field(default_factory=list)   # "301 https://old/..." for each hop, in order
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes | None = None                 # None on 304 and on errors
    etag: str | None = None
    last_modified: str | None = None
    elapsed: float = 0.0
    error: str | None = None                  # one line; None on success (200-299 or 304)
    attempts: int = 0
    transient: bool = False                   # the error may go away on a retry (network, timeout)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def not_modified(self) -> bool:
        return self.error is None and self.status == 304

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass
class FetchJob:
    """One fetch of `fetch_many`; `key` is handed back with the result (e.g. the policy name)."""

    key: object
    url: str
    etag: str | None = None
    last_modified: str | None = None


class Fetcher:
    def __init__(self, settings: FetchSettings | None = None, *, stop: threading.Event | None = None):
        self.settings = settings or FetchSettings()
        self.stop = stop or threading.Event()   # set it to abandon retries and queued jobs
        self._local = threading.local()
        self._host_slots: dict[str, threading.Semaphore] = {}
        self._slots_lock = threading.Lock()
        self.requests_made = 0                   # HTTP requests sent (retries and redirects included)
        self._count_lock = threading.Lock()

    # ------------------------------------------------------------ one page

    def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """Fetch one URL. Never raises for network or HTTP trouble: the result carries `error`."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in ("http", "https"):
            with self._slot(parts.hostname or ""):
                return self._fetch_http(url, etag, last_modified)
        if scheme == "file" or not scheme or len(scheme) == 1:
            return fetch_file(url, etag=etag, last_modified=last_modified, max_bytes=self.settings.max_bytes)
        return FetchResult(url=url, final_url=url, error=f"unsupported URL scheme {scheme!r}")

    def _slot(self, host: str) -> threading.Semaphore:
        with self._slots_lock:
            slot = self._host_slots.get(host)
            if slot is None:
                slot = self._host_slots[host] = threading.BoundedSemaphore(self.settings.per_host)
            return slot

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.max_redirects = MAX_REDIRECTS
            # The environment (proxies, CA bundle) is read once, not on every request: requests
            # re-scans os.environ per request when trust_env is on, a fifth of a 304's cost.
            session.trust_env = False
            session.verify = _env_ca_bundle() or True
            session.headers.update({
                "User-Agent": self.settings.user_agent,
                "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
                "Accept-Language": "ja,en;q=0.5",
            })
            adapter = requests.adapters.HTTPAdapter(pool_connections=64, pool_maxsize=self.settings.per_host,
                                                    max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def _fetch_http(self, url: str, etag: str | None, last_modified: str | None) -> FetchResult:
        s = self.settings
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        start = time.monotonic()
        result = FetchResult(url=url, final_url=url)
        for attempt in range(s.retries + 1):
            result = self._attempt(url, headers)
            result.attempts = attempt + 1
            delay = self._retry_delay(result, attempt)
            if delay is None or attempt == s.retries or self.stop.is_set():
                break
            if self.stop.wait(delay):
                break
        result.elapsed = time.monotonic() - start
        return result

    def _retry_delay(self, result: FetchResult, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when the outcome is final."""
        if not result.transient and result.status not in RETRY_STATUSES:
            return None
        delay = self.settings.backoff * (2 ** attempt) * (1 + random.random() * 0.25)
        retry_after = _retry_after_seconds(result.headers.get("retry-after"))
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.settings.retry_after_max)

    def _attempt(self, url: str, headers: dict) -> FetchResult:
        s = self.settings
        result = FetchResult(url=url, final_url=url)
        with self._count_lock:
            self.requests_made += 1
        result.transient = True   # until a response arrives
        try:
            response = self._session().get(url, headers=headers, stream=True, allow_redirects=True,
                                           timeout=(s.timeout_connect, s.timeout_read),
                                           proxies=_env_proxies(url))
        except requests.exceptions.TooManyRedirects:
            result.error = f"more than {MAX_REDIRECTS} redirects"
            result.transient = False
            return result
        except requests.exceptions.ConnectTimeout:
            result.error = f"connect timeout after {s.timeout_connect:g}s"
            return result
        except requests.exceptions.ReadTimeout:
            result.error = f"read timeout after {s.timeout_read:g}s"
            return result
        except requests.exceptions.SSLError as e:
            result.error = f"TLS error: {_short(e)}"
            result.transient = False
            return result
        except requests.exceptions.ConnectionError as e:
            result.error = f"connection failed: {_short(e)}"
            return result
        except requests.exceptions.RequestException as e:   # bad URL and the like: final
            result.error = f"request failed: {_short(e)}"
            result.transient = False
            return result
        with self._count_lock:
            self.requests_made += len(response.history)
        result.transient = False
        with response:
            result.status = response.status_code
            result.final_url = response.url
            result.redirects = [f"{r.status_code} {r.url}" for r in response.history]
            result.headers = {k.lower(): v for k, v in response.headers.items()}
            result.etag = response.headers.get("ETag")
            result.last_modified = response.headers.get("Last-Modified")
            if response.status_code == 304:
                # a 304 may omit validators: keep the ones we sent
                result.etag = result.etag or headers.get("If-None-Match")
                result.last_modified = result.last_modified or headers.get("If-Modified-Since")
                _drain(response)
                return result
            if not 200 <= response.status_code < 300:
                result.error = f"HTTP {response.status_code} {response.reason or ''}".strip()
                _drain(response)
                return result
            try:
                result.body = _read_capped(response, s.max_bytes)
            except FetchError as e:
                result.error = str(e)
            except requests.exceptions.RequestException as e:
                result.error = f"body read failed: {_short(e)}"
                result.transient = True
        return result

    # ------------------------------------------------------------ many pages

    def fetch_many(self, jobs: Iterable[FetchJob],
                   on_start: Callable[[FetchJob], None] | None = None) -> Iterator[tuple[FetchJob, FetchResult]]:
        """Yield (job, result) as fetches complete, `concurrency` at a time and `per_host` per host.

        Setting `self.stop` stops handing out queued jobs; the generator then ends after the
        fetches in flight return (their results are still yielded).
        """
        queues: OrderedDict[str, deque[FetchJob]] = OrderedDict()
        total = 0
        for job in jobs:
            queues.setdefault(_host_key(job.url), deque()).append(job)
            total += 1
        if not total:
            return
        active: dict[str, int] = {host: 0 for host in queues}
        cond = threading.Condition()
        done: deque[tuple[FetchJob, FetchResult] | None] = deque()
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
                            else:
                                queues.move_to_end(host)   # round-robin over hosts
                            active[host] += 1
                            return job
                    cond.wait()

        def worker():
            try:
                while True:
                    job = take()
                    if job is None:
                        return
                    if on_start:
                        on_start(job)
                    try:
                        result = self.fetch(job.url, etag=job.etag, last_modified=job.last_modified)
                    except Exception as e:   # a bug must not hang the pass: report it on the job
                        result = FetchResult(url=job.url, final_url=job.url, error=f"internal error: {e!r}")
                    with cond:
                        active[_host_key(job.url)] -= 1
                        done.append((job, result))
                        cond.notify_all()
            finally:
                with cond:
                    done.append(None)   # one "worker finished" marker each
                    cond.notify_all()

        n_workers = min(self.settings.concurrency, total)
        threads = [threading.Thread(target=worker, name=f"fetch-{i}", daemon=True) for i in range(n_workers)]
        for t in threads:
            t.start()
        finished = 0
        while finished < n_workers:
            with cond:
                while not done:
                    cond.wait()
                item = done.popleft()
            if item is None:
                finished += 1
                continue
            yield item

    def close(self):
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()


# ---------------------------------------------------------------- helpers


def _host_key(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() in ("http", "https"):
        return (parts.hostname or "").lower()
    return ""   # local files: one queue, limited only by per_host like any host


def _drain(response: requests.Response, limit: int = 256 * 1024):
    """Read a small unwanted body to its end so the keep-alive connection goes back to the pool
    (closing a streamed response half-read closes the connection: a new TCP connection per 304)."""
    try:
        size = 0
        for chunk in response.iter_content(CHUNK):
            size += len(chunk)
            if size > limit:
                break
    except requests.exceptions.RequestException:
        pass


@functools.lru_cache(maxsize=4096)
def _proxies_for(scheme: str, netloc: str) -> dict[str, str]:
    return requests.utils.get_environ_proxies(f"{scheme}://{netloc}/")


def _env_proxies(url: str) -> dict[str, str]:
    """What requests would take from the environment (HTTP(S)_PROXY, NO_PROXY), cached per host."""
    parts = urlsplit(url)
    return _proxies_for(parts.scheme.lower(), parts.netloc.lower())


def _env_ca_bundle() -> str | None:
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def _read_capped(response: requests.Response, max_bytes: int) -> bytes:
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes and "content-encoding" not in response.headers:
        raise FetchError(f"body too large: {int(length)} bytes (max_bytes = {max_bytes})")
    chunks = []
    size = 0
    for chunk in response.iter_content(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"body too large: more than {max_bytes} bytes (max_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _short(error: Exception) -> str:
    """requests wraps urllib3 wraps socket errors: keep the innermost reason, on one line."""
    inner = error
    for _ in range(4):
        nxt = inner.args[0] if inner.args and isinstance(inner.args[0], Exception) else None
        if nxt is None:
            reason = getattr(inner, "reason", None)
            nxt = reason if isinstance(reason, Exception) else None
        if nxt is None:
            break
        inner = nxt
    text = str(inner) or type(inner).__name__
    return " ".join(text.split())[:200]


def file_path(url: str) -> Path:
    """`file:///a/b.html` or a plain path -> Path."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        return Path(url2pathname(unquote(parts.path)))
    return Path(url)


def fetch_file(url: str, *, etag: str | None = None, last_modified: str | None = None,
               max_bytes: int = FetchSettings.max_bytes) -> FetchResult:
    start = time.monotonic()
    path = file_path(url)
    result = FetchResult(url=url, final_url=url, attempts=1)
    try:
        st = path.stat()
    except FileNotFoundError:
        result.error = f"file not found: {path}"
        return result
    except OSError as e:
        result.error = f"cannot read {path}: {e.strerror}"
        return result
    if not path.is_file():
        result.error = f"not a file: {path}"
        return result
    # validators like a web server's, so an untouched file is a 304 and costs no parsing
    result.etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
    result.last_modified = email.utils.formatdate(st.st_mtime, usegmt=True)
    ctype = mimetypes.guess_type(path.name)[0] or ""
    if path.suffix.lower() in (".md", ".markdown"):
        ctype = "text/markdown"
    result.headers = {"content-type": ctype} if ctype else {}
    if etag and etag == result.etag:
        result.status = 304
        result.elapsed = time.monotonic() - start
        return result
    if st.st_size > max_bytes:
        result.error = f"body too large: {st.st_size} bytes (max_bytes = {max_bytes})"
        return result
    try:
        result.body = path.read_bytes()
    except OSError as e:
        result.error = f"cannot read {path}: {e.strerror}"
        return result
    result.status = 200
    result.elapsed = time.monotonic() - start
    return result


def fetch_once(url: str, settings: FetchSettings | None = None) -> FetchResult:
    """One unconditional fetch (for `watch diff URL ...`). Raises FetchError on failure."""
    fetcher = Fetcher(settings)
    try:
        result = fetcher.fetch(url)
    finally:
        fetcher.close()
    if result.error:
        raise FetchError(f"{url}: {result.error}")
    return result


def is_url(text: str) -> bool:
    scheme = urlsplit(text).scheme.lower()
    return scheme in ("http", "https", "file")


__all__ = ["FetchJob", "FetchResult", "Fetcher", "fetch_file", "fetch_once", "file_path", "is_url"]
