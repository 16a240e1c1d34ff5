"""`watch digest` and `watch outbox`: the staff digest and the outbox (watcher.notify)."""

from __future__ import annotations

from email import message_from_string
from email import policy as email_policy

from watcher.commands import terminal_safe
from watcher.commands.output import write
from watcher.config import load_settings
from watcher.errors import InputError
from watcher.notify import digest_command, outbox_command
from watcher.store import open_store

# `watch outbox --show ID`: these headers of a mail, then its decoded text part.
SHOWN_HEADERS = ("From", "To", "Subject", "Date", "Message-ID")


def digest(args) -> int:
    write(digest_command(load_settings(args.config), send=args.send, dry_run=args.dry_run))
    return 0


def outbox(args) -> int:
    if args.show is not None:
        write(show_delivery(load_settings(args.config), args.show))
        return 0
    text, status = outbox_command(load_settings(args.config), retry=args.retry, limit=args.limit)
    write(text)
    return status


def show_delivery(settings, delivery_id: int) -> str:
    """One delivery: its outbox row, the mail's headers (decoded) and its text body (decoded)."""
    store = open_store(settings.store)
    try:
        found = store.delivery_with_message(delivery_id)
    finally:
        store.close()
    if found is None:
        raise InputError(f"outbox: no delivery {delivery_id} (see watch outbox)")
    row, message = found
    lines = [f"delivery {row.id}: {row.state}, {row.attempts} tries, {row.channel} {row.kind} to {row.audience}"
             + (f", policy {row.policy}" if row.policy else "") + (f", change {row.change_id}" if row.change_id else "")]
    if row.last_error and row.state != "sent":
        lines.append(f"error: {row.last_error}")
    if not message:
        lines += [f"To: {row.recipient}", f"Subject: {row.subject}", "", "(the message is built when it is sent)"]
        return terminal_safe("\n".join(lines)) + "\n"
    if row.channel != "email":
        return terminal_safe("\n".join(lines) + "\n\n" + message.rstrip("\n")) + "\n"
    msg = message_from_string(message, policy=email_policy.default)
    lines += [f"{name}: {msg[name]}" for name in SHOWN_HEADERS if msg[name] is not None]
    body = msg.get_body(("plain",))
    text = body.get_content() if body is not None else "(no text part)"
    return terminal_safe("\n".join(lines) + "\n\n" + text.replace("\r\n", "\n").rstrip("\n")) + "\n"
