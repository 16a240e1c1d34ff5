"""`watch history NAME`: the stored versions, changes, recent checks and open alerts of one policy."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

from watcher.commands import SEVERITY_STYLE, STATUS_STYLE, plain
from watcher.config import load_settings
from watcher.derive import stored_clauses
from watcher.errors import InputError
from watcher.store import open_store


def run(args) -> int:
    return history_command(args.config, args.name, as_json=args.json)


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
                       "url": s.url, "clauses": stored_clauses(s), "characters": len(s.text or ""),
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
    out.print(f"[bold]{plain(data['name'])}[/]  {plain(data['url'])}")
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
                        plain("; ".join(c["clauses"][:4]) + (" …" if len(c["clauses"]) > 4 else "")))
    out.print(changes if data["changes"] else "no changes recorded")
    if data["checks"]:
        checks = Table(title="recent checks", title_justify="left", box=None, header_style="bold", pad_edge=False)
        for column in ("at (UTC)", "outcome", "http", "error"):
            checks.add_column(column, overflow="fold")
        for k in data["checks"]:
            checks.add_row(k["at"], f"[{STATUS_STYLE.get(k['outcome'], '')}]{k['outcome']}[/]",
                           str(k["http_status"] or ""), plain(k["error"] or ""))
        out.print(checks)
    for alert in data["open_alerts"]:
        out.print(f"[bold red]open alert[/] since {alert['opened_at']}: {plain(alert['message'])}")
