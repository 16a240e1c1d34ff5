"""The "http" fetcher kind: polite, bounded, conditional HTTP(S).

One urllib3 PoolManager per fetcher (thread-safe; keep-alive pools per host), a named User-Agent,
connect/read timeouts, bounded retries with exponential backoff on connection errors /
timeouts / 429 / 5xx (a server's Retry-After is honoured, capped), a streamed size cap,
redirects followed and recorded, and conditional GET (If-None-Match / If-Modified-Since) so
that an unchanged page costs a 304 and no parsing. The per-host limit is the dispatcher's
(`watcher.fetch.Fetcher`): this kind is `remote`.

urllib3 directly, not requests on top of it: requests' per-request preparation (settings merged,
hooks, cookie jar, redirect generator) cost more CPU than the whole 304 it fetched (0.28 of 0.35 ms);
this kind needs none of it — no cookies, no auth, redirects followed and recorded by hand.
"""

from __future__ import annotations

import email.utils
import heapq
import itertools
import os
import random
import socket
import threading
import time
from urllib.parse import urljoin, urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

import certifi
import urllib3
from urllib3 import exceptions as u3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from watcher.addresses import header_text
from watcher.config import FetchSettings
from watcher.errors import FetchError
from watcher.fetch.base import FetchRequest, FetchResult, register

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024
MAX_REDIRECTS = 10
# A fetch in flight when `stop` is set is cut off this many seconds later (it was no check at all).
STOP_CUT = 1.0
STOPPED = "stopped before the page arrived"
# Linux: ACK the response's first segment at once instead of ~40 ms later. A server that writes
# headers and body apart without TCP_NODELAY holds the body until that ACK (Nagle): on a kept-alive
# connection every response waited for the delayed ACK (200 pages of the peers fixture: 9.4 s -> 0.26 s).
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)
# What requests asks for: gzip and deflate (and br / zstd when their decoders are installed)
_ACCEPT_ENCODING = ", ".join(urllib3.util.make_headers(accept_encoding=True)["accept-encoding"].split(","))


@register
class HttpFetcher:
    """Polite HTTP(S): conditional GET, retries with backoff, size cap, redirects recorded."""

    kind = "http"
    schemes = ("http", "https")
    remote = True

    def __init__(self, settings: FetchSettings, *, stop: threading.Event):
        self.settings = settings
        self.stop = stop                         # set: abandon retries
        self.requests_made = 0                   # HTTP requests sent (retries and redirects included)
        self._count_lock = threading.Lock()
        self._managers: dict[str | None, urllib3.PoolManager] = {}   # by proxy URL (None: direct)
        self._managers_lock = threading.Lock()
        # The environment (CA bundle) is read once, when the fetcher is made, not on every request.
        self._ca_certs = _env_ca_bundle() or certifi.where()
        self._proxies = getproxies_environment()
        self._proxy_by_host: dict[tuple[str, str], str | None] = {}
        self._headers = {
            "User-Agent": self.settings.user_agent,
            "Accept-Encoding": _ACCEPT_ENCODING,
            "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
            "Accept-Language": "ja,en;q=0.5",
            "Connection": "keep-alive",
        }

    def fetch(self, request: FetchRequest) -> FetchResult:
        follow_downgrade = request.allow_insecure_redirect or request.url in self.settings.insecure_redirects
        return self._fetch_http(request.url, request.etag, request.last_modified, follow_downgrade)

    def close(self):
        with self._managers_lock:
            managers, self._managers = list(self._managers.values()), {}
        for manager in managers:
            manager.clear()

    def _manager(self, url: str) -> urllib3.PoolManager:
        parts = urlsplit(url)
        where = (parts.scheme.lower(), (parts.hostname or "").lower())
        proxy = self._proxy_by_host.get(where, "")
        if proxy == "":
            proxy = self._proxy_by_host[where] = _proxy_for(self._proxies, *where)
        manager = self._managers.get(proxy)
        if manager is None:
            with self._managers_lock:
                manager = self._managers.get(proxy)
                if manager is None:
                    options = dict(num_pools=64, maxsize=self.settings.per_host, block=False, retries=False,
                                   cert_reqs="CERT_REQUIRED", ca_certs=self._ca_certs)
                    manager = (urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options))
                    # connections the deadline watchdog can shut down (watcher.fetch.http._Deadline)
                    manager.pool_classes_by_scheme = {"http": _GuardedPool, "https": _GuardedSPool}
                    self._managers[proxy] = manager
        return manager

    def _fetch_http(self, url: str, etag: str | None, last_modified: str | None,
                    follow_downgrade: bool = False) -> FetchResult:
        s = self.settings
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        start = time.monotonic()
        deadline_at = start + s.deadline
        result = FetchResult(url=url, final_url=url)
        for attempt in range(s.retries + 1):
            # The whole request has a deadline: a server trickling one byte a second never trips the
            # read timeout, so a watchdog shuts the connection down when the deadline (or `stop`) comes.
            with _Deadline(deadline_at, self.stop) as guard:
                result = self._attempt(url, headers, follow_downgrade)
            if guard.fired:
                stopped = self.stop.is_set() and time.monotonic() < deadline_at
                result = FetchResult(url=url, final_url=url, status=result.status, attempts=attempt + 1,
                                     error=STOPPED if stopped else
                                     f"deadline exceeded: no complete response within {s.deadline:g}s (fetch.deadline)")
            result.attempts = attempt + 1
            delay = self._retry_delay(result, attempt)
            if delay is None or attempt == s.retries or self.stop.is_set():
                break
            if time.monotonic() + delay >= deadline_at:
                break       # the next attempt could not finish in time
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

    def _attempt(self, url: str, headers: dict, follow_downgrade: bool) -> FetchResult:
        s = self.settings
        result = FetchResult(url=url, final_url=url)
        result.transient = True   # until a response arrives
        timeout = urllib3.Timeout(connect=s.timeout_connect, read=s.timeout_read)
        refuse_downgrade = not follow_downgrade
        history: list[str] = []
        current = url
        try:
            while True:
                with self._count_lock:
                    self.requests_made += 1
                response = self._manager(current).urlopen(
                    "GET", current, headers={**self._headers, **headers}, redirect=False, retries=False,
                    preload_content=False, decode_content=True, timeout=timeout, assert_same_host=False)
                location = response.headers.get("location") if response.status in REDIRECT_STATUSES else None
                if not location:
                    break
                target = urljoin(current, header_text(location, 2000))
                _drain(response)
                if refuse_downgrade and current.lower().startswith("https:") and target.lower().startswith("http:"):
                    result.error = (f"refused an https -> http redirect ({response.status} to "
                                    f"{header_text(target, 200)}); set allow_insecure_redirect = true on the "
                                    "policy to follow it")
                    result.transient = False
                    return result
                history.append(f"{response.status} {current}")
                if len(history) > MAX_REDIRECTS:
                    result.error = f"more than {MAX_REDIRECTS} redirects"
                    result.transient = False
                    return result
                current = target
        except u3.NewConnectionError as e:      # before ConnectTimeoutError: urllib3 derives it from that
            result.error = f"connection failed: {_short(e)}"
            return result
        except u3.ConnectTimeoutError:
            result.error = f"connect timeout after {s.timeout_connect:g}s"
            return result
        except u3.ReadTimeoutError:
            result.error = f"read timeout after {s.timeout_read:g}s"
            return result
        except u3.SSLError as e:
            result.error = f"TLS error: {_short(e)}"
            result.transient = False
            return result
        except (u3.LocationValueError, u3.URLSchemeUnknown) as e:   # a bad URL: final
            result.error = f"request failed: {_short(e)}"
            result.transient = False
            return result
        except (u3.HTTPError, OSError) as e:    # reset, refused, a proxy's refusal: worth retrying
            result.error = f"connection failed: {_short(e)}"
            return result
        result.transient = False
        result.status = response.status
        result.final_url = current
        result.redirects = history
        result.headers = {name.lower(): response.headers[name] for name in response.headers}
        result.etag = response.headers.get("ETag")
        result.last_modified = response.headers.get("Last-Modified")
        if response.status == 304:
            # a 304 may omit validators: keep the ones we sent
            result.etag = result.etag or headers.get("If-None-Match")
            result.last_modified = result.last_modified or headers.get("If-Modified-Since")
            _drain(response)
            return result
        if not 200 <= response.status < 300:
            reason = header_text(response.reason or "", 80)    # the server's words: one plain line
            result.error = f"HTTP {response.status} {reason}".strip()
            result.error_body = _drain(response)   # a challenge page? (fetch = "auto" reads it)
            return result
        try:
            result.body = _read_capped(response, s.max_bytes)
        except FetchError as e:
            result.error = str(e)
        except u3.ReadTimeoutError:
            result.error = f"read timeout after {s.timeout_read:g}s"
            result.transient = True
        except (u3.HTTPError, OSError) as e:
            result.error = f"body read failed: {_short(e)}"
            result.transient = True
        finally:
            response.release_conn()
        return result


# ---------------------------------------------------------------- the whole-request deadline

_current = threading.local()       # the _Deadline of the fetch this thread is making


class _Deadline:
    """One attempt's share of the fetch's deadline: when it passes (or `stop` is set), the watchdog
    shuts down the connections the attempt uses, so whatever read is blocked returns at once."""

    def __init__(self, at: float, stop: threading.Event):
        self.at, self.stop = at, stop
        self.fired = self.done = False
        self.stop_seen: float | None = None
        self._conns: list = []
        self._lock = threading.Lock()

    def watch(self, conn) -> None:
        with self._lock:
            self._conns.append(conn)
            fired = self.fired
        if fired:
            _shutdown(conn)

    def fire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.fired = True
            conns = list(self._conns)
        for conn in conns:
            _shutdown(conn)

    def __enter__(self) -> _Deadline:
        _current.deadline = self
        _WATCHDOG.add(self)
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self.done = True
        _current.deadline = None


def _shutdown(conn) -> None:
    # the socket as connected: http.client drops conn.sock while a close-delimited body is still read
    sock = getattr(conn, "deadline_sock", None) or getattr(conn, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Watchdog:
    """One thread for every deadline of the process (a heap by time; `stop` looked at 4 times a second)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._heap: list = []
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def add(self, deadline: _Deadline) -> None:
        with self._cond:
            if self._thread is None or self._pid != os.getpid():     # none yet, or a forked child
                self._heap, self._pid = [], os.getpid()
                self._thread = threading.Thread(target=self._run, name="fetch-deadlines", daemon=True)
                self._thread.start()
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (deadline.at, next(self._ids), deadline))
            # The watchdog sleeps until the earliest deadline (a quarter second at most): it needs waking
            # only for one that comes sooner. Deadlines are start + fetch.deadline, so almost never.
            if earliest is None or deadline.at < earliest:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._heap = [e for e in self._heap if not e[2].done] if len(self._heap) > 1024 else self._heap
                heapq.heapify(self._heap)
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                now = time.monotonic()
                for e in self._heap:
                    if e[2].stop_seen is None and e[2].stop.is_set():
                        e[2].stop_seen = now
                due = [e[2] for e in self._heap if e[0] <= now or (e[2].stop_seen and now - e[2].stop_seen >= STOP_CUT)]
                if not due:
                    self._cond.wait(min(self._heap[0][0] - now, 0.25))
                    continue
            for deadline in due:
                deadline.fire()
            with self._cond:
                self._heap = [e for e in self._heap if not e[2].fired and not e[2].done]
                heapq.heapify(self._heap)


_WATCHDOG = _Watchdog()


class _Guarded:
    """A connection that the deadline of the fetch using it can shut down."""

    def request(self, *args, **kwargs):
        deadline = getattr(_current, "deadline", None)
        if deadline is not None:
            deadline.watch(self)
        sent = super().request(*args, **kwargs)
        _quickack(self.sock)
        return sent

    def connect(self):
        super().connect()
        self.deadline_sock = self.sock
        deadline = getattr(_current, "deadline", None)
        if deadline is not None and deadline.fired:
            _shutdown(self)


class _GuardedConnection(_Guarded, HTTPConnection):
    pass


class _GuardedSConnection(_Guarded, HTTPSConnection):
    pass


class _GuardedPool(HTTPConnectionPool):
    ConnectionCls = _GuardedConnection


class _GuardedSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedSConnection


# ---------------------------------------------------------------- helpers


def _quickack(sock) -> None:
    """Quick-ACK mode for the reply to the request just sent (the kernel leaves it by itself, so it
    is set again for every request); a socket that refuses it only keeps the delayed ACK."""
    if _QUICKACK is not None and sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        except OSError:
            pass


def _drain(response: urllib3.BaseHTTPResponse, limit: int = 256 * 1024) -> bytes:
    """Read a small unwanted body to its end so the keep-alive connection goes back to the pool
    (closing a streamed response half-read closes the connection: a new TCP connection per 304)."""
    kept = []        # the first CHUNKs, returned: an error page's start says what kind of error it is
    try:
        size = 0
        for chunk in response.stream(CHUNK):
            size += len(chunk)
            if size - len(chunk) < CHUNK:
                kept.append(chunk)
            if size > limit:
                response.close()      # a big unwanted body: this connection is not worth keeping
                break
    except (u3.HTTPError, OSError):
        response.close()
    finally:
        response.release_conn()
    return b"".join(kept)[:CHUNK]


def _proxy_for(proxies: dict[str, str], scheme: str, host: str) -> str | None:
    """The proxy `proxies` (the environment's HTTP(S)_PROXY, ALL_PROXY) names for a host NO_PROXY
    does not exempt."""
    if not proxies or proxy_bypass_environment(host, proxies):
        return None
    return proxies.get(scheme) or proxies.get("all") or None


def _env_ca_bundle() -> str | None:
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def _read_capped(response: urllib3.BaseHTTPResponse, max_bytes: int) -> bytes:
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes and "content-encoding" not in response.headers:
        response.close()
        raise FetchError(f"body too large: {int(length)} bytes (max_bytes = {max_bytes})")
    chunks = []
    size = 0
    for chunk in response.stream(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            response.close()
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
    """urllib3 wraps socket errors: keep the innermost reason, on one line."""
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
