"""Who is asking: accounts from the config (password hashes, or passwords from the environment),
HTTP Basic authentication, roles, CSRF tokens, and the rule that only a loopback address may be
served without accounts."""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from dataclasses import dataclass

from watcher.config import WebAccount, WebSettings
from watcher.errors import ConfigError

SCRYPT = (2 ** 14, 8, 1)          # N, r, p: about 16 MiB and 50 ms a hash
PBKDF2_ITERATIONS = 600_000
CSRF_MAX_AGE = 12 * 3600          # seconds a form stays valid


@dataclass(frozen=True)
class Identity:
    name: str                     # what the audit trail records
    role: str                     # viewer | reviewer

    @property
    def can_review(self) -> bool:
        return self.role == "reviewer"


def hash_password(password: str, *, method: str = "scrypt") -> str:
    """A hash for [[web.account]] password_hash (`watch serve --hash-password`)."""
    salt = secrets.token_bytes(16)
    b64 = base64.b64encode
    if method == "scrypt":
        n, r, p = SCRYPT
        digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
        return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, PBKDF2_ITERATIONS)
    return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        parts = stored.split("$")
        if parts[0] == "scrypt":
            n, r, p = (int(x) for x in parts[1:4])
            salt, expected = base64.b64decode(parts[4]), base64.b64decode(parts[5])
            digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected),
                                    maxmem=256 * 1024 * 1024)
        elif parts[0] == "pbkdf2_sha256":
            iterations = int(parts[1])
            salt, expected = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, len(expected))
        else:
            return False
    except (ValueError, IndexError, binascii.Error):
        return False
    return hmac.compare_digest(digest, expected)


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, web: WebSettings) -> None:
    """Refuse to serve a non-loopback address without accounts (anyone on the network could review)."""
    if not is_loopback(host) and not web.accounts:
        raise ConfigError(f"web: refusing to listen on {host}: only a loopback address (127.0.0.1) may be served "
                          "without accounts; add [[web.account]] entries (watch serve --hash-password)")
    for account in web.accounts:
        if account.password_env and account.password_env not in os.environ:
            raise ConfigError(f"web.account {account.name}: environment variable {account.password_env} is not set")


class Accounts:
    """Checks HTTP Basic credentials against the configured accounts (a good pair is remembered for
    the process, so the slow hash is computed once per password, not once per request)."""

    def __init__(self, accounts: list[WebAccount]):
        self.by_name = {a.name: a for a in accounts}
        self._good: dict[tuple[str, str], Identity] = {}

    @property
    def required(self) -> bool:
        return bool(self.by_name)

    def local(self) -> Identity:
        """No accounts (loopback only): whoever can reach the port is the machine's user."""
        return Identity(f"local:{getpass.getuser()}", "reviewer")

    def from_header(self, header: str | None) -> Identity | None:
        if not header or not header.lower().startswith("basic "):
            return None
        try:
            name, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        account = self.by_name.get(name)
        if account is None:
            return None
        key = (name, hashlib.sha256(password.encode("utf-8")).hexdigest())
        if key in self._good:
            return self._good[key]
        if account.password_env:
            ok = hmac.compare_digest(password.encode("utf-8"), os.environ.get(account.password_env, "").encode("utf-8")) \
                and bool(os.environ.get(account.password_env))
        else:
            ok = verify_password(password, account.password_hash)
        if not ok:
            return None
        identity = Identity(name, account.role)
        self._good[key] = identity
        return identity


class Csrf:
    """Tokens bound to the identity and a time, signed with the server's key."""

    def __init__(self, secret: bytes):
        self.secret = secret

    @classmethod
    def from_settings(cls, web: WebSettings) -> Csrf:
        value = os.environ.get(web.secret_env, "") if web.secret_env else ""
        return cls(value.encode("utf-8") if value else secrets.token_bytes(32))

    def _sign(self, who: str, stamp: str) -> str:
        return hmac.new(self.secret, f"{who}|{stamp}".encode(), hashlib.sha256).hexdigest()

    def token(self, who: str, now: float | None = None) -> str:
        stamp = str(int(now if now is not None else time.time()))
        return f"{stamp}.{self._sign(who, stamp)}"

    def valid(self, who: str, token: str | None, now: float | None = None) -> bool:
        if not token or "." not in token:
            return False
        stamp, _, mac = token.partition(".")
        if not stamp.isdigit() or not hmac.compare_digest(mac, self._sign(who, stamp)):
            return False
        age = (now if now is not None else time.time()) - int(stamp)
        return -60 <= age <= CSRF_MAX_AGE
