"""Benchmark of mail to many users (issue 15, item 7): one material change of a policy with N users
(default 100,000) in its users_file, on SQLite, sent to a local aiosmtpd. Prints figures; asserts nothing.

    python bench/many_users.py [--users 100000] [--batch 1000]

Phases, each a process of its own (its peak RSS is printed):
  queue  the check that records the change (one fan-out row in its transaction), then the
         expansion into deliveries (batches of --batch, one transaction each) — the time to queue;
         meanwhile another `watch check` of another policy runs in a loop: its longest run beyond
         its idle time is how long the queueing blocked it at most;
  send   one drain to the local SMTP server: mails per second.
The machine has 2 cores shared with everyone: figures vary from run to run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from aiosmtpd.controller import Controller  # noqa: E402
from mailtools import free_port  # noqa: E402
from webserver import PageServer, policy_page, seed_texts  # noqa: E402

SEED = seed_texts()["000_e00ebf84e0ab835f"]
NEW = SEED.replace("メールアドレス、パスワードを取得", "メールアドレス、パスワード、位置情報を取得")


class Counter:
    def __init__(self):
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        return "250 OK"


def page(text: str) -> bytes:
    return policy_page(text, nonce="fixed", views=1, stamp="2026-05-01")


def phase(name: str, config: Path) -> dict:
    """Run one phase in a child process; its JSON figures plus its peak RSS."""
    out = subprocess.run([sys.executable, __file__, "--phase", name, "--config", str(config)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(name: str, config: Path) -> None:
    from watcher.app import open_app
    from watcher.config import load_settings
    from watcher.notify import drain
    from watcher.notify.outbox import expand_fanouts
    settings = load_settings(config)
    figures = {}
    if name == "queue":
        with open_app(settings) as app:
            began = time.monotonic()
            outcome = app.checker.check_one(settings.policy("big"))
            figures["check_s"] = time.monotonic() - began
            figures["status"] = outcome.status
            began = time.monotonic()
            # every transaction of the expansion timed (each holds the write lock while it lasts)
            spans, unit_of_work = [], app.repo.unit_of_work

            @contextlib.contextmanager
            def timed():
                start = time.monotonic()
                with unit_of_work() as uow:
                    yield uow
                spans.append(time.monotonic() - start)

            app.repo.unit_of_work = timed
            figures["queued"] = expand_fanouts(settings, app.repo)
            figures["expand_s"] = time.monotonic() - began
            figures["batches"] = len(spans)
            figures["longest_batch_s"] = max(spans or [0])
    else:
        began = time.monotonic()
        result = drain(settings)
        figures["send_s"] = time.monotonic() - began
        figures["sent"] = result.sent
        figures["result"] = str(result)
    figures["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--queue-only", action="store_true", help="skip the send phase")
    ap.add_argument("--phase")
    ap.add_argument("--config")
    args = ap.parse_args()
    if args.phase:
        return child(args.phase, Path(args.config))
    counter = Counter()
    smtp_port = free_port()
    controller = Controller(counter, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    with tempfile.TemporaryDirectory() as tmp, PageServer() as server:
        d = Path(tmp)
        server.set("/big", page(SEED), validators=False)
        server.set("/other", page(SEED), validators=False)
        with (d / "users.csv").open("w", encoding="utf-8") as f:
            f.write("email,language\n")
            for i in range(args.users):
                f.write(f"user{i:06d}@example.net,{'en' if i % 10 == 0 else 'ja'}\n")
        config = d / "config.toml"
        config.write_text(f"""
[store]
url = "sqlite:///{d}/store/watch.db"
bodies_dir = "{d}/store/bodies"
[smtp]
host = "127.0.0.1"
port = {smtp_port}
from = "policy-watcher <watcher@example.org>"
[fetch]
retries = 0
[notify]
staff = ["privacy@example.org"]
outbox_dir = "{d}/outbox"
[[policy]]
name = "big"
url = "{server.url('/big')}"
users_file = "{d}/users.csv"
notify_users = "always"
[[policy]]
name = "other"
url = "{server.url('/other')}"
""", encoding="utf-8")
        watch = [sys.executable, "-m", "watcher"]
        subprocess.run([*watch, "check", "--config", str(config), "--no-notify"], check=True, capture_output=True)
        def other_check() -> float:
            began = time.monotonic()
            r = subprocess.run([*watch, "check", "other", "--no-notify", "--config", str(config)], capture_output=True,
                               text=True)
            if r.returncode not in (0, 1):
                print("other check failed:", r.stderr.strip()[-300:])
            return time.monotonic() - began
        idle = min(other_check() for _ in range(3))
        server.set("/big", page(NEW), validators=False)
        runs: list[float] = []
        waits: list[float] = []
        done = threading.Event()

        def probe():
            while not done.is_set():
                runs.append(other_check())

        def lock_probe():
            # what any writer (another check) waits for: the SQLite write lock, taken every 20 ms
            conn = sqlite3.connect(d / "store" / "watch.db", timeout=120, isolation_level=None)
            while not done.is_set():
                began = time.monotonic()
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                waits.append(time.monotonic() - began)
                if waits[-1] > 0.5:
                    print(f"  lock wait {waits[-1]:.2f} s at {time.monotonic() - started[0]:.1f} s", flush=True)
                time.sleep(0.02)
            conn.close()

        started = [time.monotonic()]
        threads = [threading.Thread(target=probe), threading.Thread(target=lock_probe)]
        for t in threads:
            t.start()
        q = phase("queue", config)
        done.set()
        for t in threads:
            t.join()
        s = {"sent": 0, "send_s": 0.0, "rss_mb": 0.0, "result": "not run"} if args.queue_only else phase("send", config)
        controller.stop()
    queue_s = q["check_s"] + q["expand_s"]
    print(f"users: {args.users:,}  (change: {q['status']})")
    print(f"time to queue: {queue_s:.1f} s  (check recording the change + fan-out row {q['check_s']:.1f} s, "
          f"expansion into {q['queued']:,} deliveries {q['expand_s']:.1f} s)   peak RSS {q['rss_mb']:.0f} MB")
    print(f"expansion: {q['batches']} transactions, the longest {q['longest_batch_s']:.2f} s")
    print(f"write lock meanwhile: taken {len(waits)} times, longest wait {max(waits or [0]):.2f} s")
    print(f"another watch check meanwhile: {len(runs)} runs, idle {idle:.2f} s, longest {max(runs or [0]):.2f} s "
          f"(blocked at most {max(0.0, max(runs or [0]) - idle):.2f} s)")
    print(f"send: {s['sent']:,} mails in {s['send_s']:.1f} s = {s['sent'] / max(s['send_s'], 1e-9):.0f} mails/s "
          f"to a local aiosmtpd (received {counter.n:,})   peak RSS {s['rss_mb']:.0f} MB   [{s['result']}]")


if __name__ == "__main__":
    main()
