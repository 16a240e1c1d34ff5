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

from watcher.notify import compose, planner
from watcher.notify.channels import CHANNELS, Channel, EmlTransport, SendError, SmtpTransport, open_transport
from watcher.notify.compose import effective_date, safe_url
from watcher.notify.digest import (
    DigestMail,
    DigestRace,
    DigestRun,
    build_digests,
    digest_command,
    pending_digest,
    send_daily_digest,
)
from watcher.notify.outbox import LEASE, STATES, DrainResult, backoff, drain, enqueue, outbox_command
from watcher.notify.recipients import staff_recipients, user_recipients, users_wanted

__all__ = [
    "CHANNELS", "LEASE", "STATES", "Channel", "DigestMail", "DigestRace", "DigestRun", "DrainResult", "EmlTransport",
    "SendError", "SmtpTransport", "backoff", "build_digests", "compose", "digest_command", "drain", "effective_date",
    "enqueue", "open_transport", "outbox_command", "pending_digest", "planner", "safe_url", "send_daily_digest",
    "staff_recipients", "user_recipients", "users_wanted",
]
