"""Helpers for the queue tests and the worker benchmark: a per-run namespace on the REAL RabbitMQ
and Redis of this machine (queues and limiter keys deleted afterwards, so runs never see each
other's messages), a config with a [queue] section, and reading what the store recorded."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections import Counter
from pathlib import Path

import pika
import redis
from sqlalchemy import func, select

from watcher.config import StoreSettings
from watcher.store import ChangeRow, CheckRow, Delivery, PolicyRow, Repository

RABBITMQ = ("127.0.0.1", 5672)
REDIS = ("127.0.0.1", 6379)
USER, STAFF = "subscriber@example.net", "privacy@example.org"


def reachable(addr) -> bool:
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(addr)
        return True
    except OSError:
        return False
    finally:
        s.close()


def new_namespace() -> str:
    return f"watchtest-{uuid.uuid4().hex[:10]}"


def cleanup(namespace: str) -> None:
    """Delete the namespace's queues (with Dramatiq's delay and dead-letter queues) and limiter keys."""
    conn = pika.BlockingConnection(pika.ConnectionParameters(*RABBITMQ))
    try:
        channel = conn.channel()
        for kind in ("check", "browser", "notify"):
            for suffix in ("", ".DQ", ".XQ"):
                channel.queue_delete(f"{namespace}.{kind}{suffix}")
    finally:
        conn.close()
    client = redis.Redis(*REDIS)
    keys = list(client.scan_iter(f"{namespace}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def queue_depth(namespace: str, kind: str = "check", suffixes=("", ".DQ")) -> int:
    """Messages ready in a queue (and its delay queue); ".XQ" is Dramatiq's dead-letter queue."""
    conn = pika.BlockingConnection(pika.ConnectionParameters(*RABBITMQ))
    try:
        channel = conn.channel()
        return sum(channel.queue_declare(f"{namespace}.{kind}{s}", passive=True).method.message_count
                   for s in suffixes)
    finally:
        conn.close()


def write_config(tmp_path: Path, store_url: str, namespace: str, *, per_host: int = 2, time_limit: float = 60,
                 max_retries: int = 3, threads: int = 4, policies: str = "", busy_delay: float = 0.5) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f"""[store]
url = "{store_url}"
bodies_dir = "bodies"

[fetch]
per_host = {per_host}
retries = 0
timeout_read = 20

[notify]
staff = ["{STAFF}"]
outbox_dir = "outbox"

[queue]
broker = "amqp://guest@127.0.0.1:5672/%2F"
broker_password_env = "WATCH_TEST_BROKER_PASSWORD"
limiter = "redis://127.0.0.1:6379/0"
namespace = "{namespace}"
time_limit = {time_limit}
max_retries = {max_retries}
min_backoff = 0.2
max_backoff = 2
busy_delay = {busy_delay}
poll = 0.2
threads = {threads}
{policies}""", encoding="utf-8")
    return config


def import_file(tmp_path: Path, urls: dict[str, str], **extra) -> Path:
    path = tmp_path / "policies.jsonl"
    path.write_text("".join(json.dumps({"name": name, "url": url, "users": [USER], "schedule": "every 1h", **extra})
                            + "\n" for name, url in urls.items()), encoding="utf-8")
    return path


class Recorded:
    """What the store holds: checks per policy, changes per pair, deliveries per (change, recipient)."""

    def __init__(self, store_url: str, tmp_path: Path):
        self.repo = Repository(StoreSettings(url=store_url, bodies_dir=tmp_path / "bodies"))

    def close(self):
        self.repo.close()

    def checks(self) -> Counter:
        with self.repo.session() as s:
            return Counter(dict(s.execute(select(PolicyRow.name, func.count(CheckRow.id))
                                          .join(CheckRow, CheckRow.policy_id == PolicyRow.id)
                                          .group_by(PolicyRow.name)).all()))

    def outcomes(self) -> Counter:
        with self.repo.session() as s:
            return Counter(dict(s.execute(select(CheckRow.outcome, func.count()).group_by(CheckRow.outcome)).all()))

    def changes(self) -> list[tuple[str, int, int]]:
        with self.repo.session() as s:
            return list(s.execute(select(PolicyRow.name, ChangeRow.old_snapshot_id, ChangeRow.new_snapshot_id)
                                  .join(PolicyRow, PolicyRow.id == ChangeRow.policy_id)).all())

    def deliveries(self) -> Counter:
        with self.repo.session() as s:
            return Counter(s.execute(select(Delivery.change_id, Delivery.recipient)).all())


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
