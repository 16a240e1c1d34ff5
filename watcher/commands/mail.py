"""`watch digest` and `watch outbox`: the staff digest and the outbox (watcher.notify)."""

from __future__ import annotations

from watcher.commands.output import write
from watcher.config import load_settings
from watcher.notify import digest_command, outbox_command


def digest(args) -> int:
    write(digest_command(load_settings(args.config), send=args.send, dry_run=args.dry_run))
    return 0


def outbox(args) -> int:
    text, status = outbox_command(load_settings(args.config), retry=args.retry, limit=args.limit)
    write(text)
    return status
