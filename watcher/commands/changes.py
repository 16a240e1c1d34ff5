"""`watch changes [--open]`: recorded changes with their verdict and review state (from the store)."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

from watcher.commands import SEVERITY_STYLE, plain
from watcher.config import load_settings
from watcher.store import open_store


def ts(dt) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def run(args) -> int:
    settings = load_settings(args.config)
    store = open_store(settings.store)
    try:
        rows, total = store.change_summaries(open_only=args.open, policy=args.policy, severity=args.severity,
                                             review_state=args.state, limit=args.limit)
    finally:
        store.close()
    data = [{"id": c.id, "policy": c.policy, "created_at": ts(c.created_at), "versions": [c.old_version, c.new_version],
             "severity": c.severity, "material": c.material, "notified": c.notified, "review": c.review_state,
             "decision": c.decision, "actions_done": c.actions_done, "checklist": c.checklist} for c in rows]
    if args.json:
        sys.stdout.write(json.dumps({"total": total, "changes": data}, ensure_ascii=False, indent=2) + "\n")
        return 0
    out = Console(highlight=False)
    if not rows:
        out.print("no open changes" if args.open else "no changes recorded")
        return 0
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("id", "policy", "detected (UTC)", "versions", "severity", "review", "decision", "checklist"):
        table.add_column(column, overflow="fold")
    for c in data:
        done = set(c["actions_done"])
        items = " ".join(("[x] " if a in done else "[ ] ") + a for a in c["checklist"]) or "-"
        table.add_row(str(c["id"]), plain(c["policy"]), c["created_at"], f"{c['versions'][0]} → {c['versions'][1]}",
                      f"[{SEVERITY_STYLE.get(c['severity'], '')}]{c['severity']}[/]", c["review"],
                      c["decision"] or "", plain(items))
    out.print(table)
    if total > len(rows):
        out.print(f"{len(rows)} of {total} shown (--limit)")
    return 0
