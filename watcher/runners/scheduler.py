"""`watch scheduler`: syncs the config's policies into the store, then claims due policies and
enqueues one check_policy message each (watcher.store.policies.claim_due: one transaction per
batch, rows locked with SKIP LOCKED, next_due advanced with jitter, the messages sent before the
commit). Several schedulers may run at once, for availability: none claims a row another holds.
Every `DRAIN_EVERY` it also enqueues a drain of the outbox (retries of mail that failed), and at
[notify].digest_time (local time, as the single-process daemon) the daily staff digest: one
send_digest message a day per scheduler; a second build finds nothing left to send.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from watcher.config import Settings
from watcher.runners.due import advance
from watcher.runners.specs import spec_of
from watcher.runners.tasks import Tasks
from watcher.store import Repository, utcnow

log = logging.getLogger("watcher.runners.scheduler")

DRAIN_EVERY = 60.0


@dataclass
class Pass:
    claimed: int = 0
    retired: int = 0


def sync_config(repo: Repository, settings: Settings) -> list[str]:
    """The config's policies as data (source "config"); those no longer in it stop being scheduled."""
    repo.put_policies([spec_of(p) for p in settings.policies], source="config")
    return repo.retire_policies({p.name for p in settings.policies}, source="config")


def next_digest_at(digest_time: str, after: datetime) -> datetime:
    """The first `digest_time` ("HH:MM" in `after`'s time zone) strictly after `after`."""
    hour, minute = (int(x) for x in digest_time.split(":"))
    at = after.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return at if at > after else at + timedelta(days=1)


def _local_now() -> datetime:
    return datetime.now().astimezone()


def claim_and_enqueue(repo: Repository, tasks: Tasks, batch: int) -> int:
    """Claim every policy due now, `batch` per transaction, and enqueue their checks."""
    total = 0
    while True:
        def enqueue(claimed):
            for policy in claimed:
                tasks.send_check(policy.name, (policy.spec or {}).get("fetch", "auto"))

        claimed = repo.claim_due(limit=batch, advance=advance, enqueue=enqueue, now=utcnow())
        total += len(claimed)
        if len(claimed) < batch:
            return total


def run_scheduler(settings: Settings, *, once: bool = False, stop: threading.Event | None = None,
                  repo: Repository | None = None, clock: Callable[[], datetime] = _local_now) -> int:
    """Run until `stop` (or one pass with `once`, which sends no digest). Returns how many checks
    were enqueued. `clock` is the local time (aware) the digest is timed by."""
    stop = stop or threading.Event()
    tasks = Tasks(settings, repo=repo)
    repo = tasks.repo
    total = 0
    try:
        retired = sync_config(repo, settings)
        if retired:
            log.info("no longer in the config, not scheduled: %s", ", ".join(retired))
        last_drain = 0.0
        digest_at = next_digest_at(settings.notify.digest_time, clock())
        while True:
            n = claim_and_enqueue(repo, tasks, settings.queue.claim_batch)
            total += n
            if n:
                log.info("enqueued %d checks", n)
            now = clock()
            if not once and now >= digest_at:
                tasks.send_digest.send()
                log.info("daily digest enqueued (%s)", settings.notify.digest_time)
                digest_at = next_digest_at(settings.notify.digest_time, now)
            if once or time.monotonic() - last_drain >= DRAIN_EVERY:
                tasks.drain_outbox.send()
                last_drain = time.monotonic()
            if once or stop.wait(settings.queue.poll):
                return total
    finally:
        tasks.close()
