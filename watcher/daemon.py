"""`watch daemon`: the scheduler (APScheduler 3, BackgroundScheduler).

One job per policy, from its schedule ("every 6h" -> IntervalTrigger, crontab -> CronTrigger)
with its jitter, `max_instances=1` (a slow site never gets two checks at once), `coalesce=True`
(a daemon that was asleep runs a missed check once, not ten times) and a misfire grace time.
Policies never checked, or overdue, are checked soon after start, spread over a short window
so that thousands of policies do not all hit the network in the same second.

Also scheduled (unless --no-notify): the daily staff digest at [notify].digest_time
(`watcher.notify.send_daily_digest`) and a drain of the outbox every minute (`watcher.notify.drain`),
so the mails queued with each change are sent.

SIGTERM / SIGINT stop it cleanly: no new check starts, fetches in flight give up their retries,
a check already past its fetch finishes its transaction (each check is one transaction, so a
check abandoned earlier leaves nothing half-written). A second signal exits at once.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from datetime import datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from watcher import normalize
from watcher.app import App
from watcher.check import CheckOutcome
from watcher.config import PolicySettings, Settings, cron_fields
from watcher.notify import drain, send_daily_digest
from watcher.store import Repository, utcnow

log = logging.getLogger("watcher.daemon")

DRAIN_EVERY = timedelta(minutes=1)
# Overdue or never-checked policies start within this many seconds (at least), 20 ms apart at most.
START_WINDOW = 30.0
START_SPACING = 0.02
# The comparison keys of text lines (normalize.key) are cached so that the stages of one check key a
# line once; every distinct page adds its lines (~3.4 KB a page: 34 MB after a first round of 10,000
# policies, up to its 200,000 entries, ~170 MB, later). The daemon, which lives on, drops the cache
# once it holds more than this many lines (~4 MB; the checks in flight need a few hundred each).
KEY_CACHE_LINES = 5_000


def trigger_for(policy: PolicySettings, start: datetime | None = None):
    s = policy.schedule
    jitter = policy.jitter or None
    if s.kind == "interval":
        return IntervalTrigger(seconds=s.seconds, start_date=start, jitter=jitter)
    return CronTrigger(**cron_fields(s.cron), jitter=jitter)


def misfire_grace(policy: PolicySettings) -> int:
    """A check that could not start on time still runs if it is late by less than this."""
    if policy.schedule.kind == "interval":
        return int(max(60, min(policy.schedule.seconds / 2, 6 * 3600)))
    return 3600


def first_runs(policies: list[PolicySettings], last_checked: dict[str, datetime], now_utc: datetime,
               now_local: datetime) -> dict[str, datetime | None]:
    """When each interval policy first runs (local time): at its next slot after the last check, or
    soon (spread over a window) when it was never checked or is overdue. Cron policies never checked
    get one run soon too (a baseline); otherwise they follow their crontab (None)."""
    due = []
    out: dict[str, datetime | None] = {}
    for policy in policies:
        last = last_checked.get(policy.name)
        if policy.schedule.kind == "interval":
            if last is None:
                due.append(policy.name)
                continue
            next_at = last + timedelta(seconds=policy.schedule.seconds)
            if next_at <= now_utc:
                due.append(policy.name)
            else:
                out[policy.name] = now_local + (next_at - now_utc)
        else:
            if last is None:
                due.append(policy.name)
            else:
                out[policy.name] = None
    # a few policies start within seconds; many are spread out (at most START_SPACING apart on average)
    window = max(min(START_WINDOW, len(due) * 0.5), len(due) * START_SPACING)
    by_name = {p.name: p for p in policies}
    rng = random.Random(0)   # reproducible spread
    for i, name in enumerate(due):
        offset = (i + rng.random()) * window / max(len(due), 1)
        schedule = by_name[name].schedule
        if schedule.kind == "interval":
            offset = min(offset, schedule.seconds)   # never later than its own next slot
        out[name] = now_local + timedelta(seconds=1 + offset)
    return out


def _bound_key_cache() -> None:
    if normalize.key.cache_info().currsize > KEY_CACHE_LINES:
        normalize.key.cache_clear()


class Daemon:
    def __init__(self, settings: Settings, store: Repository | None = None, *, notify: bool = True,
                 stop: threading.Event | None = None):
        self.settings = settings
        self.stop = stop or threading.Event()
        self.app = App(settings, store, notify=notify, stop=self.stop)
        self.store = self.app.repo
        self.checker = self.app.checker
        self.notify = notify
        self.checks_done = 0
        self._lock = threading.Lock()
        workers = max(1, settings.fetch.concurrency)
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers),
                       "mail": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )

    def schedule(self) -> int:
        policies = self.settings.policies
        last_checked = self.store.last_checked()
        now_local = datetime.now().astimezone()
        now_utc = utcnow()
        starts = first_runs(policies, last_checked, now_utc, now_local)
        for policy in policies:
            start = starts.get(policy.name)
            if policy.schedule.kind == "interval":
                trigger = trigger_for(policy, start)
                extra = {}
            else:
                trigger = trigger_for(policy)
                extra = {"next_run_time": start} if start is not None else {}
            self.scheduler.add_job(self._check, trigger, args=[policy], id=f"check:{policy.name}",
                                   name=f"check {policy.name}", misfire_grace_time=misfire_grace(policy),
                                   max_instances=1, coalesce=True, replace_existing=True, **extra)
        if self.notify:
            self._schedule_mail()
        return len(policies)

    def _schedule_mail(self):
        hour, minute = (int(x) for x in self.settings.notify.digest_time.split(":"))
        self.scheduler.add_job(self._mail_job, CronTrigger(hour=hour, minute=minute),
                               args=["digest", send_daily_digest], id="digest", name="daily digest",
                               executor="mail", misfire_grace_time=6 * 3600, max_instances=1, coalesce=True)
        self.scheduler.add_job(self._mail_job, IntervalTrigger(seconds=DRAIN_EVERY.total_seconds()),
                               args=["outbox", drain], id="outbox", name="send queued mail", executor="mail",
                               misfire_grace_time=300, max_instances=1, coalesce=True)

    def _check(self, policy: PolicySettings) -> CheckOutcome | None:
        if self.stop.is_set():
            return None
        try:
            outcome = self.checker.check_one(policy)   # logs one line per check
        except Exception:
            log.exception("check %s: internal error", policy.name)
            return None
        finally:
            _bound_key_cache()
        with self._lock:
            self.checks_done += 1
        return outcome

    def _mail_job(self, what: str, func):
        if self.stop.is_set():
            return
        try:
            func(self.settings, self.store)
        except Exception as e:   # mail trouble must not stop the watching
            log.error("%s: %s", what, e)

    def start(self):
        n = self.schedule()
        self.scheduler.start()
        log.info("daemon: watching %d policies (store %s)", n, self.store.label())

    def shutdown(self):
        self.stop.set()
        try:
            self.scheduler.pause()                # no new submissions while the executors wind down
            self.scheduler.shutdown(wait=True)   # waits for the checks in flight to finish their transaction
        finally:
            self.app.close()
        log.info("daemon: stopped after %d checks", self.checks_done)


def run(settings: Settings, *, notify: bool = True, install_signals: bool = True,
        ready: threading.Event | None = None, stop: threading.Event | None = None) -> int:
    """Run until SIGTERM / SIGINT (or `stop` is set). Returns the exit status."""
    daemon = Daemon(settings, notify=notify, stop=stop)
    signals = {"count": 0}

    def on_signal(signum, _frame):
        signals["count"] += 1
        if signals["count"] > 1:
            log.warning("daemon: second signal, exiting now")
            raise SystemExit(130)
        log.info("daemon: %s received, stopping (checks in flight finish)", signal.Signals(signum).name)
        daemon.stop.set()

    if install_signals:
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    daemon.start()
    if ready is not None:
        ready.set()
    try:
        while not daemon.stop.wait(1.0):
            pass
    finally:
        daemon.shutdown()
    return 0


__all__ = ["Daemon", "first_runs", "misfire_grace", "run", "trigger_for"]
