"""CPU per newly fetched page on a first check: the derive path over the peers' fixture pages.

    python bench/extract_cpu.py [--pages 300] [--repeat 3] [--select '#policy'] [--profile]

The pages are the side-by-side benchmark's (../shared/peers/serve.py, ~14 KB Japanese policy
pages, rendered here without a server). Each figure is CPU time (time.process_time) per page,
the best of --repeat passes over all pages: what a derive worker spends on a page the store
has not seen (extract, keys, segment, outline, the stored form a worker sends back).
--profile prints the top of a cProfile of one pass instead.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from watcher import derive, extract, normalize, segment  # noqa: E402

PEERS_SERVER = ROOT.parent / "shared" / "peers" / "serve.py"


def fixture_pages(n: int) -> list[bytes]:
    spec = importlib.util.spec_from_file_location("peers_serve", PEERS_SERVER)
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    state = serve.State(n, 1, 0.10, 0.10, 0.05, None, None)
    return [state.page(i)[0] for i in range(n)]


def cpu_ms_per_page(fn, pages: list[bytes], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for body in pages:
            fn(body)
        best = min(best, time.process_time() - t0)
    return best * 1000 / len(pages)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--select", default="#policy")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    pages = fixture_pages(args.pages)
    ctype = "text/html; charset=utf-8"

    def full(body: bytes):     # what a derive worker does for a new page, its answer pickled
        return derive.derive(body, source="p", content_type=ctype, select=args.select, remove=[]).stored()

    def extract_only(body: bytes):
        return extract.extract(body, source="p", content_type=ctype, select=args.select)

    full(pages[0])      # warm-up: rules, imports
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for body in pages:
            full(body)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
        return

    docs = [extract_only(body) for body in pages]
    clause_lists = [segment.segment(doc) for doc in docs]
    stages = [
        ("derive, stored form (the worker's answer)", lambda: cpu_ms_per_page(full, pages, args.repeat)),
        ("  extract (decode, parse, body, lines)", lambda: cpu_ms_per_page(extract_only, pages, args.repeat)),
        ("  segment", lambda: cpu_ms_per_page(lambda i: segment.segment(docs[i]), range(len(docs)), args.repeat)),
        ("  keys (normalize.key, cache cleared)", lambda: _keys_ms(docs, args.repeat)),
        ("  outline + stored JSON", lambda: cpu_ms_per_page(
            lambda i: derive.Derived(docs[i], [derive.clause_to_json(c) for c in clause_lists[i]], "", 0, 0).stored(),
            range(len(docs)), args.repeat)),
    ]
    print(f"{len(pages)} fixture pages, {sum(map(len, pages)) / len(pages) / 1000:.1f} KB each, select={args.select!r}")
    print(f"{'stage':<46} {'ms CPU / page':>14}")
    for name, measure in stages:
        print(f"{name:<46} {measure():>14.2f}")


def _keys_ms(docs, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        normalize.key.cache_clear()
        t0 = time.process_time()
        for doc in docs:
            [normalize.key(line.text) for line in doc.lines]
        best = min(best, time.process_time() - t0)
    return best * 1000 / len(docs)


if __name__ == "__main__":
    main()
