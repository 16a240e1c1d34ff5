"""`watch review CHANGE --action ... [--decision ...] [--note ...]`: one review step, recorded as
append-only audit events under the reviewer's name."""

from __future__ import annotations

import getpass

from watcher.commands.audit import print_events
from watcher.config import load_settings
from watcher.review import ReviewRequest, record_review
from watcher.store import open_store


def actor(args) -> str:
    return args.actor or f"cli:{getpass.getuser()}"


def run(args) -> int:
    settings = load_settings(args.config)
    store = open_store(settings.store)
    try:
        request = ReviewRequest(tick=list(args.action or []), untick=list(args.undo or []), decision=args.decision,
                                note=args.note or "", reopen=args.reopen)
        before = store.review(args.change).last_event_id or 0
        review = record_review(store, args.change, request, actor=actor(args))
    finally:
        store.close()
    print(f"change #{review.change_id}: {review.state}" + (f" ({review.decision})" if review.decision else "")
          + (f"; done: {', '.join(review.actions)}" if review.actions else ""))
    print_events([e for e in review.events if e.id > before])
    return 0
