"""The outbox: every message is a row written in the same transaction as what it reports, and a
sender drains the rows, so nothing is lost and nothing goes out twice. Channel-agnostic: each row
names its channel (watcher.notify.channels.CHANNELS), which rendered it at queue time and sends it.

- `enqueue(...)` (planner, digest) writes one `deliveries` row per target per message, in the
  caller's unit of work: the message rendered now, with an id fixed now.
- `drain(settings)` sends what is due. A row is claimed (state "sending", committed) before it
  is handed to its channel and marked "sent" only after the other side accepted it. A sender
  killed between the two leaves a "sending" row; once its lease has expired the next drain sends
  it again, byte for byte, with the same message id: at most one duplicate, which mail clients
  and servers recognise by that id.
- A failure is recorded on the row (attempts, last_error, next_attempt_at with exponential
  backoff). Transient failures (server down, 4xx) are retried forever; a permanent one (5xx, or
  any error that retrying cannot cure) marks the row "failed" until `watch outbox --retry`. One bad
  row never stops the others: every exception is recorded on its own row.
- A message that could not be built (an unusable address) is "invalid": a terminal state, never
  requeued, never sent, shown by `watch outbox`; its change stays pending and staff hear of it in
  the daily digest's alerts (watcher.notify.planner).

- A notice to many users (more than FANOUT_INLINE) is planned in the change's transaction as one
  "fan-out" row carrying the message rendered once per language; `expand_fanouts` (run by every
  drain first) writes its deliveries in batches of FANOUT_BATCH, each batch its own short
  transaction (another check never waits for the whole list), each recipient once (the batch
  claims its user_notices, so a batch written before a crash is not written again). Those rows
  hold no message of their own: the template is completed (To, Message-ID, delivery id) when sent.

States: pending -> sending -> sent | pending (backoff) | failed (permanent) ; invalid (never built).
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from watcher.addresses import parse_address
from watcher.errors import ConfigError
from watcher.events import MailUndeliverable
from watcher.notify import compose
from watcher.notify.channels import CHANNELS, BuildError, Channel, Plan, SendError
from watcher.notify.mail import Mail, make_message_id, sender_address
from watcher.notify.recipients import configured_policy, policy_view, recipient_key, user_recipients
from watcher.store import Repository, Store, StoreConflict, utcnow
from watcher.store.deliveries import ClaimedDelivery, DeliveryView, FanoutView

# Backoff after the n-th failed attempt: BASE * 2**(n-1), at most MAX.
BACKOFF_BASE = timedelta(seconds=60)
BACKOFF_MAX = timedelta(hours=1)
# A row left "sending" longer than this belongs to a sender that died: send it again.
LEASE = timedelta(minutes=10)

STATES = ("pending", "sending", "sent", "failed", "invalid")

# More users than this: the change's transaction writes one fan-out row, the drain the deliveries.
FANOUT_INLINE = 200
FANOUT_BATCH = 1000
FANOUT_PAUSE = 0.1      # seconds between two batches on SQLite (see _expand)
PLACEHOLDER = "pw-fanout@placeholder.invalid"    # the recipient of a fan-out's template


# ---------------------------------------------------------------------------------------------
# Writing rows (inside the caller's unit of work)


@dataclass
class Queued:
    """One delivery written by `enqueue`: its id, its state (pending | invalid) and why if invalid."""

    id: int
    kind: str
    recipient: str
    state: str
    error: str | None = None


def channel_for(settings, kind: str = "email", transport=None) -> Channel:
    try:
        cls = CHANNELS[kind]
    except KeyError:
        raise SendError(f"no notification channel of kind {kind!r}", permanent=True) from None
    return cls(settings, transport=transport)


def enqueue(repo: Repository, uow, channel: Channel, *, kind: str, audience: str, recipient: str, language: str,
            mail: Mail, policy: str | None = None, change_id: int | None = None, digest_id: int | None = None,
            now: datetime | None = None) -> Queued:
    """Write one delivery with its finished message (rendered by `channel`) and its own id."""
    now = now or utcnow()
    delivery_id = repo.add_delivery(uow, channel=channel.kind, kind=kind, audience=audience, recipient=recipient,
                                    language=language, subject=mail.subject, policy=policy, change_id=change_id,
                                    digest_id=digest_id, now=now)
    try:
        built = channel.build(Plan(delivery_id=delivery_id, kind=kind, target=recipient, mail=mail, queued_at=now))
    except BuildError as exc:
        # One unusable address must not stop the change from being recorded: the row stays
        # visible as invalid in `watch outbox` and is never sent.
        error = str(exc)[:1000]
        repo.set_delivery_invalid(uow, delivery_id, error)
        return Queued(delivery_id, kind, recipient, "invalid", error)
    repo.set_delivery_message(uow, delivery_id, recipient=built.target, message_id=built.message_id,
                              message=built.raw)
    return Queued(delivery_id, kind, built.target, "pending")


# ---------------------------------------------------------------------------------------------
# Fan-out: a notice to many users


def fanout_template(channel: Channel, mail: Mail, now: datetime) -> dict:
    """The notice rendered once for every plain address of one language (planner, in the change's
    unit of work): completed per recipient when sent (`complete_template`)."""
    built = channel.build(Plan(delivery_id=0, kind="notice", target=PLACEHOLDER, mail=mail, queued_at=now))
    return {"subject": mail.subject, "raw": built.raw, "message_id": built.message_id}


def complete_template(template: dict, claimed: ClaimedDelivery) -> str:
    """The message of one fan-out delivery: the template's headers with its recipient, its
    Message-ID (fixed at queue time: a resend is byte for byte the same) and its delivery id."""
    head, sep, body = template["raw"].partition("\r\n\r\n")
    head = (head.replace(f"To: {PLACEHOLDER}", f"To: {claimed.recipient}", 1)
            .replace(template["message_id"], claimed.message_id or "", 1)
            .replace("X-Policy-Watcher: notice 0", f"X-Policy-Watcher: notice {claimed.id}", 1))
    return head + sep + body


def expand_fanouts(settings, repo: Repository, *, now: datetime | None = None, batch: int = FANOUT_BATCH) -> int:
    """Write the deliveries of every pending fan-out, `batch` recipients per transaction. Returns
    the deliveries written. Safe to run from several drains at once: a batch another drain wrote
    meanwhile is a conflict on user_notices, and this drain leaves that fan-out to it."""
    written = 0
    for fanout in repo.pending_fanouts():
        try:
            written += _expand(settings, repo, fanout, now or utcnow(), batch)
        except StoreConflict:
            continue
    return written


def _expand(settings, repo: Repository, fanout: FanoutView, now: datetime, batch: int) -> int:
    policy = configured_policy(settings, fanout.policy)
    users = user_recipients(policy)          # read now: the users file as it is when the mail goes out
    domain = sender_address(settings.smtp).domain
    channel = channel_for(settings, "email")
    mails: dict[str, Mail] = {}
    change = None
    written = 0
    for start in range(0, max(len(users), 1), batch):
        if start and repo.is_sqlite:
            # SQLite has one write lock: a gap after each batch lets a waiting writer (another
            # check) in; its busy handler polls at up to 100 ms, so a shorter gap could be missed.
            time.sleep(FANOUT_PAUSE)
        # addresses parsed before the transaction: it only claims and inserts
        chunk = [(user, recipient_key(user.email), _plain_address(user.email)) for user in users[start:start + batch]]
        with repo.unit_of_work() as uow:
            new = repo.claim_user_notices(uow, policy=fanout.policy, content_key=fanout.content_key,
                                          recipients=[key for _, key, _ in chunk], change_id=fanout.change_id, now=now)
            fast, slow = [], []
            for user, key, address in chunk:
                if key not in new:
                    continue        # told of this text before (or in a batch written before a crash)
                new.discard(key)
                template = fanout.templates.get(user.language)
                if template and address:
                    fast.append((address, user.language, template["subject"]))
                else:
                    slow.append(user)   # a display name or an unusable address: built (or refused) in full
            repo.add_template_deliveries(uow, change_id=fanout.change_id, policy=fanout.policy, rows=fast, now=now,
                                         message_id=lambda i: make_message_id(i, secrets.token_hex(6), domain))
            for user in slow:
                if change is None:
                    change = repo.change(fanout.change_id)
                if user.language not in mails:
                    mails[user.language] = compose.user_mail(policy_view(policy, fanout.policy), change.report,
                                                             user.language)
                q = enqueue(repo, uow, channel, kind="notice", audience="users", recipient=user.email,
                            language=user.language, mail=mails[user.language], policy=fanout.policy,
                            change_id=fanout.change_id, now=now)
                if q.state == "invalid":
                    _undeliverable(repo, uow, change, fanout.policy, q, now)
            if start + batch >= len(users):
                repo.finish_fanout(uow, fanout.change_id, now)
            written += len(fast) + len(slow)
    return written


def _plain_address(email: str) -> str | None:
    """The address when the template can carry it (no display name, ASCII), else None."""
    try:
        address = parse_address(email, "recipient")
    except ConfigError:
        return None
    return address.addr_spec if not address.display_name and address.addr_spec.isascii() else None


def _undeliverable(repo: Repository, uow, change, name: str, q: Queued, now: datetime) -> None:
    message = (f"{name}: the notice mail to {q.recipient!r} (outbox #{q.id}) was not sent: {q.error}; "
               f"change #{change.id} stays pending")
    alert_id = repo.add_alert(uow, policy_id=change.policy_id, kind="undeliverable", message=message, now=now)
    uow.publish(MailUndeliverable(policy=name, policy_id=change.policy_id, delivery_id=q.id, change_id=change.id,
                                  recipient=q.recipient, error=q.error or "", alert_id=alert_id))


# ---------------------------------------------------------------------------------------------
# Sending


@dataclass
class DrainResult:
    sent: int = 0
    failed: int = 0       # permanently (5xx): kept as "failed" until `watch outbox --retry`
    deferred: int = 0     # transient failure: will be retried after the backoff
    invalid: int = 0      # found unsendable (no message, unusable address): never retried
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.sent} sent, {self.deferred} deferred, {self.failed} failed"
        text += f", {self.invalid} invalid" if self.invalid else ""
        return text + (f" ({self.errors[-1]})" if self.errors else "")


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def drain(settings, store: Repository | None = None, *, transport=None, now: datetime | None = None,
          retry: bool = False, limit: int | None = None) -> DrainResult:
    """Send every due delivery. Safe to run from several processes at once (rows are claimed).
    `transport`: the email channel's transport (SMTP or .eml by default; tests pass their own)."""
    own = store is None
    store = store or Store(settings.store)
    try:
        return _Drain(settings, store, transport, now or utcnow()).run(retry, limit)
    finally:
        if own:
            store.close()


class _Drain:
    def __init__(self, settings, repo: Repository, transport, now: datetime):
        self.settings, self.repo, self.transport, self.now = settings, repo, transport, now
        self.result = DrainResult()
        self.open: dict[str, Channel] = {}
        self.down: set[str] = set()     # channels that cannot send in this drain (connection refused/lost)
        self.templates: dict[int, dict] = {}    # change id -> its fan-out's templates

    def run(self, retry: bool, limit: int | None) -> DrainResult:
        if retry:
            self.repo.requeue_deliveries(self.now)
        expand_fanouts(self.settings, self.repo, now=self.now)
        due = self.repo.due_deliveries(self.now, lease=LEASE, limit=limit)
        try:
            for position, delivery in enumerate(due):
                if delivery.channel in self.down:
                    continue
                # the rest of the list only when a channel fails (a copy per row made sending quadratic)
                channel = self._channel(delivery.channel, itertools.islice(due, position, None))
                if channel is not None:
                    self._send_one(channel, delivery.id, itertools.islice(due, position + 1, None))
        finally:
            for channel in self.open.values():
                channel.__exit__(None, None, None)
        return self.result

    def _channel(self, kind: str, rest) -> Channel | None:
        """The open channel of this kind; None (and the rest of its rows deferred) when it cannot open."""
        if kind in self.open:
            return self.open[kind]
        try:
            channel = channel_for(self.settings, kind, self.transport if kind == "email" else None)
            channel.__enter__()
        except SendError as exc:
            self._defer_rest(kind, rest, str(exc), permanent=exc.permanent)
            return None
        self.open[kind] = channel
        return channel

    def _defer_rest(self, kind: str, rest, error: str, *, permanent: bool = False) -> None:
        """Record one failed attempt on every still-pending row of this channel (none is claimed)."""
        self.down.add(kind)
        ids = [d.id for d in rest if d.channel == kind]
        n = self.repo.record_delivery_failure(ids, error, permanent=permanent, now=self.now, backoff=backoff,
                                              only_pending=True)
        if permanent:
            self.result.failed += n
        else:
            self.result.deferred += n
        self.result.errors.append(error)

    def _send_one(self, channel: Channel, delivery_id: int, rest) -> None:
        claimed = self.repo.claim_delivery(delivery_id, self.now, lease=LEASE)
        if claimed is None:
            return   # another sender has it, or it was sent meanwhile
        if not claimed.message and claimed.kind == "notice" and claimed.change_id is not None:
            template = self._template(claimed.change_id, claimed.language)
            if template:
                claimed.message = complete_template(template, claimed)
        unusable = ("no message was built for this delivery" if not claimed.message
                    else channel.unsendable(claimed.message, claimed.recipient))
        if unusable:
            self.repo.mark_delivery_invalid(delivery_id, unusable)
            self.result.invalid += 1
            self.result.errors.append(unusable)
            return
        try:
            channel.send(claimed.message, claimed.recipient, f"delivery-{delivery_id:08d}")
        except SendError as exc:
            self._failed(delivery_id, str(exc), exc.permanent)
            if not exc.permanent and not channel.alive:
                # The connection is gone: the rest of this channel's rows would fail the same way.
                self._defer_rest(claimed.channel, rest, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - one row's surprise must not block the others
            # Not a reply from the other side: retrying the same bytes cannot help, so it waits for a person.
            self._failed(delivery_id, f"cannot send: {type(exc).__name__}: {exc}", True)
            return
        # Only now, after the other side accepted it.
        self.repo.mark_delivery_sent(delivery_id)
        self.result.sent += 1

    def _template(self, change_id: int, language: str) -> dict | None:
        if change_id not in self.templates:
            self.templates[change_id] = self.repo.fanout_templates(change_id)
        return self.templates[change_id].get(language)

    def _failed(self, delivery_id: int, error: str, permanent: bool) -> None:
        self.repo.record_delivery_failure([delivery_id], error, permanent=permanent, now=self.now, backoff=backoff)
        if permanent:
            self.result.failed += 1
        else:
            self.result.deferred += 1
        self.result.errors.append(error)


# ---------------------------------------------------------------------------------------------
# Listing (watch outbox)


def format_deliveries(rows: list[DeliveryView]) -> str:
    """`watch outbox`: one line per delivery (state, attempts, recipient, subject, last error)."""
    if not rows:
        return "outbox is empty\n"
    lines = [f"{'id':>6}  {'state':<8} {'tries':>5}  {'queued (UTC)':<16}  {'recipient':<28}  subject"]
    for r in rows:
        when = r.created_at.strftime("%Y-%m-%d %H:%M") if r.created_at else ""
        line = f"{r.id:>6}  {r.state:<8} {r.attempts:>5}  {when:<16}  {r.recipient[:28]:<28}  {r.subject}"
        if r.state != "sent" and r.last_error:
            due = f", next try {r.next_attempt_at:%Y-%m-%d %H:%M}" if r.state == "pending" else ""
            line += f"\n{'':>8}error: {r.last_error[:160]}{due}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def outbox_command(settings, *, retry: bool = False, limit: int = 50) -> tuple[str, int]:
    """`watch outbox [--retry]`: the deliveries, newest last; --retry sends every unsent one now
    (invalid ones excepted: they cannot be built). Exit status 1 when some are still unsent after --retry."""
    store = Store(settings.store)
    try:
        head = ""
        status = 0
        if retry:
            result = drain(settings, store, retry=True)
            head = f"retry: {result}\n"
            status = 1 if (result.deferred or result.failed) else 0
        rows = store.list_deliveries(limit=limit)
        by_state = store.delivery_counts()
        summary = ", ".join(f"{n} {state}" for state, n in sorted(by_state.items()))
        tail = (f"total: {summary}\n" if summary else "")
        if by_state.get("invalid"):
            tail += ("invalid: these mails could not be built (see the error) and are never sent; "
                     "fix the address in the config or users file\n")
        return head + format_deliveries(rows) + tail, status
    finally:
        store.close()
