"""What every notification channel is: it renders a planned message once, when the delivery is
queued (the result is stored on the delivery row), and later sends those stored bytes as they are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from watcher.notify.mail import Mail


class SendError(Exception):
    """A message the other side did not take. `permanent` when retrying cannot help (a 5xx reply)."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class BuildError(Exception):
    """A message that cannot be built for this target (an unusable address): the delivery is invalid."""


@dataclass(frozen=True)
class Plan:
    """One message to one target, as the planner or the digest decided it."""

    delivery_id: int        # the outbox row (part of stable message ids)
    kind: str               # notice | alert | digest
    target: str             # an address as configured (an email address for "email")
    mail: Mail
    queued_at: datetime     # naive UTC


@dataclass(frozen=True)
class Built:
    target: str             # the normalised target the message is sent to
    message_id: str         # unique, fixed at queue time: a resend carries the same one
    raw: str                # what is stored and sent, byte for byte (7-bit text)


class Channel(Protocol):
    """A kind of notification channel (a class in watcher.notify.channels.CHANNELS).

    Built with `cls(settings, transport=None)`. Used as a context manager around a batch of sends
    (a connection); `alive` is False once that connection is gone (the rest of the batch waits)."""

    kind: ClassVar[str]
    alive: bool

    def build(self, plan: Plan) -> Built: ...                      # raises BuildError

    def unsendable(self, raw: str, target: str) -> str | None: ...  # why a stored row can never be sent

    def __enter__(self) -> Channel: ...                             # raises SendError

    def __exit__(self, *exc_info) -> None: ...

    def send(self, raw: str, target: str, key: str) -> None: ...   # raises SendError(permanent=...)
