"""Benchmark `watch diff` (the library call behind it) in one process, after warm-up.

Prints the median time of compare() + JSON rendering for each labelled seed pair, for a
60-KB policy, and for a generated 300-clause (~200 KB) policy with 5 % of its clauses edited,
moved or renumbered; plus the peak memory of the process.
Targets: <= 50 ms per seed pair, <= 1 s for the large one, <= 200 MB.

usage: python bench/bench_diff.py [--repeat N]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
from pathlib import Path

from watcher.compare import compare
from watcher.diff import diff_clauses
from watcher.extract import extract
from watcher.normalize import key
from watcher.report import render
from watcher.segment import segment

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "corpus"   # a copy of ../shared/corpus

PURPOSES = ["本サービスの提供及び運営のため", "お問い合わせへの対応のため", "利用規約の変更等の通知のため",
            "不正利用の防止のため", "サービスの改善及び新サービスの開発のため", "キャンペーンのご案内のため",
            "料金の請求のため", "本人確認のため", "統計データの作成のため", "アンケートの実施のため"]
SENTENCES = ["当社は、個人情報を適正に取得し、利用目的の達成に必要な範囲内で取り扱います。",
             "当社は、法令に基づく場合を除き、あらかじめ本人の同意を得ることなく第三者に提供しません。",
             "当社は、個人情報の漏えい、滅失又は毀損の防止その他の安全管理のために必要かつ適切な措置を講じます。",
             "ユーザーは、当社所定の手続により、保有個人データの開示、訂正、利用停止等を請求することができます。",
             "当社は、業務の一部を外部に委託する場合、委託先に対して必要かつ適切な監督を行います。"]


def generated_policy(n_clauses: int, seed: int) -> list[tuple[str, list[str]]]:
    rnd = random.Random(seed)
    clauses = []
    for i in range(n_clauses):
        title = f"個人情報の取扱いに関する事項その{i + 1}"
        body = [f"{rnd.choice(SENTENCES)}（区分{i + 1}-{k}）" for k in range(2)]
        body += [f"{k + 1}. {rnd.choice(PURPOSES)}（項目{i + 1}-{k + 1}）" for k in range(rnd.randint(2, 6))]
        clauses.append((title, body))
    return clauses


def render_policy(clauses: list[tuple[str, list[str]]]) -> str:
    out = ["プライバシーポリシー", "株式会社サンプル（以下「当社」といいます。）は、以下のとおり定めます。"]
    for i, (title, body) in enumerate(clauses, 1):
        out.append(f"第{i}条（{title}）")
        out.extend(body)
    out.append("2024年4月1日 制定")
    return "\n".join(out) + "\n"


def revised(clauses, share: float, seed: int):
    """Edit, move or renumber `share` of the clauses (a third each)."""
    rnd = random.Random(seed)
    new = [(t, list(b)) for t, b in clauses]
    n = max(3, int(len(clauses) * share))
    picks = rnd.sample(range(1, len(clauses) - 1), n)
    for k, idx in enumerate(picks):
        title, body = new[idx]
        if k % 3 == 0:
            body[0] = body[0].replace("適切な", "合理的な") + "なお、詳細は別途定めます。"
        elif k % 3 == 1:
            body.append(f"{len(body) + 1}. 提携先の商品に関する広告の配信のため")
    moves = [p for k, p in enumerate(picks) if k % 3 == 2]
    for idx in moves:          # moving a clause renumbers everything between its two places
        item = new.pop(idx)
        new.insert(rnd.randrange(len(new)), item)
    return new


def timed(old, new, repeat: int) -> float:
    compare(old, new)  # warm-up (rules, regexes, templates)
    times = []
    for _ in range(repeat):
        key.cache_clear()   # time a cold key cache, as for a new pair of documents
        t0 = time.perf_counter()
        render(compare(old, new), "json")
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    rows = []
    pairs = sorted((CORPUS / "pairs").iterdir()) if (CORPUS / "pairs").exists() else []
    for d in pairs:
        old = extract((d / "old.txt").read_bytes(), source="old.txt", kind="text")
        new = extract((d / "new.txt").read_bytes(), source="new.txt", kind="text")
        rows.append((d.name, len((d / "new.txt").read_bytes()), timed(old, new, args.repeat)))

    for label, n_clauses in (("generated 60 KB", 90), ("generated 300 clauses", 300)):
        base = generated_policy(n_clauses, seed=7)
        old_text = render_policy(base)
        new_text = render_policy(revised(base, 0.05, seed=11))
        old = extract(old_text, source="old", kind="text")
        new = extract(new_text, source="new", kind="text")
        rows.append((label, len(new_text.encode()), timed(old, new, max(3, args.repeat // 3))))

    # Classification's cost (issue 3: within 2x of the diff without it) on the 60-KB policy.
    base = generated_policy(90, seed=7)
    old = extract(render_policy(base), source="old", kind="text")
    new = extract(render_policy(revised(base, 0.05, seed=11)), source="new", kind="text")
    without = []
    for _ in range(max(3, args.repeat // 3)):
        key.cache_clear()
        t0 = time.perf_counter()
        diff_clauses(segment(old), segment(new))
        without.append(time.perf_counter() - t0)
    unclassified = statistics.median(without)
    with_classify = next(secs for name, _, secs in rows if name == "generated 60 KB")

    print(f"{'case':45} {'bytes':>8} {'median ms':>10}")
    for name, size, secs in rows:
        print(f"{name:45} {size:8d} {secs * 1000:10.1f}")
    seed_times = [s for n, _, s in rows if not n.startswith("generated")]
    if seed_times:
        print(f"seed pairs: max {max(seed_times) * 1000:.1f} ms, median {statistics.median(seed_times) * 1000:.1f} ms "
              "(target <= 50 ms each)")
    print(f"large policy: {rows[-1][2] * 1000:.0f} ms (target <= 1000 ms)")
    print(f"60-KB policy: {unclassified * 1000:.0f} ms without classify/route, {with_classify * 1000:.0f} ms with "
          f"(x{with_classify / unclassified:.2f}; target <= x2)")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak memory (max RSS): {peak_kb / 1024:.1f} MB (target <= 200 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
