"""`watch audit [CHANGE]`: the review audit trail (who, when, what, note), oldest first."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

from watcher.commands import plain
from watcher.config import load_settings
from watcher.review import ReviewError
from watcher.store import open_store


def ts(dt) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def event_data(e) -> dict:
    return {"id": e.id, "at": ts(e.created_at), "change": e.change_id, "policy": e.policy, "actor": e.actor,
            "role": e.role, "action": e.action, "value": e.value, "note": e.note, "state": e.state}


def print_events(events) -> None:
    out = Console(highlight=False)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("#", "at (UTC)", "change", "policy", "who", "what", "state", "note"):
        table.add_column(column, overflow="fold")
    for e in events:
        what = e.action + (f" {e.value}" if e.value else "")
        table.add_row(str(e.id), ts(e.created_at), str(e.change_id), plain(e.policy), plain(e.actor), plain(what),
                      e.state, plain(e.note))
    out.print(table)


def run(args) -> int:
    settings = load_settings(args.config)
    store = open_store(settings.store)
    try:
        if args.change is not None and store.change(args.change) is None:
            raise ReviewError(f"change #{args.change} is not in the store")
        events = store.audit_events(args.change, limit=None if args.change is not None else args.limit)
    finally:
        store.close()
    if args.json:
        sys.stdout.write(json.dumps([event_data(e) for e in events], ensure_ascii=False, indent=2) + "\n")
    elif not events:
        print("no review events recorded" + (f" for change #{args.change}" if args.change is not None else ""))
    else:
        print_events(events)
    return 0
