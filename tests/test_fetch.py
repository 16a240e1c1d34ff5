"""fetch: against a real local HTTP server (tests/webserver.py), no mocks."""

from __future__ import annotations

import gzip
import http.server
import socket
import threading
import time
import urllib.request

import pytest
from webserver import PageServer

from watcher import __version__, suspect
from watcher.config import FetchSettings
from watcher.errors import FetchError
from watcher.fetch import FETCHERS, Fetcher, FetchJob, FetchResult, fetch_file, fetch_once, is_url, register


def fast(**kw) -> FetchSettings:
    base = dict(timeout_connect=2, timeout_read=2, retries=2, backoff=0.01, retry_after_max=5)
    base.update(kw)
    return FetchSettings(**base)


@pytest.fixture()
def server():
    with PageServer() as s:
        yield s


def test_headers_and_conditional_get(server):
    server.set("/p", "<html><body><main><p>本文</p></main></body></html>")
    fetcher = Fetcher(fast())
    first = fetcher.fetch(server.url("/p"))
    assert first.ok and first.status == 200 and first.body.startswith(b"<html>")
    assert first.etag and first.last_modified
    path, headers = server.requests[-1]
    assert headers["user-agent"] == f"policy-watcher/{__version__}"
    assert headers["accept-language"].startswith("ja")
    again = fetcher.fetch(server.url("/p"), etag=first.etag, last_modified=first.last_modified)
    assert again.not_modified and again.body is None and again.etag == first.etag
    assert server.requests[-1][1]["if-none-match"] == first.etag
    only_date = fetcher.fetch(server.url("/p"), last_modified=first.last_modified)
    assert only_date.status == 304
    server.set("/p", "<html><body><main><p>改定後</p></main></body></html>")
    changed = fetcher.fetch(server.url("/p"), etag=first.etag)
    assert changed.status == 200 and "改定後".encode() in changed.body and changed.etag != first.etag


def test_retries_on_503_honouring_retry_after(server):
    server.set("/busy", "<p>ok</p>", fail_first=1, fail_status=503, retry_after="1")
    start = time.monotonic()
    result = Fetcher(fast(backoff=0.01)).fetch(server.url("/busy"))
    took = time.monotonic() - start
    assert result.ok and result.attempts == 2 and server.hits["/busy"] == 2
    assert took >= 0.95, "Retry-After: 1 must be waited for"


def test_retry_after_is_capped(server):
    server.set("/slow", "<p>ok</p>", fail_first=2, fail_status=429, retry_after="3600")
    start = time.monotonic()
    result = Fetcher(fast(retry_after_max=0.2)).fetch(server.url("/slow"))
    assert result.ok and result.attempts == 3
    assert 0.35 <= time.monotonic() - start < 3


def test_persistent_500_gives_up_after_bounded_retries(server):
    server.set("/down", "<p>error</p>", status=500)
    result = Fetcher(fast(retries=2)).fetch(server.url("/down"))
    assert not result.ok and result.status == 500 and result.error.startswith("HTTP 500")
    assert result.attempts == 3 and server.hits["/down"] == 3 and result.body is None


def test_404_is_not_retried(server):
    result = Fetcher(fast()).fetch(server.url("/missing"))
    assert result.status == 404 and result.error.startswith("HTTP 404") and result.attempts == 1


def test_size_cap_content_length_and_streamed(server):
    big = b"<p>" + "個人情報".encode() * 5000 + b"</p>"
    server.set("/big", big)
    server.set("/big-chunked", big, chunked=True)
    fetcher = Fetcher(fast(max_bytes=10_000))
    for path in ("/big", "/big-chunked"):
        result = fetcher.fetch(server.url(path))
        assert not result.ok and result.body is None and "body too large" in result.error, path
        assert result.attempts == 1, "a too-large body is final, not retried"
    ok = Fetcher(fast(max_bytes=len(big))).fetch(server.url("/big-chunked"))
    assert ok.ok and ok.body == big


def test_redirects_followed_and_recorded(server):
    server.set("/new", "<p>here</p>")
    server.set("/old", redirect=server.url("/new"))
    result = Fetcher(fast()).fetch(server.url("/old"))
    assert result.ok and result.final_url == server.url("/new") and result.body == b"<p>here</p>"
    assert result.redirects == [f"301 {server.url('/old')}"]
    server.set("/loop", redirect=server.url("/loop"))
    looped = Fetcher(fast()).fetch(server.url("/loop"))
    assert not looped.ok and "redirects" in looped.error


def test_connection_refused_is_retried_then_reported():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()     # nothing listens there now
    result = Fetcher(fast(retries=1)).fetch(f"http://127.0.0.1:{port}/p")
    assert not result.ok and result.status is None and result.error.startswith("connection failed")
    assert result.attempts == 2


def test_read_timeout(server):
    server.set("/stall", "<p>late</p>", delay=1.0)
    result = Fetcher(fast(timeout_read=0.2, retries=0)).fetch(server.url("/stall"))
    assert not result.ok and result.error.startswith("read timeout")


def test_file_urls_and_paths(tmp_path):
    page = tmp_path / "プライバシー.html"
    page.write_bytes("<p>方針</p>".encode())
    by_url = fetch_file(page.as_uri())
    by_path = fetch_file(str(page))
    assert by_url.ok and by_url.body == page.read_bytes() and by_url.content_type == "text/html"
    assert by_path.body == by_url.body and by_path.etag == by_url.etag
    assert fetch_file(page.as_uri(), etag=by_url.etag).status == 304
    md = tmp_path / "policy.md"
    md.write_text("# 方針", encoding="utf-8")
    assert Fetcher().fetch(md.as_uri()).content_type == "text/markdown"
    missing = Fetcher().fetch((tmp_path / "gone.html").as_uri())
    assert not missing.ok and missing.error.startswith("file not found")
    with pytest.raises(FetchError, match="file not found"):
        fetch_once(str(tmp_path / "gone.html"))


def test_per_host_limit_with_concurrency_across_hosts():
    with PageServer("127.0.0.1") as a, PageServer("127.0.0.2") as b:
        for s in (a, b):
            for i in range(6):
                s.set(f"/p{i}", f"<p>{i}</p>", delay=0.2)
        jobs = [FetchJob(key=(s.host, i), url=s.url(f"/p{i}")) for i in range(6) for s in (a, b)]
        start = time.monotonic()
        results = list(Fetcher(fast(per_host=2, concurrency=16)).fetch_many(jobs))
        took = time.monotonic() - start
    assert len(results) == 12 and all(r.ok for _, r in results)
    assert {j.key for j, _ in results} == {j.key for j in jobs}
    assert a.max_in_flight == 2 and b.max_in_flight == 2, "never more than per_host at once per host"
    # 6 pages per host, 2 at a time, 0.2 s each -> ~0.6 s; both hosts in parallel, not one after the other
    assert 0.55 <= took < 1.1


def test_stop_abandons_queued_jobs(server):
    for i in range(10):
        server.set(f"/q{i}", "<p>x</p>", delay=0.2)
    stop = threading.Event()
    fetcher = Fetcher(fast(per_host=1, concurrency=1), stop=stop)
    seen = []
    for job, _result in fetcher.fetch_many(FetchJob(key=i, url=server.url(f"/q{i}")) for i in range(10)):
        seen.append(job.key)
        stop.set()
    # the fetch already in flight when stop was set still completes; nothing queued starts
    assert seen[0] == 0 and len(seen) <= 2 and sum(server.hits.values()) == len(seen)


class _Probe:
    """A remote test kind: answers after 0.1 s and records how many of its fetches overlap."""

    kind = "probe"
    schemes = ("probe",)
    remote = True

    def __init__(self, settings, *, stop):
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.requests = []
        self.closed = False

    def fetch(self, request):
        with self.lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(0.1)
        with self.lock:
            self.in_flight -= 1
        return FetchResult(url=request.url, final_url=request.url, status=200, body=request.url.encode())

    def close(self):
        self.closed = True


@pytest.fixture()
def probe_kind():
    register(_Probe)
    try:
        yield _Probe
    finally:
        del FETCHERS[_Probe.kind]


def test_a_new_kind_is_one_registered_class_and_gets_the_per_host_limit(probe_kind):
    assert is_url("probe://a/1") and not is_url("nope://a/1")
    fetcher = Fetcher(fast(per_host=2, concurrency=8))
    one = fetcher.fetch("probe://a/0", etag='"v1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    assert one.ok and one.body == b"probe://a/0"
    jobs = [FetchJob(key=(host, i), url=f"probe://{host}/{i}") for i in range(6) for host in ("a", "b")]
    results = list(fetcher.fetch_many(jobs))
    assert {j.key for j, _ in results} == {j.key for j in jobs} and all(r.ok for _, r in results)
    kind = fetcher._kinds["probe"]
    assert kind.requests[0].etag == '"v1"' and kind.requests[0].last_modified.startswith("Mon")
    assert kind.max_in_flight == 4, "two hosts, never more than per_host=2 at once against each"
    fetcher.close()
    assert kind.closed


def test_registry_refuses_a_scheme_served_twice_and_unknown_schemes_are_errors():
    class Other:
        """Claims a scheme the http kind serves."""

        kind = "other"
        schemes = ("https",)
        remote = True

    with pytest.raises(ValueError, match="served by 'http'"):
        register(Other)
    assert "other" not in FETCHERS
    result = Fetcher().fetch("gopher://example.org/")
    assert not result.ok and result.error == "unsupported URL scheme 'gopher'"


def test_gzip_bodies_are_decoded_and_duplicate_headers_joined(server):
    text = "<html><body><main><p>個人情報の利用目的</p></main></body></html>".encode()
    server.set("/z", gzip.compress(text), headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    result = Fetcher(fast()).fetch(server.url("/z"))
    assert result.ok and result.body == text
    assert "gzip" in server.requests[-1][1]["accept-encoding"]
    assert result.headers["content-encoding"] == "gzip"


class _ForwardProxy:
    """A plain-HTTP forward proxy on 127.0.0.1: answers absolute-URI GETs by fetching them itself."""

    def __init__(self):
        proxy = self
        self.seen: list[str] = []
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy.seen.append(self.path)
                with opener.open(self.path, timeout=5) as upstream:
                    body = upstream.read()
                    self.send_response(upstream.status)
                    self.send_header("Content-Type", upstream.headers.get("Content-Type", "text/html"))
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_the_environments_proxy_is_used_and_no_proxy_honoured(server, monkeypatch):
    server.set("/p", "<html><body><main><p>本文</p></main></body></html>")
    proxy = _ForwardProxy()
    try:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        through = Fetcher(fast()).fetch(server.url("/p"))
        assert through.ok and "本文".encode() in through.body
        assert proxy.seen == [server.url("/p")]            # the proxy was asked for the absolute URL
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        direct = Fetcher(fast()).fetch(server.url("/p"))
        assert direct.ok and proxy.seen == [server.url("/p")]   # exempted: straight to the server
    finally:
        proxy.close()


@pytest.mark.parametrize("piece", ["あ", "ｱ", "A ", "\u1100\u1161\u11a8", "&amp;", "ｶﾞ"])
def test_a_script_shell_is_told_by_its_folded_text_length_whatever_the_shortcut(piece):
    """needs_browser skips folding a page with plenty of raw text; the verdict is the full fold's."""
    limit = suspect.rules().shell_text_chars
    for n in (0, 10, limit // 3, limit // 2, limit - 1, limit, limit + 1, 2 * limit, 3 * limit, 4 * limit):
        markup = (f"<!DOCTYPE html><html><body><div id='app'>{piece * n}</div>"
                  "<noscript>このページを表示するにはJavaScriptを有効にしてください。</noscript>"
                  "<script src='app.js'></script></body></html>")
        result = FetchResult(url="u", final_url="u", status=200, body=markup.encode())
        result.headers = {"content-type": "text/html"}
        shell = suspect.needs_browser(result) is not None
        assert shell == (len(suspect.visible_text(markup)) < limit), (piece, n)


def test_the_text_count_on_a_prefix_is_the_count_on_the_whole_page(monkeypatch):
    """needs_browser counts a page's visible characters on a prefix that ends with a tag, then on four
    times as much: the same answer as on the whole text, wherever the prefix ends (tags with a '<' in
    an attribute, character references, stray '<' and '>')."""
    import html
    import random
    rng = random.Random(3)
    bits = ["<p>", "</p>", "<b class='x'>", "&amp;", "&nbsp;", "&#12354;", "&#x3042", "&am", "p;", " ", "\n", "あい",
            "text", "<!-- c -->", "<script>x</script>", "&lt;b&gt;", "<", ">", "&", "&&;", "\u3000", "<a title='<'>"]
    checked = {True: 0, False: 0}
    for first_look in (1, 7, 64):
        monkeypatch.setattr(suspect, "_FIRST_LOOK", first_look)
        for _ in range(2000):
            visible = suspect._HIDDEN.sub(" ", "".join(rng.choice(bits) for _ in range(rng.randint(0, 60))))
            whole = len("".join(html.unescape(suspect._TAG.sub(" ", visible)).split()))
            for chars in (1, 5, 20, 60):
                answer = suspect._holds_text(visible, chars)
                assert answer == (whole >= chars), (visible, chars)
                checked[answer] += 1
    assert min(checked.values()) > 1000      # both answers were tested many times

