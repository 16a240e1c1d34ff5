"""Notifications: who is told what, when, and through which channel.

    recipients   staff and users of a policy, routing override (notify_users)
    planner      subscribes to ChangeRecorded (watcher.app wires it): immediate messages, digest items
    digest       the daily staff digest (minor changes + operational alerts)
    compose      JSON v1 reports -> mails (jinja2 templates, ja/en, text + HTML with inline CSS)
    outbox       the channel-agnostic state machine: claim, send, backoff, lease, invalid
    channels     CHANNELS by kind ("email": SMTP or .eml files); mail: RFC 5322 messages

Nothing here imports the checker: the planner hears of changes through the store's events.
"""

from __future__ import annotations

import importlib

# The names below load with their first use (PEP 562 __getattr__): watcher.app subscribes the
# planners (watcher.notify.planner, .webhooks, .chats) for every check, and a check that records
# no change never needs the mails, the outbox or the channels they would load.
_EXPORTS = {
    "CHANNELS": "watcher.notify.channels", "Channel": "watcher.notify.channels",
    "EmlTransport": "watcher.notify.channels", "SendError": "watcher.notify.channels",
    "SmtpTransport": "watcher.notify.channels", "open_transport": "watcher.notify.channels",
    "effective_date": "watcher.notify.compose", "safe_url": "watcher.notify.compose",
    "DigestMail": "watcher.notify.digest", "DigestRace": "watcher.notify.digest", "DigestRun": "watcher.notify.digest",
    "build_digests": "watcher.notify.digest", "digest_command": "watcher.notify.digest",
    "pending_digest": "watcher.notify.digest", "send_daily_digest": "watcher.notify.digest",
    "LEASE": "watcher.notify.outbox", "STATES": "watcher.notify.outbox", "DrainResult": "watcher.notify.outbox",
    "backoff": "watcher.notify.outbox", "drain": "watcher.notify.outbox", "enqueue": "watcher.notify.outbox",
    "outbox_command": "watcher.notify.outbox",
    "staff_recipients": "watcher.notify.recipients", "user_recipients": "watcher.notify.recipients",
    "users_wanted": "watcher.notify.recipients",
}
_SUBMODULES = ("compose", "planner")

__all__ = sorted([*_EXPORTS, *_SUBMODULES])


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value         # once: the next lookup is a plain module attribute
    return value
