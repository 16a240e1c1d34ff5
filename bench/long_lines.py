"""A modified line made of one long run (digits, letters, kanji, mixed) through `compare`: the cost
must grow linearly with the line (issue 15, defect 6: 20,000 digits took 84 s). Prints seconds
per size; asserts nothing. Target: a 50,000-digit modified line in <= 1 s.

    python bench/long_lines.py [--sizes 5000 20000 50000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from watcher.compare import compare  # noqa: E402
from watcher.models import Document, Line  # noqa: E402

RUNS = {"digits": "1", "letters": "a", "Capitals": "Ab", "mixed": "a1-", "kanji": "個人情報"}


def one(unit: str, n: int) -> tuple[float, str]:
    run = unit * (n // len(unit))
    head = "当社は個人情報を適切に取り扱います。"
    old = Document("old", [Line("第1条（目的）"), Line(head + run)])
    new = Document("new", [Line("第1条（目的）"), Line(head + run[: n // 2] + "Z" + run[n // 2:])])
    start = time.perf_counter()
    report = compare(old, new)
    return time.perf_counter() - start, report.severity


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 50000])
    args = ap.parse_args()
    one("1", 100)                                   # warm up: rules loaded, caches built
    print(f"{'run':<10}" + "".join(f"{n:>12,}" for n in args.sizes) + "   (seconds per compare; severity)")
    for name, unit in RUNS.items():
        cells, severity = [], ""
        for n in args.sizes:
            seconds, severity = one(unit, n)
            cells.append(f"{seconds:>12.2f}")
        print(f"{name:<10}" + "".join(cells) + f"   {severity}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
