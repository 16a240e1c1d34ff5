"""The outbox's and the digest's SQL (mixed into the Repository): deliveries, digests, digest items
and alerts. Callers get plain dataclasses (below), never a row or a session.

Writes that belong to a change (its deliveries, digest item, undeliverable alert) take the caller's
unit of work; the outbox's state changes (claim, failure, sent) are one short transaction each,
so a row is committed "sending" before it is handed to a server and "sent" only after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from watcher.store.convert import alert_view as _alert_view
from watcher.store.convert import change_view as _change_view
from watcher.store.schema import (
    AlertRow,
    ChangeRow,
    Delivery,
    Digest,
    DigestItem,
    Fanout,
    SnapshotRow,
    UserNotice,
    utcnow,
)
from watcher.store.views import AlertView, ChangeView

DELIVERY_STATES = ("pending", "sending", "sent", "failed", "invalid")
OPEN_STATES = tuple(s for s in DELIVERY_STATES if s != "sent")


@dataclass
class DeliveryView:
    """One outbox row as `watch outbox` lists it (without its stored message)."""

    id: int
    created_at: datetime
    channel: str
    kind: str               # notice | alert | digest
    audience: str           # users | staff
    policy: str | None
    change_id: int | None
    digest_id: int | None
    recipient: str
    language: str
    subject: str
    message_id: str | None
    state: str              # see DELIVERY_STATES
    attempts: int
    next_attempt_at: datetime
    claimed_at: datetime | None
    last_error: str | None
    sent_at: datetime | None


@dataclass
class DueDelivery:
    id: int
    channel: str


@dataclass
class ClaimedDelivery:
    """A row this sender claimed ("sending"): what it sends, through which channel."""

    id: int
    channel: str
    recipient: str
    message: str
    kind: str = ""
    change_id: int | None = None
    language: str = ""
    message_id: str | None = None


@dataclass
class FanoutView:
    """A change's notice to many users, waiting to be expanded into deliveries."""

    change_id: int
    policy: str
    content_key: str
    templates: dict         # language -> {"subject", "raw", "message_id"}


@dataclass
class DigestItemView:
    """A minor change waiting for the daily staff digest."""

    id: int
    change_id: int
    policy: str
    recipients: list        # [[address, language], ...]
    created_at: datetime


@dataclass
class PendingDigest:
    items: list[DigestItemView]
    alerts: list[AlertView]


class DeliveryMethods:
    """Repository methods for deliveries, digests, digest items and alerts."""

    Session: Callable[[], Session]       # provided by the Repository

    # -------------------------------------------------- queueing (the caller's unit of work)

    def add_delivery(self, uow, *, channel: str, kind: str, audience: str, recipient: str, language: str,
                     subject: str, policy: str | None = None, change_id: int | None = None,
                     digest_id: int | None = None, now: datetime | None = None) -> int:
        """A pending delivery without its message yet (the channel builds it with this id:
        `set_delivery_message` or `set_delivery_invalid` next, in the same unit of work)."""
        now = now or utcnow()
        row = Delivery(channel=channel, kind=kind, audience=audience, policy=policy, change_id=change_id,
                       digest_id=digest_id, recipient=recipient, language=language, subject=subject,
                       state="pending", attempts=0, next_attempt_at=now, created_at=now, message="")
        uow.session.add(row)
        uow.session.flush()
        return row.id

    def set_delivery_message(self, uow, delivery_id: int, *, recipient: str, message_id: str, message: str) -> None:
        uow.session.execute(update(Delivery).where(Delivery.id == delivery_id)
                            .values(recipient=recipient, message_id=message_id, message=message))

    def set_delivery_invalid(self, uow, delivery_id: int, error: str) -> None:
        """Terminal: nothing can be sent (never requeued); shown by `watch outbox`."""
        uow.session.execute(update(Delivery).where(Delivery.id == delivery_id)
                            .values(state="invalid", claimed_at=None, message="", last_error=error[:1000]))

    def add_digest_item(self, uow, *, change_id: int, policy: str, recipients: list, now: datetime | None = None) -> int:
        row = DigestItem(change_id=change_id, policy=policy, recipients=recipients, created_at=now or utcnow())
        uow.session.add(row)
        uow.session.flush()
        return row.id

    def add_alert(self, uow, *, policy_id: int, kind: str, message: str, failures: int = 0,
                  now: datetime | None = None) -> int:
        """An operational alert for staff (the next daily digest carries it once)."""
        row = AlertRow(policy_id=policy_id, kind=kind, message=message, failures=failures, opened_at=now or utcnow())
        uow.session.add(row)
        uow.session.flush()
        return row.id

    def content_key(self, snapshot_id: int, *, uow=None) -> str:
        """What a user notice is about: the normalised text's hash of the version it announces
        (the same text fetched again, from a flapping page, has the same key)."""
        with self._reading(uow) as s:
            key = s.scalar(select(SnapshotRow.text_key).where(SnapshotRow.id == snapshot_id))
        return key or f"snapshot:{snapshot_id}"

    def claim_user_notices(self, uow, *, policy: str, content_key: str, recipients: Iterable[str],
                           change_id: int | None = None, now: datetime | None = None) -> set[str]:
        """Record that these recipients (lowercased addresses) are told of `content_key` of `policy`;
        returns those not told before (the others already had this notice: never twice)."""
        wanted = list(dict.fromkeys(recipients))
        if not wanted:
            return set()
        session = uow.session
        told: set[str] = set()
        for start in range(0, len(wanted), 500):
            told.update(session.scalars(select(UserNotice.recipient).where(
                UserNotice.policy == policy, UserNotice.content_key == content_key,
                UserNotice.recipient.in_(wanted[start:start + 500]))))
        new = [r for r in wanted if r not in told]
        if new:
            now = now or utcnow()
            session.execute(UserNotice.__table__.insert(), [
                {"policy": policy, "content_key": content_key, "recipient": r, "change_id": change_id,
                 "created_at": now} for r in new])
        return set(new)

    # -------------------------------------------------- fan-out (a notice to many users)

    def add_fanout(self, uow, *, change_id: int, policy: str, content_key: str, templates: dict,
                   now: datetime | None = None) -> None:
        """In the change's unit of work: one row instead of one delivery per user."""
        uow.session.add(Fanout(change_id=change_id, policy=policy, content_key=content_key, templates=templates,
                               state="pending", created_at=now or utcnow()))
        uow.session.flush()

    def pending_fanouts(self) -> list[FanoutView]:
        with self._read() as s:
            return [FanoutView(f.change_id, f.policy, f.content_key, dict(f.templates or {}))
                    for f in s.scalars(select(Fanout).where(Fanout.state == "pending").order_by(Fanout.change_id))]

    def fanout_templates(self, change_id: int) -> dict:
        with self._read() as s:
            return dict(s.scalar(select(Fanout.templates).where(Fanout.change_id == change_id)) or {})

    def add_template_deliveries(self, uow, *, change_id: int, policy: str, rows: list[tuple[str, str, str]],
                                message_id: Callable[[int], str], now: datetime | None = None) -> list[int]:
        """Pending email notices of a fan-out, (recipient, language, subject) each: the message is
        the fan-out's template for the language, completed when it is sent (watcher.notify.outbox)."""
        if not rows:
            return []
        now = now or utcnow()
        session = uow.session
        ids = list(session.scalars(insert(Delivery).returning(Delivery.id, sort_by_parameter_order=True), [
            {"channel": "email", "kind": "notice", "audience": "users", "policy": policy, "change_id": change_id,
             "recipient": recipient, "language": language, "subject": subject, "state": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now, "message": ""} for recipient, language, subject in rows]))
        session.execute(update(Delivery.__table__).where(Delivery.__table__.c.id == bindparam("b_id"))
                        .values(message_id=bindparam("b_mid")),
                        [{"b_id": i, "b_mid": message_id(i)} for i in ids])
        return ids

    def settle_change(self, uow, change_id: int) -> None:
        """The change is "notified" now if nothing of it waits (no open delivery of any channel, no
        open digest item or fan-out); else it stays pending until the last one is sent."""
        uow.session.flush()
        _settle_changes(uow.session, {change_id})

    def finish_fanout(self, uow, change_id: int, now: datetime | None = None) -> None:
        """Every recipient expanded: the change settles like any other (notified once all is sent)."""
        uow.session.execute(update(Fanout).where(Fanout.change_id == change_id)
                            .values(state="done", done_at=now or utcnow()))
        uow.session.flush()
        _settle_changes(uow.session, {change_id})

    def snapshot_versions(self, snapshot_ids: Iterable[int | None], *, uow=None) -> dict[int, int]:
        """Snapshot id -> version (for `watch show NAME@N` hints in mails)."""
        ids = [i for i in snapshot_ids if i]
        if not ids:
            return {}
        with self._reading(uow) as s:
            return dict(s.execute(select(SnapshotRow.id, SnapshotRow.version).where(SnapshotRow.id.in_(ids))).all())

    # -------------------------------------------------- the drain (one short transaction each)

    def requeue_deliveries(self, now: datetime) -> int:
        """Make every unsent delivery due now (pending ones waiting for a backoff, failed ones).
        Invalid ones stay invalid: there is nothing to send."""
        with self._write() as s:
            result = s.execute(update(Delivery).where(Delivery.state.in_(("pending", "failed")))
                               .values(state="pending", next_attempt_at=now))
            return result.rowcount or 0

    def due_deliveries(self, now: datetime, *, lease: timedelta, limit: int | None = None) -> list[DueDelivery]:
        """Pending rows whose time has come, and rows left "sending" longer than the lease."""
        stale = now - lease
        query = (select(Delivery.id, Delivery.channel)
                 .where(or_((Delivery.state == "pending") & (Delivery.next_attempt_at <= now),
                            (Delivery.state == "sending") & (Delivery.claimed_at < stale)))
                 .order_by(Delivery.id))
        if limit:
            query = query.limit(limit)
        with self._read() as s:
            return [DueDelivery(i, channel or "email") for i, channel in s.execute(query)]

    def claim_delivery(self, delivery_id: int, now: datetime, *, lease: timedelta) -> ClaimedDelivery | None:
        """Mark the row "sending" (committed) unless another sender has it or it is done."""
        stale = now - lease
        with self._write() as s:
            claimed = s.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id,
                       or_(Delivery.state == "pending", (Delivery.state == "sending") & (Delivery.claimed_at < stale)))
                .values(state="sending", claimed_at=utcnow())
            ).rowcount
            if claimed != 1:
                return None
            row = s.execute(select(Delivery.channel, Delivery.recipient, Delivery.message, Delivery.kind,
                                   Delivery.change_id, Delivery.language, Delivery.message_id)
                            .where(Delivery.id == delivery_id)).one()
            return ClaimedDelivery(delivery_id, row.channel or "email", row.recipient, row.message or "", row.kind,
                                   row.change_id, row.language, row.message_id)

    def mark_delivery_invalid(self, delivery_id: int, error: str) -> None:
        with self._write() as s:
            s.execute(update(Delivery).where(Delivery.id == delivery_id)
                      .values(state="invalid", claimed_at=None, last_error=error[:1000]))

    def record_delivery_failure(self, delivery_ids: Iterable[int], error: str, *, permanent: bool, now: datetime,
                                backoff: Callable[[int], timedelta], only_pending: bool = False) -> int:
        """One more failed attempt: "failed" when permanent (until a retry), else "pending" again after
        `backoff(attempts)`. only_pending: rows not claimed yet (the rest of a batch). Returns the rows."""
        ids = list(delivery_ids)
        if not ids:
            return 0
        done = 0
        with self._write() as s:
            query = select(Delivery).where(Delivery.id.in_(ids))
            if only_pending:
                query = query.where(Delivery.state == "pending")
            for row in s.scalars(query):
                row.attempts = (row.attempts or 0) + 1
                row.last_error = error[:1000]
                row.claimed_at = None
                if permanent:
                    row.state = "failed"
                else:
                    row.state = "pending"
                    row.next_attempt_at = now + backoff(row.attempts)
                done += 1
        return done

    def mark_delivery_sent(self, delivery_id: int) -> None:
        """After the other side accepted it; settles the changes nothing waits for any more."""
        with self._write() as s:
            row = s.get(Delivery, delivery_id)
            row.state, row.sent_at, row.last_error = "sent", utcnow(), None
            row.attempts = (row.attempts or 0) + 1
            s.flush()
            if row.change_id is not None:
                change_ids = {row.change_id}
            elif row.digest_id is not None:
                change_ids = set(s.scalars(select(DigestItem.change_id).where(DigestItem.digest_id == row.digest_id)))
            else:
                change_ids = set()
            _settle_changes(s, change_ids)

    # -------------------------------------------------- listing (watch outbox)

    def list_deliveries(self, states: tuple[str, ...] | None = None, limit: int = 200) -> list[DeliveryView]:
        """The last `limit` deliveries, oldest first."""
        query = select(*_LISTED).order_by(Delivery.id.desc()).limit(limit)
        if states:
            query = query.where(Delivery.state.in_(states))
        with self._read() as s:
            rows = [DeliveryView(**row._asdict()) for row in s.execute(query)]
        return list(reversed(rows))

    def delivery_counts(self) -> dict[str, int]:
        with self._read() as s:
            return {state: n for state, n in s.execute(select(Delivery.state, func.count()).group_by(Delivery.state))}

    def delivery_with_message(self, delivery_id: int) -> tuple[DeliveryView, str | None] | None:
        """One delivery (`watch outbox --show ID`) and its stored message (None before it was built)."""
        with self._read() as s:
            row = s.execute(select(*_LISTED, Delivery.message).where(Delivery.id == delivery_id)).first()
        if row is None:
            return None
        fields = row._asdict()
        message = fields.pop("message")
        return DeliveryView(**fields), message

    # -------------------------------------------------- the daily digest

    def pending_digest(self, *, uow=None) -> PendingDigest:
        """What the next digest carries: minor changes not yet in a digest, alerts not yet sent."""
        with self._reading(uow) as s:
            items = [DigestItemView(i.id, i.change_id, i.policy, list(i.recipients or []), i.created_at)
                     for i in s.scalars(select(DigestItem).where(DigestItem.digest_id.is_(None)).order_by(DigestItem.id))]
            alerts = [_alert_view(a) for a in s.scalars(
                select(AlertRow).where(AlertRow.notified_at.is_(None)).order_by(AlertRow.id))]
            return PendingDigest(items, alerts)

    def changes_by_id(self, change_ids: Iterable[int], *, uow=None) -> dict[int, ChangeView]:
        """The changes a digest shows (report, policy URL, versions), by id."""
        ids = sorted(set(change_ids))
        if not ids:
            return {}
        with self._reading(uow) as s:
            rows = list(s.scalars(select(ChangeRow).where(ChangeRow.id.in_(ids))))
            snapshot_ids = {i for r in rows for i in (r.old_snapshot_id, r.new_snapshot_id) if i}
            versions = dict(s.execute(select(SnapshotRow.id, SnapshotRow.version)
                                      .where(SnapshotRow.id.in_(snapshot_ids))).all()) if snapshot_ids else {}
            return {r.id: _change_view(r, versions) for r in rows}

    def add_digest(self, uow, *, items: int, alerts: int, now: datetime | None = None) -> int:
        row = Digest(created_at=now or utcnow(), items=items, alerts=alerts)
        uow.session.add(row)
        uow.session.flush()
        return row.id

    def take_for_digest(self, uow, digest_id: int, *, item_ids: list[int], alert_ids: list[int],
                        now: datetime) -> bool:
        """Put the items into the digest and mark the alerts sent — only if nobody took them meanwhile
        (a daemon and a `watch digest --send` at once). False: another build won; roll back."""
        session = uow.session
        taken = session.execute(update(DigestItem).where(DigestItem.id.in_(item_ids), DigestItem.digest_id.is_(None))
                                .values(digest_id=digest_id).execution_options(synchronize_session=False)).rowcount
        flagged = session.execute(update(AlertRow).where(AlertRow.id.in_(alert_ids), AlertRow.notified_at.is_(None))
                                  .values(notified_at=now).execution_options(synchronize_session=False)).rowcount
        return taken == len(item_ids) and flagged == len(alert_ids)

    # -------------------------------------------------- helpers

    @contextmanager
    def _reading(self, uow):
        """The unit of work's session when there is one (it sees what that transaction wrote), else a new one."""
        if uow is not None:
            yield uow.session
        else:
            with self._read() as s:
                yield s


_LISTED = [getattr(Delivery, name) for name in DeliveryView.__dataclass_fields__]


def _settle_changes(session: Session, change_ids: Iterable[int]) -> None:
    """A change is "notified" once nothing for it waits: every delivery sent, no digest item open."""
    for change_id in change_ids:
        change = session.get(ChangeRow, change_id)
        if change is None or change.state != "pending":
            continue
        # state IN (the open ones), not != "sent": index lookups on (change_id, state), not a scan
        # of the change's (possibly 100,000) rows after every mail sent
        open_deliveries = session.scalar(select(Delivery.id).where(
            Delivery.change_id == change_id, Delivery.state.in_(OPEN_STATES)).limit(1))
        if open_deliveries is None and session.scalar(select(Fanout.state).where(
                Fanout.change_id == change_id)) == "pending":
            continue
        items = list(session.scalars(select(DigestItem).where(DigestItem.change_id == change_id)))
        if open_deliveries or any(i.digest_id is None for i in items):
            continue
        digests = {i.digest_id for i in items}
        if digests and session.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.digest_id.in_(digests), Delivery.state != "sent")):
            continue
        change.state = "notified"
