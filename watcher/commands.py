"""The bodies of `watch check`, `watch history`, `watch show` and `watch daemon`: load the
config, call the library, print. watcher/cli.py only parses the arguments and calls these."""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from watcher import daemon
from watcher.app import check_policies
from watcher.check import select_policies
from watcher.config import load_settings
from watcher.derive import current_document, current_outline
from watcher.errors import ConfigError, InputError
from watcher.notify import drain
from watcher.segment import outline as outline_lines
from watcher.sources import split_ref
from watcher.store import migrate, open_store, safe_url

STATUS_STYLE = {"first": "cyan", "unchanged": "dim", "changed": "bold yellow", "failed": "bold red"}
SEVERITY_STYLE = {"consent": "bold red", "notice": "yellow", "minor": "green", "none": "dim"}


# ---------------------------------------------------------------- check


def check_command(config: str, names: list[str], *, as_json: bool = False, notify: bool = True) -> int:
    """Exit 0 when every check ran (whatever it found), 1 when some check failed."""
    settings = load_settings(config)
    policies = select_policies(settings, names)
    if not policies:
        raise ConfigError(f"{config}: no [[policy]] to check")
    # quiet: the summary says it all; the daemon is where per-check log lines go
    logger = logging.getLogger("watcher")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    err = Console(stderr=True)
    if err.is_terminal and len(policies) > 1:
        with Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                      TimeElapsedColumn(), console=err, transient=True) as progress:
            task = progress.add_task("", total=len(policies))

            def advance(outcome):
                progress.update(task, advance=1, description=f"{outcome.name}: {outcome.status}")

            outcomes = check_policies(settings, names, notify=notify, progress=advance)
    else:
        outcomes = check_policies(settings, names, notify=notify)
    sent = None
    if notify:
        # Mail queued by these checks goes out now (to SMTP, or as .eml files without [smtp]);
        # what cannot be sent stays in the outbox for the next drain (`watch outbox --retry`, the daemon).
        sent = drain(settings)
    if as_json:
        sys.stdout.write(json.dumps([o.to_dict() for o in outcomes], ensure_ascii=False, indent=2) + "\n")
    else:
        _print_summary(outcomes)
        if sent is not None and (sent.sent or sent.failed or sent.deferred):
            Console(highlight=False).print(f"mail: {sent}")
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def _print_summary(outcomes) -> None:
    out = Console(highlight=False, soft_wrap=False)
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("policy", "status", "severity", "detail"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        if o.status == "failed":
            detail = o.error or ""
        elif o.held:
            detail = "change seen once; reported if seen again (confirm)"
        elif o.status in ("first", "changed"):
            detail = f"stored as version {o.version}"
        else:
            detail = "not modified (304)" if o.not_modified and o.http_status == 304 else (
                "same page" if o.not_modified else "same text")
        status = f"[{STATUS_STYLE[o.status]}]{o.status}[/]"
        severity = f"[{SEVERITY_STYLE.get(o.severity, '')}]{o.severity}[/]" if o.severity else ""
        table.add_row(o.name, status, severity, _escape(detail))
    out.print(table)
    counts = Counter(o.status for o in outcomes)
    out.print(f"{len(outcomes)} checked: " + ", ".join(f"{counts[s]} {s}" for s in
                                                       ("first", "unchanged", "changed", "failed")))


def _escape(text: str) -> str:
    return escape(text)


# ---------------------------------------------------------------- history


def history_command(config: str, name: str, *, as_json: bool = False, checks: int = 10) -> int:
    settings = load_settings(config)
    store = open_store(settings.store)
    try:
        history = store.history(name, checks=checks)
        if history is None:
            settings.policy(name)   # unknown name -> ConfigError listing the known ones
            raise InputError(f"{name}: nothing stored yet (run `watch check {name}`)")
        data = _history_data(history)
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        _print_history(data)
    return 0


def _ts(dt) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def _history_data(h) -> dict:
    return {
        "name": h.name,
        "url": h.url,
        "snapshots": [{"version": s.version, "fetched_at": _ts(s.fetched_at), "sha256": s.body_sha256,
                       "url": s.url, "clauses": s.clauses, "characters": len(s.text or ""),
                       "bytes": s.body_size} for s in h.snapshots],
        "changes": [{"id": c.id, "created_at": _ts(c.created_at), "old_version": c.old_version,
                     "new_version": c.new_version, "severity": c.severity, "material": c.material,
                     "state": c.state, "summary": (c.report or {}).get("summary", {}),
                     "clauses": [_change_label(ch) for ch in (c.report or {}).get("changes", [])]}
                    for c in h.changes],
        "checks": [{"at": _ts(k.finished_at), "outcome": k.outcome, "http_status": k.http_status,
                    "error": k.error, "elapsed": k.elapsed} for k in h.checks],
        "consecutive_failures": h.consecutive_failures,
        "open_alerts": [{"opened_at": _ts(a.opened_at), "message": a.message} for a in h.open_alerts],
    }


def _change_label(change: dict) -> str:
    ref = change.get("new") or change.get("old") or {}
    label = " ".join(p for p in (ref.get("number"), ref.get("title")) if p) or "(untitled)"
    return f"{label} ({change.get('type')}, {change.get('severity')})"


def _print_history(data: dict) -> None:
    out = Console(highlight=False)
    out.print(f"[bold]{_escape(data['name'])}[/]  {_escape(data['url'])}")
    versions = Table(title="versions", title_justify="left", box=None, header_style="bold", pad_edge=False)
    for column in ("version", "fetched (UTC)", "sha256", "clauses", "characters"):
        versions.add_column(column)
    for s in data["snapshots"]:
        versions.add_row(str(s["version"]), s["fetched_at"], s["sha256"][:12], str(s["clauses"]), str(s["characters"]))
    out.print(versions if data["snapshots"] else "no versions stored")
    changes = Table(title="changes", title_justify="left", box=None, header_style="bold", pad_edge=False)
    for column in ("id", "detected (UTC)", "versions", "severity", "state", "clauses"):
        changes.add_column(column, overflow="fold")
    for c in data["changes"]:
        sev = f"[{SEVERITY_STYLE.get(c['severity'], '')}]{c['severity']}[/]" + (" material" if c["material"] else "")
        changes.add_row(str(c["id"]), c["created_at"], f"{c['old_version']} → {c['new_version']}", sev, c["state"],
                        _escape("; ".join(c["clauses"][:4]) + (" …" if len(c["clauses"]) > 4 else "")))
    out.print(changes if data["changes"] else "no changes recorded")
    if data["checks"]:
        checks = Table(title="recent checks", title_justify="left", box=None, header_style="bold", pad_edge=False)
        for column in ("at (UTC)", "outcome", "http", "error"):
            checks.add_column(column, overflow="fold")
        for k in data["checks"]:
            checks.add_row(k["at"], f"[{STATUS_STYLE.get(k['outcome'], '')}]{k['outcome']}[/]",
                           str(k["http_status"] or ""), _escape(k["error"] or ""))
        out.print(checks)
    for alert in data["open_alerts"]:
        out.print(f"[bold red]open alert[/] since {alert['opened_at']}: {_escape(alert['message'])}")


# ---------------------------------------------------------------- show


def show_command(config: str, spec: str, *, outline: bool = False) -> int:
    named = split_ref(spec)
    name, ref = named if named else (spec, "latest")
    settings = load_settings(config)
    policy = next((p for p in settings.policies if p.name == name), None)
    store = open_store(settings.store)
    try:
        snapshot = store.resolve_ref(name, ref)
        if outline:
            tree = current_outline(snapshot, policy, store.get_body)
        else:
            doc, _ = current_document(snapshot, policy, store.get_body, source=spec)
    finally:
        store.close()
    if outline:
        sys.stdout.write("\n".join(outline_lines(tree)) + "\n")
    else:
        sys.stdout.write(doc.text + "\n")
    return 0


# ---------------------------------------------------------------- migrate


def migrate_command(config: str) -> int:
    """Upgrade the store to this release's schema (back it up first); a current store is left alone."""
    settings = load_settings(config)
    before, after = migrate.migrate(settings.store)
    where = safe_url(settings.store.url)
    if before == after:
        sys.stdout.write(f"{where}: already at revision {after}; nothing to do\n")
    elif before is None:
        sys.stdout.write(f"{where}: new store created at revision {after}\n")
    else:
        label = "a release before migrations (0001)" if before == "legacy" else f"revision {before}"
        sys.stdout.write(f"{where}: upgraded from {label} to revision {after}\n")
    return 0


# ---------------------------------------------------------------- daemon


def daemon_command(config: str, *, notify: bool = True, log_level: str = "INFO") -> int:
    settings = load_settings(config)
    if not settings.policies:
        raise ConfigError(f"{config}: no [[policy]] to watch")
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)   # one line per check is ours to write
    return daemon.run(settings, notify=notify)
