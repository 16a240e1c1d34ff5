"""The fetch stage's extension point: one registered kind per way of getting a page.

    FETCHERS                   kind -> class ("http", "file", "browser")
    @register                  adds a class; its `schemes` are the URL schemes it serves
    kind_for(url) -> class     the kind that serves a URL (by scheme), or None
    MODES                      a policy's `fetch` setting: "http" (the scheme's kind), "browser", "auto"

The "browser" kind claims no scheme (http(s) is the "http" kind's): a policy asks for it with
`fetch = "browser"`, or `fetch = "auto"` escalates to it when the HTTP page is a script shell.
    url_scheme(url) -> str     the scheme as dispatch sees it ("" for a plain path)

A kind is a small class with a docstring (its first line is the README's description, see
tests/test_docs.py). `watcher.fetch.Fetcher` makes one instance of each kind it needs, with
the fetch settings and the stop event, and calls it from many threads: a kind keeps per-thread
state itself (the HTTP kind's sessions). `fetch(request)` never raises for network or HTTP
trouble: the FetchResult carries `error`. Kinds with `remote = True` are servers to be polite
to: the Fetcher lets at most `per_host` requests at a time reach one host.

This module does no I/O; the result types are shared by every kind.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import ClassVar, Protocol
from urllib.parse import urlsplit

from watcher.config import FETCH_MODES, FetchSettings
from watcher.registry import Registry


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
    fetcher: str = ""                         # the kind that produced the result ("http", "browser", "file")
    escalated: str | None = None              # auto mode: why the HTTP page went to the browser
    error_body: bytes | None = None           # the start of an error response's body (a challenge page?)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def not_modified(self) -> bool:
        return self.error is None and self.status == 304

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass(frozen=True)
class FetchRequest:
    """One fetch as a kind sees it: the URL and the validators of the version we hold."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    wait_for: str | None = None               # browser: CSS selector of the policy body (`select`)
    allow_insecure_redirect: bool = False     # the policy's own consent to follow https -> http


@dataclass
class FetchJob:
    """One fetch of `fetch_many`; `key` is handed back with the result (e.g. the policy name)."""

    key: object
    url: str
    etag: str | None = None
    last_modified: str | None = None
    mode: str = "http"                        # one of MODES
    select: str | None = None                 # the policy's `select` (what a browser waits for)
    allow_insecure_redirect: bool = False     # the policy's `allow_insecure_redirect`

    @property
    def request(self) -> FetchRequest:
        return FetchRequest(self.url, self.etag, self.last_modified, self.select, self.allow_insecure_redirect)


class FetcherKind(Protocol):
    """What a registered fetcher kind provides. (`watcher.fetch.Fetcher` is the dispatcher that
    callers use; this is the shape of one kind behind it.)"""

    kind: ClassVar[str]                      # "http", "file", "browser"
    schemes: ClassVar[tuple[str, ...]]       # URL schemes served; "" is a plain path
    remote: ClassVar[bool]                   # a server to be polite to (per-host limit)

    def __init__(self, settings: FetchSettings, *, stop: threading.Event) -> None: ...

    def fetch(self, request: FetchRequest) -> FetchResult: ...   # never raises for network trouble

    def close(self) -> None: ...


MODES = FETCH_MODES

# A URL scheme served by two kinds is a bug.
FETCHERS = Registry("fetcher", unique=("schemes",))
register = FETCHERS.register


def url_scheme(url: str) -> str:
    """The URL's scheme, lower-cased; "" for a plain path (a Windows drive letter is no scheme)."""
    scheme = urlsplit(url).scheme.lower()
    return "" if len(scheme) == 1 else scheme


def kind_for(url: str) -> type[FetcherKind] | None:
    """The registered kind serving this URL's scheme, or None."""
    scheme = url_scheme(url)
    for cls in FETCHERS.values():
        if scheme in cls.schemes:
            return cls
    return None


def host_key(url: str) -> str:
    """The host a remote kind's URL is polite to ("" for local kinds and unknown schemes)."""
    cls = kind_for(url)
    if cls is not None and cls.remote:
        return (urlsplit(url).hostname or "").lower()
    return ""
