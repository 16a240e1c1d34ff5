"""Email addresses and header-safe text: the one parser that config validation and the mailer share
(an address the config accepts is one the mailer can send to). No I/O, no other watcher module."""

from __future__ import annotations

import re
import unicodedata
from email.headerregistry import Address

from watcher.errors import ConfigError

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


def parse_address(value: str, what: str) -> Address:
    """An address from config or a users file: 'Name <a@b>' or 'a@b'. ConfigError when it is not one."""
    raw = str(value)
    if any(ch in raw for ch in "\r\n\0"):
        raise ConfigError(f"{what}: line break in email address {raw!r}")
    name, addr = _one_mailbox(raw, what)
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


# Characters that are syntax in an address header (lists, groups, routes, comments, quoting): one
# entry is one mailbox, `a@b` or `Name <a@b>` (a display name may be a "quoted string").
_SPECIALS = set('<>@,;:"()[]\\')
_QUOTED = re.compile(r'^"((?:[^"\\]|\\.)*)"$')


def _one_mailbox(raw: str, what: str) -> tuple[str, str]:
    """(display name, addr-spec) of exactly one mailbox; ConfigError for a list, a group or junk.
    (email.utils.parseaddr reads `Bob: evil@x <bob@y>` as evil@x: it is not used for this.)"""
    text = raw.strip()
    name, addr = "", text
    if text.endswith(">"):
        lt = text.rfind("<")
        if lt < 0:
            raise ConfigError(f"{what}: not an email address: {raw!r}")
        name, addr = text[:lt].strip(), text[lt + 1:-1].strip()
        quoted = _QUOTED.match(name)
        if quoted:
            name = re.sub(r"\\(.)", r"\1", quoted.group(1))
        elif _SPECIALS & set(name):
            raise ConfigError(f"{what}: one address per entry, without groups, lists or comments "
                              f"(quote a display name that has punctuation): {raw!r}")
    if _SPECIALS - {"@"} & set(addr) or not addr:
        raise ConfigError(f"{what}: one address per entry, without groups, lists or comments: {raw!r}")
    return name, addr


def is_address(value: str) -> bool:
    try:
        parse_address(value, "address")
    except ConfigError:
        return False
    return True
