"""The overview page of `watch serve` for 10,000 policies on SQLite: how long it takes to render.

    python bench/web_overview.py [--policies 10000] [--runs 7]

Builds a store through the Repository (every policy checked once, every third one changed with a
real consent report, every 50th failing with an alert, some changes reviewed), serves it with a
real `watch serve` process on 127.0.0.1 and times GETs of overview pages (first, middle, last,
filtered) over HTTP: the median and the worst of --runs requests each. Target: ≤ 0.5 s a page.
The machine is shared (2 cores): figures vary from run to run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from reviewtools import CONSENT_PAIR, CORPUS, Served  # noqa: E402

from watcher.compare import compare  # noqa: E402
from watcher.config import load_settings  # noqa: E402
from watcher.derive import derive  # noqa: E402
from watcher.extract import load_file  # noqa: E402
from watcher.report import report_to_dict  # noqa: E402
from watcher.store import CheckRecord, DerivedColumns, NewVersion, Store, sha256, utcnow  # noqa: E402
from watcher.store.reviews import AuditEntry  # noqa: E402


def columns(body: bytes) -> DerivedColumns:
    d = derive(body, source="bench.txt", content_type="text/plain; charset=utf-8", select=None, remove=[])
    _, text, lines, title, charset, _, outline = d.stored()
    return DerivedColumns(text=text, lines=lines, outline=outline, title=title, charset=charset, text_key=d.text_key,
                          text_length=d.text_length, clauses=d.clauses, extractor_version="bench")


def build(tmp: Path, n: int) -> Path:
    config = tmp / "config.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp}/watch.db"\nbodies_dir = "{tmp}/bodies"\n[web]\npage_size = 100\n',
                      encoding="utf-8")
    settings = load_settings(config)
    old_body = (CORPUS / CONSENT_PAIR / "old.txt").read_bytes()
    new_body = (CORPUS / CONSENT_PAIR / "new.txt").read_bytes()
    report = report_to_dict(compare(load_file(CORPUS / CONSENT_PAIR / "old.txt"),
                                    load_file(CORPUS / CONSENT_PAIR / "new.txt")), full_text=True)
    old_cols, new_cols = columns(old_body), columns(new_body)
    repo = Store(settings.store)
    try:
        names = [(f"policy-{i:05d}", f"https://example.com/{i}/privacy") for i in range(n)]
        states = repo.load_states(names)

        def version(name, url, body, cols, expect, change=None):
            check = CheckRecord(policy_id=states[name].policy_id, policy=name, outcome="changed" if expect else "first",
                                started_at=utcnow(), url=url, final_url=url, http_status=200)
            return NewVersion(check=check, expect_latest=expect, body=body, body_sha256=sha256(body), body_stored=False,
                              url=url, status=200, etag=None, last_modified=None, content_type="text/plain",
                              derived=cols, change=change)

        firsts = {}
        for i in range(0, n, 500):
            with repo.unit_of_work() as uow:
                for v in repo.record_versions(uow, [version(name, url, old_body, old_cols, None)
                                                    for name, url in names[i:i + 500]]):
                    firsts[v.policy_id] = v.snapshot_id
        changed = names[::3]
        change = {"report": report, "severity": report["severity"], "material": report["material"], "state": "notified"}
        change_ids = []
        for i in range(0, len(changed), 500):
            with repo.unit_of_work() as uow:
                stored = repo.record_versions(uow, [
                    version(name, url, new_body, new_cols, firsts[states[name].policy_id], change)
                    for name, url in changed[i:i + 500]])
                change_ids += [v.change_id for v in stored]
        with repo.unit_of_work() as uow:
            for change_id in change_ids[::4]:
                repo.append_review(uow, change_id, [AuditEntry("start", None, "", "in_review"),
                                                    AuditEntry("decide", "consent_obtained", "bench", "done")],
                                   actor="bench", role="reviewer", decision="consent_obtained", actions=[],
                                   expect_last=None)
        failing = [CheckRecord(policy_id=states[name].policy_id, policy=name, outcome="failed", started_at=utcnow(),
                               url=url, final_url=url, error="bench: connection refused") for name, url in names[::50]]
        with repo.unit_of_work() as uow:
            repo.record_checks(uow, failing, alert_after=1)
    finally:
        repo.close()
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        config = build(Path(tmp), args.policies)
        print(f"store: {args.policies} policies, {len(range(0, args.policies, 3))} changes, built in "
              f"{time.perf_counter() - started:.1f} s")
        last_page = (args.policies + 99) // 100
        with Served(config) as served:
            session = requests.Session()
            worst_of_all = 0.0
            for label, path in [("page 1", "/"), ("middle page", f"/?page={last_page // 2}"),
                                ("last page", f"/?page={last_page}"), ("severity=consent", "/?severity=consent"),
                                ("review=open, page 20", "/?review=open&page=20"), ("search", "/?q=policy-09")]:
                times = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    r = session.get(served.url + path, timeout=30)
                    times.append(time.perf_counter() - t0)
                    assert r.status_code == 200 and 'id="policies"' in r.text, (path, r.status_code)
                worst_of_all = max(worst_of_all, max(times))
                print(f"{label:24} median {statistics.median(times) * 1000:6.1f} ms   worst {max(times) * 1000:6.1f} ms"
                      f"   {len(r.content) // 1024} KiB")
        verdict = "meets" if worst_of_all <= 0.5 else "MISSES"
        print(f"worst overview page: {worst_of_all * 1000:.1f} ms ({verdict} the 0.5 s target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
