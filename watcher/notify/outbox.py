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

States: pending -> sending -> sent | pending (backoff) | failed (permanent) ; invalid (never built).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from watcher.notify.channels import CHANNELS, BuildError, Channel, Plan, SendError
from watcher.notify.mail import Mail
from watcher.store import Repository, Store, utcnow
from watcher.store.deliveries import DeliveryView

# Backoff after the n-th failed attempt: BASE * 2**(n-1), at most MAX.
BACKOFF_BASE = timedelta(seconds=60)
BACKOFF_MAX = timedelta(hours=1)
# A row left "sending" longer than this belongs to a sender that died: send it again.
LEASE = timedelta(minutes=10)

STATES = ("pending", "sending", "sent", "failed", "invalid")


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

    def run(self, retry: bool, limit: int | None) -> DrainResult:
        if retry:
            self.repo.requeue_deliveries(self.now)
        due = self.repo.due_deliveries(self.now, lease=LEASE, limit=limit)
        try:
            for position, delivery in enumerate(due):
                if delivery.channel in self.down:
                    continue
                channel = self._channel(delivery.channel, due[position:])
                if channel is not None:
                    self._send_one(channel, delivery.id, due[position + 1:])
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
