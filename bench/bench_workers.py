"""Benchmark of the scale-out runners (issue 12): N policies on a local fixture checked by 1, 2
and 4 Dramatiq worker processes (`watch worker --processes W`) on the real RabbitMQ, Redis and
PostgreSQL of this machine. Prints figures; asserts nothing.

    python bench/bench_workers.py [--policies 10000] [--hosts 8] [--workers 1,2,4] [--threads 8]

For each worker count: a fresh PostgreSQL schema and queue namespace, the policies imported as
data, one `watch scheduler --once` pass enqueueing them all, then the workers check them (a first
pass: every page fetched, derived, stored). Printed: pages per second (from the first check to the
last), the peak number of concurrent requests each host saw (never above [fetch] per_host), each
worker process's peak RSS, and the CPU seconds the workers and the page server spent (the page
server runs in a process of its own, so that it is never what limits the workers, and its share
shows). The machine has 2 cores shared with everyone: figures vary; the load average is printed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from queuetools import cleanup, new_namespace, write_config  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from webserver import PageServer, policy_page, seed_texts  # noqa: E402

from watcher.config import load_settings  # noqa: E402
from watcher.runners.scheduler import run_scheduler  # noqa: E402
from watcher.store import CheckRow, open_store  # noqa: E402

PG = os.environ.get("WATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve_pages(conn, hosts: int, policies: int) -> None:
    """The fixture, in a process of its own: one PageServer per host name; answers "reset",
    "peaks" (each host's most concurrent requests), "cpu" and "stop" on `conn`."""
    texts = list(seed_texts().values())
    servers = [PageServer(host=f"127.0.0.{10 + i}") for i in range(hosts)]
    for s in servers:
        s.keep_log = False        # no per-request log: 10,000 requests of headers would only cost
    for i in range(policies):
        servers[i % hosts].set(f"/p{i}", policy_page(texts[i % len(texts)] + f"\n（管理番号 {i}）"))
    for s in servers:
        s.start()
    conn.send([s.url("") for s in servers])
    while True:
        command = conn.recv()
        if command == "reset":
            for s in servers:
                s.reset_counts()
            conn.send(cpu_seconds(os.getpid()))
        elif command == "peaks":
            conn.send(([s.max_in_flight for s in servers], cpu_seconds(os.getpid())))
        else:
            break
    for s in servers:
        s.stop()


def run(workers: int, policies: int, fixture, bases: list[str], threads: int, per_host: int) -> dict:
    schema = f"watch_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG}{'&' if '?' in PG else '?'}options={quote(f'-csearch_path={schema}')}"
    namespace = new_namespace()
    os.environ["WATCH_TEST_BROKER_PASSWORD"] = "guest"
    fixture.send("reset")
    server_cpu0 = fixture.recv()
    load0 = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            config = write_config(tmp_path, url, namespace, per_host=per_host, time_limit=120, threads=threads)
            settings = load_settings(config)
            repo = open_store(settings.store)
            repo.put_policies([{"name": f"p{i:05d}", "url": f"{bases[i % len(bases)]}/p{i}",
                                "schedule": "every 1d", "language": "ja"} for i in range(policies)], source="import")
            enqueued = run_scheduler(settings, once=True, repo=repo)
            started = time.monotonic()
            supervisor = subprocess.Popen([sys.executable, "-m", "watcher", "--config", str(config), "worker",
                                           "--processes", str(workers), "--log-level", "WARNING"], cwd=tmp_path)
            first = last = None
            peak_rss: dict[int, float] = {}
            worker_cpu: dict[int, float] = {}
            try:
                while True:
                    with repo.session() as s:
                        done, t0, t1 = s.execute(select(func.count(CheckRow.id), func.min(CheckRow.finished_at),
                                                        func.max(CheckRow.finished_at))).one()
                    children = [int(p) for p in subprocess.run(["pgrep", "-P", str(supervisor.pid)],
                                                               capture_output=True, text=True).stdout.split()]
                    for pid in children:
                        peak_rss[pid] = max(peak_rss.get(pid, 0.0), rss_mb(pid))
                        worker_cpu[pid] = max(worker_cpu.get(pid, 0.0), cpu_seconds(pid))
                    if done >= policies or time.monotonic() - started > 1800:
                        first, last = t0, t1
                        break
                    time.sleep(0.5)
                fixture.send("peaks")
                peaks, server_cpu1 = fixture.recv()
                load1 = os.getloadavg()[0]
            finally:
                supervisor.terminate()
                supervisor.wait(60)
            repo.close()
        seconds = (last - first).total_seconds() if first and last else float("nan")
        return {"workers": workers, "enqueued": enqueued, "checked": done, "seconds": seconds,
                "wall": time.monotonic() - started, "pages_per_s": done / seconds if seconds else 0,
                "peak_per_host": peaks, "rss_mb": sorted(peak_rss.values()), "load": (load0, load1),
                "worker_cpu": sum(worker_cpu.values()), "server_cpu": server_cpu1 - server_cpu0}
    finally:
        cleanup(namespace)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policies", type=int, default=10_000)
    ap.add_argument("--hosts", type=int, default=8)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--per-host", type=int, default=4)
    args = ap.parse_args()
    fixture, child_end = multiprocessing.get_context("fork").Pipe()
    server = multiprocessing.get_context("fork").Process(target=serve_pages, args=(child_end, args.hosts,
                                                                                   args.policies), daemon=True)
    server.start()
    bases = fixture.recv()
    print(f"{args.policies} policies on {args.hosts} hosts, per_host {args.per_host}, {args.threads} threads "
          f"per worker process, {os.cpu_count()} cores (shared: figures vary)")
    try:
        for w in [int(x) for x in args.workers.split(",")]:
            r = run(w, args.policies, fixture, bases, args.threads, args.per_host)
            print(f"workers {r['workers']}: {r['checked']}/{r['enqueued']} checked in {r['seconds']:.1f} s "
                  f"({r['pages_per_s']:.1f} pages/s; {r['wall']:.1f} s with start-up); peak concurrent "
                  f"requests per host {max(r['peak_per_host'])} (limit {args.per_host}): {r['peak_per_host']}; "
                  f"RSS per worker process MB: {', '.join(f'{x:.0f}' for x in r['rss_mb'])}; CPU s: workers "
                  f"{r['worker_cpu']:.0f} ({1000 * r['worker_cpu'] / max(r['checked'], 1):.1f} ms a page), "
                  f"page server {r['server_cpu']:.1f}; load average {r['load'][0]:.1f} -> {r['load'][1]:.1f}",
                  flush=True)
    finally:
        fixture.send("stop")
        server.join(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
