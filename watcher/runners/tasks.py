"""Dramatiq on RabbitMQ: the broker, the per-host limiter in Redis, and the actors.

Each actor is one line into the library, the same code the CLI and the daemon run:
  check_policy(name)          -> watcher.app's checker.check_one(policy)     queue <ns>.check
  check_policy_browser(name)  -> the same, for policies fetched by a browser   queue <ns>.browser
  drain_outbox()              -> watcher.notify.drain(settings, store)         queue <ns>.notify

Dramatiq acks a message only after its actor returned, so a worker killed mid-check has its
message redelivered; the check is idempotent (the same bytes are "unchanged"; a version stored
meanwhile makes the store raise Raced; a change is unique per (old, new) snapshot pair), so a
redelivery records nothing twice. Limits are explicit: `time_limit` and `max_backoff` stay under
RabbitMQ's 30-minute consumer timeout (Dramatiq's default back-off reaches 7 days).

Per host, every worker together runs at most `[fetch] per_host` checks at once: a
ConcurrentRateLimiter in Redis keyed by the host, its TTL near the task time limit (a killed
worker's slot is freed when it expires). A check that finds its host busy waits a moment, then
sends itself again with a delay and returns: a busy site costs no retries. Taking and giving back
a slot is one Redis round trip each (HostLimiter: a Lua script), not Dramatiq's optimistic
WATCH/GET/MULTI/EXEC loop (four round trips to take, three to give back, and again on every
conflict while the threads of all workers race for a host's key).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from dataclasses import fields
from urllib.parse import urlsplit

import dramatiq
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

from watcher.app import open_app
from watcher.config import PolicySettings, QueueSettings, Settings
from watcher.errors import ConfigError
from watcher.fetch.base import host_key
from watcher.notify import drain, send_daily_digest
from watcher.runners.specs import settings_of
from watcher.store import Repository, open_store

log = logging.getLogger("watcher.runners")

QUEUES = ("check", "browser", "notify")
BUSY_WAIT = 2.0           # seconds a check waits for a busy host's slot before it re-sends itself
LIMITER_SLACK = 60.0      # the limiter's TTL: the task time limit plus up to this (a quarter of it at most)
STORE_POLICY_CACHE = 10_000


# KEYS[1] the host's counter; ARGV: amount, bound (maximum to take, minimum to give back), ttl in ms.
# The same counter Dramatiq's ConcurrentRateLimiter keeps (a plain integer with a TTL), so both
# kinds of limiter share a host's slots.
_TAKE = """local v = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1])
if v > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], v, 'PX', ARGV[3])
return 1"""
_GIVE = """local v = tonumber(redis.call('GET', KEYS[1]) or '0') - tonumber(ARGV[1])
if v < tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], v, 'PX', ARGV[3])
return 1"""


class HostLimiter(ConcurrentRateLimiter):
    """Dramatiq's ConcurrentRateLimiter with one atomic script call to take a slot and one to give it back."""

    def __init__(self, scripts, key: str, *, limit: int, ttl: int):
        super().__init__(None, key, limit=limit, ttl=ttl)
        self.take, self.give = scripts

    def _acquire(self) -> bool:
        return bool(self.take(keys=[self.key], args=[1, self.limit, self.ttl]))

    def _release(self) -> bool:
        return bool(self.give(keys=[self.key], args=[1, 0, self.ttl]))


def queue_names(q: QueueSettings) -> dict[str, str]:
    return {kind: f"{q.namespace}.{kind}" for kind in QUEUES}


def make_broker(q: QueueSettings) -> RabbitmqBroker:
    """The RabbitMQ broker (publisher confirms on: a message sent is a message RabbitMQ has)."""
    url = q.broker_url()
    parts = urlsplit(url)
    if parts.username and not parts.password:
        raise ConfigError(f"queue.broker: user {parts.username!r} needs a password: set the environment variable "
                          f"{q.broker_password_env or '(queue.broker_password_env)'}")
    broker = RabbitmqBroker(url=url, confirm_delivery=True)
    dramatiq.set_broker(broker)
    return broker


class WorkerSettings(Settings):
    """Settings whose policy() also knows the policies a worker read from the store, so that the
    notification planner finds their recipients as it finds a config policy's."""

    def __init__(self, settings: Settings):
        super().__init__(**{f.name: getattr(settings, f.name) for f in fields(Settings)})
        self._stored: OrderedDict[str, PolicySettings] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, policy: PolicySettings) -> None:
        with self._lock:
            self._stored[policy.name] = policy
            self._stored.move_to_end(policy.name)
            while len(self._stored) > STORE_POLICY_CACHE:
                self._stored.popitem(last=False)

    def policy(self, name: str) -> PolicySettings:
        with self._lock:
            found = self._stored.get(name)
        return found if found is not None else super().policy(name)

    def has_policy(self, name: str) -> bool:
        with self._lock:
            if name in self._stored:
                return True
        return super().has_policy(name)


class Tasks:
    """The actors of one process, bound to its broker, its store and (lazily) its limiter."""

    def __init__(self, settings: Settings, broker: RabbitmqBroker | None = None, repo: Repository | None = None):
        if settings.queue is None:
            raise ConfigError(f"{settings.path or 'config.toml'}: no [queue] section (broker, limiter) for workers")
        self.settings = WorkerSettings(settings)
        self.q = settings.queue
        self.queues = queue_names(self.q)
        self.broker = broker or make_broker(self.q)
        self._repo, self._own_repo = repo, repo is None
        self._local = threading.local()
        self._backend: RedisBackend | None = None
        self._scripts = None
        self._lock = threading.Lock()
        options = {"max_retries": self.q.max_retries, "min_backoff": int(self.q.min_backoff * 1000),
                   "max_backoff": int(self.q.max_backoff * 1000), "time_limit": int(self.q.time_limit * 1000)}
        self.check_policy = dramatiq.actor(self._check, actor_name="check_policy", broker=self.broker,
                                           queue_name=self.queues["check"], **options)
        self.check_policy_browser = dramatiq.actor(self._check, actor_name="check_policy_browser", broker=self.broker,
                                                   queue_name=self.queues["browser"], **options)
        self.drain_outbox = dramatiq.actor(self._drain, actor_name="drain_outbox", broker=self.broker,
                                           queue_name=self.queues["notify"], **options)
        self.send_digest = dramatiq.actor(self._digest, actor_name="send_digest", broker=self.broker,
                                          queue_name=self.queues["notify"], **options)

    # -------------------------------------------------- sending

    @property
    def limiter_ttl_ms(self) -> int:
        """A host slot expires this long after it was taken: a task never outlives its slot, and the
        slot of a worker killed mid-check is free again soon after its task would have timed out."""
        return int((self.q.time_limit + min(LIMITER_SLACK, self.q.time_limit / 4)) * 1000)

    def send_check(self, name: str, fetch: str = "auto", *, delay: float | None = None) -> None:
        actor = self.check_policy_browser if fetch == "browser" else self.check_policy
        actor.send_with_options(args=(name,), delay=int(delay * 1000) if delay else None)

    # -------------------------------------------------- the actors' bodies

    def _check(self, name: str):
        try:
            policy = self.policy(name)
        except ConfigError as e:     # a stored table that no longer validates: retrying will not mend it
            log.error("check %s: skipped: %s", name, e)
            return None
        if policy is None:
            log.warning("check %s: no such policy (removed since it was enqueued); skipped", name)
            return None
        host = host_key(policy.url)
        if not host:
            return self._check_one(policy)    # a local file: no site to be polite to
        limiter = HostLimiter(self.scripts, f"{self.q.namespace}:host:{host}", limit=self.settings.fetch.per_host,
                              ttl=self.limiter_ttl_ms)
        deadline = time.monotonic() + BUSY_WAIT
        pause = 0.02
        while True:
            with limiter.acquire(raise_on_failure=False) as acquired:
                if acquired:
                    return self._check_one(policy)
            if time.monotonic() >= deadline:
                break
            time.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(pause * 2, 0.5)
        # busy: try again later, as a new message (a retry would burn the message's retries)
        self.send_check(name, policy.fetch, delay=self.q.busy_delay * random.uniform(0.5, 1.5))
        log.info("check %s: host %s busy; sent again", name, host)
        return None

    def _check_one(self, policy: PolicySettings) -> None:
        outcome = self.app().checker.check_one(policy)
        if outcome.change_id is not None:
            self.drain_outbox.send()        # its mails go out now, not at the next scheduled drain

    def _drain(self) -> None:
        drain(self.settings, self.repo)

    def _digest(self) -> None:
        # Two schedulers may both send it: the second build finds every item taken (DigestRace) and
        # queues nothing, so staff get one digest a day whatever runs.
        send_daily_digest(self.settings, self.repo)

    # -------------------------------------------------- resources (one store, one checker per thread)

    @property
    def repo(self) -> Repository:
        with self._lock:
            if self._repo is None:
                self._repo = open_store(self.settings.store)
            return self._repo

    @property
    def backend(self) -> RedisBackend:
        with self._lock:
            if self._backend is None:
                self._backend = RedisBackend(client=redis.Redis.from_url(self.q.limiter_url()))
            return self._backend

    @property
    def scripts(self):
        """The limiter's two scripts (redis-py sends EVALSHA, loading a script the server lost)."""
        client = self.backend.client
        with self._lock:
            if self._scripts is None:
                self._scripts = (client.register_script(_TAKE), client.register_script(_GIVE))
            return self._scripts

    def app(self):
        app = getattr(self._local, "app", None)
        if app is None:
            app = self._local.app = open_app(self.settings, self.repo)
            with self._lock:
                self._apps = [*getattr(self, "_apps", []), app]
        return app

    def policy(self, name: str) -> PolicySettings | None:
        """A policy of the config, else the store's table of it (read again each time: an import
        takes effect at the next check)."""
        if Settings.has_policy(self.settings, name):
            return Settings.policy(self.settings, name)
        stored = self.repo.policy_spec(name)
        if stored is None:
            return None
        policy = settings_of(stored.spec, self.settings)
        self.settings.remember(policy)
        return policy

    def close(self) -> None:
        for app in getattr(self, "_apps", []):
            app.close()
        if self._own_repo and self._repo is not None:
            self._repo.close()
        self.broker.close()
