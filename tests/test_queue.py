"""Scale-out (issue 12) against the REAL RabbitMQ, Redis and PostgreSQL of this machine: policies
imported as data, schedulers claiming due policies, Dramatiq workers checking them through the same
check_one, a per-host limiter shared by every worker, and nothing recorded twice. Each test has
its own queue namespace (queues and limiter keys are deleted afterwards)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from dramatiq.rate_limits import ConcurrentRateLimiter
from queuetools import (
    RABBITMQ,
    REDIS,
    STAFF,
    USER,
    Recorded,
    cleanup,
    import_file,
    new_namespace,
    queue_depth,
    reachable,
    wait_for,
    write_config,
)
from webserver import PageServer, policy_page

from watcher.config import load_settings
from watcher.runners.scheduler import next_digest_at, run_scheduler
from watcher.runners.tasks import Tasks
from watcher.runners.worker import run_worker

CORPUS = Path(__file__).parent / "data" / "corpus" / "pairs"
PAIR = "d01-enmono-purpose-ad-targeting"         # a consent change: users and staff are mailed
SERVICES = reachable(RABBITMQ) and reachable(REDIS)
needs_services = pytest.mark.skipif(not SERVICES, reason="RabbitMQ (5672) or Redis (6379) not reachable")


def pages() -> tuple[bytes, bytes]:
    d = CORPUS / PAIR
    return (policy_page((d / "old.txt").read_text(encoding="utf-8")),
            policy_page((d / "new.txt").read_text(encoding="utf-8")))


@pytest.fixture(autouse=True)
def broker_password(monkeypatch):
    """The broker's password comes from the environment (the config names the variable)."""
    monkeypatch.setenv("WATCH_TEST_BROKER_PASSWORD", "guest")


@pytest.fixture
def namespace():
    ns = new_namespace()
    yield ns
    if SERVICES:
        cleanup(ns)


@pytest.fixture
def servers():
    """One page server per local host name (127.0.0.2-4): each counts its own concurrent requests."""
    started = [PageServer(host=f"127.0.0.{i}").start() for i in (2, 3, 4)]
    yield started
    for s in started:
        s.stop()


class InProcessWorker:
    """A dramatiq worker (watcher.runners.worker.run_worker) in a thread of this process."""

    def __init__(self, settings, threads: int = 4):
        self.stop = threading.Event()
        self.thread = threading.Thread(target=run_worker, args=(settings,),
                                       kwargs={"threads": threads, "stop": self.stop}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(40)


# ---------------------------------------------------------------- nothing of it without [queue]


def test_without_a_queue_section_nothing_of_dramatiq_is_imported(tmp_path, servers):
    old, _ = pages()
    servers[0].set("/p", old)
    (tmp_path / "config.toml").write_text(f'[store]\nurl = "sqlite:///watch.db"\n\n[[policy]]\nname = "a"\n'
                                          f'url = "{servers[0].url("/p")}"\n', encoding="utf-8")
    import_file(tmp_path, {"b": servers[0].url("/p")})
    probe = (
        "import sys\n"
        "from watcher.cli import main\n"
        "codes = [main(['check', '--no-notify']), main(['import', 'policies.jsonl']), main(['export'])]\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'dramatiq', 'redis', 'pika'})\n"
        "print('RESULT', codes, loaded, 'watcher.runners.tasks' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "RESULT [0, 0, 0] [] False" in out.stdout, out.stdout + out.stderr


def test_scheduler_and_worker_need_a_queue_section(tmp_path, watch):
    (tmp_path / "config.toml").write_text('[store]\nurl = "sqlite:///watch.db"\n', encoding="utf-8")
    for command in ("scheduler", "worker"):
        r = watch(command, "--once" if command == "scheduler" else "--in-process", cwd=tmp_path)
        assert r.returncode == 2 and "no [queue] section" in r.stderr and r.stderr.count("\n") == 1, r.stderr


# ---------------------------------------------------------------- import / export


def test_import_toml_csv_jsonl_then_export_round_trip(tmp_path, watch, store_url):
    (tmp_path / "config.toml").write_text(f'[store]\nurl = "{store_url}"\nbodies_dir = "bodies"\n\n'
                                          '[[policy]]\nname = "in-config"\nurl = "https://example.com/c"\n',
                                          encoding="utf-8")
    (tmp_path / "local.html").write_text("<p>x</p>", encoding="utf-8")
    (tmp_path / "a.toml").write_text('[[policy]]\nname = "t1"\nurl = "https://example.com/t1"\nschedule = "every 2h"\n'
                                     'jitter = "10m"\nusers = ["u@example.net"]\nremove = [".ad", "nav a"]\n\n'
                                     '[[policy]]\nname = "t2"\nurl = "local.html"\nlanguage = "en"\n', encoding="utf-8")
    (tmp_path / "b.csv").write_text('name,url,schedule,users,confirm\nc1,https://example.com/c1,0 9 * * 1,'
                                    'a@example.net;b@example.net,2\n# a comment row\nc2,https://example.com/c2,,,\n',
                                    encoding="utf-8")
    (tmp_path / "c.jsonl").write_text(json.dumps({"name": "j1", "url": "https://example.com/日本語", "select": "main"},
                                                 ensure_ascii=False) + "\n\n", encoding="utf-8")
    for f, n in (("a.toml", 2), ("b.csv", 2), ("c.jsonl", 1)):
        r = watch("import", f, cwd=tmp_path)
        assert r.returncode == 0 and f"{n} policies imported" in r.stdout, r.stderr
    r = watch("export", cwd=tmp_path)
    exported = {s["name"]: s for s in map(json.loads, r.stdout.splitlines())}
    assert sorted(exported) == ["c1", "c2", "j1", "t1", "t2"]
    assert exported["t1"]["jitter"] == 600 and exported["t1"]["remove"] == [".ad", "nav a"]
    assert exported["t2"]["url"] == (tmp_path / "local.html").resolve().as_uri() and exported["t2"]["language"] == "en"
    assert exported["c1"]["users"] == ["a@example.net", "b@example.net"] and exported["c1"]["confirm"] == 2
    assert exported["c2"]["schedule"] == "every 6h"
    # every format reads back to the same policies
    for fmt in ("toml", "csv", "jsonl"):
        out = tmp_path / f"export.{fmt}"
        assert watch("export", "--format", fmt, "-o", out, cwd=tmp_path).returncode == 0
        r = watch("import", out, cwd=tmp_path)
        assert r.returncode == 0 and "(0 new, 0 updated, 5 unchanged)" in r.stdout, (fmt, r.stdout, r.stderr)


@pytest.mark.parametrize("name,text,error", [
    ("bad.csv", "name,url\nok,https://example.com/a\nbad,ftp://example.com/b\n",
     "bad.csv: line 3.url: unsupported URL scheme 'ftp'"),
    ("bad.jsonl", '{"name": "a", "url": "https://example.com/a"}\n{"name": "b", "url": \n',
     "bad.jsonl: line 2: invalid JSON"),
    ("bad.toml", '[[policy]]\nname = "a"\nurl = "https://example.com/a"\nschedul = "every 1h"\n',
     "bad.toml: policy[1].schedul: unknown key"),
    ("dup.jsonl", '{"name": "a", "url": "https://example.com/a"}\n{"name": "a", "url": "https://example.com/b"}\n',
     "dup.jsonl: line 2.name: duplicate policy name 'a' (first at line 1)"),
    ("clash.jsonl", '{"name": "in-config", "url": "https://example.com/a"}\n', "is defined in config.toml"),
    ("policies.xml", "<x/>", "cannot tell the format"),
])
def test_a_bad_import_is_one_line_and_writes_nothing(tmp_path, watch, name, text, error):
    (tmp_path / "config.toml").write_text('[store]\nurl = "sqlite:///watch.db"\n\n'
                                          '[[policy]]\nname = "in-config"\nurl = "https://example.com/c"\n',
                                          encoding="utf-8")
    (tmp_path / name).write_text(text, encoding="utf-8")
    r = watch("import", name, cwd=tmp_path)
    assert r.returncode == 2 and error in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert watch("export", cwd=tmp_path).stdout == ""


# ---------------------------------------------------------------- workers


@needs_services
def test_scheduler_and_worker_check_each_policy_and_mail_each_change_once(tmp_path, pg_url, namespace, servers, watch):
    old, new = pages()
    urls = {}
    for i in range(12):
        server = servers[i % 3]
        server.set(f"/p{i}", old)
        urls[f"p{i:02d}"] = server.url(f"/p{i}")
    config = write_config(tmp_path, pg_url, namespace)
    assert watch("import", import_file(tmp_path, urls), cwd=tmp_path).returncode == 0
    settings = load_settings(config)
    assert run_scheduler(settings, once=True) == 12
    assert run_scheduler(settings, once=True) == 0          # claimed: not due again for an hour
    recorded = Recorded(pg_url, tmp_path)
    try:
        with InProcessWorker(settings):
            wait_for(lambda: sum(recorded.checks().values()) >= 12, 30, "12 first checks")
            for i in range(0, 12, 2):
                servers[i % 3].set(f"/p{i}", new)
            tasks = Tasks(settings)
            try:
                for name in urls:       # every check sent twice: a redelivery must record nothing twice
                    tasks.send_check(name)
                    tasks.send_check(name)
            finally:
                tasks.close()
            wait_for(lambda: sum(recorded.checks().values()) >= 36, 30, "36 checks")
            wait_for(lambda: len(recorded.deliveries()) >= 12 and queue_depth(namespace, "notify") == 0, 20,
                     "mails of 6 changes")
        changes = recorded.changes()
        assert sorted(name for name, _, _ in changes) == [f"p{i:02d}" for i in range(0, 12, 2)]
        deliveries = recorded.deliveries()
        assert set(deliveries.values()) == {1}                      # every mail queued once
        assert {r for _, r in deliveries} == {USER, STAFF} and len(deliveries) == 12
        assert recorded.outcomes() == {"first": 12, "changed": 6, "unchanged": 18}
        assert len(list((tmp_path / "outbox").glob("*.eml"))) == 12  # and drained by the notify actor
        assert all(s.max_in_flight <= 2 for s in servers)
    finally:
        recorded.close()


@needs_services
def test_a_busy_host_sends_the_check_again_later_without_using_a_retry(tmp_path, pg_url, namespace, servers, watch):
    old, _ = pages()
    servers[0].set("/p", old)
    # max_retries = 0: were a busy host an error, the message would be dead-lettered and never checked
    config = write_config(tmp_path, pg_url, namespace, per_host=1, max_retries=0, busy_delay=0.3)
    assert watch("import", import_file(tmp_path, {"busy": servers[0].url("/p")}), cwd=tmp_path).returncode == 0
    settings = load_settings(config)
    tasks = Tasks(settings)
    recorded = Recorded(pg_url, tmp_path)
    held = ConcurrentRateLimiter(tasks.backend, f"{namespace}:host:127.0.0.2", limit=1, ttl=60_000)
    try:
        with InProcessWorker(settings):
            with held.acquire():             # another worker holds the host's only slot
                tasks.send_check("busy")
                time.sleep(3.0)              # longer than BUSY_WAIT: the check has sent itself again, maybe twice
                assert servers[0].hits["/p"] == 0 and not recorded.checks()
                assert queue_depth(namespace, "check", suffixes=(".XQ",)) == 0     # not dead-lettered
            wait_for(lambda: recorded.checks().get("busy") == 1, 20, "the check once the host is free")
        assert recorded.checks() == {"busy": 1} and servers[0].hits["/p"] == 1
        assert queue_depth(namespace, "check", suffixes=("", ".DQ", ".XQ")) == 0
    finally:
        recorded.close()
        tasks.close()


# ---------------------------------------------------------------- many processes, one killed


@needs_services
@pytest.mark.slow
def test_two_schedulers_three_workers_200_policies_one_worker_killed(tmp_path, pg_url, namespace, servers, watch):
    """Two schedulers and three worker processes check 200 policies on three local host names; a
    worker is killed with SIGKILL in the middle of a check: every policy is checked, every change
    recorded once and every mail queued once, and no host ever sees more than per_host requests."""
    old, new = pages()
    slow = PageServer(host="127.0.0.5").start()      # a host of its own for the checks the kill interrupts
    urls = {}
    for i in range(200):
        server = servers[i % 3]
        server.set(f"/p{i}", old, delay=0.01)
        urls[f"p{i:03d}"] = server.url(f"/p{i}")
    for i in range(2):
        slow.set(f"/s{i}", old, delay=1.5)
        urls[f"slow{i}"] = slow.url(f"/s{i}")
    config = write_config(tmp_path, pg_url, namespace, per_host=2, time_limit=4, threads=3)
    assert watch("import", import_file(tmp_path, urls), cwd=tmp_path).returncode == 0
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    supervisor = subprocess.Popen([sys.executable, "-m", "watcher", "--config", config, "worker", "--processes", "3",
                                   "--log-level", "WARNING"], env=env, cwd=tmp_path,
                                  stderr=open(tmp_path / "workers.log", "w"))
    recorded = Recorded(pg_url, tmp_path)
    try:
        schedulers = [subprocess.Popen([sys.executable, "-m", "watcher", "--config", config, "scheduler", "--once",
                                        "--log-level", "WARNING"], stdout=subprocess.PIPE, text=True, env=env)
                      for _ in range(2)]
        counts = [int(p.communicate(timeout=60)[0].split()[0]) for p in schedulers]
        assert sum(counts) == 202                          # each policy claimed by exactly one scheduler
        # kill the worker process that holds a slow check, mid-fetch
        wait_for(lambda: slow.in_flight > 0, 20, "a slow check in flight")
        children = [int(p) for p in subprocess.run(["pgrep", "-P", str(supervisor.pid)], capture_output=True,
                                                   text=True).stdout.split()]
        victim = _holding_connection(children, slow.port)
        assert victim is not None, children
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(recorded.checks()) == 202, 40, "every policy checked")
        for i in range(0, 200, 10):                         # 20 policies change
            servers[i % 3].set(f"/p{i}", new, delay=0.01)
        tasks = Tasks(load_settings(config))
        try:
            for name in urls:
                if not name.startswith("slow"):
                    tasks.send_check(name)
        finally:
            tasks.close()
        wait_for(lambda: sum(recorded.checks().values()) >= 402, 40, "the second round")
        wait_for(lambda: len(recorded.deliveries()) >= 40 and queue_depth(namespace, "notify") == 0, 20, "mails")
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(40)
        slow.stop()
        recorded.close()
    checks = recorded.checks()
    assert checks["slow0"] == checks["slow1"] == 1                # the killed check was done again, once
    # A check the killed worker had committed but not yet acknowledged (the ack goes out on the
    # consumer's next poll) is delivered again: one more "unchanged" check row for that policy, never
    # a second version, change or mail (asserted below). At most one per thread of the victim.
    assert 402 <= sum(checks.values()) <= 402 + 3 and max(checks.values()) <= 3, checks
    changes = recorded.changes()
    assert sorted(n for n, _, _ in changes) == sorted(f"p{i:03d}" for i in range(0, 200, 10))
    assert len({(o, n) for _, o, n in changes}) == len(changes)
    deliveries = recorded.deliveries()
    assert len(deliveries) == 40 and set(deliveries.values()) == {1}
    assert all(s.max_in_flight <= 2 for s in [*servers, slow]), [s.max_in_flight for s in servers]
    log = (tmp_path / "workers.log").read_text()
    assert f"(pid {victim}) exited with -9; starting another" in log, log[-2000:]


def _holding_connection(pids: list[int], port: int) -> int | None:
    """The process among `pids` with a TCP connection to `port` (read from /proc)."""
    for pid in pids:
        try:
            inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
                      if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")}
            with open(f"/proc/{pid}/net/tcp") as fh:
                for line in fh.readlines()[1:]:
                    fields = line.split()
                    if int(fields[2].split(":")[1], 16) == port and fields[9] in inodes:
                        return pid
        except OSError:
            continue
    return None


# ---------------------------------------------------------------- the daily digest under workers


def test_the_next_digest_time_is_strictly_after_now():
    jst = timezone(timedelta(hours=9))
    assert next_digest_at("09:00", datetime(2026, 12, 1, 8, 59, tzinfo=jst)) == datetime(2026, 12, 1, 9, 0, tzinfo=jst)
    assert next_digest_at("09:00", datetime(2026, 12, 1, 9, 0, tzinfo=jst)) == datetime(2026, 12, 2, 9, 0, tzinfo=jst)
    assert next_digest_at("00:30", datetime(2026, 12, 31, 23, 0, tzinfo=jst)) == datetime(2027, 1, 1, 0, 30, tzinfo=jst)


@needs_services
def test_two_schedulers_at_digest_time_send_staff_one_digest_that_a_worker_mails(tmp_path, pg_url, namespace, servers):
    servers[0].set("/down", b"", status=500)
    config = write_config(tmp_path, pg_url, namespace,
                          policies=f'[[policy]]\nname = "down"\nurl = "{servers[0].url("/down")}"\n')
    settings = load_settings(config)
    hour, minute = (int(x) for x in settings.notify.digest_time.split(":"))
    due = datetime(2026, 12, 1, hour, minute, tzinfo=UTC)

    def clock_crossing_the_digest_time():
        calls = iter(range(10 ** 9))     # the first reading is a minute before it, every later one after it
        return lambda: due + timedelta(minutes=-1 if next(calls) == 0 else 1)

    recorded = Recorded(pg_url, tmp_path)
    outbox = tmp_path / "outbox"
    try:
        with InProcessWorker(settings):
            tasks = Tasks(settings)
            try:
                for _ in range(settings.fetch.failures_before_alert):    # an alert waits for the digest
                    tasks.send_check("down")
            finally:
                tasks.close()
            wait_for(lambda: recorded.outcomes().get("failed", 0) >= settings.fetch.failures_before_alert, 30,
                     "failed checks")
            assert not list(outbox.glob("*.eml"))
            stop = threading.Event()
            schedulers = [threading.Thread(target=run_scheduler, args=(settings,),
                                           kwargs={"stop": stop, "clock": clock_crossing_the_digest_time()})
                          for _ in range(2)]
            for t in schedulers:
                t.start()
            try:
                wait_for(lambda: list(outbox.glob("*.eml")), 30, "the digest mail")
                wait_for(lambda: queue_depth(namespace, "notify") == 0, 20, "both digest messages handled")
                time.sleep(1)
            finally:
                stop.set()
                for t in schedulers:
                    t.join(20)
        mails = [p.read_text(encoding="utf-8", errors="replace") for p in outbox.glob("*.eml")]
        assert len(mails) == 1, "two schedulers, one digest"
        assert STAFF in mails[0] and "500" in mails[0]
    finally:
        recorded.close()
