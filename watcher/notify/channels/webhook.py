"""The webhook channel: each recorded change POSTed as JSON — the diff v1 report plus the change's
metadata — to every configured [[webhook]] at or above its min_severity, signed with HMAC-SHA256.

One delivery row per target, planned in the unit of work that records the change
(watcher.notify.webhooks, wired by watcher.app), sent by the same outbox as mail: claimed before the POST, "sent" only after
a 2xx, retried with backoff while the receiver is down (connection refused, timeout, 5xx, 408,
429); any other 4xx is permanent ("failed" until `watch outbox --retry`). A sender killed between
the POST and the commit sends the same bytes again after the lease: receivers drop a repeat by
the delivery id (in the body and the X-Policy-Watcher-Delivery header).

Request headers: `X-Policy-Watcher-Signature: sha256=<hex HMAC-SHA256 of the body with the
secret from secret_env>`, `X-Policy-Watcher-Event: change_recorded`, `X-Policy-Watcher-Delivery`.
The body is built once, at queue time, and stored on the row (7-bit JSON); the secret is read at
send time, so rotating it needs no requeue. For this channel a plan's Mail carries the JSON as
its text and a one-line summary as its subject (what `watch outbox` lists).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from typing import ClassVar

from watcher import __version__, lazy
from watcher.notify.channels.base import BuildError, Built, Plan, SendError

# requests loads when the first webhook is sent: a check that posts none never imports it
requests = lazy.module("requests")

SCHEMA = "policy-watcher/webhook/v1"
SIGNATURE_HEADER = "X-Policy-Watcher-Signature"
RETRIED_STATUSES = {408, 425, 429}


def signature(secret: str, body: bytes) -> str:
    """The signature header's value for `body` (what a receiver recomputes and compares)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """A JSON POST of the change (diff v1 report plus change metadata), signed with HMAC-SHA256."""

    kind: ClassVar[str] = "webhook"
    alive = True          # one target's trouble never stops the others: each POST stands alone

    def __init__(self, settings, transport=None):
        self.settings = settings
        self.session: requests.Session | None = None

    def _hook(self, name: str):
        return next((h for h in self.settings.webhooks if h.name == name), None)

    def build(self, plan: Plan) -> Built:
        if self._hook(plan.target) is None:
            raise BuildError(f"no [[webhook]] named {plan.target!r} in the config")
        try:
            body = json.loads(plan.mail.text)
        except ValueError as exc:
            raise BuildError(f"the webhook body is not JSON: {exc}") from exc
        body["delivery"] = {"id": plan.delivery_id, "queued_at": plan.queued_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        raw = json.dumps(body, ensure_ascii=True, separators=(",", ":"), sort_keys=True)
        return Built(target=plan.target, message_id=f"<webhook-{plan.delivery_id}.{secrets.token_hex(6)}@policy-watcher>",
                     raw=raw)

    def unsendable(self, raw: str, target: str) -> str | None:
        if self._hook(target) is None:
            return f"no [[webhook]] named {target!r} in the config any more"
        return None if raw.isascii() else "the stored webhook body is not 7-bit JSON"

    def __enter__(self) -> WebhookChannel:
        self.session = requests.Session()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def send(self, raw: str, target: str, key: str) -> None:
        hook = self._hook(target)
        if hook is None:
            raise SendError(f"webhook {target}: not in the config any more", permanent=True)
        secret = os.environ.get(hook.secret_env, "")
        if not secret:
            raise SendError(f"webhook {target}: environment variable {hook.secret_env} (its secret) is not set",
                            permanent=True)
        body = raw.encode("ascii")
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(secret, body),
                   "X-Policy-Watcher-Event": "change_recorded", "X-Policy-Watcher-Delivery": key,
                   "User-Agent": f"policy-watcher/{__version__}"}
        try:
            response = self.session.post(hook.url, data=body, headers=headers, timeout=hook.timeout,
                                         allow_redirects=False)
        except requests.RequestException as exc:
            raise SendError(f"webhook {target}: {type(exc).__name__}: {_first_line(exc)}") from exc
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return
        permanent = 300 <= status < 500 and status not in RETRIED_STATUSES
        raise SendError(f"webhook {target}: HTTP {status} from {hook.url}", permanent=permanent)


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]
