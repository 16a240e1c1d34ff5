"""config.toml -> typed, validated settings.

Every mistake raises ConfigError naming the file and the key, e.g.
`config.toml: policy[2].schedule: cannot parse "every 6 parsecs"` (policies are
counted from 1, as a person reads the file). Secrets never live in the file: the
SMTP password is read from the environment variable named by `password_env`.
Relative paths (the SQLite store, bodies_dir, outbox_dir, users_file, local policy
files) are resolved against the directory of the config file.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote, urlsplit

from watcher import __version__, css, lazy
from watcher.errors import ConfigError

fuzzy_process = lazy.module("rapidfuzz.process")

# Loaded on first use (a CSS selector beyond watcher.css, a cron schedule to validate): `watch --help` never needs them.
soupsieve = lazy.module("soupsieve")
CronTrigger = lazy.function("apscheduler.triggers.cron:CronTrigger")

DEFAULT_CONFIG = "config.toml"
USER_AGENT = f"policy-watcher/{__version__}"
LANGUAGES = ("ja", "en")
NOTIFY_USERS = ("auto", "always", "never")
FETCH_MODES = ("http", "browser", "auto")   # a policy's `fetch`: auto = HTTP, the browser for a script shell
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")  # no "@": NAME@REF must stay unambiguous; \Z: no "\n"
# The store's column sizes (watcher/store/schema.py): a longer value would fail every write, not the config
NAME_MAX = 200
SENDER_DOMAIN_MAX = 200    # the Message-ID <pw-ID.TOKEN@domain> is at most 250 characters

# The mailer's own parser decides: an address config accepts is one the mailer can send to. It loads
# email.headerregistry (~9 ms) with the first address validated: `watch diff` of two files reads no config.
_is_address = lazy.function("watcher.addresses:is_address")

_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class Schedule:
    """`every 6h` -> kind "interval" with seconds; a 5-field crontab -> kind "cron" with cron."""

    text: str
    kind: str                  # "interval" | "cron"
    seconds: float = 0.0
    cron: str = ""


@dataclass
class StoreSettings:
    url: str = "sqlite:///snapshots/watch.db"
    bodies_dir: Path = Path("snapshots/bodies")

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


@dataclass
class FetchSettings:
    user_agent: str = USER_AGENT
    timeout_connect: float = 10.0
    timeout_read: float = 30.0
    deadline: float = 120.0          # seconds for a whole fetch (every attempt, wait and byte): a trickle ends
    retries: int = 2                 # extra attempts after the first
    backoff: float = 1.0             # seconds before the first retry; doubled each time
    retry_after_max: float = 60.0    # a server's Retry-After is honoured up to this many seconds
    max_bytes: int = 5_000_000
    per_host: int = 2
    concurrency: int = 16
    failures_before_alert: int = 3
    browser_path: str = "/usr/bin/chromium"   # Debian's chromium, driven by Playwright (none is downloaded)
    browser_concurrency: int = 2     # pages rendered at once (one browser process per fetcher)
    browser_timeout: float = 30.0    # seconds for a browser fetch: load, then the policy text appearing
    # URLs of the policies with allow_insecure_redirect = true: only these follow an https -> http redirect
    insecure_redirects: frozenset[str] = frozenset()


@dataclass
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    ssl: bool = False
    username: str = ""
    password_env: str = "WATCH_SMTP_PASSWORD"
    sender: str = "policy-watcher <watcher@localhost>"
    timeout: float = 30.0

    @property
    def password(self) -> str:
        """Read at use time so a rotated secret is picked up without a restart."""
        return os.environ.get(self.password_env, "") if self.password_env else ""


@dataclass
class NotifySettings:
    staff: list[str] = field(default_factory=list)
    language: str = "ja"
    outbox_dir: Path = Path("snapshots/outbox")
    digest_time: str = "09:00"


@dataclass(frozen=True)
class User:
    email: str
    language: str


@dataclass
class PolicySettings:
    name: str
    url: str                         # http(s):// or file:// (local paths are turned into file:// URLs)
    schedule: Schedule
    select: str | None = None
    remove: list[str] = field(default_factory=list)
    jitter: int = 0                  # seconds
    confirm: int = 1                 # 2 = a change must be seen on two checks in a row
    users: list[str] = field(default_factory=list)
    users_file: Path | None = None
    staff: list[str] = field(default_factory=list)
    notify_users: str = "auto"
    allow_insecure_redirect: bool = False   # follow an https -> http redirect (refused otherwise)
    language: str = "ja"
    fetch: str = "auto"              # http | browser | auto (a script shell or a bot wall goes to the browser)
    _file_users: list[User] = field(default_factory=list, repr=False, compare=False)

    def recipients(self) -> list[User]:
        """`users` (in the policy's language) plus the rows of `users_file` (email,language).

        The file is read at call time, so editing it needs no restart. If it was broken since
        (this runs inside the transaction that records a change), the last good reading is
        used and the problem logged: a bad edit must never stop a change from being recorded,
        nor silently drop the users who were on the list.
        """
        out = [User(email, self.language) for email in self.users]
        if self.users_file is not None:
            try:
                self._file_users = read_users_file(self.users_file, self.language)
            except ConfigError as exc:
                logging.getLogger("watcher.config").error("policy %s: users_file unusable, using its last good "
                                                          "reading: %s", self.name, exc)
            out.extend(self._file_users)
        seen: set[str] = set()
        unique = []
        for user in out:
            if user.email.lower() not in seen:
                seen.add(user.email.lower())
                unique.append(user)
        return unique


@dataclass
class Settings:
    path: Path | None
    store: StoreSettings = field(default_factory=StoreSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    smtp: SmtpSettings | None = None
    notify: NotifySettings = field(default_factory=NotifySettings)
    policies: list[PolicySettings] = field(default_factory=list)
    queue: QueueSettings | None = None      # [queue]: Dramatiq workers (None: the single-process daemon)
    web: WebSettings = field(default_factory=lambda: WebSettings())
    webhooks: list[WebhookSettings] = field(default_factory=list)
    chats: list[ChatSettings] = field(default_factory=list)   # [[chat]]: apprise targets

    def policy(self, name: str) -> PolicySettings:
        for policy in self.policies:
            if policy.name == name:
                return policy
        where = self.path.name if self.path else DEFAULT_CONFIG
        raise ConfigError(f"{where}: no policy named {name!r} ({_known_names(name, self.policies)})")

    def has_policy(self, name: str) -> bool:
        return any(p.name == name for p in self.policies)


# ---------------------------------------------------------------- loading


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Read and validate a config file. Raises ConfigError (one line naming the key)."""
    given = str(path) if path is not None else DEFAULT_CONFIG
    p = Path(given)
    if not p.is_file():
        raise ConfigError(f"{given}: config file not found (use --config PATH)")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{given}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{given}: invalid TOML: {e}") from None
    return parse_settings(raw, base_dir=p.resolve().parent, label=given, path=p.resolve())


def default_settings(base_dir: Path | None = None) -> Settings:
    """Settings when there is no config file (e.g. `watch diff` on a URL): defaults only."""
    return parse_settings({}, base_dir=base_dir or Path.cwd(), label=DEFAULT_CONFIG, path=None)


def parse_settings(raw: dict, *, base_dir: Path, label: str = DEFAULT_CONFIG, path: Path | None = None) -> Settings:
    v = _Validator(label, base_dir)
    v.keys(raw, "", {"store", "fetch", "smtp", "notify", "policy", "queue", "web", "webhook", "chat"})
    store = _store(v, v.table(raw, "store"))
    fetch = _fetch(v, v.table(raw, "fetch"))
    smtp = _smtp(v, raw["smtp"]) if "smtp" in raw else None
    if "smtp" in raw and not isinstance(raw["smtp"], dict):
        v.fail("smtp", "must be a table")
    notify = _notify(v, v.table(raw, "notify"))
    raw_policies = raw.get("policy", [])
    if not isinstance(raw_policies, list):
        v.fail("policy", "must be an array of tables ([[policy]])")
    policies: list[PolicySettings] = []
    first_index: dict[str, int] = {}
    for i, entry in enumerate(raw_policies, start=1):
        key = f"policy[{i}]"
        if not isinstance(entry, dict):
            v.fail(key, "must be a table")
        policy = _policy(v, key, entry, notify)
        if policy.name in first_index:
            v.fail(f"{key}.name", f"duplicate policy name {policy.name!r} (first at policy[{first_index[policy.name]}])")
        first_index[policy.name] = i
        policies.append(policy)
    fetch.insecure_redirects = frozenset(p.url for p in policies if p.allow_insecure_redirect)
    return Settings(path=path, store=store, fetch=fetch, smtp=smtp, notify=notify, policies=policies,
                    queue=_queue_section(v, raw),
                    web=_web(v, v.table(raw, "web")), webhooks=_webhooks(v, raw.get("webhook", [])),
                    chats=_chats(v, raw.get("chat", [])))


class _Validator:
    def __init__(self, label: str, base_dir: Path):
        self.label = label
        self.base_dir = base_dir

    def fail(self, key: str, message: str) -> NoReturn:
        raise ConfigError(f"{self.label}: {key}: {message}" if key else f"{self.label}: {message}")

    def keys(self, table: dict, prefix: str, allowed: set[str]):
        for k in table:
            if k not in allowed:
                name = f"{prefix}.{k}" if prefix else k
                self.fail(name, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def table(self, raw: dict, key: str) -> dict:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            self.fail(key, "must be a table")
        return value

    def str_(self, table: dict, prefix: str, key: str, default, *, empty_ok=True):
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, str):
            self.fail(f"{prefix}.{key}", f"must be a string, not {_type_name(value)}")
        if not empty_ok and not value.strip():
            self.fail(f"{prefix}.{key}", "must not be empty")
        return value

    def bool_(self, table: dict, prefix: str, key: str, default: bool) -> bool:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, bool):
            self.fail(f"{prefix}.{key}", f"must be true or false, not {_type_name(value)}")
        return value

    def int_(self, table: dict, prefix: str, key: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{prefix}.{key}", f"must be an integer, not {_type_name(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.fail(f"{prefix}.{key}", f"must be {bound}, not {value}")
        return value

    def float_(self, table: dict, prefix: str, key: str, default: float, *, positive=True) -> float:
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"{prefix}.{key}", f"must be a number, not {_type_name(value)}")
        if positive and value <= 0:
            self.fail(f"{prefix}.{key}", f"must be greater than 0, not {value}")
        return float(value)

    def str_list(self, table: dict, prefix: str, key: str) -> list[str]:
        if key not in table:
            return []
        value = table[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            self.fail(f"{prefix}.{key}", "must be a list of strings")
        return list(value)

    def emails(self, table: dict, prefix: str, key: str) -> list[str]:
        values = self.str_list(table, prefix, key)
        for i, email in enumerate(values):
            if not _is_address(email):
                self.fail(f"{prefix}.{key}[{i}]", f"not an email address: {email!r}")
        return values

    def choice(self, table: dict, prefix: str, key: str, default: str, choices) -> str:
        value = self.str_(table, prefix, key, default)
        if value not in choices:
            self.fail(f"{prefix}.{key}", f"must be one of {', '.join(repr(c) for c in choices)}, not {value!r}")
        return value

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)


def _type_name(value) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def _store(v: _Validator, t: dict) -> StoreSettings:
    v.keys(t, "store", {"url", "bodies_dir"})
    url = v.str_(t, "store", "url", StoreSettings.url, empty_ok=False)
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in ("sqlite", "postgresql", "postgres"):
        v.fail("store.url", f"unsupported database {url!r} (use sqlite:///PATH or postgresql+psycopg://...)")
    if scheme == "sqlite":
        url = _resolve_sqlite(v, url)
    bodies = v.path(v.str_(t, "store", "bodies_dir", str(StoreSettings.bodies_dir), empty_ok=False))
    return StoreSettings(url=url, bodies_dir=bodies)


def _resolve_sqlite(v: _Validator, url: str) -> str:
    """`sqlite:///snapshots/watch.db` is relative to the config file; `sqlite:////abs` is absolute."""
    m = re.match(r"^(sqlite(?:\+\w+)?):///(.*)$", url)
    if not m:
        v.fail("store.url", f"cannot parse {url!r} (use sqlite:///relative/path.db or sqlite:////absolute/path.db)")
    driver, rest = m.groups()
    if rest in ("", ":memory:"):
        return url
    path, _, query = rest.partition("?")
    resolved = v.path(path)
    return f"{driver}:///{resolved}" + (f"?{query}" if query else "")


def _fetch(v: _Validator, t: dict) -> FetchSettings:
    d = FetchSettings()
    allowed = {"user_agent", "timeout_connect", "timeout_read", "deadline", "retries", "backoff", "retry_after_max",
               "max_bytes", "per_host", "concurrency", "failures_before_alert", "browser_path",
               "browser_concurrency", "browser_timeout"}
    v.keys(t, "fetch", allowed)
    return FetchSettings(
        user_agent=v.str_(t, "fetch", "user_agent", d.user_agent, empty_ok=False),
        timeout_connect=v.float_(t, "fetch", "timeout_connect", d.timeout_connect),
        timeout_read=v.float_(t, "fetch", "timeout_read", d.timeout_read),
        deadline=v.float_(t, "fetch", "deadline", d.deadline),
        retries=v.int_(t, "fetch", "retries", d.retries, maximum=10),
        backoff=v.float_(t, "fetch", "backoff", d.backoff, positive=False),
        retry_after_max=v.float_(t, "fetch", "retry_after_max", d.retry_after_max, positive=False),
        max_bytes=v.int_(t, "fetch", "max_bytes", d.max_bytes, minimum=1),
        per_host=v.int_(t, "fetch", "per_host", d.per_host, minimum=1),
        concurrency=v.int_(t, "fetch", "concurrency", d.concurrency, minimum=1, maximum=512),
        failures_before_alert=v.int_(t, "fetch", "failures_before_alert", d.failures_before_alert, minimum=1),
        browser_path=v.str_(t, "fetch", "browser_path", d.browser_path, empty_ok=False),
        browser_concurrency=v.int_(t, "fetch", "browser_concurrency", d.browser_concurrency, minimum=1, maximum=16),
        browser_timeout=v.float_(t, "fetch", "browser_timeout", d.browser_timeout),
    )


def _smtp(v: _Validator, t: dict) -> SmtpSettings:
    d = SmtpSettings()
    allowed = {"host", "port", "starttls", "ssl", "username", "password_env", "from", "timeout"}
    if "password" in t:
        v.fail("smtp.password", "secrets are not read from the file: put the password in an environment "
                                "variable and name it in password_env")
    v.keys(t, "smtp", allowed)
    ssl = v.bool_(t, "smtp", "ssl", d.ssl)
    starttls = v.bool_(t, "smtp", "starttls", d.starttls)
    if ssl and starttls:
        v.fail("smtp.starttls", "ssl and starttls are exclusive (ssl = implicit TLS, port 465)")
    default_port = 465 if ssl else (587 if starttls else 25)
    password_env = v.str_(t, "smtp", "password_env", d.password_env)
    if password_env and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", password_env):
        v.fail("smtp.password_env", f"must be the NAME of an environment variable, not {password_env!r}")
    sender = v.str_(t, "smtp", "from", d.sender, empty_ok=False)
    if not _is_address(sender):
        v.fail("smtp.from", f"not an email address: {sender!r}")
    if len(sender.rsplit("@", 1)[-1]) > SENDER_DOMAIN_MAX:
        v.fail("smtp.from", f"the domain is longer than {SENDER_DOMAIN_MAX} characters")
    return SmtpSettings(
        host=v.str_(t, "smtp", "host", d.host, empty_ok=False),
        port=v.int_(t, "smtp", "port", default_port, minimum=1, maximum=65535),
        starttls=starttls,
        ssl=ssl,
        username=v.str_(t, "smtp", "username", d.username),
        password_env=password_env,
        sender=sender,
        timeout=v.float_(t, "smtp", "timeout", d.timeout),
    )


def _notify(v: _Validator, t: dict) -> NotifySettings:
    d = NotifySettings()
    v.keys(t, "notify", {"staff", "language", "outbox_dir", "digest_time"})
    digest_time = v.str_(t, "notify", "digest_time", d.digest_time)
    m = re.match(r"^(\d{1,2}):(\d{2})$", digest_time)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        v.fail("notify.digest_time", f"must be HH:MM (24-hour), not {digest_time!r}")
    return NotifySettings(
        staff=v.emails(t, "notify", "staff"),
        language=v.choice(t, "notify", "language", d.language, LANGUAGES),
        outbox_dir=v.path(v.str_(t, "notify", "outbox_dir", str(d.outbox_dir), empty_ok=False)),
        digest_time=f"{int(m.group(1)):02d}:{m.group(2)}",
    )


def _policy(v: _Validator, key: str, t: dict, notify: NotifySettings) -> PolicySettings:
    allowed = {"name", "url", "select", "remove", "schedule", "jitter", "confirm", "users", "users_file",
               "staff", "notify_users", "language", "fetch", "allow_insecure_redirect"}
    v.keys(t, key, allowed)
    for required in ("name", "url"):
        if required not in t:
            v.fail(f"{key}.{required}", "missing (required)")
    name = v.str_(t, key, "name", "", empty_ok=False)
    if not NAME_RE.match(name):
        v.fail(f"{key}.name", f"{name!r}: use letters, digits, '_', '-' and '.' only")
    if len(name) > NAME_MAX:
        v.fail(f"{key}.name", f"{len(name)} characters: at most {NAME_MAX}")
    url = _policy_url(v, f"{key}.url", v.str_(t, key, "url", "", empty_ok=False))
    schedule_text = v.str_(t, key, "schedule", "every 6h", empty_ok=False)
    try:
        schedule = parse_schedule(schedule_text)
    except ValueError as exc:
        if "shortest interval" in str(exc):
            v.fail(f"{key}.schedule", f'"{schedule_text}" is too frequent: the shortest interval is '
                                       f'{MIN_INTERVAL // 60} minute')
        v.fail(f"{key}.schedule", f'cannot parse "{schedule_text}" (use "every 6h", "every 30m", "every 1d" '
                                   'or a 5-field cron expression such as "0 9 * * 1")')
    jitter = _jitter(v, f"{key}.jitter", t.get("jitter", 0))
    select = v.str_(t, key, "select", None)
    if select is not None and not select.strip():
        v.fail(f"{key}.select", "must not be empty (leave it out for automatic detection)")
    if select is not None:
        _css(v, f"{key}.select", select)
    users_file = None
    if "users_file" in t:
        users_file = v.path(v.str_(t, key, "users_file", "", empty_ok=False))
        if not users_file.is_file():
            v.fail(f"{key}.users_file", f"file not found: {users_file}")
    language = v.choice(t, key, "language", notify.language, LANGUAGES)
    policy = PolicySettings(
        name=name,
        url=url,
        schedule=schedule,
        select=select,
        remove=[_css(v, f"{key}.remove[{i}]", sel) for i, sel in enumerate(v.str_list(t, key, "remove"))],
        jitter=jitter,
        confirm=v.int_(t, key, "confirm", 1, minimum=1, maximum=10),
        users=v.emails(t, key, "users"),
        users_file=users_file,
        staff=v.emails(t, key, "staff"),
        notify_users=v.choice(t, key, "notify_users", "auto", NOTIFY_USERS),
        language=language,
        fetch=v.choice(t, key, "fetch", "auto", FETCH_MODES),
        allow_insecure_redirect=v.bool_(t, key, "allow_insecure_redirect", False),
    )
    if users_file is not None:
        try:
            policy._file_users = read_users_file(users_file, language)
        except ConfigError as e:
            v.fail(f"{key}.users_file", str(e))
    return policy


def _css(v: _Validator, where: str, selector: str) -> str:
    """A CSS selector the extractor can use: soupsieve compiles it, as BeautifulSoup's select does.
    A simple one (`#policy`, `main, .content`) is told without importing soupsieve (~90 ms)."""
    if css.compiles_without_engine(selector):
        return selector
    try:
        soupsieve.compile(selector)
    except (soupsieve.SelectorSyntaxError, NotImplementedError) as exc:     # a pseudo-element, an at-rule
        v.fail(where, f"not a CSS selector: {selector!r} ({str(exc).splitlines()[0]})")
    return selector


def _policy_url(v: _Validator, key: str, url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            v.fail(key, f"no host in {url!r}")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            v.fail(key, f"bad port in {url!r}")
        if any(c.isspace() for c in url):
            v.fail(key, f"spaces in {url!r}")
        return url
    if scheme == "file":
        if not parts.path:
            v.fail(key, f"no path in {url!r}")
        return url
    if scheme and len(scheme) > 1:   # "C:" style drive letters are paths
        v.fail(key, f"unsupported URL scheme {scheme!r} in {url!r} (use http, https, file or a local path)")
    return v.path(url).resolve().as_uri()


def _jitter(v: _Validator, key: str, value) -> int:
    if isinstance(value, bool):
        v.fail(key, "must be seconds or a duration such as \"10m\"")
    if isinstance(value, int | float):
        if value < 0:
            v.fail(key, f"must not be negative, not {value}")
        return int(value)
    if isinstance(value, str):
        try:
            return int(parse_duration(value))
        except ValueError:
            v.fail(key, f'cannot parse "{value}" (use seconds or a duration such as "10m")')
    v.fail(key, f"must be seconds or a duration, not {_type_name(value)}")


def parse_duration(text: str) -> float:
    """`30m` / `6 h` / `1 day` -> seconds. ValueError when it is not a positive duration."""
    m = _DURATION_RE.match(text.lower())
    if not m or m.group(2) not in _UNITS:
        raise ValueError(text)
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise ValueError(text)
    return seconds


MIN_INTERVAL = 60   # seconds


def parse_schedule(text: str) -> Schedule:
    """`every 6h` / `every 30 minutes` -> interval; a 5-field crontab -> cron. ValueError otherwise."""
    s = text.strip()
    m = re.match(r"^every\s+(.+)$", s, re.IGNORECASE)
    if m:
        seconds = parse_duration(m.group(1))
        if seconds < MIN_INTERVAL:
            # A policy page is not a feed: checking more often only hammers the site.
            raise ValueError(f"{text} (the shortest interval is {MIN_INTERVAL // 60} minute)")
        return Schedule(text=s, kind="interval", seconds=seconds)
    fields = s.split()
    if len(fields) == 5:
        try:
            CronTrigger(**cron_fields(s), timezone="UTC")
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(text) from e
        return Schedule(text=s, kind="cron", cron=s)
    raise ValueError(text)


_CRON_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def cron_fields(expr: str) -> dict[str, str]:
    """A 5-field crontab as APScheduler 3 CronTrigger arguments.

    Not CronTrigger.from_crontab: APScheduler numbers weekdays from Monday = 0, crontab from
    Sunday = 0 (7 is Sunday too), so "0 9 * * 1" would run on Tuesdays. The weekday field is
    rewritten as day names, which both read the same way.
    """
    minute, hour, day, month, dow = expr.split()
    return {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": _cron_weekdays(dow)}


def _cron_weekdays(field_text: str) -> str:
    if field_text in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field_text.lower().split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(field_text)
        if body in ("*", ""):
            lo, hi = 0, 6
        elif "-" in body:
            lo_text, hi_text = body.split("-", 1)
            lo, hi = _cron_day(lo_text), _cron_day(hi_text, upper=True)
        else:
            lo = hi = _cron_day(body)
            if step_text:
                hi = 6
        if lo > hi:
            raise ValueError(field_text)
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def _cron_day(token: str, upper: bool = False) -> int:
    if token in _CRON_DAYS:
        return _CRON_DAYS.index(token)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) if upper or int(token) != 7 else 0
    raise ValueError(token)


def read_users_file(path: Path, default_language: str) -> list[User]:
    """CSV `email,language` (header optional, language optional) -> users. ConfigError on a bad row."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    users = []
    # Read as CSV, not as lines: a quoted cell may hold a line break (then it is no address).
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        lineno = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise ConfigError(f"{path}: line {lineno}: not CSV: {e}") from None
        cells = [c.strip(" \t") for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if lineno == 1 and cells[0].lower() in ("email", "e-mail", "mail", "address"):
            continue
        email = cells[0]
        language = (cells[1] if len(cells) > 1 and cells[1] else default_language).lower()
        if not _is_address(email):
            raise ConfigError(f"{path}: line {lineno}: not an email address: {email!r}")
        if language not in LANGUAGES:
            raise ConfigError(f"{path}: line {lineno}: language must be ja or en, not {language!r}")
        users.append(User(email, language))
    return users


# ---------------------------------------------------------------- [web] and [[webhook]]

ROLES = ("viewer", "reviewer")
SEVERITIES = ("none", "minor", "notice", "consent")
# watcher.web.auth makes and checks these (`watch serve --hash-password`)
PASSWORD_HASH_RE = re.compile(r"^(scrypt\$\d+\$\d+\$\d+|pbkdf2_sha256\$\d+)\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class WebAccount:
    name: str
    role: str                        # viewer | reviewer
    password_hash: str = ""          # scrypt$N$r$p$salt$hash or pbkdf2_sha256$iterations$salt$hash
    password_env: str = ""           # or: the environment variable holding the password


@dataclass
class WebSettings:
    """`watch serve`: 127.0.0.1 unless told otherwise; another address needs accounts."""

    host: str = "127.0.0.1"
    port: int = 8080
    page_size: int = 100
    secret_env: str = ""             # the CSRF key's environment variable (default: a new key per start)
    feed_token_env: str = ""         # a read token for the Atom feeds (?token=...), from the environment
    feed_authority: str = "policy-watcher.invalid"   # the tag: URI authority of feed ids
    accounts: list[WebAccount] = field(default_factory=list)


@dataclass(frozen=True)
class WebhookSettings:
    """A `webhook` target: every change at or above min_severity is POSTed as signed JSON."""

    name: str
    url: str
    secret_env: str                  # the HMAC-SHA256 key's environment variable
    min_severity: str = "minor"
    timeout: float = 10.0


def _env_name(v: _Validator, t: dict, prefix: str, key: str) -> str:
    name = v.str_(t, prefix, key, "")
    if name and not _ENV_NAME_RE.match(name):
        v.fail(f"{prefix}.{key}", f"must be the NAME of an environment variable, not {name!r}")
    return name


def _web(v: _Validator, t: dict) -> WebSettings:
    d = WebSettings()
    v.keys(t, "web", {"host", "port", "page_size", "secret_env", "feed_token_env", "feed_authority", "account"})
    raw_accounts = t.get("account", [])
    if not isinstance(raw_accounts, list):
        v.fail("web.account", "must be an array of tables ([[web.account]])")
    accounts, seen = [], set()
    for i, a in enumerate(raw_accounts, start=1):
        key = f"web.account[{i}]"
        if not isinstance(a, dict):
            v.fail(key, "must be a table")
        if "password" in a:
            v.fail(f"{key}.password", "passwords are not written in the file: give password_hash (watch serve "
                                      "--hash-password) or password_env")
        v.keys(a, key, {"name", "role", "password_hash", "password_env"})
        name = v.str_(a, key, "name", "", empty_ok=False)
        if not name or not NAME_RE.match(name):
            v.fail(f"{key}.name", f"{name!r}: use letters, digits, '_', '-' and '.' only")
        if name in seen:
            v.fail(f"{key}.name", f"duplicate account {name!r}")
        seen.add(name)
        role = v.choice(a, key, "role", "viewer", ROLES)
        password_hash = v.str_(a, key, "password_hash", "")
        password_env = _env_name(v, a, key, "password_env")
        if bool(password_hash) == bool(password_env):
            v.fail(key, "give exactly one of password_hash and password_env")
        if password_hash and not PASSWORD_HASH_RE.match(password_hash):
            v.fail(f"{key}.password_hash", "not a password hash (make one with `watch serve --hash-password`)")
        accounts.append(WebAccount(name, role, password_hash, password_env))
    return WebSettings(
        host=v.str_(t, "web", "host", d.host, empty_ok=False),
        port=v.int_(t, "web", "port", d.port, minimum=0, maximum=65535),
        page_size=v.int_(t, "web", "page_size", d.page_size, minimum=1, maximum=1000),
        secret_env=_env_name(v, t, "web", "secret_env"),
        feed_token_env=_env_name(v, t, "web", "feed_token_env"),
        feed_authority=v.str_(t, "web", "feed_authority", d.feed_authority, empty_ok=False),
        accounts=accounts,
    )


def _webhooks(v: _Validator, raw) -> list[WebhookSettings]:
    if not isinstance(raw, list):
        v.fail("webhook", "must be an array of tables ([[webhook]])")
    hooks, seen = [], set()
    for i, t in enumerate(raw, start=1):
        key = f"webhook[{i}]"
        if not isinstance(t, dict):
            v.fail(key, "must be a table")
        if "secret" in t:
            v.fail(f"{key}.secret", "secrets are not read from the file: name an environment variable in secret_env")
        v.keys(t, key, {"name", "url", "secret_env", "min_severity", "timeout"})
        for required in ("name", "url", "secret_env"):
            if required not in t:
                v.fail(f"{key}.{required}", "missing (required)")
        name = v.str_(t, key, "name", "", empty_ok=False)
        if not NAME_RE.match(name):
            v.fail(f"{key}.name", f"{name!r}: use letters, digits, '_', '-' and '.' only")
        if name in seen:
            v.fail(f"{key}.name", f"duplicate webhook {name!r}")
        seen.add(name)
        url = v.str_(t, key, "url", "", empty_ok=False)
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
            v.fail(f"{key}.url", f"not an http(s) URL: {url!r}")
        secret_env = _env_name(v, t, key, "secret_env")
        if not secret_env:
            v.fail(f"{key}.secret_env", "must not be empty")
        hooks.append(WebhookSettings(name=name, url=url, secret_env=secret_env,
                                     min_severity=v.choice(t, key, "min_severity", "minor", SEVERITIES),
                                     timeout=v.float_(t, key, "timeout", 10.0)))
    return hooks


@dataclass(frozen=True)
class ChatSettings:
    """A chat target (Slack, Teams, Discord, Matrix, ... through apprise, `policy-watcher[chat]`):
    every change at or above min_severity is posted as a short message in `language`. The apprise
    URL holds the service's token, so the file names the environment variable that holds it."""

    name: str
    url_env: str
    min_severity: str = "notice"
    language: str = "ja"


def _chats(v: _Validator, raw) -> list[ChatSettings]:
    if not isinstance(raw, list):
        v.fail("chat", "must be an array of tables ([[chat]])")
    chats, seen = [], set()
    for i, t in enumerate(raw, start=1):
        key = f"chat[{i}]"
        if not isinstance(t, dict):
            v.fail(key, "must be a table")
        if "url" in t:
            v.fail(f"{key}.url", "an apprise URL carries the service's token: put it in an environment variable "
                                 "and name that in url_env")
        v.keys(t, key, {"name", "url_env", "min_severity", "language"})
        for required in ("name", "url_env"):
            if required not in t:
                v.fail(f"{key}.{required}", "missing (required)")
        name = v.str_(t, key, "name", "", empty_ok=False)
        if not NAME_RE.match(name):
            v.fail(f"{key}.name", f"{name!r}: use letters, digits, '_', '-' and '.' only")
        if name in seen:
            v.fail(f"{key}.name", f"duplicate chat target {name!r}")
        seen.add(name)
        url_env = _env_name(v, t, key, "url_env")
        if not url_env:
            v.fail(f"{key}.url_env", "must not be empty")
        chats.append(ChatSettings(name=name, url_env=url_env,
                                  min_severity=v.choice(t, key, "min_severity", "notice", SEVERITIES),
                                  language=v.choice(t, key, "language", "ja", LANGUAGES)))
    return chats


# ---------------------------------------------------------------- [queue] (Dramatiq workers, watcher.runners)

RABBITMQ_CONSUMER_TIMEOUT = 1800.0   # seconds: RabbitMQ closes a channel that holds a message unacked longer


@dataclass
class QueueSettings:
    """[queue]: scale-out on Dramatiq workers (watcher.runners). Without the section nothing of it is
    loaded. Passwords come from the environment variables named here, never from the file."""

    broker: str = "amqp://guest@127.0.0.1:5672/%2F"        # RabbitMQ
    limiter: str = "redis://127.0.0.1:6379/0"               # Redis: the per-host limiter shared by workers
    broker_password_env: str = "WATCH_BROKER_PASSWORD"
    limiter_password_env: str = "WATCH_LIMITER_PASSWORD"
    namespace: str = "watch"        # queues <namespace>.check|browser|notify, limiter keys <namespace>:...
    time_limit: float = 600.0       # seconds a task may run (under RabbitMQ's 30-minute consumer timeout)
    max_retries: int = 5            # a task that raised is retried this often, with back-off
    min_backoff: float = 15.0
    max_backoff: float = 600.0      # Dramatiq's default (7 days) outlives RabbitMQ's consumer timeout
    busy_delay: float = 5.0         # a check whose host is busy is sent again after about this long
    claim_batch: int = 500          # policies a scheduler claims per transaction
    poll: float = 10.0              # seconds a scheduler sleeps when nothing is due
    threads: int = 8                # worker threads per worker process

    def broker_url(self) -> str:
        return _with_password(self.broker, self.broker_password_env)

    def limiter_url(self) -> str:
        return _with_password(self.limiter, self.limiter_password_env)


def _with_password(url: str, env: str) -> str:
    """The URL with the password from the environment variable `env` (read at use time), if set."""
    secret = os.environ.get(env, "") if env else ""
    if not secret:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(parts.username or '', safe='')}:{quote(secret, safe='')}@{host}"
    return parts._replace(netloc=netloc + (f":{parts.port}" if parts.port else "")).geturl()


def _queue_section(v: _Validator, raw: dict) -> QueueSettings | None:
    if "queue" not in raw:
        return None
    t, d = v.table(raw, "queue"), QueueSettings()
    v.keys(t, "queue", {"broker", "limiter", "broker_password_env", "limiter_password_env", "namespace",
                        "time_limit", "max_retries", "min_backoff", "max_backoff", "busy_delay", "claim_batch",
                        "poll", "threads"})
    urls = {}
    for key, schemes in (("broker", ("amqp", "amqps")), ("limiter", ("redis", "rediss"))):
        url = v.str_(t, "queue", key, getattr(d, key), empty_ok=False)
        parts = urlsplit(url)
        if parts.scheme.lower() not in schemes or not parts.hostname:
            v.fail(f"queue.{key}", f"must be a URL such as {schemes[0]}://HOST/..., not {url!r}")
        if parts.password:
            v.fail(f"queue.{key}", f"secrets are not read from the file: put the password in the environment "
                                   f"variable named by queue.{key}_password_env")
        urls[key] = url
    envs = {}
    for key in ("broker_password_env", "limiter_password_env"):
        envs[key] = v.str_(t, "queue", key, getattr(d, key))
        if envs[key] and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", envs[key]):
            v.fail(f"queue.{key}", f"must be the NAME of an environment variable, not {envs[key]!r}")
    namespace = v.str_(t, "queue", "namespace", d.namespace, empty_ok=False)
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,60}$", namespace):
        v.fail("queue.namespace", f"{namespace!r}: use letters, digits, '_', '-' and '.' only")
    seconds = {key: _queue_seconds(v, f"queue.{key}", t.get(key, getattr(d, key)))
               for key in ("time_limit", "min_backoff", "max_backoff", "busy_delay", "poll")}
    for key in ("time_limit", "max_backoff"):
        if seconds[key] >= RABBITMQ_CONSUMER_TIMEOUT:
            v.fail(f"queue.{key}", f"must be under 30 minutes (RabbitMQ's consumer timeout), not {seconds[key]:g} s")
    if seconds["min_backoff"] > seconds["max_backoff"]:
        v.fail("queue.min_backoff", "must not exceed queue.max_backoff")
    return QueueSettings(broker=urls["broker"], limiter=urls["limiter"], namespace=namespace, **envs, **seconds,
                         max_retries=v.int_(t, "queue", "max_retries", d.max_retries, maximum=100),
                         claim_batch=v.int_(t, "queue", "claim_batch", d.claim_batch, minimum=1, maximum=10_000),
                         threads=v.int_(t, "queue", "threads", d.threads, minimum=1, maximum=256))


def _queue_seconds(v: _Validator, key: str, value) -> float:
    """Seconds, as a number or a duration such as "10m"."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        v.fail(key, f'must be seconds or a duration such as "10m", not {_type_name(value)}')
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            v.fail(key, f'cannot parse "{value}" (use seconds or a duration such as "10m")')
    if value <= 0:
        v.fail(key, f"must be greater than 0, not {value}")
    return float(value)


def parse_policy(raw, *, base_dir: Path, label: str, key: str = "policy",
                 notify: NotifySettings | None = None) -> PolicySettings:
    """One [[policy]] table (from an import file or the store) -> PolicySettings, validated as in
    config.toml; ConfigError names `label: key.field`. Relative paths resolve against base_dir."""
    v = _Validator(label, base_dir)
    if not isinstance(raw, dict):
        v.fail(key, "must be a table")
    return _policy(v, key, raw, notify or NotifySettings())


# An error names at most this many policies: a config of thousands must still give a one-line error.
_KNOWN_NAMES_SHOWN = 5


def _known_names(name: str, policies: list[PolicySettings]) -> str:
    """'known: a, b, c' for a few policies; for many, the closest names to the one asked for."""
    names = [p.name for p in policies]
    if not names:
        return "known: none"
    if len(names) <= _KNOWN_NAMES_SHOWN:
        return "known: " + ", ".join(names)
    closest = [match for match, _score, _index in
               fuzzy_process.extract(name, names, limit=_KNOWN_NAMES_SHOWN)]
    return f"closest of {len(names)} known: " + ", ".join(closest) + "; `watch list` shows them all"
