"""The review workflow's SQL (mixed into the Repository): the review state of each change, its
append-only audit trail, and the listings the CLI and the web view read (changes with their review
state, every policy at a glance, the feed's entries).

A review row is a projection of the change's audit events, written in the same unit of work as
the events it follows from; no row means `new`. Audit events are only ever inserted: there is no
method here (nor anywhere in the store) that updates or deletes one. Two reviewers at once: each
write names the newest event it read (`expect_last`); a write that finds another one raises
ReviewConflict and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from watcher.store.bodies import StoreConflict
from watcher.store.schema import AlertRow, AuditEventRow, ChangeRow, PolicyRow, ReviewRow, SnapshotRow, utcnow

# Changes of these severities wait for a person's decision ("open" until done); a formatting-only
# change (severity none) has a review state too but is never counted as open.
REVIEWED_SEVERITIES = ("minor", "notice", "consent")


class ReviewConflict(StoreConflict):
    """Someone else recorded a review event on this change after we read it."""


@dataclass
class AuditEntry:
    """One event to append: what was done (action, the action or decision named), the state after."""

    action: str                 # start | tick | untick | decide | reopen | note
    value: str | None
    note: str
    state: str


@dataclass
class AuditEventView:
    id: int
    created_at: datetime
    change_id: int
    policy: str
    actor: str
    role: str
    action: str
    value: str | None
    note: str
    state: str


@dataclass
class ReviewView:
    change_id: int
    state: str = "new"
    decision: str | None = None
    actions: list[str] = field(default_factory=list)     # checklist actions done
    last_event_id: int | None = None
    updated_at: datetime | None = None
    updated_by: str = ""
    events: list[AuditEventView] = field(default_factory=list)


@dataclass
class ChangeSummary:
    """A change as listings show it: its verdict, notification state and review state."""

    id: int
    policy: str
    policy_url: str
    created_at: datetime
    severity: str
    material: bool
    notified: str                # the notification state: pending | notified | silenced
    old_version: int | None
    new_version: int | None
    review_state: str
    decision: str | None
    actions_done: list[str]
    checklist: list[str]         # the routing's actions (report notify.actions)
    summary: dict


@dataclass
class PolicyOverview:
    """One policy at a glance (no fetch: all from the store)."""

    name: str
    url: str
    last_checked_at: datetime | None
    last_outcome: str | None
    consecutive_failures: int
    last_change_id: int | None
    last_change_at: datetime | None
    last_severity: str | None
    open_reviews: int
    open_alerts: int


@dataclass
class OverviewPage:
    rows: list[PolicyOverview]
    total: int
    offset: int
    limit: int


@dataclass
class ChangeStamp:
    """What a feed's validators are computed from: how many changes, the newest id and time."""

    count: int
    last_id: int | None
    last_at: datetime | None


class ReviewMethods:
    """Repository methods for reviews, audit events and the listings built on them."""

    Session: Callable[[], Session]       # provided by the Repository

    # -------------------------------------------------- reviews

    def review(self, change_id: int) -> ReviewView:
        """A change's review state and its whole audit trail (oldest first)."""
        with self.Session() as s:
            row = s.get(ReviewRow, change_id)
            view = _review_view(row) if row is not None else ReviewView(change_id)
            view.events = _events(s, AuditEventRow.change_id == change_id, limit=None)
            return view

    def reviews_for(self, change_ids: Iterable[int]) -> dict[int, ReviewView]:
        """Review states (without events) by change id; a change without a row is `new`."""
        ids = sorted(set(change_ids))
        out = {i: ReviewView(i) for i in ids}
        with self.Session() as s:
            for i in range(0, len(ids), 500):
                for row in s.scalars(select(ReviewRow).where(ReviewRow.change_id.in_(ids[i:i + 500]))):
                    out[row.change_id] = _review_view(row)
        return out

    def append_review(self, uow, change_id: int, entries: list[AuditEntry], *, actor: str, role: str,
                      decision: str | None, actions: list[str], expect_last: int | None,
                      now: datetime | None = None) -> list[int]:
        """Insert the audit events and move the review row to their outcome, in the caller's unit
        of work. ReviewConflict when the row's newest event is no longer `expect_last`."""
        if not entries:
            return []
        session, now = uow.session, now or utcnow()
        ids = []
        for e in entries:
            row = AuditEventRow(created_at=now, change_id=change_id, actor=actor[:200], role=role[:16],
                                action=e.action, value=e.value, note=e.note or "", state=e.state)
            session.add(row)
            session.flush()
            ids.append(row.id)
        values = dict(state=entries[-1].state, decision=decision, actions=list(actions), last_event_id=ids[-1],
                      updated_at=now, updated_by=actor[:200])
        if expect_last is None:
            if session.get(ReviewRow, change_id) is not None:
                raise ReviewConflict(f"change #{change_id} was reviewed by someone else meanwhile: reload it")
            session.add(ReviewRow(change_id=change_id, **values))
            try:
                session.flush()     # a concurrent first review: the primary key refuses the second one
            except IntegrityError:
                raise ReviewConflict(f"change #{change_id} was reviewed by someone else meanwhile: reload it") from None
        else:
            moved = session.execute(update(ReviewRow).where(ReviewRow.change_id == change_id,
                                                            ReviewRow.last_event_id == expect_last)
                                    .values(**values).execution_options(synchronize_session=False)).rowcount
            if moved != 1:
                raise ReviewConflict(f"change #{change_id} was reviewed by someone else meanwhile: reload it")
        return ids

    def audit_events(self, change_id: int | None = None, *, limit: int | None = 200) -> list[AuditEventView]:
        """The audit trail, oldest first: of one change, or the last `limit` events of all."""
        with self.Session() as s:
            where = AuditEventRow.change_id == change_id if change_id is not None else None
            return _events(s, where, limit=limit)

    # -------------------------------------------------- listings

    def change_summaries(self, *, open_only: bool = False, policy: str | None = None, severity: str | None = None,
                         review_state: str | None = None, limit: int = 100, offset: int = 0
                         ) -> tuple[list[ChangeSummary], int]:
        """Changes, newest first, with their review state: (one page, how many match)."""
        old, new = aliased(SnapshotRow), aliased(SnapshotRow)
        conditions = []
        if open_only:
            conditions += [ChangeRow.severity.in_(REVIEWED_SEVERITIES), _not_done()]
        if policy:
            conditions.append(PolicyRow.name == policy)
        if severity:
            conditions.append(ChangeRow.severity == severity)
        if review_state == "new":
            conditions.append(ReviewRow.state.is_(None))
        elif review_state:
            conditions.append(ReviewRow.state == review_state)
        base = (select(ChangeRow.id).join(PolicyRow, PolicyRow.id == ChangeRow.policy_id)
                .outerjoin(ReviewRow, ReviewRow.change_id == ChangeRow.id).where(*conditions))
        query = (select(ChangeRow.id, PolicyRow.name, PolicyRow.url, ChangeRow.created_at, ChangeRow.severity,
                        ChangeRow.material, ChangeRow.state, ChangeRow.report, old.version.label("old_version"),
                        new.version.label("new_version"), ReviewRow.state.label("review_state"),
                        ReviewRow.decision, ReviewRow.actions)
                 .join(PolicyRow, PolicyRow.id == ChangeRow.policy_id)
                 .outerjoin(ReviewRow, ReviewRow.change_id == ChangeRow.id)
                 .outerjoin(old, old.id == ChangeRow.old_snapshot_id)
                 .outerjoin(new, new.id == ChangeRow.new_snapshot_id)
                 .where(*conditions).order_by(ChangeRow.id.desc()).limit(limit).offset(offset))
        with self.Session() as s:
            total = s.scalar(select(func.count()).select_from(base.subquery()))
            rows = [ChangeSummary(
                id=r.id, policy=r.name, policy_url=r.url, created_at=r.created_at, severity=r.severity,
                material=bool(r.material), notified=r.state, old_version=r.old_version, new_version=r.new_version,
                review_state=r.review_state or "new", decision=r.decision, actions_done=list(r.actions or []),
                checklist=list(((r.report or {}).get("notify") or {}).get("actions") or []),
                summary=dict((r.report or {}).get("summary") or {})) for r in s.execute(query)]
        return rows, total or 0

    def policy_overview(self, *, offset: int = 0, limit: int = 100, severity: str | None = None,
                        review: str | None = None, search: str | None = None, failing: bool = False) -> OverviewPage:
        """Every stored policy at a glance, by name: (one page, how many match). `severity`: of the
        last change; `review`: "open" (a change waits for a decision) or "none" (nothing waits)."""
        latest = (select(ChangeRow.policy_id, func.max(ChangeRow.id).label("cid"))
                  .group_by(ChangeRow.policy_id).subquery())
        opened = (select(ChangeRow.policy_id, func.count().label("n"))
                  .outerjoin(ReviewRow, ReviewRow.change_id == ChangeRow.id)
                  .where(ChangeRow.severity.in_(REVIEWED_SEVERITIES), _not_done())
                  .group_by(ChangeRow.policy_id).subquery())
        alerts = (select(AlertRow.policy_id, func.count().label("n")).where(AlertRow.resolved_at.is_(None))
                  .group_by(AlertRow.policy_id).subquery())
        conditions = []
        if severity:
            conditions.append(ChangeRow.severity == severity)
        if review == "open":
            conditions.append(opened.c.n > 0)
        elif review == "none":
            conditions.append(opened.c.n.is_(None))
        if search:
            conditions.append(PolicyRow.name.contains(search, autoescape=True))
        if failing:
            conditions.append(PolicyRow.consecutive_failures > 0)

        def joined(query):
            return (query.outerjoin(latest, latest.c.policy_id == PolicyRow.id)
                    .outerjoin(ChangeRow, ChangeRow.id == latest.c.cid)
                    .outerjoin(opened, opened.c.policy_id == PolicyRow.id)
                    .outerjoin(alerts, alerts.c.policy_id == PolicyRow.id).where(*conditions))

        page = joined(select(PolicyRow.name, PolicyRow.url, PolicyRow.last_checked_at, PolicyRow.last_outcome,
                             PolicyRow.consecutive_failures, ChangeRow.id.label("cid"), ChangeRow.created_at,
                             ChangeRow.severity, opened.c.n.label("open_reviews"), alerts.c.n.label("open_alerts"))
                      .select_from(PolicyRow)).order_by(PolicyRow.name).limit(limit).offset(offset)
        with self.Session() as s:
            total = s.scalar(joined(select(func.count()).select_from(PolicyRow))) or 0
            rows = [PolicyOverview(r.name, r.url, r.last_checked_at, r.last_outcome, r.consecutive_failures or 0,
                                   r.cid, r.created_at, r.severity, r.open_reviews or 0, r.open_alerts or 0)
                    for r in s.execute(page)]
        return OverviewPage(rows, total, offset, limit)

    def change_stamp(self, policy: str | None = None) -> ChangeStamp:
        """The changes' count, newest id and newest time (cheap: a feed's ETag and Last-Modified)."""
        query = select(func.count(ChangeRow.id), func.max(ChangeRow.id), func.max(ChangeRow.created_at))
        if policy is not None:
            query = query.join(PolicyRow, PolicyRow.id == ChangeRow.policy_id).where(PolicyRow.name == policy)
        with self.Session() as s:
            count, last_id, last_at = s.execute(query).one()
        return ChangeStamp(count or 0, last_id, last_at)

    def recent_change_ids(self, policy: str | None = None, limit: int = 50) -> list[int]:
        query = select(ChangeRow.id).order_by(ChangeRow.id.desc()).limit(limit)
        if policy is not None:
            query = query.join(PolicyRow, PolicyRow.id == ChangeRow.policy_id).where(PolicyRow.name == policy)
        with self.Session() as s:
            return list(s.scalars(query))


def _not_done():
    return or_(ReviewRow.state.is_(None), ReviewRow.state != "done")


def _review_view(row: ReviewRow) -> ReviewView:
    return ReviewView(change_id=row.change_id, state=row.state, decision=row.decision,
                      actions=list(row.actions or []), last_event_id=row.last_event_id, updated_at=row.updated_at,
                      updated_by=row.updated_by or "")


def _events(s: Session, where, *, limit: int | None) -> list[AuditEventView]:
    query = (select(AuditEventRow, PolicyRow.name)
             .join(ChangeRow, ChangeRow.id == AuditEventRow.change_id)
             .join(PolicyRow, PolicyRow.id == ChangeRow.policy_id)
             .order_by(AuditEventRow.id.desc()))
    if where is not None:
        query = query.where(and_(where))
    if limit:
        query = query.limit(limit)
    rows = [AuditEventView(e.id, e.created_at, e.change_id, name, e.actor, e.role, e.action, e.value, e.note or "",
                           e.state) for e, name in s.execute(query)]
    return list(reversed(rows))
