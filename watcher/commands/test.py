"""`watch test URL|FILE [--select CSS] [--remove CSS ...] [--fetch MODE]`: what a check of that
page would extract — the text, the clause outline and a summary line — storing nothing.

The page goes the way `watch check` takes it: the options are validated as a [[policy]] table is
(watcher.config.parse_policy), the same Fetcher (fetcher kinds, `fetch` mode, auto escalation to
the browser), the same derivation (watcher.derive: extractor kinds, PDF and .docx included,
segmentation) and the same suspect-page rules. The store is never opened (nor imported).

A URL that is a configured policy's gets that policy's select / remove / fetch unless the command
line gives them. Exit 0: a check would store this page as a version; 1: it would refuse it (a
login / maintenance / error page, a scanned PDF: the summary says why); 2: bad input, the page
could not be fetched, or no policy text came out of it (one line on stderr).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from watcher import suspect
from watcher.commands import terminal_safe
from watcher.config import PolicySettings, Settings, default_settings, load_settings, parse_policy
from watcher.derive import Derived, derive, outline_tree
from watcher.errors import ConfigError, FetchError
from watcher.fetch import Fetcher, FetchResult
from watcher.segment import outline as outline_lines

_LABEL = "test"
_OPTION_ERROR = re.compile(rf"^{_LABEL}: option\.(\w+)(?:\[\d+\])?: ")
_FLAGS = {"url": "URL", "name": "--name", "select": "--select", "remove": "--remove", "fetch": "--fetch",
          "schedule": "--schedule"}


@dataclass
class Trial:
    result: FetchResult
    derived: Derived

    @property
    def problem(self) -> str | None:
        """Why a check would not store this page as a version (None: it would)."""
        return self.derived.problem


def run(args) -> int:
    settings = _settings(args.config)
    policy = policy_of(settings, args.target, select=args.select, remove=args.remove, fetch=args.fetch)
    outcome = try_page(settings, policy, label=args.target)
    sys.stdout.write(render(outcome))
    sys.stdout.flush()
    return 1 if outcome.problem else 0


def _settings(config: str) -> Settings:
    """The config's fetch settings and policies when there is a config file; defaults otherwise."""
    return load_settings(config) if Path(config).is_file() else default_settings()


def policy_of(settings: Settings, target: str, *, select: str | None = None, remove: list[str] | None = None,
                fetch: str | None = None) -> PolicySettings:
    """The command line as a [[policy]] table, validated as config.toml's are (a local path becomes a
    file:// URL, relative to the current directory); a configured policy of that URL fills what the
    command line leaves out. ConfigError names the option: "--select: not a CSS selector: ..."."""
    raw: dict = {"name": "test", "url": target}
    try:
        url = parse_policy(raw, base_dir=Path.cwd(), label=_LABEL, key="option").url
    except ConfigError as exc:
        raise _option_error(exc) from None
    configured = next((p for p in settings.policies if p.url == url), None)
    if configured is not None:
        raw["fetch"] = configured.fetch
        if configured.select is not None:
            raw["select"] = configured.select
        if configured.remove:
            raw["remove"] = list(configured.remove)
    for key, value in (("select", select), ("remove", remove), ("fetch", fetch)):
        if value is not None:
            raw[key] = value
    try:
        return parse_policy(raw, base_dir=Path.cwd(), label=_LABEL, key="option", notify=settings.notify)
    except ConfigError as exc:
        raise _option_error(exc) from None


def _option_error(exc: ConfigError) -> ConfigError:
    return ConfigError(_OPTION_ERROR.sub(lambda m: f"{_FLAGS.get(m.group(1), m.group(1))}: ", str(exc)))


def try_page(settings: Settings, policy: PolicySettings, *, label: str | None = None) -> Trial:
    """Fetch and derive the policy's page as a check does; FetchError / InputError (one line) when a
    check would fail before deriving (network, HTTP error, empty body) or when no text comes out."""
    label = label or policy.url
    fetcher = Fetcher(settings.fetch, needs_browser=suspect.needs_browser)
    try:
        result = fetcher.fetch(policy.url, mode=policy.fetch, select=policy.select,
                               allow_insecure_redirect=policy.allow_insecure_redirect)
    finally:
        fetcher.close()
    if result.error:
        raise FetchError(f"{label}: {result.error}")
    body = result.body or b""
    if not body.strip():
        raise FetchError(f"{label}: empty body (HTTP {result.status})")
    derived = derive(body, source=result.final_url or policy.url, content_type=result.content_type,
                     select=policy.select, remove=policy.remove)
    return Trial(result, derived)


def render(outcome: Trial) -> str:
    doc = outcome.derived.document
    outline = outline_lines(outline_tree(outcome.derived.outline))
    return "".join([
        "--- text ---\n", doc.text, "\n",
        "--- outline ---\n", "".join(f"{line}\n" for line in outline),
        "--- summary ---\n", summary(outcome), "\n",
    ])


def summary(outcome: Trial) -> str:
    """One line: kind, charset, characters, clauses, fetcher, and whether the page looks suspect."""
    doc, derived, result = outcome.derived.document, outcome.derived, outcome.result
    fetcher = result.fetcher or "?"
    if result.escalated:
        fetcher += f" (escalated from http: {result.escalated})"
    if outcome.problem:
        verdict = f"suspect: yes, {outcome.problem}: a check would not store it"
    else:
        verdict = "suspect: no"
    return terminal_safe(f"kind {doc.content_type}, charset {doc.charset or '-'}, {derived.text_length} "
                         f"characters, {derived.clauses} clauses, fetcher {fetcher}, {verdict}")

