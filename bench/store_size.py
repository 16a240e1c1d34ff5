"""What the store costs on disk after the side-by-side benchmark's three phases. Prints figures;
asserts nothing.

    python bench/store_size.py [--pages 1000]

The pages are the peers' fixture (../shared/peers/serve.py: ~14 KB Japanese policy pages, one
template, 10 % gaining a purpose in v2, 15 % changing only noise), served by that script on a free
port. Three `watch check` passes against a fresh SQLite store (first, after v2, nothing changed),
then the store's bytes by table and what its bodies and texts would cost without the trained
dictionaries (plain zstd of the same values). urlwatch's cache after the same phases, measured by
../shared/peers/run_paired_us.sh at N = 1,000, is 9.03 MB (its `cache_bytes`).
"""

from __future__ import annotations

import argparse
import json
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PEERS_SERVER = ROOT.parent / "shared" / "peers" / "serve.py"

from watcher.app import check_policies  # noqa: E402
from watcher.config import parse_settings  # noqa: E402
from watcher.store import codec  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=1000)
    args = ap.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, str(PEERS_SERVER), "-n", str(args.pages), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/_admin/stats", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp:
            settings = parse_settings({
                "store": {"url": "sqlite:///store/watch.db", "bodies_dir": "store/bodies"},
                "notify": {"staff": ["privacy-team@example.com"], "outbox_dir": "outbox"},
                "policy": [{"name": f"policy-{i}", "url": f"{base}/p/{i}", "select": "#policy"}
                           for i in range(args.pages)],
            }, base_dir=Path(tmp))
            for phase in ("first", "v2", "no change"):
                if phase == "v2":
                    urllib.request.urlopen(f"{base}/_admin/switch?v=2", timeout=5).read()
                started = time.perf_counter()
                outcomes = check_policies(settings, notify=False)
                counts: dict[str, int] = {}
                for o in outcomes:
                    counts[o.status] = counts.get(o.status, 0) + 1
                print(f"{phase:<10} {time.perf_counter() - started:5.1f} s  {json.dumps(counts)}")
            report(Path(tmp) / "store")
    finally:
        server.terminate()
        server.wait()


def report(store: Path) -> None:
    files = [f for f in store.rglob("*") if f.is_file()]
    print(f"store after the three phases: {sum(f.stat().st_size for f in files) / 1e6:.2f} MB "
          f"({', '.join(f'{f.name} {f.stat().st_size / 1e6:.2f}' for f in files)})")
    con = sqlite3.connect(store / "watch.db")
    try:
        tables = con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 6").fetchall()
        print("largest tables and indexes: " + ", ".join(f"{n} {b / 1e6:.2f} MB" for n, b in tables))
        for row in con.execute("SELECT id, kind, data FROM dictionaries"):
            codec.register(codec.Dictionary(*row))
            print(f"dictionary {row[1]}: {len(row[2]) / 1024:.0f} KB")
        bodies = [d for (d,) in con.execute("SELECT data FROM bodies")]
        texts = [t for (t,) in con.execute("SELECT text FROM snapshots")]
        for label, values in (("bodies", bodies), ("texts", texts)):
            raw = [codec.decompress(v) for v in values]
            print(f"{label}: {len(values)} stored in {sum(map(len, values)) / 1e6:.2f} MB "
                  f"(raw {sum(map(len, raw)) / 1e6:.2f} MB; plain zstd would be "
                  f"{sum(len(codec.compress(r)) for r in raw) / 1e6:.2f} MB)")
    finally:
        con.close()


if __name__ == "__main__":
    main()
