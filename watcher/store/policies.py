"""Policies as data (mixed into the Repository): each policy row carries its [[policy]] table
(`spec`), where it came from (`source`: config | import), its schedule and `next_due`.

`watch import` and the config sync write specs (put_policies); `watch export` reads them back
(policy_specs); queue workers read one (policy_spec); schedulers claim the due ones (claim_due):
in one transaction the due rows are locked (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several
schedulers never claim the same row; SQLite takes its database write lock first), `next_due` is
advanced by the caller's schedule function, and the caller's `enqueue` runs before the commit: a
scheduler that dies in between re-sends the claim, never loses it (a check sent twice is harmless).
The specs are validated by the caller (watcher.config.parse_policy); the store keeps them as given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update

from watcher.store.schema import PolicyRow, utcnow

SOURCES = ("config", "import")


@dataclass
class PolicySpec:
    """One policy as data: its table (what [[policy]] holds), source and schedule state."""

    name: str
    url: str
    spec: dict
    source: str
    schedule: str
    next_due: datetime | None


@dataclass
class PutResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


def _spec_view(row) -> PolicySpec:
    return PolicySpec(name=row.name, url=row.url, spec=dict(row.spec or {}), source=row.source or "",
                      schedule=row.schedule or "", next_due=row.next_due)


class PolicyMethods:
    """The `policies` table as data: import, export, config sync, claiming due checks."""

    def put_policies(self, specs: Iterable[dict], *, source: str, now: datetime | None = None) -> PutResult:
        """Insert or update policies by name (one transaction). A new policy is due at once; one whose
        schedule changed is due at once too (then follows the new schedule); otherwise next_due stays."""
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        specs = list(specs)
        now = now or utcnow()
        result = PutResult()
        with self._write() as session:
            for i in range(0, len(specs), 500):
                chunk = specs[i:i + 500]
                rows = {r.name: r for r in session.scalars(
                    select(PolicyRow).where(PolicyRow.name.in_([s["name"] for s in chunk])))}
                for spec in chunk:
                    schedule = spec.get("schedule", "")
                    row = rows.get(spec["name"])
                    if row is None:
                        row = PolicyRow(name=spec["name"], url=spec["url"], consecutive_failures=0, candidate_seen=0,
                                        created_at=now, spec=spec, source=source, schedule=schedule, next_due=now)
                        session.add(row)
                        rows[row.name] = row
                        result.added += 1
                        continue
                    if row.spec == spec and row.source == source and row.url == spec["url"] and row.next_due:
                        result.unchanged += 1
                        continue
                    if row.schedule != schedule or row.next_due is None:
                        row.next_due = now
                    row.spec, row.source, row.schedule, row.url = spec, source, schedule, spec["url"]
                    result.updated += 1
                session.flush()
        return result

    def retire_policies(self, keep: Iterable[str], *, source: str = "config") -> list[str]:
        """Policies of `source` whose names are not in `keep` are no longer scheduled (next_due NULL;
        their history stays). Returns their names."""
        keep = set(keep)
        with self._write() as session:
            rows = [r for r in session.scalars(select(PolicyRow).where(PolicyRow.source == source,
                                                                       PolicyRow.next_due.is_not(None)))
                    if r.name not in keep]
            for row in rows:
                row.next_due = None
            return [r.name for r in rows]

    def policy_spec(self, name: str) -> PolicySpec | None:
        with self._read() as session:
            row = session.scalars(select(PolicyRow).where(PolicyRow.name == name, PolicyRow.spec.is_not(None))).first()
            return _spec_view(row) if row is not None else None

    def policy_specs(self, *, source: str | None = None, scheduled_only: bool = False) -> list[PolicySpec]:
        """Every policy stored as data, by name (`watch export`)."""
        with self._read() as session:
            query = select(PolicyRow).where(PolicyRow.spec.is_not(None)).order_by(PolicyRow.name)
            if source:
                query = query.where(PolicyRow.source == source)
            if scheduled_only:
                query = query.where(PolicyRow.next_due.is_not(None))
            return [_spec_view(r) for r in session.scalars(query)]

    def count_due(self, now: datetime | None = None) -> int:
        """Policies whose check is due and not yet claimed (a scheduler that falls behind shows here)."""
        with self._read() as session:
            return session.scalar(select(func.count()).select_from(PolicyRow)
                                  .where(PolicyRow.next_due <= (now or utcnow())))

    def claim_due(self, *, limit: int, advance: Callable[[PolicySpec, datetime], datetime],
                  enqueue: Callable[[list[PolicySpec]], None], now: datetime | None = None) -> list[PolicySpec]:
        """Claim up to `limit` due policies, earliest first: in one transaction lock them (rows other
        schedulers hold are skipped), set each next_due to `advance(policy, now)`, call `enqueue(claimed)`,
        commit. If enqueue raises, nothing is claimed. Returns the claimed policies."""
        now = now or utcnow()
        with self._write() as session:
            if self.is_sqlite:
                # take the database write lock before reading: two schedulers never read the same due rows
                session.execute(update(PolicyRow).where(PolicyRow.id == -1).values(next_due=None))
            query = (select(PolicyRow.id, PolicyRow.name, PolicyRow.url, PolicyRow.spec, PolicyRow.source,
                            PolicyRow.schedule, PolicyRow.next_due)
                     .where(PolicyRow.next_due <= now).order_by(PolicyRow.next_due, PolicyRow.id).limit(limit))
            if not self.is_sqlite:
                query = query.with_for_update(skip_locked=True, of=PolicyRow)
            rows = session.execute(query).all()
            if not rows:
                return []
            claimed = [_spec_view(r) for r in rows]
            session.execute(_ADVANCE, [{"pid": r.id, "due": advance(c, now)}
                                       for r, c in zip(rows, claimed, strict=True)])
            enqueue(claimed)
            return claimed


_POLICIES = PolicyRow.__table__
_ADVANCE = _POLICIES.update().where(_POLICIES.c.id == bindparam("pid")).values(next_due=bindparam("due"))
