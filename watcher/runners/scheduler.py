"""`watch scheduler`: syncs the config's policies into the store, then claims due policies and
enqueues one check_policy message each (watcher.store.policies.claim_due: one transaction per
batch, rows locked with SKIP LOCKED, next_due advanced with jitter, the messages sent before the
commit). Several schedulers may run at once, for availability: none claims a row another holds.
Every `DRAIN_EVERY` it also enqueues a drain of the outbox (retries of mail that failed).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

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
                  repo: Repository | None = None) -> int:
    """Run until `stop` (or one pass with `once`). Returns how many checks were enqueued."""
    stop = stop or threading.Event()
    tasks = Tasks(settings, repo=repo)
    repo = tasks.repo
    total = 0
    try:
        retired = sync_config(repo, settings)
        if retired:
            log.info("no longer in the config, not scheduled: %s", ", ".join(retired))
        last_drain = 0.0
        while True:
            n = claim_and_enqueue(repo, tasks, settings.queue.claim_batch)
            total += n
            if n:
                log.info("enqueued %d checks", n)
            if once or time.monotonic() - last_drain >= DRAIN_EVERY:
                tasks.drain_outbox.send()
                last_drain = time.monotonic()
            if once or stop.wait(settings.queue.poll):
                return total
    finally:
        tasks.close()
