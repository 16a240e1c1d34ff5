"""Benchmark of `watch check` and of the daemon's memory. Prints figures; asserts nothing.

    python bench/bench_check.py [--pages 1000] [--hosts 10] [--daemon-policies 10000]

A separate server process serves N policy pages (the five seed policies rendered as HTML, each
page made unique) over several 127.0.0.x host names, so the per-host limit does not serialise
the pass (all of 127.0.0.0/8 is the loopback on Linux). Then, against a fresh SQLite store:

1. first pass        every page fetched, extracted, segmented, stored
2. unchanged pass    every page answers 304: only the check is recorded, nothing is parsed
3. 10% changed pass  one page in ten has a new clause: compared, reported, stored

and finally the RSS of `watch daemon` with `--daemon-policies` policies configured.
Targets (see the brief): unchanged pass <= 1.7 s, first pass <= 3 s, daemon RSS <= 150 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "tests" / "data" / "corpus" / "seeds").glob("*.txt"))
NEW_CLAUSE = "当社は、取得した閲覧履歴及び購買履歴を分析し、提携する広告事業者に提供して、ユーザーの興味に応じた広告を配信します。"


# ---------------------------------------------------------------- the server (its own process)


def render(i: int, generation: int, seeds: list[str]) -> bytes:
    text = seeds[i % len(seeds)]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines.insert(1, f"本ポリシーは運営会社 第{i}号事業所 に適用されます。")
    if generation and i % 10 == 0:
        lines.insert(len(lines) // 2, NEW_CLAUSE)
    body = "\n".join(f"<p>{html.escape(ln)}</p>" for ln in lines)
    return (f'<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>プライバシーポリシー {i}</title>'
            f'</head><body><header><nav><a href="/">ホーム</a></nav></header><main><article>{body}</article></main>'
            f'<footer><p>&copy; 2026 site {i}</p></footer></body></html>').encode()


def serve(hosts: list[str], port_queue, pages: int):
    seeds = [p.read_text(encoding="utf-8") for p in SEEDS]
    state = {"generation": 0}
    cache: dict[tuple[int, int], tuple[bytes, str]] = {}
    stats: Counter = Counter()
    lock = threading.Lock()

    def page(i: int) -> tuple[bytes, str]:
        gen = state["generation"] if i % 10 == 0 else 0
        key = (i, gen)
        if key not in cache:
            body = render(i, gen, seeds)
            cache[key] = (body, '"' + hashlib.sha1(body).hexdigest()[:16] + '"')
        return cache[key]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: with Nagle on, the body waits for the client's delayed
        # ACK (40 ms on Linux loopback) -- a stall of this test server, not of the checker.
        # Production servers send with TCP_NODELAY (nginx's default), and so does this one.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/_control/"):
                return self.control()
            try:
                i = int(self.path.split("?", 1)[0].rsplit("p", 1)[1]) % pages
            except (IndexError, ValueError):
                return self.reply(404, b"no")
            body, etag = page(i)
            if self.headers.get("If-None-Match") == etag:
                return self.reply(304, b"", etag)
            self.reply(200, body, etag)

        def control(self):
            if self.path.startswith("/_control/generation/"):
                state["generation"] = int(self.path.rsplit("/", 1)[1])
            with lock:
                data = json.dumps(dict(stats)).encode()
                if self.path == "/_control/stats":
                    stats.clear()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def reply(self, status: int, body: bytes, etag: str | None = None):
            with lock:
                stats[str(status)] += 1
            self.send_response(status)
            if etag:
                self.send_header("ETag", etag)
            if status != 304:
                self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

    servers = []
    port = 0
    for host in hosts:
        httpd = ThreadingHTTPServer((host, port), Handler)
        httpd.daemon_threads = True
        port = httpd.server_address[1]    # the same port on every host name
        servers.append(httpd)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port_queue.put(port)
    threading.Event().wait()


def control(host: str, port: int, what: str) -> dict:
    import requests

    return requests.get(f"http://{host}:{port}/_control/{what}", timeout=10).json()


# ---------------------------------------------------------------- the passes


def settings_for(base: Path, urls: list[str], **fetch):
    from watcher.config import parse_settings

    return parse_settings({"store": {"url": "sqlite:///store/watch.db", "bodies_dir": "store/bodies"},
                           "fetch": {"retries": 0, **fetch},
                           "policy": [{"name": f"p{i}", "url": u} for i, u in enumerate(urls)]}, base_dir=base)


def timed_pass(label: str, settings, store, host: str, port: int):
    from watcher.app import check_policies

    control(host, port, "stats")
    start = time.perf_counter()
    cpu = time.process_time()
    children = _children_cpu()
    outcomes = check_policies(settings, store=store, notify=False)
    wall = time.perf_counter() - start
    cpu, children = time.process_time() - cpu, _children_cpu() - children
    requests_seen = control(host, port, "stats")
    statuses = Counter(o.status for o in outcomes)
    parsed = sum(1 for o in outcomes if not o.not_modified and o.status != "failed")
    print(f"{label:<18} wall {wall:6.2f} s   requests {sum(requests_seen.values()):5d} "
          f"{json.dumps(requests_seen, sort_keys=True):<22} outcomes {dict(statuses)}  parsed {parsed}")
    print(f"{'':<18} CPU: checker process {cpu:.2f} s, derive workers {children:.2f} s")
    return wall, outcomes


def print_store_size(label: str, root: Path) -> None:
    """The store's files: the database (bodies are its rows since schema 0008), with its write-ahead
    log as a running store has it, and any body files a store from before 0008 left."""
    files = [f for f in root.rglob("*") if f.is_file()]
    total = sum(f.stat().st_size for f in files)
    legacy = sum(f.stat().st_size for f in files if f.suffix == ".gz")
    wal = sum(f.stat().st_size for f in files if f.name.endswith("-wal"))
    print(f"{label}: {total / 1e6:.2f} MB (database {(total - legacy - wal) / 1e6:.2f} MB, write-ahead log "
          f"{wal / 1e6:.2f} MB, body files of before 0008 {legacy / 1e6:.2f} MB)")


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)   # finished children: the derive pool of a pass
    return usage.ru_utime + usage.ru_stime


def rss_of_daemon(base: Path, host_urls: list[str], n: int, seconds: float) -> None:
    config = base / "daemon.toml"
    lines = ['[store]\nurl = "sqlite:///daemon/watch.db"\nbodies_dir = "daemon/bodies"\n[fetch]\nretries = 0\n']
    for i in range(n):
        lines.append(f'[[policy]]\nname = "d{i}"\nurl = "{host_urls[i % len(host_urls)]}?copy={i}"\n'
                     f'schedule = "every 6h"\njitter = 60\n')
    config.write_text("".join(lines), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "watcher", "daemon", "--config", str(config), "--no-notify",
                             "--log-level", "WARNING"], cwd=base, stderr=subprocess.PIPE, text=True)
    samples = []
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < seconds:
            time.sleep(0.5)
            rss = _rss_mb(proc.pid)
            if rss is None:
                break
            samples.append((time.perf_counter() - start, rss))
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    checks = 0
    try:
        import sqlite3

        con = sqlite3.connect(base / "daemon" / "watch.db")
        checks = con.execute("select count(*) from checks").fetchone()[0]
        con.close()
    except Exception:
        pass
    if not samples:
        print("daemon RSS: the daemon exited early:", proc.stderr.read()[-500:])
        return
    after_start = next((r for t, r in samples if t >= 3), samples[-1][1])
    peak = max(r for _, r in samples)
    print(f"daemon RSS with {n} policies: {after_start:.0f} MB after 3 s, peak {peak:.0f} MB over "
          f"{samples[-1][0]:.0f} s ({checks} first checks done meanwhile)  exit code {proc.returncode}")


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--daemon-policies", type=int, default=10_000)
    ap.add_argument("--daemon-seconds", type=float, default=20)
    args = ap.parse_args()

    hosts = [f"127.0.0.{k + 1}" for k in range(args.hosts)]
    ports = multiprocessing.get_context("fork").Queue()
    server = multiprocessing.get_context("fork").Process(target=serve, args=(hosts, ports, args.pages), daemon=True)
    server.start()
    port = ports.get(timeout=30)

    sys.path.insert(0, str(ROOT))
    from watcher.store import Store

    urls = [f"http://{hosts[i % len(hosts)]}:{port}/p{i}" for i in range(args.pages)]
    print(f"{args.pages} policy pages on {len(hosts)} host names, {os.cpu_count()} CPUs, "
          f"server: ThreadingHTTPServer in its own process")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        settings = settings_for(base, urls)
        print(f"fetch: per_host {settings.fetch.per_host}, concurrency {settings.fetch.concurrency}")
        store = Store(settings.store)
        timed_pass("first pass", settings, store, hosts[0], port)
        print_store_size("store on disk after the first pass", base / "store")
        timed_pass("unchanged pass", settings, store, hosts[0], port)
        control(hosts[0], port, "generation/1")
        timed_pass("10% changed pass", settings, store, hosts[0], port)
        print_store_size("store on disk after 3 passes", base / "store")
        store.close()
        print_store_size("store on disk after 3 passes, closed", base / "store")
        rss_of_daemon(base, urls, args.daemon_policies, args.daemon_seconds)
    server.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
