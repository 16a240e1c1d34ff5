"""Speed of the judgement (issue 9): `watch diff` with meaning keys, in one process and as processes.

In one process, after a warm-up that loads the rules and SudachiPy's dictionary (the library path of
`watch diff`: sources.load + compare + the JSON rendering; the caches that belong to one pair of
documents, normalize.key and the rules' meaning cache, are cleared before every run):
  - every seed pair of ../shared/corpus/pairs, median ms            (target <= 50 ms each)
  - the largest Mozilla pair of ../shared/real-revisions (~60 KB)   (target <= 0.3 s)
As processes (`watch diff ... --format json`, each a new interpreter):
  - a formatting-only pair: which language libraries it loads (sys.modules at exit, and
    `python -X importtime`): none may be loaded (sudachipy, sudachidict_core, spacy, ginza)
  - a seed pair with a real change, model load included            (target <= 2 s)
And the installed size of the language libraries (du of their site-packages directories).

The machine is shared (2 cores): the load average is printed first; read medians beside it.

usage: python bench/judge_speed.py [--repeat N] [--runs N] [--ginza-venv /tmp/ginza-venv]
       (--ginza-venv: also print the size of a scratch venv's spaCy / GiNZA libraries)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from watcher import compare, sources
from watcher.judge.rules import load_rules
from watcher.normalize import key
from watcher.report import render

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PAIRS = SHARED / "corpus" / "pairs"
REAL = SHARED / "real-revisions"
FORMATTING_ONLY = "d02-enmono-reflow-width"     # reflowed lines, digit width, a full-width space: severity none
REAL_CHANGE = "d01-enmono-purpose-ad-targeting"  # a new purpose (consent): sentences' meaning keys differ
TARGETS = {"seed_ms": 50.0, "mozilla_s": 0.3, "process_s": 2.0}
# Top-level packages of language models and tokenizers: a formatting-only diff must load none.
LANGUAGE_MODULES = ("sudachipy", "sudachidict_core", "spacy", "ginza", "ja_ginza", "thinc")
# The project's language libraries (site-packages directories); a GiNZA venv is measured by what it adds.
LANGUAGE_DIRS = ("sudachipy", "sudachidict_core")
_PROBE = ("import runpy, sys, json\n"
          "sys.argv = ['watch'] + sys.argv[1:]\n"
          "try:\n"
          "    runpy.run_module('watcher.cli', run_name='__main__')\n"
          "except SystemExit:\n"
          "    pass\n"
          "print('MODULES=' + json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n")


def pair_files(d: Path) -> tuple[Path, Path]:
    if (d / "old.txt").exists():
        return d / "old.txt", d / "new.txt"
    return next(d.glob("before.*")), next(d.glob("after.*"))


def clear_pair_caches() -> None:
    """Forget what belongs to one pair of documents, as for a new pair: the key cache and meaning keys."""
    key.cache_clear()
    for language in ("ja", "en"):
        load_rules(language).meaning_cache.clear()


def diff_once(old: Path, new: Path) -> float:
    clear_pair_caches()
    t0 = time.perf_counter()
    render(compare.compare(sources.load(str(old)), sources.load(str(new))), "json")
    return time.perf_counter() - t0


def median_time(old: Path, new: Path, repeat: int) -> float:
    diff_once(old, new)        # warm-up: rules compiled, the dictionary loaded
    return statistics.median(diff_once(old, new) for _ in range(repeat))


def largest_mozilla_pair() -> Path:
    pairs = [d for d in REAL.iterdir() if d.is_dir() and "mozilla" in d.name]
    return max(pairs, key=lambda d: pair_files(d)[1].stat().st_size)     # the largest new version


def watch_process(argv: list[str], importtime: bool = False) -> tuple[float, list[str], str]:
    """(wall seconds, top-level modules loaded, stderr) of `watch ARGV` as a new interpreter."""
    python = str(Path(sys.executable))
    cmd = [python] + (["-X", "importtime"] if importtime else []) + ["-c", _PROBE] + argv
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=str(ROOT))
    wall = time.perf_counter() - t0
    line = next((x for x in done.stderr.splitlines() if x.startswith("MODULES=")), "MODULES=[]")
    return wall, json.loads(line[len("MODULES="):]), done.stderr


def watch_wall(argv: list[str]) -> float:
    """Wall seconds of the real `watch` executable (the process a user starts)."""
    watch = str(Path(sys.executable).with_name("watch"))
    t0 = time.perf_counter()
    subprocess.run([watch] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(ROOT))
    return time.perf_counter() - t0


def du_kb(path: Path) -> int:
    done = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True)
    return int(done.stdout.split()[0]) if done.returncode == 0 and done.stdout else 0


def package_dirs(site: Path) -> set[str]:
    """Top-level package directories of a site-packages (no metadata, caches or the installer itself)."""
    return {p.name for p in site.iterdir() if p.is_dir() and not p.name.endswith((".dist-info", ".egg-info"))
            and p.name not in ("__pycache__", "pip", "setuptools", "pkg_resources", "_distutils_hack")}


def print_sizes(label: str, site: Path, names) -> None:
    sizes = {name: du_kb(site / name) for name in names if (site / name).exists()}
    total = sum(sizes.values())
    parts = ", ".join(f"{n} {kb / 1024:.1f}" for n, kb in sorted(sizes.items(), key=lambda x: -x[1]))
    print(f"  {label}: {total / 1024:.1f} MB ({parts} MB)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=9, help="runs per pair in one process (median)")
    ap.add_argument("--runs", type=int, default=3, help="processes per process figure (median)")
    ap.add_argument("--ginza-venv", type=Path, help="a scratch venv with ja-ginza installed: print its sizes too")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    missed = []

    print("in one process, after warm-up (sources.load + compare + JSON):")
    seed_times = []
    for d in sorted(p for p in PAIRS.iterdir() if p.is_dir()):
        secs = median_time(*pair_files(d), args.repeat)
        seed_times.append(secs)
        print(f"  {d.name:45} {secs * 1000:7.1f} ms")
    worst = max(seed_times)
    print(f"  seed pairs: max {worst * 1000:.1f} ms, median {statistics.median(seed_times) * 1000:.1f} ms "
          f"(target <= {TARGETS['seed_ms']:.0f} ms each)")
    if worst * 1000 > TARGETS["seed_ms"]:
        missed.append("seed pairs")
    mozilla = largest_mozilla_pair()
    size = sum(p.stat().st_size for p in pair_files(mozilla))
    secs = median_time(*pair_files(mozilla), max(3, args.repeat // 3))
    print(f"  {mozilla.name} ({size / 1024:.0f} KB both versions): {secs:.3f} s (target <= {TARGETS['mozilla_s']} s)")
    if secs > TARGETS["mozilla_s"]:
        missed.append("Mozilla pair")

    print("as processes (watch diff --format json):")
    old, new = pair_files(PAIRS / FORMATTING_ONLY)
    argv = ["diff", str(old), str(new), "--format", "json"]
    watch_wall(argv)    # bytecode written, files in the page cache
    wall, loaded, stderr = watch_process(argv, importtime=True)
    language = [m for m in LANGUAGE_MODULES if m in loaded]
    imported = sorted({name for name in (line.rsplit("|", 1)[-1].strip().split(".")[0]
                                         for line in stderr.splitlines() if line.startswith("import time:"))
                       if name in LANGUAGE_MODULES})
    print(f"  formatting-only {FORMATTING_ONLY}: language libraries loaded: {', '.join(language) or 'none'} "
          f"(-X importtime: {', '.join(imported) or 'none'}); {wall:.2f} s with -X importtime")
    if language:
        missed.append("formatting-only process loads a language model")
    old, new = pair_files(PAIRS / REAL_CHANGE)
    argv = ["diff", str(old), str(new), "--format", "json"]
    watch_wall(argv)
    walls = [watch_wall(argv) for _ in range(args.runs)]
    _, loaded, _ = watch_process(argv)
    print(f"  real change {REAL_CHANGE}: {statistics.median(walls):.2f} s median of {args.runs} "
          f"(fastest {min(walls):.2f} s; loads {', '.join(m for m in LANGUAGE_MODULES if m in loaded) or 'nothing'}; "
          f"target <= {TARGETS['process_s']} s)")
    if statistics.median(walls) > TARGETS["process_s"]:
        missed.append("real-change process")

    print("installed size of the language libraries (du of site-packages directories):")
    project_site = Path(sysconfig.get_paths()["purelib"])
    print_sizes("project .venv, SudachiPy + sudachidict-core", project_site, LANGUAGE_DIRS)
    if args.ginza_venv:
        sites = list(args.ginza_venv.glob("lib/python*/site-packages"))
        if sites:
            extra = package_dirs(sites[0]) - package_dirs(project_site)
            print_sizes(f"ja-ginza adds ({args.ginza_venv}, packages the project .venv lacks)", sites[0], extra)
    print("targets: " + ("all met" if not missed else "MISSED " + "; ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
