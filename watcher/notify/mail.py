"""Email messages (RFC 5322): build them safely and serialise them once, 7-bit, so that a resend
is the same bytes. Sending them is the email channel's business (watcher.notify.channels.email).

Everything that reaches a header passes through `header_text` (no CR/LF, no control or
bidi characters, bounded length) and the message is serialised with a strict SMTP policy,
so page text can never add a header. Bodies are plain data: text and HTML parts.
"""

from __future__ import annotations

import base64
import quopri
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime

from watcher.addresses import SUBJECT_LIMIT, header_text, parse_address

# 7bit transfer encodings only (base64 / quoted-printable for Japanese): every SMTP server
# accepts the stored bytes unchanged, so a resend is byte-for-byte the same message.
MAIL_POLICY = email_policy.SMTP.clone(cte_type="7bit")

DEFAULT_SENDER = "policy-watcher <policy-watcher@localhost>"

__all__ = ["DEFAULT_SENDER", "MAIL_POLICY", "SUBJECT_LIMIT", "Mail", "body_text", "build_message", "header_text",
           "make_message_id", "parse_address", "readable", "sender_address", "serialize"]


@dataclass
class Mail:
    """A rendered mail (watcher.notify.compose), before a channel turns it into what it sends."""

    subject: str
    text: str
    html: str | None = None


def body_text(value: str) -> str:
    """Body text with one kind of line break and no stray control characters."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def sender_address(smtp) -> Address:
    """The From address: [smtp] from, or a local default when mail goes to .eml files."""
    value = getattr(smtp, "sender", None) if smtp is not None else None
    return parse_address(value or DEFAULT_SENDER, "smtp.from")


def make_message_id(delivery_id: int, token: str, domain: str) -> str:
    """A Message-ID fixed when the delivery is queued: a resend carries the same one."""
    domain = re.sub(r"[^A-Za-z0-9.-]", "", domain)[:200] or "policy-watcher.invalid"   # the column holds 250
    return f"<pw-{delivery_id}.{token}@{domain}>"


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


# An .eml file is read by people (`cat`, less): its text part in 8-bit UTF-8, lines CRLF as sent.
_FILE_POLICY = email_policy.SMTP.clone(cte_type="8bit")


def readable(raw: bytes) -> bytes:
    """The stored 7-bit message with its text/plain parts in 8-bit UTF-8 instead of base64 /
    quoted-printable: the same headers (Message-ID, Date...) and the same decoded text; the HTML
    part stays as stored (a mail client's business). For .eml files, never for SMTP.

    The messages build_message makes are rewritten part by part in their bytes (parsing and
    generating a message with the email package cost ~6 ms, more than rendering it); anything of
    another shape goes through the email package (tests/test_mail.py: the same bytes either way)."""
    fast = _readable_parts(raw)
    return fast if fast is not None else _readable_by_parsing(raw)


_CRLF2 = b"\r\n\r\n"
_BOUNDARY = re.compile(rb'^Content-Type: multipart/[a-z]+;\r\n boundary="([^"\r\n]+)"\r\n', re.M)
_PLAIN_UTF8 = re.compile(rb'^Content-Type: text/plain; charset="utf-8"\r\n', re.M)
_CTE = re.compile(rb'^Content-Transfer-Encoding: (base64|quoted-printable)\r\n', re.M)


def _readable_parts(raw: bytes) -> bytes | None:
    head_end = raw.find(_CRLF2)
    if head_end < 0 or b"\n" in raw.replace(b"\r\n", b""):
        return None
    head = raw[:head_end + 2]
    m = _BOUNDARY.search(head)
    if m is None:
        return _plain_part(raw)
    delimiter = b"\r\n--" + m.group(1)
    pieces = raw.split(delimiter)
    if len(pieces) < 3 or not pieces[-1].startswith(b"--"):
        return None
    out = [pieces[0]]
    for piece in pieces[1:-1]:
        if not piece.startswith(b"\r\n"):
            return None
        part = _plain_part(piece[2:])
        if part is None:
            return None
        out.append(b"\r\n" + part)
    out.append(pieces[-1])
    return delimiter.join(out)


def _plain_part(part: bytes) -> bytes | None:
    """One part (its headers, a blank line, its body) with a base64 / QP UTF-8 text body in 8 bits."""
    head_end = part.find(_CRLF2)
    if head_end < 0:
        return None
    head, body = part[:head_end + 2], part[head_end + 4:]
    if _PLAIN_UTF8.search(head) is None:
        return part
    cte = _CTE.search(head)
    if cte is None:
        return part
    try:
        data = base64.b64decode(body, validate=False) if cte.group(1) == b"base64" else quopri.decodestring(body)
        text = data.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    lines = text.splitlines()
    if any(len(line.encode("utf-8")) > 998 for line in lines):
        return None     # the email package folds what SMTP cannot carry: let it decide
    eight_bit = "".join(line + "\r\n" for line in lines).encode("utf-8")
    head = head[:cte.start()] + head[cte.end():] + b"Content-Transfer-Encoding: 8bit\r\n"
    return head + b"\r\n" + eight_bit + (b"\r\n" if body.endswith(b"\r\n\r\n") else b"")


def _readable_by_parsing(raw: bytes) -> bytes:
    msg = BytesParser(policy=_FILE_POLICY).parsebytes(raw)
    changed = False
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and part.get("Content-Transfer-Encoding", "").lower() in (
                "base64", "quoted-printable"):
            text = part.get_content()
            del part["Content-Transfer-Encoding"]
            part.set_payload(text.encode("utf-8"), charset=None)
            part["Content-Transfer-Encoding"] = "8bit"
            changed = True
    return msg.as_bytes(policy=_FILE_POLICY) if changed else raw
