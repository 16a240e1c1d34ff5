"""Start-up of the `watch` process: `watch --help` and a `watch diff` of two seed files that do not differ.

Each command runs as a new process, one after another, --repeat times; prints the median and
the fastest wall time, the median CPU time (user + system), the targets (--help <= 0.15 s, diff <= 0.25 s, issue 14), the heavy
libraries each command loaded and the slowest imports (`python -X importtime`).

Bytecode: by default the runs write and reuse .pyc files in a temporary PYTHONPYCACHEPREFIX (as an
installed package does; the tree stays clean). --no-bytecode-cache runs with
PYTHONDONTWRITEBYTECODE=1 and no cache: every module of watcher is compiled in every process.

The machine is shared (2 cores): read the median beside `uptime`'s load, printed first.

usage: python bench/startup.py [--repeat N] [--watch PATH] [--no-bytecode-cache]
       (--watch: another build's executable, e.g. of the previous commit, to compare side by side;
        several --watch are run interleaved)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "tests" / "data" / "corpus" / "seeds" / "000_e00ebf84e0ab835f.txt"
HEAVY = ("numpy", "sqlalchemy", "bs4", "soupsieve", "lxml", "jinja2", "requests", "urllib3", "apscheduler",
         "rich", "rapidfuzz", "charset_normalizer", "pdfminer", "docx")
TARGETS = {"help": 0.15, "diff": 0.25}
_PROBE = ("import runpy, sys, json\n"
          "sys.argv = ['watch'] + sys.argv[1:]\n"
          "try:\n"
          "    runpy.run_module('watcher.cli', run_name='__main__')\n"
          "except SystemExit:\n"
          "    pass\n"
          "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n")


def python_of(watch: str) -> str:
    """The interpreter beside a watch executable (its venv's bin/python)."""
    return str(Path(watch).with_name("python"))


def commands(watch: str, copy: Path) -> dict[str, list[str]]:
    return {"help": [watch, "--help"], "diff": [watch, "diff", str(SEED), str(copy), "--no-pager"]}


def timed(argv: list[str], env: dict) -> tuple[float, float]:
    """(wall, CPU) seconds of one process; CPU (user + system) varies less than wall on a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tempfile.gettempdir())
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.decode(errors='replace').strip()}")
    return elapsed, cpu


def loaded(watch: str, args: list[str], env: dict) -> list[str]:
    done = subprocess.run([python_of(watch), "-c", _PROBE, *args], env=env, capture_output=True, text=True,
                          cwd=tempfile.gettempdir())
    roots = json.loads(done.stderr.strip().splitlines()[-1])
    return [m for m in HEAVY if m in roots]


def slowest_imports(watch: str, args: list[str], env: dict, top: int = 6) -> list[tuple[str, float]]:
    done = subprocess.run([python_of(watch), "-X", "importtime", "-m", "watcher.cli", *args], env=env,
                          capture_output=True, text=True, cwd=tempfile.gettempdir())
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        if not name.startswith("  "):          # top level only: what the command itself imported
            rows.append((name.strip(), int(cumulative) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:top]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--watch", action="append", help="watch executable(s) (default: this venv's)")
    ap.add_argument("--no-bytecode-cache", action="store_true")
    a = ap.parse_args()
    watches = [str(Path(w).absolute()) for w in a.watch or [Path(sys.executable).with_name("watch")]]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    tmp = Path(tempfile.mkdtemp(prefix="watch-startup-"))
    try:
        if a.no_bytecode_cache:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        copy = tmp / "seed-copy.txt"
        shutil.copyfile(SEED, copy)
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {a.repeat} runs each; "
              f"bytecode cache {'off' if a.no_bytecode_cache else 'on'}; {SEED.name} against a copy")
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for watch in watches:                       # warm: compile the cache, fill the page cache
            for argv in commands(watch, copy).values():
                timed(argv, env)
        for _ in range(a.repeat):
            for watch in watches:
                for what, argv in commands(watch, copy).items():
                    times.setdefault((watch, what), []).append(timed(argv, env))
        for watch in watches:
            print(f"\n{watch}")
            for what, argv in commands(watch, copy).items():
                ts = [wall for wall, _ in times[(watch, what)]]
                cpu = statistics.median(c for _, c in times[(watch, what)])
                med = statistics.median(ts)
                verdict = "ok" if med <= TARGETS[what] else "over"
                print(f"  {what:5} wall median {med:.3f} s  fastest {min(ts):.3f} s  (target <= {TARGETS[what]:.2f} s:"
                      f" {verdict})  CPU median {cpu:.3f} s")
                print(f"        loads: {', '.join(loaded(watch, argv[1:], env)) or '-'}")
                slow = ", ".join(f"{n} {t * 1000:.0f} ms" for n, t in slowest_imports(watch, argv[1:], env))
                print(f"        slowest imports: {slow}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
