"""Email messages: build them safely, send them with smtplib, or write them as .eml files.

Everything that reaches a header passes through `header_text` (no CR/LF, no control or
bidi characters, bounded length) and the message is serialised with a strict SMTP policy,
so page text can never add a header. Bodies are plain data: text and HTML parts.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

from watcher.errors import ConfigError

# 7bit transfer encodings only (base64 / quoted-printable for Japanese): every SMTP server
# accepts the stored bytes unchanged, so a resend is byte-for-byte the same message.
MAIL_POLICY = email_policy.SMTP.clone(cte_type="7bit")

DEFAULT_SENDER = "policy-watcher <policy-watcher@localhost>"
SUBJECT_LIMIT = 80

_SPACES = re.compile(r"\s+")


def header_text(value: str, limit: int = SUBJECT_LIMIT) -> str:
    """One safe line for a header: controls, line breaks and format characters become spaces."""
    chars = []
    for ch in str(value):
        cat = unicodedata.category(ch)
        # Cc: control (CR, LF, NUL, ...); Cf: format (bidi overrides, zero-width); Zl/Zp: separators.
        chars.append(" " if cat in ("Cc", "Cf", "Zl", "Zp") else ch)
    text = _SPACES.sub(" ", "".join(chars)).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def body_text(value: str) -> str:
    """Body text with one kind of line break and no stray control characters."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def parse_address(value: str, what: str) -> Address:
    """An address from config or a users file: 'Name <a@b>' or 'a@b'. ConfigError when it is not one."""
    raw = str(value)
    if any(ch in raw for ch in "\r\n\0"):
        raise ConfigError(f"{what}: line break in email address {raw!r}")
    name, addr = parseaddr(raw)
    if not addr or addr.count("@") != 1 or " " in addr:
        raise ConfigError(f"{what}: not an email address: {raw!r}")
    local, domain = addr.split("@")
    if not local or not domain or "." not in domain.strip(".") and domain != "localhost":
        raise ConfigError(f"{what}: not an email address: {raw!r}")
    # Stored messages are 7-bit and resent byte for byte, so we do not use SMTPUTF8: a non-ASCII
    # local part cannot be sent at all; a non-ASCII domain has an ASCII (IDNA) form that can.
    if not local.isascii():
        raise ConfigError(f"{what}: non-ASCII characters before the @ are not supported "
                          f"(SMTPUTF8 is not used): {raw!r}")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ConfigError(f"{what}: domain is not a valid internationalised name: {raw!r}") from exc
    try:
        return Address(display_name=header_text(name, 60), username=local, domain=domain)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{what}: not an email address: {raw!r} ({exc})") from exc


def sender_address(smtp) -> Address:
    """The From address: [smtp] from, or a local default when mail goes to .eml files."""
    value = getattr(smtp, "sender", None) if smtp is not None else None
    return parse_address(value or DEFAULT_SENDER, "smtp.from")


def make_message_id(delivery_id: int, token: str, domain: str) -> str:
    """A Message-ID fixed when the delivery is queued: a resend carries the same one."""
    domain = re.sub(r"[^A-Za-z0-9.-]", "", domain) or "policy-watcher.invalid"
    return f"<pw-{delivery_id}.{token}@{domain}>"


@dataclass
class Mail:
    """A rendered mail, before it is serialised."""

    subject: str
    text: str
    html: str | None = None


def build_message(
    mail: Mail,
    *,
    sender: Address,
    recipient: Address,
    message_id: str,
    date: datetime | None = None,
    extra_headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A multipart/alternative message (text first, HTML second) with safe headers."""
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = header_text(mail.subject)
    msg["Date"] = format_datetime((date or datetime.now(UTC)).astimezone(UTC))
    msg["Message-ID"] = message_id
    # RFC 3834: tells auto-responders not to answer.
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in (extra_headers or {}).items():
        msg[header_text(name, 40).replace(" ", "-")] = header_text(value, 200)
    msg.set_content(body_text(mail.text), charset="utf-8")
    if mail.html is not None:
        msg.add_alternative(body_text(mail.html), subtype="html", charset="utf-8")
    return msg


def serialize(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=MAIL_POLICY)


class SendError(Exception):
    """A mail the server did not take. `permanent` when retrying cannot help (5xx reply)."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


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
                fh.write(raw)
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
