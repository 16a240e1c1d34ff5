"""The outbox: every mail is a row written in the same transaction as the change it reports,
and a sender drains the rows, so nothing is lost and nothing goes out twice.

- `enqueue(...)` is called by watcher.check INSIDE the transaction that records a change; it
  writes one `deliveries` row per recipient per mail (the whole RFC 5322 message, rendered now,
  with a Message-ID fixed now), or a `digest_items` row for the daily staff digest.
- `drain(settings)` sends what is due. A row is claimed (state "sending", committed) before it
  is handed to the server and marked "sent" only after the server accepted it (250 after DATA).
  A sender killed between the two leaves a "sending" row; once its lease has expired the next
  drain sends it again, byte for byte, with the same Message-ID: at most one duplicate, which
  mail clients and servers recognise by that ID.
- A failure is recorded on the row (attempts, last_error, next_attempt_at with exponential
  backoff). Transient failures (server down, 4xx) are retried forever; a 5xx reply, or any
  error that retrying cannot cure, marks the row "failed" until `watch outbox --retry`. One bad
  row never stops the others: every exception is recorded on its own row.
- A mail that could not be built (an unusable address: `mail.parse_address` refuses it) is
  "invalid": a terminal state, never requeued, never sent, shown by `watch outbox`; its change
  stays pending and staff hear of it in the daily digest's alerts (watcher.notify).

Without an [smtp] section the "server" is a directory: one .eml file per delivery in
notify.outbox_dir, written atomically, so they count as sent at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from watcher.errors import WatchError
from watcher.mail import (
    EmlTransport,
    Mail,
    SendError,
    SmtpTransport,
    build_message,
    make_message_id,
    parse_address,
    sender_address,
    serialize,
)
from watcher.store import Base, ChangeRow, Store, utcnow

# Backoff after the n-th failed attempt: BASE * 2**(n-1), at most MAX.
BACKOFF_BASE = timedelta(seconds=60)
BACKOFF_MAX = timedelta(hours=1)
# A row left "sending" longer than this belongs to a sender that died: send it again.
LEASE = timedelta(minutes=10)

STATES = ("pending", "sending", "sent", "failed", "invalid")


class Delivery(Base):
    """One mail to one recipient."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))            # notice (users) | alert (staff) | digest (staff)
    audience: Mapped[str] = mapped_column(String(8))         # users | staff
    policy: Mapped[str | None] = mapped_column(String(200), nullable=True)
    change_id: Mapped[int | None] = mapped_column(ForeignKey("changes.id"), nullable=True, index=True)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id"), nullable=True, index=True)
    recipient: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="ja")
    subject: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str | None] = mapped_column(String(250), unique=True, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")   # the serialised message, 7-bit ASCII
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Digest(Base):
    """One build of the daily staff digest (its deliveries point here)."""

    __tablename__ = "digests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    items: Mapped[int] = mapped_column(Integer, default=0)
    alerts: Mapped[int] = mapped_column(Integer, default=0)


class DigestItem(Base):
    """A minor change waiting for the next daily staff digest (digest_id NULL until then)."""

    __tablename__ = "digest_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id"), index=True)
    policy: Mapped[str] = mapped_column(String(200))
    recipients: Mapped[list] = mapped_column(JSON, default=list)     # [[email, language], ...]
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id"), nullable=True, index=True)


# ---------------------------------------------------------------------------------------------
# Writing rows (inside the caller's transaction)


def enqueue(session: Session, settings, policy_settings, change_row, report_dict: dict) -> list[Delivery]:
    """Queue the mails for one recorded change, in the caller's transaction (see watcher.notify)."""
    from watcher.notify import queue_change  # notify builds on this module's tables

    return queue_change(session, settings, policy_settings, change_row, report_dict)


def add_delivery(
    session: Session,
    settings,
    *,
    kind: str,
    audience: str,
    recipient: str,
    language: str,
    mail: Mail,
    policy: str | None = None,
    change_id: int | None = None,
    digest_id: int | None = None,
    now: datetime | None = None,
) -> Delivery:
    """Write one delivery row with its finished message and its own Message-ID."""
    now = now or utcnow()
    sender = sender_address(settings.smtp)
    row = Delivery(kind=kind, audience=audience, policy=policy, change_id=change_id, digest_id=digest_id,
                   recipient=recipient, language=language, subject=mail.subject, state="pending",
                   attempts=0, next_attempt_at=now, created_at=now)
    session.add(row)
    session.flush()   # the id is part of the Message-ID
    row.message_id = make_message_id(row.id, secrets.token_hex(6), sender.domain)
    try:
        to = parse_address(recipient, "recipient")
        row.recipient = to.addr_spec
        msg = build_message(mail, sender=sender, recipient=to, message_id=row.message_id,
                            date=now.replace(tzinfo=UTC), extra_headers={"X-Policy-Watcher": f"{kind} {row.id}"})
        row.message = serialize(msg).decode("ascii")
    except (WatchError, ValueError, TypeError, UnicodeError) as exc:
        # One unusable address must not stop the change from being recorded: the row stays
        # visible as invalid in `watch outbox` and is never sent.
        row.state, row.last_error, row.message = "invalid", f"cannot build the message: {exc}"[:1000], ""
    return row


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


def open_transport(settings):
    """SMTP when [smtp] is configured, otherwise .eml files in notify.outbox_dir."""
    if settings.smtp is None:
        return EmlTransport(settings.notify.outbox_dir)
    return SmtpTransport(settings.smtp)


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def due_ids(session: Session, now: datetime, limit: int | None = None) -> list[int]:
    stale = now - LEASE
    query = (select(Delivery.id)
             .where(or_((Delivery.state == "pending") & (Delivery.next_attempt_at <= now),
                        (Delivery.state == "sending") & (Delivery.claimed_at < stale)))
             .order_by(Delivery.id))
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def requeue(session: Session, now: datetime | None = None) -> int:
    """Make every unsent delivery due now (pending ones waiting for a backoff, failed ones).
    Invalid ones stay invalid: there is nothing to send."""
    now = now or utcnow()
    # Rows stored as failed with no message (before "invalid" existed) were never built.
    session.execute(update(Delivery).where(Delivery.state == "failed", Delivery.message == "")
                    .values(state="invalid"))
    result = session.execute(update(Delivery).where(Delivery.state.in_(("pending", "failed")))
                             .values(state="pending", next_attempt_at=now))
    return result.rowcount or 0


def drain(settings, store: Store | None = None, *, transport=None, now: datetime | None = None,
          retry: bool = False, limit: int | None = None) -> DrainResult:
    """Send every due delivery. Safe to run from several processes at once (rows are claimed)."""
    own = store is None
    store = store or Store(settings.store)
    try:
        return _drain(settings, store, transport, now or utcnow(), retry, limit)
    finally:
        if own:
            store.close()


def _drain(settings, store: Store, transport, now: datetime, retry: bool, limit: int | None) -> DrainResult:
    result = DrainResult()
    with store.session() as s:
        if retry:
            requeue(s, now)
        ids = due_ids(s, now, limit)
    if not ids:
        return result
    transport = transport if transport is not None else open_transport(settings)
    envelope_from = sender_address(settings.smtp).addr_spec
    try:
        transport.__enter__()
    except SendError as exc:
        _fail_all(store, ids, str(exc), now, result)
        return result
    try:
        for position, delivery_id in enumerate(ids):
            with store.session() as s:
                row = _claim(s, delivery_id, now)
                if row is None:
                    continue   # another sender has it, or it was sent meanwhile
                unusable = _unsendable(row)
                if unusable:
                    row.state, row.claimed_at, row.last_error = "invalid", None, unusable
                    result.invalid += 1
                    result.errors.append(unusable)
                    continue
                raw, recipient = row.message.encode("ascii"), row.recipient
            try:
                transport.send(raw, envelope_from, recipient, f"delivery-{delivery_id:08d}")
            except SendError as exc:
                with store.session() as s:
                    _record_failure(s.get(Delivery, delivery_id), str(exc), exc.permanent, now, result)
                if not exc.permanent and not getattr(transport, "alive", True):
                    # The connection is gone: the rest would fail the same way.
                    _fail_all(store, ids[position + 1:], str(exc), now, result)
                    break
                continue
            except Exception as exc:  # noqa: BLE001 - one row's surprise must not block the others
                # Not a server reply: retrying the same bytes cannot help, so it waits for a person.
                with store.session() as s:
                    _record_failure(s.get(Delivery, delivery_id), f"cannot send: {type(exc).__name__}: {exc}",
                                    True, now, result)
                continue
            # Only now, after the server accepted the mail.
            with store.session() as s:
                row = s.get(Delivery, delivery_id)
                row.state, row.sent_at, row.last_error = "sent", utcnow(), None
                row.attempts += 1
                s.flush()
                settle_changes(s, _change_ids(s, row))
            result.sent += 1
    finally:
        transport.__exit__(None, None, None)
    return result


def _unsendable(row: Delivery) -> str | None:
    """Why a claimed row can never be sent (no message, an address smtplib cannot write), or None."""
    if not row.message:
        return "no message was built for this delivery"
    if not row.message.isascii():
        return "the stored message is not 7-bit ASCII"
    try:
        parse_address(row.recipient, "recipient")
    except WatchError as exc:
        return str(exc)[:1000]
    return None


def _claim(session: Session, delivery_id: int, now: datetime) -> Delivery | None:
    stale = now - LEASE
    claimed = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id,
               or_(Delivery.state == "pending", (Delivery.state == "sending") & (Delivery.claimed_at < stale)))
        .values(state="sending", claimed_at=utcnow())
    ).rowcount
    return session.get(Delivery, delivery_id) if claimed == 1 else None


def _record_failure(row: Delivery, error: str, permanent: bool, now: datetime, result: DrainResult,
                    log: bool = True):
    row.attempts += 1
    row.last_error = error[:1000]
    row.claimed_at = None
    if permanent:
        row.state = "failed"
        result.failed += 1
    else:
        row.state = "pending"
        row.next_attempt_at = now + backoff(row.attempts)
        result.deferred += 1
    if log:
        result.errors.append(error)


def _fail_all(store: Store, ids: list[int], error: str, now: datetime, result: DrainResult):
    if not ids:
        return
    with store.session() as s:
        for row in s.scalars(select(Delivery).where(Delivery.id.in_(ids), Delivery.state == "pending")):
            _record_failure(row, error, False, now, result, log=False)
    result.errors.append(error)


def _change_ids(session: Session, row: Delivery) -> set[int]:
    if row.change_id is not None:
        return {row.change_id}
    if row.digest_id is not None:
        return set(session.scalars(select(DigestItem.change_id).where(DigestItem.digest_id == row.digest_id)))
    return set()


def settle_changes(session: Session, change_ids) -> None:
    """A change is "notified" once nothing for it waits: every delivery sent, no digest item open."""
    for change_id in change_ids:
        change = session.get(ChangeRow, change_id)
        if change is None or change.state != "pending":
            continue
        open_deliveries = session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.change_id == change_id, Delivery.state != "sent"))
        items = list(session.scalars(select(DigestItem).where(DigestItem.change_id == change_id)))
        if open_deliveries or any(i.digest_id is None for i in items):
            continue
        digests = {i.digest_id for i in items}
        if digests and session.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.digest_id.in_(digests), Delivery.state != "sent")):
            continue
        change.state = "notified"


# ---------------------------------------------------------------------------------------------
# Listing (watch outbox)


def list_deliveries(session: Session, states: tuple[str, ...] | None = None, limit: int = 200) -> list[Delivery]:
    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if states:
        query = query.where(Delivery.state.in_(states))
    return list(reversed(list(session.scalars(query))))


def counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
    return {state: n for state, n in rows}


def format_deliveries(rows: list[Delivery]) -> str:
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
    (invalid ones excepted: they cannot be built). Exit status 1 when mails are still unsent after --retry."""
    store = Store(settings.store)
    try:
        head = ""
        status = 0
        if retry:
            result = drain(settings, store, retry=True)
            head = f"retry: {result}\n"
            status = 1 if (result.deferred or result.failed) else 0
        with store.Session() as s:
            rows = list_deliveries(s, limit=limit)
            by_state = counts(s)
            summary = ", ".join(f"{n} {state}" for state, n in sorted(by_state.items()))
        tail = (f"total: {summary}\n" if summary else "")
        if by_state.get("invalid"):
            tail += ("invalid: these mails could not be built (see the error) and are never sent; "
                     "fix the address in the config or users file\n")
        return head + format_deliveries(rows) + tail, status
    finally:
        store.close()
