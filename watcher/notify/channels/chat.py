"""The chat channel: a short message per recorded change posted to Slack, Teams, Discord, Matrix,
Mattermost, ntfy ... through apprise (the optional extra `policy-watcher[chat]`).

One delivery row per [[chat]] target, planned in the unit of work that records the change
(watcher.notify.chats), sent by the same outbox as mail and webhooks, so a retry never re-posts to a
target that already took the message. The target's apprise URL (which carries the service's token)
is read from the environment variable the config names, at send time. apprise reports only
success or failure: a failure is retried with the outbox's backoff.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
from typing import ClassVar

from watcher.notify.channels.base import BuildError, Built, Plan, SendError


def load_apprise():
    """The apprise module: an optional dependency, imported the first time a chat message is sent."""
    try:
        return importlib.import_module("apprise")
    except ImportError:
        raise SendError("chat: apprise is not installed (pip install 'policy-watcher[chat]')", permanent=True) from None


class ChatChannel:
    """A short message (policy, verdict, categories, what to do) posted to a chat service through apprise."""

    kind: ClassVar[str] = "chat"
    alive = True          # each post stands alone: one target's trouble never stops the others

    def __init__(self, settings, transport=None):
        self.settings = settings
        self.apprise = transport      # tests and callers may hand in the module (or a stand-in)

    def _target(self, name: str):
        return next((c for c in self.settings.chats if c.name == name), None)

    def build(self, plan: Plan) -> Built:
        if self._target(plan.target) is None:
            raise BuildError(f"no [[chat]] named {plan.target!r} in the config")
        raw = json.dumps({"title": plan.mail.subject, "body": plan.mail.text, "delivery": plan.delivery_id},
                         ensure_ascii=True, separators=(",", ":"))
        return Built(target=plan.target, message_id=f"<chat-{plan.delivery_id}.{secrets.token_hex(6)}@policy-watcher>",
                     raw=raw)

    def unsendable(self, raw: str, target: str) -> str | None:
        if self._target(target) is None:
            return f"no [[chat]] named {target!r} in the config any more"
        return None if raw.isascii() else "the stored chat message is not 7-bit JSON"

    def __enter__(self) -> ChatChannel:
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def send(self, raw: str, target: str, key: str) -> None:
        chat = self._target(target)
        if chat is None:
            raise SendError(f"chat {target}: not in the config any more", permanent=True)
        url = os.environ.get(chat.url_env, "")
        if not url:
            raise SendError(f"chat {target}: environment variable {chat.url_env} (its apprise URL) is not set",
                            permanent=True)
        apprise = self.apprise or load_apprise()
        message = json.loads(raw)
        notifier = apprise.Apprise()
        if not notifier.add(url):
            raise SendError(f"chat {target}: apprise does not understand the URL in {chat.url_env}", permanent=True)
        if not notifier.notify(title=message["title"], body=message["body"]):
            raise SendError(f"chat {target}: the service did not take the message (apprise)")
