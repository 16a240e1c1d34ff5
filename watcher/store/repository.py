"""The Repository: every read and write of the store goes through it (SQL lives in this package).

A write is a unit of work (`with repo.unit_of_work() as uow:`): one transaction that commits on
success and rolls back on any error. Domain events published in it (`uow.publish(event)`) are
stored in the `events` table and handed, in the same transaction, to the subscribers registered
with `repo.subscribe(kind, handler)` — notification planning is one, so a change and its mails
are one commit, never one without the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, joinedload

from watcher.config import StoreSettings
from watcher.errors import ConfigError, InputError
from watcher.events import Event
from watcher.store import engine as engines
from watcher.store.bodies import FileBodies, RowBodies, StoreConflict, StoreError, sha256
from watcher.store.convert import alert_view as _alert_view
from watcher.store.convert import change_view as _change_view
from watcher.store.convert import snapshot_view as _snapshot_view
from watcher.store.deliveries import DeliveryMethods
from watcher.store.dictionaries import StoreDictionaries
from watcher.store.policies import PolicyMethods
from watcher.store.refs import parse_ref_time
from watcher.store.reviews import ReviewMethods
from watcher.store.schema import (
    AlertRow,
    ChangeRow,
    CheckRow,
    Compressed,
    EncodedJSON,
    EventRow,
    PolicyRow,
    SnapshotRow,
    compress_outline,
    compress_text,
    json_serializer,
    utcnow,
)
from watcher.store.views import (
    ChangeView,
    CheckRecord,
    CheckRecorded,
    CheckView,
    DerivedColumns,
    History,
    NewVersion,
    PolicyState,
    Raced,
    SnapshotView,
    StoredVersion,
)

Subscriber = Callable[["UnitOfWork", Event], None]


class UnitOfWork:
    """One transaction. `session` is for the store package's own methods only."""

    def __init__(self, repo: Repository, session: Session):
        self.repo, self.session = repo, session
        self.events: list[Event] = []

    def publish(self, *events: Event) -> None:
        """Store the events and run their subscribers, in this transaction."""
        self.repo.append_events(self, events)


class Repository(DeliveryMethods, ReviewMethods, PolicyMethods):
    def __init__(self, settings: StoreSettings, *, create: bool = True, check_schema: bool = True):
        self.settings = settings
        url = settings.url
        self.is_sqlite = url.startswith("sqlite")
        self._subscribers: dict[str, dict[str, Subscriber]] = {}
        try:
            self.engine = engines.make_engine(url)
            # a SQLite store from before 0008 keeps its older bodies as files: read where they are
            self.bodies = RowBodies(FileBodies(settings.bodies_dir) if self.is_sqlite else None)
            self.Session = engines.sessionmaker_for(self.engine)
            self.dictionaries = StoreDictionaries(self.Session)
            if create:
                engines.create_or_check(self.engine, check=check_schema)
        except (ConfigError, StoreError):
            if hasattr(self, "engine"):
                self.engine.dispose()
            raise
        except (SQLAlchemyError, ImportError, OSError) as e:   # OSError: the SQLite folder cannot be made
            raise StoreError(f"cannot open store {engines.safe_url(url)}: {one_line(e)}") from None

    # -------------------------------------------------- transactions and events

    @contextmanager
    def unit_of_work(self):
        """One transaction; a database error leaves it as StoreConflict (a unique key: another
        process wrote the same row) or StoreError, one line either way."""
        try:
            with self.Session() as session, session.begin():
                yield UnitOfWork(self, session)
        except IntegrityError as e:
            raise StoreConflict(f"store conflict: {one_line(e)}") from None
        except SQLAlchemyError as e:
            raise StoreError(f"store error: {one_line(e)}") from None

    @contextmanager
    def _write(self):
        """A transaction of the store's own (not a caller's unit of work)."""
        with self.unit_of_work() as uow:
            yield uow.session

    @contextmanager
    def _read(self):
        """A read-only session; database errors become StoreError."""
        try:
            with self.Session() as session:
                yield session
        except SQLAlchemyError as e:
            raise StoreError(f"store error: {one_line(e)}") from None

    @contextmanager
    def session(self):
        """A raw transaction (store package and white-box tests only): commits on success."""
        with self.Session() as session, session.begin():
            yield session

    def subscribe(self, kind: str, handler: Subscriber, *, name: str | None = None) -> None:
        """Run `handler(uow, event)` for every event of `kind` published in a unit of work. One
        handler per name (default: the handler's function), so subscribing again replaces it."""
        name = name or f"{handler.__module__}.{handler.__qualname__}"
        handlers = self._subscribers.setdefault(kind, {})
        handlers[name] = handler

    def append_events(self, uow: UnitOfWork, events: Iterable[Event]) -> None:
        events = list(events)
        if not events:
            return
        now = utcnow()
        uow.session.execute(EventRow.__table__.insert(), [
            {"created_at": now, "kind": e.kind, "policy_id": e.policy_id, "payload": e.payload()} for e in events])
        uow.events.extend(events)
        for event in events:
            for handler in self._subscribers.get(event.kind, {}).values():
                handler(uow, event)

    def events(self, kind: str | None = None, *, policy: str | None = None) -> list[dict]:
        with self._read() as s:
            query = select(EventRow).order_by(EventRow.id)
            if kind:
                query = query.where(EventRow.kind == kind)
            if policy:
                query = query.join(PolicyRow, PolicyRow.id == EventRow.policy_id).where(PolicyRow.name == policy)
            return [{"id": r.id, "kind": r.kind, "created_at": r.created_at, "policy_id": r.policy_id,
                     **(r.payload or {})} for r in s.scalars(query)]

    def close(self):
        engines.close(self.engine, self.is_sqlite)

    def label(self) -> str:
        return engines.safe_url(self.settings.url)

    # -------------------------------------------------- bodies

    def put_body(self, uow_or_session, data: bytes, digest: str | None = None) -> str:
        session = _session(uow_or_session)
        return self.bodies.put(session, data, digest, dictionary=self.dictionaries.current(session, "body"))

    def get_body(self, digest: str, *, verify: bool = True, uow=None) -> bytes:
        if uow is not None:
            data = self.bodies.get(_session(uow), digest)
        else:
            with self._read() as s:
                data = self.bodies.get(s, digest)
        if verify and sha256(data) != digest:
            raise StoreError(f"body {digest[:12]} does not match its sha256")
        return data

    def repair_body(self, data: bytes, digest: str | None = None) -> bool:
        """`data` came back from the server: write its body again if it is missing or damaged.
        True when it had to be written."""
        digest = digest or sha256(data)
        with self._write() as s:
            if self.bodies.valid(digest, s):
                return False
            self.bodies.put(s, data, digest, dictionary=self.dictionaries.current(s, "body"))
            return True

    def body_exists(self, digest: str) -> bool:
        with self._read() as s:
            return self.bodies.exists(s, digest)

    # -------------------------------------------------- what a check reads

    def load_states(self, policies: Iterable[tuple[str, str]]) -> dict[str, PolicyState]:
        """The state of each (name, url) policy; a policy seen for the first time gets its row.
        Plain rows, not ORM objects: a check of 1,000 policies built 1,000 of them for a few columns."""
        policies = list(policies)
        states: dict[str, PolicyState] = {}
        with self._write() as session:
            rows: dict[str, object] = {}
            names = [name for name, _ in policies]
            for i in range(0, len(names), 500):
                chunk = names[i:i + 500]
                rows.update({r.name: r for r in session.execute(select(*_STATE_COLUMNS)
                                                                .where(PolicyRow.name.in_(chunk)))})
            now = utcnow()
            new = {name: url for name, url in policies if name not in rows}
            moved = [{"id": rows[name].id, "url": url} for name, url in policies
                     if name in rows and rows[name].url != url]
            try:
                if new:
                    session.execute(insert(PolicyRow), [
                        {"name": name, "url": url, "consecutive_failures": 0, "candidate_seen": 0, "created_at": now}
                        for name, url in new.items()])
                    for i in range(0, len(new), 500):
                        chunk = list(new)[i:i + 500]
                        rows.update({r.name: r for r in session.execute(select(*_STATE_COLUMNS)
                                                                        .where(PolicyRow.name.in_(chunk)))})
            except IntegrityError:
                # another process added the same new policy a moment ago: read them again
                session.rollback()
                return self.load_states(policies)
            if moved:       # a policy's URL changed in the configuration
                session.execute(update(PolicyRow), moved)
            latest = {}
            ids = [r.id for r in rows.values()]
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                newest = select(SnapshotRow.policy_id, func.max(SnapshotRow.version).label("version")) \
                    .where(SnapshotRow.policy_id.in_(chunk)).group_by(SnapshotRow.policy_id).subquery()
                query = (select(SnapshotRow.policy_id, SnapshotRow.id, SnapshotRow.version, SnapshotRow.text_key,
                                SnapshotRow.text_length, SnapshotRow.clauses, SnapshotRow.extractor_version)
                         .join(newest, (SnapshotRow.policy_id == newest.c.policy_id)
                               & (SnapshotRow.version == newest.c.version)))
                for snap in session.execute(query):
                    latest[snap.policy_id] = snap
            for name, _ in policies:
                row = rows[name]
                state = PolicyState(policy_id=row.id, etag=row.etag, last_modified=row.last_modified,
                                    body_sha256=row.body_sha256, consecutive_failures=row.consecutive_failures or 0,
                                    candidate_key=row.candidate_key, candidate_seen=row.candidate_seen or 0)
                snap = latest.get(row.id)
                if snap is not None:
                    state.latest_id, state.latest_version = snap.id, snap.version
                    state.latest_text_key, state.latest_text_length = snap.text_key, snap.text_length
                    state.latest_clauses, state.latest_derivation = snap.clauses, snap.extractor_version
                else:   # validators without a version are meaningless (e.g. a wiped snapshot table)
                    state.etag = state.last_modified = state.body_sha256 = None
                states[name] = state
        return states

    def snapshot(self, snapshot_id: int) -> SnapshotView:
        with self._read() as s:
            # the policy's name with it, in one query (a check loads the previous version of every change)
            row = s.get(SnapshotRow, snapshot_id, options=[joinedload(SnapshotRow.policy)])
            if row is None:
                raise StoreError(f"snapshot #{snapshot_id} is not in the store")
            return _snapshot_view(row)

    def last_checked(self) -> dict[str, datetime]:
        with self._read() as s:
            return {name: at for name, at in s.execute(
                select(PolicyRow.name, PolicyRow.last_checked_at).where(PolicyRow.last_checked_at.is_not(None)))}

    # -------------------------------------------------- what a check writes

    def record_checks(self, uow: UnitOfWork, records: list[CheckRecord], *,
                      alert_after: int) -> list[CheckRecorded]:
        """Unchanged / held / failed checks: their rows and the policies' state. A failure adds one to
        the streak in SQL (two processes checking one policy never lose a count); the failure that
        makes it `alert_after` opens an operational alert; a good check resets it and resolves the
        failed-check alert (only that kind: an undeliverable-mail alert stays until it is seen to)."""
        session, now = uow.session, utcnow()
        session.execute(_INSERT_CHECK, [_check_values(r, now) for r in records])
        out: list[CheckRecorded] = []
        ok_ids, groups = [], {}
        for r in records:
            if r.outcome == "failed":
                failures = session.execute(_COUNT_FAILURE, {"pid": r.policy_id, "now": now}).scalar_one()
                alert_id = None
                if failures == alert_after:
                    alert = AlertRow(policy_id=r.policy_id, kind="check_failures", failures=failures, opened_at=now,
                                     message=f"{r.policy}: {failures} checks failed in a row; last error: {r.error}")
                    session.add(alert)
                    session.flush()
                    alert_id = alert.id
                if r.hold is not None:      # a page that lost most of its text: its sightings are counted
                    session.execute(_SEEN_CANDIDATE, {"pid": r.policy_id, "key": r.hold})
                out.append(CheckRecorded(r.policy_id, failures, alert_id))
                continue
            ok_ids.append(r.policy_id)
            values = {"v_id": r.policy_id, "v_last_checked_at": now, "v_last_outcome": r.outcome,
                      "v_consecutive_failures": 0}
            if r.hold is not None:
                # validators stay those of the stored version: if the page flips back, we get a 304.
                # Times seen is counted in SQL too: another process may have seen it meanwhile.
                session.execute(_SEEN_CANDIDATE, {"pid": r.policy_id, "key": r.hold})
            else:
                values["v_candidate_key"], values["v_candidate_seen"] = None, 0
                if r.validators is not None:
                    values["v_etag"], values["v_last_modified"] = r.validators
                if r.body_sha256:
                    values["v_body_sha256"] = r.body_sha256
            if r.rederived is not None and r.snapshot_id is not None:
                session.execute(update(SnapshotRow).where(SnapshotRow.id == r.snapshot_id)
                                .values(**_derived_values(r.rederived)))
            groups.setdefault(tuple(sorted(values)), []).append(values)
            out.append(CheckRecorded(r.policy_id, 0, None))
        # Core executemany statements: the ORM's per-row bookkeeping would cost more than the SQL
        for keys, rows in groups.items():
            columns = [k[2:] for k in keys if k != "v_id"]
            session.execute(_POLICIES.update().where(_POLICIES.c.id == bindparam("v_id"))
                            .values({c: bindparam(f"v_{c}") for c in columns}), rows)
        self._resolve_failure_alerts(session, ok_ids, now)
        return out

    def record_versions(self, uow: UnitOfWork, versions: list[NewVersion]) -> list[StoredVersion]:
        """First / changed versions of distinct policies: body, snapshot, change, check and policy
        state, in a few executemany statements. Raises Raced when a policy's latest version is no
        longer the one the check compared against (two checks of one policy at once must not both
        store the change); the caller's unit of work then rolls back."""
        session, now = uow.session, utcnow()
        pids = [v.check.policy_id for v in versions]
        # Take the policies' write locks first (row locks on PostgreSQL, the database write lock on
        # SQLite), then make sure the version we compared against is still the latest one.
        session.execute(_LOCK_POLICY, [{"pid": pid, "now": now} for pid in pids])
        latest = {row.policy_id: row for row in session.execute(_LATEST_SNAPSHOTS, {"pids": pids})}
        for v in versions:
            row = latest.get(v.check.policy_id)
            if (row.id if row else None) != v.expect_latest:
                raise Raced(v.check.policy_id, row.id, row.version, row.text_key == v.derived.text_key)
        # Bodies and texts are compressed with the store's dictionaries (trained now from this
        # batch when the store has none yet: watcher.store.dictionaries), in this transaction.
        bodies = {v.body_sha256: v.body for v in versions}
        self.bodies.put_many(session, bodies, self.dictionaries.for_batch(session, "body", list(bodies.values())))
        text_dictionary = self.dictionaries.for_batch(session, "text", [v.derived.text.encode("utf-8")
                                                                        for v in versions])
        snapshots = []
        for v in versions:
            if v.check.rederived is not None and v.expect_latest is not None:
                session.execute(update(SnapshotRow).where(SnapshotRow.id == v.expect_latest)
                                .values(**_derived_values(v.check.rederived, text_dictionary)))
            row = latest.get(v.check.policy_id)
            snapshots.append(dict(policy_id=v.check.policy_id, version=(row.version if row else 0) + 1,
                                  fetched_at=now, body_sha256=v.body_sha256, body_size=len(v.body), url=v.url,
                                  status=v.status, etag=v.etag, last_modified=v.last_modified,
                                  content_type=v.content_type, fetcher=v.fetcher,
                                  **_derived_values(v.derived, text_dictionary)))
        snapshot_ids = session.execute(_INSERT_SNAPSHOT, snapshots).scalars().all()
        stored = []
        for v, snap, snapshot_id in zip(versions, snapshots, snapshot_ids, strict=True):
            change_id = None
            if v.change is not None:
                change = ChangeRow(policy_id=v.check.policy_id, old_snapshot_id=v.expect_latest,
                                   new_snapshot_id=snapshot_id, created_at=now, **v.change)
                session.add(change)
                session.flush()
                change_id = change.id
            v.check.snapshot_id = snapshot_id
            stored.append(StoredVersion(v.check.policy_id, snapshot_id, snap["version"], change_id))
        session.execute(_INSERT_CHECK, [_check_values(v.check, now) for v in versions])
        session.execute(_POLICY_AFTER_VERSION, [
            {"pid": v.check.policy_id, "v_etag": v.etag, "v_last_modified": v.last_modified,
             "v_body_sha256": v.body_sha256, "v_last_outcome": v.check.outcome} for v in versions])
        self._resolve_failure_alerts(session, pids, now)
        return stored

    def set_change_state(self, uow: UnitOfWork, change_id: int, state: str, *, only_from: str | None = None) -> None:
        query = update(ChangeRow).where(ChangeRow.id == change_id)
        if only_from:
            query = query.where(ChangeRow.state == only_from)
        uow.session.execute(query.values(state=state))

    def _resolve_failure_alerts(self, session: Session, policy_ids: list[int], now: datetime) -> None:
        if not policy_ids:
            return
        session.execute(update(AlertRow).where(AlertRow.policy_id.in_(policy_ids), AlertRow.kind == "check_failures",
                                               AlertRow.resolved_at.is_(None))
                        .values(resolved_at=now).execution_options(synchronize_session=False))

    # -------------------------------------------------- reading (commands, web view)

    def resolve_ref(self, name: str, ref: str = "latest") -> SnapshotView:
        """`latest`, `-1` (the version before latest), `-N`, `N` (version N), `2026-05-01` (the version
        in force at the end of that local day) or `2026-05-01T12:00` -> the snapshot. InputError if none."""
        label = f"{name}@{ref}"
        with self._read() as session:
            policy = session.scalars(select(PolicyRow).where(PolicyRow.name == name)).first()
            if policy is None:
                raise InputError(f"{label}: nothing stored for policy {name!r} yet (run `watch check {name}`)")
            by_version = select(SnapshotRow).where(SnapshotRow.policy_id == policy.id)
            latest = session.scalars(by_version.order_by(SnapshotRow.version.desc()).limit(1)).first()
            if latest is None:
                raise InputError(f"{label}: no snapshot of {name!r} stored yet")
            ref = ref.strip()
            if ref in ("", "latest", "head", "0", "-0"):
                return _snapshot_view(latest)
            if ref.lstrip("+-").isdigit():
                # a number no integer column holds is no version (not an SQL overflow)
                n = max(-_INT_MAX, min(_INT_MAX, int(ref))) if len(ref) <= 20 else (-_INT_MAX if ref[0] == "-" else _INT_MAX)
                version = latest.version + n if n < 0 else n
                row = session.scalars(by_version.where(SnapshotRow.version == version)).first()
                if row is None:
                    raise InputError(f"{label}: no such version ({latest.version} stored, "
                                     f"versions 1..{latest.version})")
                return _snapshot_view(row)
            until = parse_ref_time(ref)
            if until is None:
                raise InputError(f"{label}: cannot read reference {ref!r} (use latest, -1, a version number "
                                 "or a date such as 2026-05-01)")
            row = session.scalars(by_version.where(SnapshotRow.fetched_at < until)
                                  .order_by(SnapshotRow.version.desc()).limit(1)).first()
            if row is None:
                first = session.scalars(by_version.order_by(SnapshotRow.version).limit(1)).first()
                raise InputError(f"{label}: no version stored before that time (the first is from "
                                 f"{first.fetched_at:%Y-%m-%d %H:%M} UTC)")
            return _snapshot_view(row)

    def has_policy(self, name: str) -> bool:
        with self._read() as s:
            return s.scalar(select(func.count()).select_from(PolicyRow).where(PolicyRow.name == name)) > 0

    def history(self, name: str, *, checks: int = 10) -> History | None:
        """A policy's versions, changes, recent checks and open alerts; None if nothing is stored."""
        with self._read() as session:
            policy = session.scalars(select(PolicyRow).where(PolicyRow.name == name)).first()
            if policy is None:
                return None
            snaps = [_snapshot_view(r) for r in session.scalars(
                select(SnapshotRow).where(SnapshotRow.policy_id == policy.id).order_by(SnapshotRow.version))]
            versions = {s.id: s.version for s in snaps}
            changes = [_change_view(c, versions) for c in session.scalars(
                select(ChangeRow).where(ChangeRow.policy_id == policy.id).order_by(ChangeRow.id))]
            recent = list(session.scalars(select(CheckRow).where(CheckRow.policy_id == policy.id)
                                          .order_by(CheckRow.id.desc()).limit(checks)))
            alerts = [_alert_view(a) for a in session.scalars(
                select(AlertRow).where(AlertRow.policy_id == policy.id, AlertRow.resolved_at.is_(None))
                .order_by(AlertRow.id))]
            return History(name=policy.name, url=policy.url, consecutive_failures=policy.consecutive_failures or 0,
                           snapshots=snaps, changes=changes,
                           checks=[CheckView(k.started_at, k.finished_at, k.outcome, k.http_status, k.error,
                                             k.elapsed) for k in reversed(recent)],
                           open_alerts=alerts)

    def change(self, change_id: int) -> ChangeView | None:
        with self._read() as session:
            row = session.get(ChangeRow, change_id)
            return _change_view(row) if row is not None else None


# ---------------------------------------------------------------- helpers

# What a check reads of each policy before fetching it (load_states).
_STATE_COLUMNS = (PolicyRow.id, PolicyRow.name, PolicyRow.url, PolicyRow.etag, PolicyRow.last_modified,
                  PolicyRow.body_sha256, PolicyRow.consecutive_failures, PolicyRow.candidate_key,
                  PolicyRow.candidate_seen)


def _session(uow_or_session) -> Session | None:
    return uow_or_session.session if isinstance(uow_or_session, UnitOfWork) else uow_or_session


def _derived_values(d: DerivedColumns, text_dictionary=None) -> dict:
    """Column values for a Core statement (JSON a worker encoded is taken as it is). The text is
    compressed with the store's text dictionary; the outline with the text as dictionary: its
    clause bodies are that text."""
    outline = d.outline if isinstance(d.outline, str | None) else json_serializer(d.outline)
    return {"text": Compressed(compress_text(d.text, text_dictionary)),
            "lines": EncodedJSON(d.lines) if isinstance(d.lines, str) else d.lines,
            "title": d.title, "charset": d.charset,
            "outline": None if outline is None else Compressed(compress_outline(outline, d.text)), "text_key": d.text_key, "text_length": d.text_length,
            "clauses": d.clauses, "extractor_version": d.extractor_version}


def _check_values(r: CheckRecord, now: datetime) -> dict:
    return {"policy_id": r.policy_id, "started_at": r.started_at or now, "finished_at": now, "url": r.url,
            "final_url": r.final_url or r.url, "redirects": list(r.redirects), "http_status": r.http_status,
            "attempts": r.attempts, "elapsed": round(r.elapsed, 4), "outcome": r.outcome, "error": r.error,
            "snapshot_id": r.snapshot_id}


def one_line(error: Exception) -> str:
    """An error as one short line (a database error's own message, not SQLAlchemy's wrapping)."""
    text = str(getattr(error, "orig", None) or error)
    return " ".join(text.split())[:300]


_INT_MAX = 2 ** 31 - 1
# Core statements built once (the ORM's per-statement bookkeeping would cost more than the SQL)
_POLICIES, _SNAPSHOTS = PolicyRow.__table__, SnapshotRow.__table__
_LOCK_POLICY = _POLICIES.update().where(_POLICIES.c.id == bindparam("pid")).values(last_checked_at=bindparam("now"))
_COUNT_FAILURE = (_POLICIES.update().where(_POLICIES.c.id == bindparam("pid"))
                  .values(consecutive_failures=func.coalesce(_POLICIES.c.consecutive_failures, 0) + 1,
                          last_checked_at=bindparam("now"), last_outcome="failed")
                  .returning(_POLICIES.c.consecutive_failures))
_SEEN_CANDIDATE = (_POLICIES.update().where(_POLICIES.c.id == bindparam("pid"))
                   .values(candidate_seen=case((_POLICIES.c.candidate_key == bindparam("key"),
                                                func.coalesce(_POLICIES.c.candidate_seen, 0) + 1), else_=1),
                           candidate_key=bindparam("key")))
_NEWEST = (select(_SNAPSHOTS.c.policy_id, func.max(_SNAPSHOTS.c.version).label("version"))
           .where(_SNAPSHOTS.c.policy_id.in_(bindparam("pids", expanding=True)))
           .group_by(_SNAPSHOTS.c.policy_id).subquery())
_LATEST_SNAPSHOTS = (select(_SNAPSHOTS.c.policy_id, _SNAPSHOTS.c.id, _SNAPSHOTS.c.version, _SNAPSHOTS.c.text_key)
                     .join(_NEWEST, (_SNAPSHOTS.c.policy_id == _NEWEST.c.policy_id)
                           & (_SNAPSHOTS.c.version == _NEWEST.c.version)))
# executemany with RETURNING (insertmanyvalues): ids in the order of the parameter rows
_INSERT_SNAPSHOT = _SNAPSHOTS.insert().returning(_SNAPSHOTS.c.id, sort_by_parameter_order=True)
_INSERT_CHECK = CheckRow.__table__.insert()
_POLICY_AFTER_VERSION = _POLICIES.update().where(_POLICIES.c.id == bindparam("pid")).values(
    etag=bindparam("v_etag"), last_modified=bindparam("v_last_modified"), body_sha256=bindparam("v_body_sha256"),
    last_outcome=bindparam("v_last_outcome"), candidate_key=None, candidate_seen=0, consecutive_failures=0)
