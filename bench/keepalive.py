"""Sequential fetches on one kept-alive connection from a server without TCP_NODELAY (issue 14).

The peers' fixture (../shared/peers/serve.py) writes headers and body in two writes; without
TCP_NODELAY it holds the body until the client ACKs the headers, and a client in delayed-ACK mode
does so ~40 ms later: every response after the first on a connection waited. watcher.fetch.http
asks for a quick ACK after each request. Prints wall and CPU time for --pages fetches, with the
fixture's default (Nagle on) and with --nodelay.

usage: python bench/keepalive.py [--pages N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from watcher.config import default_settings
from watcher.fetch import Fetcher

SERVE = Path(__file__).resolve().parents[2] / "shared" / "peers" / "serve.py"


def run(pages: int, nodelay: bool) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen([sys.executable, str(SERVE), "-n", str(pages), "--port", "0", "--port-file",
                                   str(port_file)] + (["--nodelay"] if nodelay else []),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                if port_file.exists() and port_file.read_text().strip():
                    break
                time.sleep(0.05)
            base = f"http://127.0.0.1:{port_file.read_text().strip()}/p/"
            fetcher = Fetcher(default_settings().fetch)
            try:
                fetcher.fetch(base + "0")                      # the connection is open and kept
                wall, cpu = time.perf_counter(), time.process_time()
                for i in range(pages):
                    result = fetcher.fetch(base + str(i))
                    if result.status != 200:
                        sys.exit(f"page {i}: {result.status} {result.error}")
                return time.perf_counter() - wall, time.process_time() - cpu
            finally:
                fetcher.close()
        finally:
            server.terminate()
            server.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=200)
    a = ap.parse_args()
    if not SERVE.exists():
        sys.exit(f"{SERVE}: the peers' fixture server is needed")
    for nodelay in (False, True):
        wall, cpu = run(a.pages, nodelay)
        print(f"fixture {'--nodelay' if nodelay else 'default (Nagle)':16} {a.pages} pages: wall {wall:.2f} s "
              f"({wall / a.pages * 1000:.1f} ms/page), client CPU {cpu:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
