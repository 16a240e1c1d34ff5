"""Notification channels, by kind: the outbox sends each delivery through the channel its row
names (`deliveries.channel`). A kind is a class with a docstring (its first line is what the
README's table says), built with `cls(settings, transport=None)`; see base.Channel.

"email", "webhook" (watcher.notify.webhooks plans its rows) and "chat" (apprise, optional;
watcher.notify.chats plans its rows).
"""

from __future__ import annotations

from watcher.notify.channels.base import BuildError, Built, Channel, Plan, SendError
from watcher.notify.channels.chat import ChatChannel
from watcher.notify.channels.email import EmailChannel, EmlTransport, SmtpTransport, open_transport
from watcher.notify.channels.webhook import WebhookChannel
from watcher.registry import Registry

CHANNELS = Registry("channel")
CHANNELS.register(EmailChannel)
CHANNELS.register(WebhookChannel)
CHANNELS.register(ChatChannel)

__all__ = ["CHANNELS", "Built", "BuildError", "Channel", "ChatChannel", "EmailChannel", "EmlTransport", "Plan", "SendError",
           "SmtpTransport", "WebhookChannel", "open_transport"]
