"""The daemon: real APScheduler, real local web server, real SQLite; SIGTERM on a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select
from webserver import PageServer, policy_page, seed_texts

from watcher import daemon
from watcher.config import parse_settings
from watcher.store import ChangeRow, CheckRow, SnapshotRow, Store

TEXT = seed_texts()["001_b5fad133b5170cf9"]
TEXT_NEW = TEXT.replace("個人情報保護方針", "個人情報保護基本方針", 1)


def settings_for(tmp_path: Path, policies: list[dict], **fetch):
    return parse_settings({"store": {"url": "sqlite:///db/watch.db", "bodies_dir": "db/bodies"},
                           "fetch": {"retries": 0, "timeout_read": 5, **fetch},
                           "notify": {"staff": ["staff@example.com"], "outbox_dir": "outbox"},
                           "policy": policies}, base_dir=tmp_path)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def count(store, model, *where):
    with store.Session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_jobs_follow_the_schedules(tmp_path):
    settings = settings_for(tmp_path, [
        {"name": "often", "url": "http://127.0.0.1:9/a", "schedule": "every 30m", "jitter": "2m"},
        {"name": "weekly", "url": "http://127.0.0.1:9/b", "schedule": "0 9 * * 1"},
    ])
    d = daemon.Daemon(settings)
    try:
        assert d.schedule() == 2
        jobs = {job.id: job for job in d.scheduler.get_jobs()}
        often, weekly = jobs["check:often"], jobs["check:weekly"]
        assert isinstance(often.trigger, IntervalTrigger) and often.trigger.interval == timedelta(minutes=30)
        assert often.trigger.jitter == 120
        assert isinstance(weekly.trigger, CronTrigger)
        monday = weekly.trigger.get_next_fire_time(None, datetime(2026, 5, 1, 12, 0).astimezone())
        assert monday.strftime("%a %H:%M") == "Mon 09:00", "crontab weekday 1 is Monday"
        for job in (often, weekly):
            assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time >= 60
        assert str(jobs["digest"].trigger.fields[5]) == "9"       # hour of [notify].digest_time 09:00
        assert isinstance(jobs["outbox"].trigger, IntervalTrigger)
    finally:
        d.app.close()


def test_first_runs_spread_overdue_and_keep_recent():
    settings = parse_settings({"policy": [
        {"name": "new", "url": "http://x.example/a", "schedule": "every 6h"},
        {"name": "recent", "url": "http://x.example/b", "schedule": "every 6h"},
        {"name": "overdue", "url": "http://x.example/c", "schedule": "every 1h"},
        {"name": "cron-new", "url": "http://x.example/d", "schedule": "0 9 * * *"},
        {"name": "cron-old", "url": "http://x.example/e", "schedule": "0 9 * * *"},
    ]}, base_dir=Path("."))
    now_utc = datetime(2026, 5, 1, 0, 0)
    now_local = datetime(2026, 5, 1, 9, 0).astimezone()
    last = {"recent": now_utc - timedelta(hours=1), "overdue": now_utc - timedelta(hours=3),
            "cron-old": now_utc - timedelta(days=1)}
    runs = daemon.first_runs(settings.policies, last, now_utc, now_local)
    assert runs["recent"] == now_local + timedelta(hours=5)
    assert runs["cron-old"] is None
    for name in ("new", "overdue", "cron-new"):
        assert now_local < runs[name] <= now_local + timedelta(seconds=1 + daemon.START_WINDOW), name
    assert len({runs["new"], runs["overdue"], runs["cron-new"]}) == 3, "spread, not all at once"


@pytest.mark.slow
def test_daemon_checks_on_schedule_and_records_changes(tmp_path, monkeypatch):
    from watcher import config

    monkeypatch.setattr(config, "MIN_INTERVAL", 1)   # a real site gets >= 1 minute; this test runs in seconds
    with PageServer() as server:
        server.set("/a", policy_page(TEXT, nonce="n"))
        server.set("/slow", policy_page(TEXT, nonce="n"), delay=1.5)
        settings = settings_for(tmp_path, [{"name": "a", "url": server.url("/a"), "schedule": "every 1s"},
                                           {"name": "slow", "url": server.url("/slow"), "schedule": "every 1s"}])
        stop = threading.Event()
        ready = threading.Event()
        thread = threading.Thread(target=daemon.run, args=(settings,),
                                  kwargs={"install_signals": False, "stop": stop, "ready": ready, "notify": False})
        thread.start()
        store = None
        try:
            assert ready.wait(10)
            store = Store(settings.store)        # opened while the daemon checks: a store made at once
            wait_for(lambda: count(store, SnapshotRow) == 2, 10, "both first versions")
            wait_for(lambda: server.statuses[304] >= 2, 10, "conditional re-checks")
            server.set("/a", policy_page(TEXT_NEW, nonce="n"))
            wait_for(lambda: count(store, ChangeRow) == 1, 10, "the change")
            time.sleep(2)   # the slow page: 1.5 s per check, scheduled every 1 s
        finally:
            stop.set()               # whatever failed above, the daemon thread stops with the test
            thread.join(15)
        assert not thread.is_alive()
        with store.Session() as session:
            change = session.scalars(select(ChangeRow)).one()
            assert change.policy.name == "a" and change.state == "silenced"
        assert count(store, ChangeRow) == 1 and count(store, SnapshotRow) == 3
        # max_instances=1: a slow site never has two checks of the same policy at once
        assert server.max_in_flight <= 2
        slow_checks = count(store, CheckRow, CheckRow.url == server.url("/slow"))
        assert 2 <= slow_checks <= 5
        store.close()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_cleanly_with_a_check_in_flight(tmp_path):
    with PageServer() as server:
        server.set("/p", policy_page(TEXT, nonce="n"), delay=1.0)
        config = tmp_path / "config.toml"
        config.write_text(f"""
[store]
url = "sqlite:///db/watch.db"
bodies_dir = "db/bodies"
[fetch]
retries = 0
[[policy]]
name = "p"
url = "{server.url('/p')}"
schedule = "every 1h"
""", encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "watcher", "daemon", "--config", str(config), "--no-notify"],
                                cwd=tmp_path, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: server.in_flight == 1, 20, "the check to start")
            start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(20)
            took = time.monotonic() - start
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
        log = proc.stderr.read()
    assert rc == 0, log
    assert "SIGTERM received" in log and "daemon: stopped" in log
    assert took < 10
    # the check in flight was finished, not torn: one check line, one complete version
    assert [line for line in log.splitlines() if "check p:" in line][0].endswith("check p: first")
    store = Store(settings_for(tmp_path, []).store)
    with store.Session() as session:
        snap = session.scalars(select(SnapshotRow)).one()
        assert store.get_body(snap.body_sha256, verify=True)
    store.close()
