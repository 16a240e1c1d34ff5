"""The email channel: SMTP (smtplib) when [smtp] is configured, otherwise .eml files in
notify.outbox_dir (the embedded default: no server, nothing lost, every mail readable)."""

from __future__ import annotations

import os
import secrets
import smtplib
import ssl
import tempfile
from datetime import UTC
from pathlib import Path
from typing import ClassVar

from watcher.addresses import header_text, parse_address
from watcher.errors import ConfigError, WatchError
from watcher.notify.channels.base import BuildError, Built, Plan, SendError
from watcher.notify.mail import build_message, make_message_id, readable, sender_address, serialize


class EmailChannel:
    """An RFC 5322 message built once at queue time, sent by SMTP or written as an .eml file."""

    kind: ClassVar[str] = "email"

    def __init__(self, settings, transport=None):
        self.settings = settings
        self.given = transport
        self.transport = None
        self.envelope_from = ""

    def build(self, plan: Plan) -> Built:
        sender = sender_address(self.settings.smtp)
        message_id = make_message_id(plan.delivery_id, secrets.token_hex(6), sender.domain)
        try:
            to = parse_address(plan.target, "recipient")
            msg = build_message(plan.mail, sender=sender, recipient=to, message_id=message_id,
                                date=plan.queued_at.replace(tzinfo=UTC),
                                extra_headers={"X-Policy-Watcher": f"{plan.kind} {plan.delivery_id}"})
            raw = serialize(msg).decode("ascii")
        except (WatchError, ValueError, TypeError, UnicodeError) as exc:
            raise BuildError(f"cannot build the message: {exc}") from exc
        return Built(target=to.addr_spec, message_id=message_id, raw=raw)

    def unsendable(self, raw: str, target: str) -> str | None:
        if not raw.isascii():
            return "the stored message is not 7-bit ASCII"
        try:
            parse_address(target, "recipient")
        except WatchError as exc:
            return str(exc)[:1000]
        return None

    def __enter__(self) -> EmailChannel:
        self.envelope_from = sender_address(self.settings.smtp).addr_spec
        transport = self.given if self.given is not None else open_transport(self.settings)
        transport.__enter__()
        self.transport = transport
        return self

    @property
    def alive(self) -> bool:
        return self.transport is not None and getattr(self.transport, "alive", True)

    def send(self, raw: str, target: str, key: str) -> None:
        self.transport.send(raw.encode("ascii"), self.envelope_from, target, key)

    def __exit__(self, *exc_info) -> None:
        if self.transport is not None:
            self.transport.__exit__(None, None, None)
            self.transport = None


def open_transport(settings):
    """SMTP when [smtp] is configured, otherwise .eml files in notify.outbox_dir."""
    if settings.smtp is None:
        return EmlTransport(settings.notify.outbox_dir)
    return SmtpTransport(settings.smtp)


class SmtpTransport:
    """One SMTP connection for a batch of mails (use as a context manager)."""

    def __init__(self, smtp, ssl_context: ssl.SSLContext | None = None):
        self.smtp = smtp
        self.ssl_context = ssl_context
        self.conn: smtplib.SMTP | None = None

    def password(self) -> str | None:
        if not getattr(self.smtp, "username", ""):
            return None
        name = getattr(self.smtp, "password_env", "") or ""
        if not name:
            raise ConfigError("smtp.password_env: a username is set but no password_env names its password")
        value = os.environ.get(name)
        if value is None:
            raise ConfigError(f"smtp.password_env: environment variable {name} is not set")
        return value

    def __enter__(self) -> SmtpTransport:
        s = self.smtp
        timeout = float(getattr(s, "timeout", None) or 30)
        password = self.password()   # a config mistake is reported before any connection
        context = self.ssl_context or ssl.create_default_context()
        try:
            if getattr(s, "ssl", False):
                conn = smtplib.SMTP_SSL(s.host, s.port, timeout=timeout, context=context)
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=timeout)
                if getattr(s, "starttls", False):
                    conn.starttls(context=context)
            if password is not None:
                conn.login(s.username, password)
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(f"SMTP login to {s.host}:{s.port} refused: {_reply(exc)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"cannot connect to SMTP server {s.host}:{s.port}: {_describe(exc)}") from exc
        self.conn = conn
        return self

    @property
    def alive(self) -> bool:
        return self.conn is not None

    def send(self, raw: bytes, envelope_from: str, recipient: str, key: str) -> None:
        """Returns only when the server accepted the mail (250 after DATA)."""
        assert self.conn is not None, "use SmtpTransport as a context manager"
        try:
            refused = self.conn.sendmail(envelope_from, [recipient], raw)
        except (UnicodeError, ValueError) as exc:
            # smtplib could not even write the command (a non-ASCII address): the server is mid
            # transaction, so reset it for the next mail; retrying this one cannot help.
            self._reset()
            raise SendError(f"cannot send to {recipient!r}: {_describe(exc)}", permanent=True) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (550, b""))
            raise SendError(f"recipient refused: {code} {_decode(reply)}", permanent=code >= 500) from exc
        except smtplib.SMTPResponseException as exc:
            raise SendError(f"SMTP error: {_reply(exc)}", permanent=exc.smtp_code >= 500) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.conn = None
            raise SendError(f"SMTP connection lost: {_describe(exc)}") from exc
        if refused:
            raise SendError(f"recipient refused: {refused}", permanent=True)

    def _reset(self) -> None:
        try:
            self.conn.rset()
        except (OSError, smtplib.SMTPException):
            self.conn.close()
            self.conn = None

    def __exit__(self, *exc_info) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException):
                self.conn.close()
            self.conn = None


class EmlTransport:
    """Writes each mail to DIR/<key>.eml (atomically); the embedded default when there is no [smtp]."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def __enter__(self) -> EmlTransport:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SendError(f"cannot create outbox directory {self.directory}: {exc}") from exc
        return self

    alive = True

    def send(self, raw: bytes, envelope_from: str, recipient: str, key: str) -> None:
        target = self.directory / f"{key}.eml"
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".eml")
            with os.fdopen(fd, "wb") as fh:
                fh.write(readable(raw))      # the text part in 8-bit UTF-8: `cat` shows it
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise SendError(f"cannot write {target}: {exc}") from exc

    def __exit__(self, *exc_info) -> None:
        return None


def _decode(reply) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return header_text(f"{exc.smtp_code} {_decode(exc.smtp_error)}", 200)


def _describe(exc: BaseException) -> str:
    return header_text(f"{type(exc).__name__}: {exc}", 200)
