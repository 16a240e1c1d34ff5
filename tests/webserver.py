"""A real threaded HTTP server for tests and benchmarks, serving pages that can change.

    with PageServer() as server:
        server.set("/privacy", policy_page(text))          # ETag + Last-Modified, answers 304s
        url = server.url("/privacy")
        server.set("/privacy", b"", status=500)            # now it fails
        server.hits["/privacy"]                            # requests received for that path

A page can also redirect, delay, fail its first N requests (with Retry-After), be served
without validators, or be cut off. HTTP/1.1 keep-alive, one thread per connection.
Helpers render the seed policies (tests/data/corpus/seeds) into realistic HTML pages with the
noise real sites add on every request (nonces, view counters, timestamps in the footer).
"""

from __future__ import annotations

import email.utils
import hashlib
import html
import itertools
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SEEDS_DIR = Path(__file__).parent / "data" / "corpus" / "seeds"


@dataclass
class Page:
    body: bytes | None = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None                 # None: computed from the body (when validators is True)
    last_modified: float | None = None      # epoch seconds; None: when the page was set
    validators: bool = True                 # send ETag / Last-Modified and honour conditional GETs
    redirect: str | None = None             # answer 301 to this location
    delay: float = 0.0                      # seconds before answering
    fail_first: int = 0                     # answer `fail_status` to the first N requests
    fail_status: int = 503
    retry_after: str | None = None          # sent with those failures
    dynamic: object = None                  # callable(request_no) -> bytes: a new body on every request
    chunked: bool = False                   # no Content-Length: Transfer-Encoding: chunked
    served: int = 0


class PageServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.pages: dict[str, Page] = {}
        self.hits: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []   # (path, headers) of every request
        self.in_flight = 0
        self.max_in_flight = 0                                  # most requests being answered at once
        self.keep_log = True
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self.thread: threading.Thread | None = None

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def set(self, path: str, body: bytes | str | None = b"", **kwargs) -> Page:
        if isinstance(body, str):
            body = body.encode("utf-8")
        page = Page(body=body, **kwargs)
        if page.last_modified is None:
            page.last_modified = time.time()
        with self.lock:
            self.pages[path] = page
        return page

    def reset_counts(self):
        with self.lock:
            self.hits.clear()
            self.statuses.clear()
            self.requests.clear()
            self.max_in_flight = 0

    def start(self) -> PageServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       name=f"pageserver-{self.port}", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> PageServer:
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _handler_for(server: PageServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):   # quiet
            pass

        def do_GET(self):
            with server.lock:
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                self._get()
            finally:
                with server.lock:
                    server.in_flight -= 1

        def _get(self):
            path = self.path.split("?", 1)[0]
            with server.lock:
                server.hits[path] += 1
                if server.keep_log:
                    server.requests.append((path, {k.lower(): v for k, v in self.headers.items()}))
                page = server.pages.get(path)
                if page is not None:
                    page.served += 1
                    n = page.served
            if page is None:
                return self._send(404, b"<html><body><h1>404 Not Found</h1></body></html>", "text/html")
            if page.delay:
                time.sleep(page.delay)
            if n <= page.fail_first:
                headers = {"Retry-After": page.retry_after} if page.retry_after else {}
                return self._send(page.fail_status, b"<html><body>busy</body></html>", "text/html", headers)
            if page.redirect:
                return self._send(301, b"", "text/html", {"Location": page.redirect})
            body = page.dynamic(n) if page.dynamic else page.body
            headers = dict(page.headers)
            if page.validators and page.status == 200:
                etag = page.etag or '"' + hashlib.sha1(body or b"").hexdigest()[:16] + '"'
                last_modified = email.utils.formatdate(page.last_modified, usegmt=True)
                headers["ETag"] = etag
                headers["Last-Modified"] = last_modified
                inm = self.headers.get("If-None-Match")
                ims = self.headers.get("If-Modified-Since")
                if inm is not None:
                    if etag in [t.strip() for t in inm.split(",")]:
                        return self._send(304, None, None, headers)
                elif ims is not None:
                    try:
                        since = email.utils.parsedate_to_datetime(ims).timestamp()
                    except (TypeError, ValueError):
                        since = None
                    if since is not None and int(page.last_modified) <= since:
                        return self._send(304, None, None, headers)
            if page.chunked:
                return self._send_chunked(page.status, body or b"", page.content_type, headers)
            self._send(page.status, body, page.content_type, headers)

        def _send_chunked(self, status: int, body: bytes, content_type: str, headers: dict):
            with server.lock:
                server.statuses[status] += 1
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for i in range(0, len(body), 8192):
                    piece = body[i:i + 8192]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _send(self, status: int, body: bytes | None, content_type: str | None, headers: dict | None = None):
            with server.lock:
                server.statuses[status] += 1
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if status == 304:
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            if body:
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

    return Handler


# ---------------------------------------------------------------- pages


def seed_texts() -> dict[str, str]:
    """The five seed policies: {file stem: text}."""
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(SEEDS_DIR.glob("*.txt"))}


_HEADING = re.compile(r"^(第[0-9０-９一二三四五六七八九十]+条|[0-9０-９]{1,2}[.．]?\s*\S|[0-9]{1,2}\.\s*[(（])")
_counter = itertools.count(1000)


def policy_page(text: str, *, site: str = "example", nonce: str | None = None, views: int | None = None,
                stamp: str | None = None) -> bytes:
    """A policy text as a site would serve it: chrome around the body, noise that changes per request."""
    nonce = nonce or hashlib.md5(str(next(_counter)).encode()).hexdigest()[:12]
    views = views if views is not None else next(_counter)
    stamp = stamp or time.strftime("%Y-%m-%d %H:%M:%S")
    blocks = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if len(line) <= 40 and _HEADING.match(line):
            blocks.append(f"<h2>{html.escape(line)}</h2>")
        else:
            blocks.append(f"<p>{html.escape(line)}</p>")
    body = "\n".join(blocks)
    return f"""<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>プライバシーポリシー | {site}</title>
<script nonce="{nonce}">window.__STATE__={{"requestId":"{nonce}","ts":"{stamp}"}};</script>
<link rel="stylesheet" href="/static/site.css?v={nonce[:6]}"></head>
<body><header class="site-header"><nav><a href="/">ホーム</a> <a href="/company">会社概要</a>
<a href="/contact">お問い合わせ</a></nav></header>
<main id="content"><article class="entry">
{body}
</article></main>
<footer class="site-footer"><p>&copy; 2026 {site}. All rights reserved.</p>
<p>閲覧数 {views}</p><p>最終表示 {stamp}</p>
<form action="/search"><input type="hidden" name="csrf" value="{nonce}"><input name="q"></form></footer>
<script src="/static/bundle.js?cb={nonce}"></script></body></html>
""".encode()


def login_page() -> bytes:
    return """<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>ログイン | example</title></head>
<body><main><h1>ログイン</h1><p>続けるにはログインしてください。</p>
<form method="post" action="/login"><label>メールアドレス <input type="email" name="email"></label>
<label>パスワード <input type="password" name="password"></label><button>ログイン</button></form>
<p><a href="/forgot">パスワードをお忘れの方</a></p></main></body></html>""".encode()


def maintenance_page() -> bytes:
    return """<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>メンテナンスのお知らせ</title></head>
<body><main><h1>ただいまメンテナンス中です</h1>
<p>ご不便をおかけして申し訳ございません。システムメンテナンスのため、現在サービスを一時停止しております。</p>
<p>再開まで今しばらくお待ちください。</p></main></body></html>""".encode()


def truncated(page: bytes, share: float = 0.3) -> bytes:
    """The first `share` of a page's bytes, cut on a character boundary: a half-loaded page."""
    cut = page[: int(len(page) * share)]
    return cut.decode("utf-8", errors="ignore").encode("utf-8")
