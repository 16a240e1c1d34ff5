"""The bodies of `watch check`, `watch history`, `watch show` and `watch daemon`: load the
config, call the library, print. watcher/cli.py only parses the arguments and calls these."""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from watcher.config import load_settings
from watcher.errors import ConfigError, InputError

STATUS_STYLE = {"first": "cyan", "unchanged": "dim", "changed": "bold yellow", "failed": "bold red"}
SEVERITY_STYLE = {"consent": "bold red", "notice": "yellow", "minor": "green", "none": "dim"}


# ---------------------------------------------------------------- check


def check_command(config: str, names: list[str], *, as_json: bool = False, notify: bool = True) -> int:
    """Exit 0 when every check ran (whatever it found), 1 when some check failed."""
    from watcher.check import check_policies, select_policies

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
        from watcher.outbox import drain

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
    from rich.markup import escape

    return escape(text)


# ---------------------------------------------------------------- history


def history_command(config: str, name: str, *, as_json: bool = False, checks: int = 10) -> int:
    from watcher.store import Store

    settings = load_settings(config)
    store = Store(settings.store)
    try:
        with store.Session() as session:
            policy = store.policy_row(session, name, create=False)
            if policy is None:
                settings.policy(name)   # unknown name -> ConfigError listing the known ones
                raise InputError(f"{name}: nothing stored yet (run `watch check {name}`)")
            snaps = store.snapshots(session, policy.id)
            changes = store.changes(session, policy.id)
            recent = store.recent_checks(session, policy.id, checks)
            alerts = _open_alerts(session, policy.id)
            data = _history_data(policy, snaps, changes, recent, alerts)
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        _print_history(data)
    return 0


def _open_alerts(session, policy_id):
    from sqlalchemy import select

    from watcher.store import AlertRow

    return list(session.scalars(select(AlertRow).where(AlertRow.policy_id == policy_id,
                                                       AlertRow.resolved_at.is_(None))))


def _ts(dt) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def _history_data(policy, snaps, changes, recent, alerts) -> dict:
    by_id = {s.id: s.version for s in snaps}
    return {
        "name": policy.name,
        "url": policy.url,
        "snapshots": [{"version": s.version, "fetched_at": _ts(s.fetched_at), "sha256": s.body_sha256,
                       "url": s.url, "clauses": s.clauses, "characters": len(s.text or ""),
                       "bytes": s.body_size} for s in snaps],
        "changes": [{"id": c.id, "created_at": _ts(c.created_at), "old_version": by_id.get(c.old_snapshot_id),
                     "new_version": by_id.get(c.new_snapshot_id), "severity": c.severity, "material": c.material,
                     "state": c.state, "summary": (c.report or {}).get("summary", {}),
                     "clauses": [_change_label(ch) for ch in (c.report or {}).get("changes", [])]}
                    for c in changes],
        "checks": [{"at": _ts(k.finished_at), "outcome": k.outcome, "http_status": k.http_status,
                    "error": k.error, "elapsed": k.elapsed} for k in recent],
        "consecutive_failures": policy.consecutive_failures,
        "open_alerts": [{"opened_at": _ts(a.opened_at), "message": a.message} for a in alerts],
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
    from watcher.check import clause_from_json, current_document, derivation_version, derive_document
    from watcher.sources import split_ref
    from watcher.store import Store

    named = split_ref(spec)
    name, ref = named if named else (spec, "latest")
    settings = load_settings(config)
    policy = next((p for p in settings.policies if p.name == name), None)
    store = Store(settings.store)
    try:
        with store.Session() as session:
            row = store.resolve_ref(session, name, ref)
            doc, derived = current_document(store, session, row, policy, source=spec)
            if outline:
                if derived is None and row.extractor_version == derivation_version(policy):
                    tree = [clause_from_json(c, i) for i, c in enumerate(row.outline or [])]
                else:
                    tree = [clause_from_json(c, i) for i, c in enumerate((derived or derive_document(doc)).outline)]
    finally:
        store.close()
    if outline:
        from watcher.segment import outline as outline_lines

        sys.stdout.write("\n".join(outline_lines(tree)) + "\n")
    else:
        sys.stdout.write(doc.text + "\n")
    return 0


# ---------------------------------------------------------------- daemon


def daemon_command(config: str, *, notify: bool = True, log_level: str = "INFO") -> int:
    from watcher import daemon

    settings = load_settings(config)
    if not settings.policies:
        raise ConfigError(f"{config}: no [[policy]] to watch")
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)   # one line per check is ours to write
    return daemon.run(settings, notify=notify)
