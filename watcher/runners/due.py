"""When a policy's next check is due: its schedule ("every 6h" or a crontab, in local time as the
daemon reads it) from `now`, plus a random share of its jitter (so checks of many policies on one
schedule spread out instead of arriving at the site together)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from watcher.config import cron_fields, parse_schedule

DEFAULT_SCHEDULE = "every 6h"


def next_due(schedule: str, jitter: float, now: datetime, rng: random.Random | None = None) -> datetime:
    """The next due time (naive UTC, as the store keeps times) after `now` (naive UTC)."""
    s = parse_schedule(schedule or DEFAULT_SCHEDULE)
    spread = timedelta(seconds=(rng or random).uniform(0, jitter)) if jitter else timedelta(0)
    if s.kind == "interval":
        return now + timedelta(seconds=s.seconds) + spread
    local_now = now.replace(tzinfo=UTC).astimezone()
    fire = CronTrigger(**cron_fields(s.cron)).get_next_fire_time(None, local_now + timedelta(seconds=1))
    return fire.astimezone(UTC).replace(tzinfo=None) + spread


def advance(policy, now: datetime) -> datetime:
    """next_due for a stored policy (a watcher.store PolicySpec): its spec's schedule and jitter."""
    spec = policy.spec or {}
    jitter = spec.get("jitter", 0)
    return next_due(policy.schedule or spec.get("schedule", ""), jitter if isinstance(jitter, int | float) else 0, now)
