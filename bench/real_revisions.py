"""Run `watch diff`'s pipeline over the 93 real revisions in ../shared/real-revisions.

Prints one line per pair (time, clauses, summary, severity, categories) and totals: every pair
must go through without an error. usage: python bench/real_revisions.py [DIR]
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from watcher.compare import compare
from watcher.errors import WatchError
from watcher.extract import load_file
from watcher.report import report_to_dict

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "real-revisions"


def main() -> int:
    base = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    pairs = sorted(p for p in base.iterdir() if p.is_dir())
    errors, severities, times = 0, Counter(), []
    for d in pairs:
        before, after = next(d.glob("before.*")), next(d.glob("after.*"))
        t0 = time.perf_counter()
        try:
            out = report_to_dict(compare(load_file(before), load_file(after)))
        except WatchError as exc:
            errors += 1
            print(f"ERROR {d.name}: {exc}")
            continue
        secs = time.perf_counter() - t0
        times.append(secs)
        s = out["summary"]
        severities[out["severity"]] += 1
        cats = sorted({c for ch in out["changes"] for c in ch["categories"]})
        print(f"{d.name[:50]:50} {secs * 1000:6.0f} ms {out['old']['clauses']:3}->{out['new']['clauses']:<3} "
              f"+{s['added']} -{s['removed']} ~{s['modified']} mv{s['moved']} rn{s['renumbered']} ={s['unchanged']} "
              f"{out['severity']:8} {','.join(cats)[:70]}")
    times.sort()
    print(f"pairs {len(pairs)}, errors {errors}, severities {dict(severities)}, "
          f"median {times[len(times) // 2] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
