"""`watch list`: every policy's status from the store — last check, last change and its severity,
open reviews, open alerts — without fetching anything. Configured policies never checked are
listed too."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

from watcher.commands import SEVERITY_STYLE, STATUS_STYLE, plain
from watcher.config import load_settings
from watcher.store import open_store


def ts(dt) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def run(args) -> int:
    settings = load_settings(args.config)
    store = open_store(settings.store)
    try:
        page = store.policy_overview(limit=1_000_000)
    finally:
        store.close()
    configured = {p.name for p in settings.policies}
    stored = {r.name for r in page.rows}
    data = [{"name": r.name, "url": r.url, "configured": r.name in configured, "status": r.last_outcome or "never",
             "last_checked_at": ts(r.last_checked_at), "failures": r.consecutive_failures,
             "last_change": r.last_change_id, "last_change_at": ts(r.last_change_at), "severity": r.last_severity,
             "open_reviews": r.open_reviews, "open_alerts": r.open_alerts} for r in page.rows]
    data += [{"name": p.name, "url": p.url, "configured": True, "status": "never", "last_checked_at": None,
              "failures": 0, "last_change": None, "last_change_at": None, "severity": None, "open_reviews": 0,
              "open_alerts": 0} for p in settings.policies if p.name not in stored]
    data.sort(key=lambda d: d["name"])
    if args.json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return 0
    out = Console(highlight=False)
    if not data:
        out.print("no policies configured or stored")
        return 0
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("policy", "status", "last check (UTC)", "last change", "severity", "open reviews", "alerts"):
        table.add_column(column, overflow="fold")
    for d in data:
        status = d["status"] + (f" ×{d['failures']}" if d["failures"] else "")
        name = plain(d["name"]) + ("" if d["configured"] else " [dim](not in config)[/]")
        change = f"#{d['last_change']} {d['last_change_at'][:10]}" if d["last_change"] else ""
        severity = f"[{SEVERITY_STYLE.get(d['severity'], '')}]{d['severity']}[/]" if d["severity"] else ""
        table.add_row(name, f"[{STATUS_STYLE.get(d['status'], '')}]{status}[/]", d["last_checked_at"] or "never",
                      change, severity, str(d["open_reviews"] or ""), str(d["open_alerts"] or ""))
    out.print(table)
    return 0
