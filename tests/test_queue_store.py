"""Policies as data in the store (watcher.store.policies): put/export, config sync, claiming due
policies (several schedulers never claim one row: SKIP LOCKED on PostgreSQL, the write lock on
SQLite), and one change per (old, new) snapshot pair."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from watcher.config import StoreSettings
from watcher.runners.due import advance, next_due
from watcher.store import ChangeRow, Repository, SnapshotRow, StoreConflict, utcnow


def open_repo(url: str, tmp_path: Path) -> Repository:
    return Repository(StoreSettings(url=url, bodies_dir=tmp_path / "bodies"))


def spec(i: int, **extra) -> dict:
    return {"name": f"p{i:04d}", "url": f"http://127.0.0.{2 + i % 3}:1/p{i}", "schedule": "every 1h",
            "language": "ja", **extra}


def test_put_export_and_schedule(store_url, tmp_path):
    repo = open_repo(store_url, tmp_path)
    try:
        now = utcnow()
        r = repo.put_policies([spec(1), spec(2)], source="import", now=now)
        assert (r.added, r.updated, r.unchanged) == (2, 0, 0)
        r = repo.put_policies([spec(1), spec(2, schedule="every 2h")], source="import", now=now)
        assert (r.added, r.updated, r.unchanged) == (0, 1, 1)
        got = repo.policy_specs()
        assert [p.name for p in got] == ["p0001", "p0002"]
        assert got[1].spec["schedule"] == "every 2h" and got[1].schedule == "every 2h"
        assert all(p.next_due == now for p in got)        # new (or rescheduled): due at once
        assert repo.policy_spec("p0001").spec == spec(1)
        assert repo.policy_spec("nope") is None
        assert repo.count_due(now) == 2
        # a config policy that left the config is no longer scheduled; its history stays
        repo.put_policies([spec(3)], source="config", now=now)
        assert repo.retire_policies({"other"}, source="config") == ["p0003"]
        assert repo.policy_spec("p0003").next_due is None
        assert [p.name for p in repo.policy_specs(scheduled_only=True)] == ["p0001", "p0002"]
    finally:
        repo.close()


def test_claim_advances_next_due_and_enqueues_in_the_transaction(store_url, tmp_path):
    repo = open_repo(store_url, tmp_path)
    try:
        now = utcnow()
        repo.put_policies([spec(i, jitter=600) for i in range(10)], source="import", now=now - timedelta(seconds=1))
        sent = []
        claimed = repo.claim_due(limit=4, advance=advance, enqueue=lambda c: sent.extend(p.name for p in c), now=now)
        assert [p.name for p in claimed] == sent == [f"p{i:04d}" for i in range(4)]
        due = {p.name: p.next_due for p in repo.policy_specs()}
        for name in sent:   # an hour later, plus up to the jitter
            assert now + timedelta(hours=1) <= due[name] <= now + timedelta(hours=1, seconds=600)
        assert repo.count_due(now) == 6

        def broken(_):
            raise RuntimeError("broker down")

        with pytest.raises(RuntimeError):
            repo.claim_due(limit=4, advance=advance, enqueue=broken, now=now)
        assert repo.count_due(now) == 6                     # nothing claimed when the messages were not sent
    finally:
        repo.close()


def test_two_schedulers_never_claim_the_same_policy(store_url, tmp_path):
    repo = open_repo(store_url, tmp_path)
    other = open_repo(store_url, tmp_path)
    try:
        now = utcnow()
        repo.put_policies([spec(i) for i in range(300)], source="import", now=now - timedelta(seconds=1))
        claims: list[list[str]] = [[], []]
        barrier = threading.Barrier(2)

        def scheduler(i: int, r: Repository):
            barrier.wait()
            while True:
                def slow_enqueue(c, i=i):
                    claims[i].extend(p.name for p in c)
                    threading.Event().wait(0.01)     # hold the rows while "sending"
                got = r.claim_due(limit=25, advance=advance, enqueue=slow_enqueue, now=now)
                if not got:
                    return

        threads = [threading.Thread(target=scheduler, args=(i, r)) for i, r in enumerate((repo, other))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        both = claims[0] + claims[1]
        assert sorted(both) == [f"p{i:04d}" for i in range(300)]     # every one once, none twice
        if not store_url.startswith("sqlite"):
            assert claims[0] and claims[1]                          # SKIP LOCKED: they shared the work
    finally:
        repo.close()
        other.close()


def test_one_change_per_snapshot_pair(store_url, tmp_path):
    repo = open_repo(store_url, tmp_path)
    try:
        repo.put_policies([spec(1)], source="import")
        state = repo.load_states([("p0001", spec(1)["url"])])["p0001"]
        with repo.session() as s:
            ids = []
            for v in (1, 2):
                row = SnapshotRow(policy_id=state.policy_id, version=v, body_sha256="0" * 64, url="u")
                s.add(row)
                s.flush()
                ids.append(row.id)
            s.add(ChangeRow(policy_id=state.policy_id, old_snapshot_id=ids[0], new_snapshot_id=ids[1],
                            report={}, severity="minor"))
        with pytest.raises(StoreConflict), repo.unit_of_work() as uow:
            uow.session.add(ChangeRow(policy_id=state.policy_id, old_snapshot_id=ids[0], new_snapshot_id=ids[1],
                                      report={}, severity="minor"))
    finally:
        repo.close()


def test_next_due_interval_and_cron():
    now = utcnow().replace(microsecond=0)
    assert next_due("every 30m", 0, now) == now + timedelta(minutes=30)
    assert now + timedelta(minutes=30) <= next_due("every 30m", 60, now) <= now + timedelta(minutes=31)
    cron = next_due("*/15 * * * *", 0, now)
    assert now < cron <= now + timedelta(minutes=15) and cron.minute % 15 == 0 and cron.second == 0
