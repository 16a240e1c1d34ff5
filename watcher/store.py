"""The snapshot store: SQLAlchemy 2 over SQLite (default, in snapshots/) or PostgreSQL.

Tables (all on `Base`, so other modules — watcher/outbox.py — add theirs to the same schema):

- `policies`  one row per watched policy: its conditional-GET validators, the sha256 of the last
              body known to equal the latest version, the failure streak, and a held candidate
              change (policies with `confirm = 2`).
- `snapshots` one row per stored *version*: body sha256, URL, HTTP status, validators, the
              extracted text and lines, the clause outline (JSON), a hash of the normalised text,
              and `extractor_version` (the code that derived them; see watcher.check).
- `bodies`    raw page bodies, content-addressed by sha256 and gzip-compressed. With SQLite they
              are files `bodies_dir/ab/<sha256>.gz` (written via temp file + fsync + os.replace
              before the transaction commits, so an orphan is harmless and a snapshot never points
              at a missing body); with PostgreSQL they are rows of this table, in the same transaction.
- `checks`    every check: when, URL, HTTP status, attempts, outcome, one-line error.
- `changes`   one row per detected change: old/new snapshot, the diff report (JSON v1), severity,
              material, `state` ("pending" = queued for notification, "notified" = the outbox has
              delivered it, "silenced" = recorded with --no-notify, never mailed).
- `alerts`    operational alerts for staff: a policy that failed `failures_before_alert` checks in a
              row. `notified_at` is NULL until the mail step has sent it; `resolved_at` is set by the
              next successful check. Read open, unsent alerts with `pending_alerts(session)`.

Times are naive UTC (`utcnow()`), the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from watcher.config import StoreSettings
from watcher.errors import ConfigError, InputError, WatchError


class StoreError(WatchError):
    """The store cannot be opened or read (bad URL, database down, corrupt body)."""


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class PolicyRow(Base):
    __tablename__ = "policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # validators of the last fetch whose body equals the latest version (sent as If-None-Match / -Modified-Since)
    etag: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_modified: Mapped[str | None] = mapped_column(Text, nullable=True)
    body_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # a change seen but not yet confirmed (confirm >= 2): hash of its normalised text, times seen
    candidate_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    candidate_seen: Mapped[int] = mapped_column(Integer, default=0)


class SnapshotRow(Base):
    __tablename__ = "snapshots"
    __table_args__ = (UniqueConstraint("policy_id", "version", name="uq_snapshots_policy_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)           # 1, 2, 3 ... per policy
    fetched_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    body_size: Mapped[int] = mapped_column(Integer, default=0)
    url: Mapped[str] = mapped_column(Text)                   # the final URL after redirects
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    etag: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_modified: Mapped[str | None] = mapped_column(Text, nullable=True)
    content_type: Mapped[str] = mapped_column(Text, default="")   # the HTTP header (carries the charset)
    charset: Mapped[str] = mapped_column(String(40), default="")
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    lines: Mapped[list] = mapped_column(JSON, default=list)       # [[text, heading], ...]
    outline: Mapped[list] = mapped_column(JSON, default=list)     # clause tree, see watcher.check.outline
    text_key: Mapped[str] = mapped_column(String(64), default="")  # sha256 of the normalised lines
    text_length: Mapped[int] = mapped_column(Integer, default=0)
    clauses: Mapped[int] = mapped_column(Integer, default=0)      # top-level clauses
    extractor_version: Mapped[str] = mapped_column(String(200), default="")

    policy: Mapped[PolicyRow] = relationship()


class BodyRow(Base):
    __tablename__ = "bodies"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)     # gzip
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CheckRow(Base):
    __tablename__ = "checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    url: Mapped[str] = mapped_column(Text)
    final_url: Mapped[str] = mapped_column(Text, default="")
    redirects: Mapped[list] = mapped_column(JSON, default=list)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    elapsed: Mapped[float] = mapped_column(Float, default=0.0)
    outcome: Mapped[str] = mapped_column(String(16))          # first | unchanged | changed | failed
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshots.id"), nullable=True)


class ChangeRow(Base):
    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    old_snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"))
    new_snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"))
    report: Mapped[dict] = mapped_column(JSON)               # policy-watcher/diff/v1
    severity: Mapped[str] = mapped_column(String(16))
    material: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)

    policy: Mapped[PolicyRow] = relationship()
    old_snapshot: Mapped[SnapshotRow] = relationship(foreign_keys=[old_snapshot_id])
    new_snapshot: Mapped[SnapshotRow] = relationship(foreign_keys=[new_snapshot_id])


class AlertRow(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32), default="check_failures")
    message: Mapped[str] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    policy: Mapped[PolicyRow] = relationship()


def pending_alerts(session: Session) -> list[AlertRow]:
    """Alerts the mail step has not sent yet (still open or not). Set `notified_at` after sending."""
    return list(session.scalars(select(AlertRow).where(AlertRow.notified_at.is_(None)).order_by(AlertRow.id)))


# ---------------------------------------------------------------- bodies


class EncodedJSON(str):
    """A value already encoded as JSON text (e.g. by a derive worker): a JSON column stores it as
    it is instead of encoding it again. Anything else is encoded with json.dumps, the default."""


def _json_serializer(value) -> str:
    if type(value) is EncodedJSON:
        return str.__str__(value)
    return json.dumps(value)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compress(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


class FileBodies:
    """gzip files under `root/ab/<sha256>.gz`, written atomically."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        # The digest comes from the database: never let it name a path outside the bodies folder.
        if not _SHA256.fullmatch(digest or ""):
            raise StoreError(f"not a body digest: {digest!r}")
        return self.root / digest[:2] / f"{digest}.gz"

    def put(self, session: Session, data: bytes, digest: str | None = None) -> str:
        digest = digest or sha256(data)
        target = self.path(digest)
        if target.exists():
            return digest       # content-addressed: the same name is the same bytes
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(compress(data))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return digest

    def get(self, session: Session, digest: str) -> bytes:
        try:
            return gzip.decompress(self.path(digest).read_bytes())
        except FileNotFoundError:
            raise StoreError(f"body {digest[:12]} is missing from {self.root}") from None
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise StoreError(f"body {digest[:12]} is corrupt: {e}") from None

    def exists(self, session: Session, digest: str) -> bool:
        return self.path(digest).exists()


class RowBodies:
    """gzip blobs in the `bodies` table (PostgreSQL: one database holds everything)."""

    def put(self, session: Session, data: bytes, digest: str | None = None) -> str:
        from sqlalchemy.dialects.postgresql import insert

        digest = digest or sha256(data)
        stmt = insert(BodyRow).values(sha256=digest, size=len(data), data=compress(data), created_at=utcnow())
        session.execute(stmt.on_conflict_do_nothing(index_elements=["sha256"]))
        return digest

    def get(self, session: Session, digest: str) -> bytes:
        row = session.get(BodyRow, digest)
        if row is None:
            raise StoreError(f"body {digest[:12]} is missing from the bodies table")
        return gzip.decompress(row.data)

    def exists(self, session: Session, digest: str) -> bool:
        return session.get(BodyRow, digest) is not None


def _fsync_dir(path: Path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------- the store


class Store:
    def __init__(self, settings: StoreSettings, *, create: bool = True):
        self.settings = settings
        url = settings.url
        self.is_sqlite = url.startswith("sqlite")
        try:
            if self.is_sqlite:
                _make_sqlite_dir(url)
                self.engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False},
                                            json_serializer=_json_serializer)
                event.listen(self.engine, "connect", _sqlite_pragmas)
                self.bodies = FileBodies(settings.bodies_dir)
            else:
                self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                                            json_serializer=_json_serializer)
                self.bodies = RowBodies()
            self.Session = sessionmaker(self.engine, expire_on_commit=False)
            if create:
                _register_other_tables()
                self._create_tables()
        except ConfigError:
            raise
        except (SQLAlchemyError, ImportError) as e:
            raise StoreError(f"cannot open store {_safe_url(url)}: {one_line(e)}") from None

    def _create_tables(self, attempts: int = 5):
        # Two processes opening a new store at once race between "does the table exist?" and
        # "CREATE TABLE": the loser fails with "already exists"; looking again then finds it.
        for attempt in range(attempts):
            try:
                Base.metadata.create_all(self.engine)
                return
            except (OperationalError, ProgrammingError, IntegrityError):
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    @contextmanager
    def session(self):
        """A transaction: commits on success, rolls back on any error."""
        with self.Session() as session, session.begin():
            yield session

    def close(self):
        self.engine.dispose()

    # -------------------------------------------------- bodies

    def put_body(self, session: Session, data: bytes, digest: str | None = None) -> str:
        return self.bodies.put(session, data, digest)

    def get_body(self, session: Session, digest: str, *, verify: bool = False) -> bytes:
        data = self.bodies.get(session, digest)
        if verify and sha256(data) != digest:
            raise StoreError(f"body {digest[:12]} does not match its sha256")
        return data

    def body_exists(self, session: Session, digest: str) -> bool:
        return self.bodies.exists(session, digest)

    # -------------------------------------------------- policies and snapshots

    def policy_row(self, session: Session, name: str, url: str | None = None, *, create: bool = True) -> PolicyRow | None:
        row = session.scalars(select(PolicyRow).where(PolicyRow.name == name)).first()
        if row is None and create:
            row = PolicyRow(name=name, url=url or "", consecutive_failures=0, candidate_seen=0)
            session.add(row)
            session.flush()
        elif row is not None and url and row.url != url:
            row.url = url
        return row

    def latest_snapshot(self, session: Session, policy_id: int) -> SnapshotRow | None:
        return session.scalars(select(SnapshotRow).where(SnapshotRow.policy_id == policy_id)
                               .order_by(SnapshotRow.version.desc()).limit(1)).first()

    def snapshots(self, session: Session, policy_id: int) -> list[SnapshotRow]:
        return list(session.scalars(select(SnapshotRow).where(SnapshotRow.policy_id == policy_id)
                                    .order_by(SnapshotRow.version)))

    def changes(self, session: Session, policy_id: int) -> list[ChangeRow]:
        return list(session.scalars(select(ChangeRow).where(ChangeRow.policy_id == policy_id)
                                    .order_by(ChangeRow.id)))

    def recent_checks(self, session: Session, policy_id: int, limit: int = 10) -> list[CheckRow]:
        rows = session.scalars(select(CheckRow).where(CheckRow.policy_id == policy_id)
                               .order_by(CheckRow.id.desc()).limit(limit))
        return list(reversed(list(rows)))

    def next_version(self, session: Session, policy_id: int) -> int:
        current = session.scalar(select(func.max(SnapshotRow.version)).where(SnapshotRow.policy_id == policy_id))
        return (current or 0) + 1

    def resolve_ref(self, session: Session, name: str, ref: str = "latest") -> SnapshotRow:
        """`latest`, `-1` (the version before latest), `-N`, `N` (version N), `2026-05-01` (the version
        in force at the end of that local day) or `2026-05-01T12:00` -> the snapshot. InputError if none."""
        label = f"{name}@{ref}"
        policy = self.policy_row(session, name, create=False)
        if policy is None:
            raise InputError(f"{label}: nothing stored for policy {name!r} yet (run `watch check {name}`)")
        latest = self.latest_snapshot(session, policy.id)
        if latest is None:
            raise InputError(f"{label}: no snapshot of {name!r} stored yet")
        ref = ref.strip()
        if ref in ("", "latest", "head", "0", "-0"):
            return latest
        if ref.lstrip("+-").isdigit():
            n = int(ref)
            version = latest.version + n if n < 0 else n
            row = session.scalars(select(SnapshotRow).where(SnapshotRow.policy_id == policy.id,
                                                            SnapshotRow.version == version)).first()
            if row is None:
                raise InputError(f"{label}: no such version ({latest.version} stored, versions 1..{latest.version})")
            return row
        until = _parse_ref_time(ref)
        if until is None:
            raise InputError(f"{label}: cannot read reference {ref!r} (use latest, -1, a version number "
                             "or a date such as 2026-05-01)")
        row = session.scalars(select(SnapshotRow).where(SnapshotRow.policy_id == policy.id,
                                                        SnapshotRow.fetched_at < until)
                              .order_by(SnapshotRow.version.desc()).limit(1)).first()
        if row is None:
            first = self.snapshots(session, policy.id)[0]
            raise InputError(f"{label}: no version stored before that time (the first is from "
                             f"{first.fetched_at:%Y-%m-%d %H:%M} UTC)")
        return row


def _parse_ref_time(ref: str) -> datetime | None:
    """The end of the referenced local day (exclusive), or the exact time; as naive UTC."""
    try:
        if len(ref) == 10:
            day = datetime.strptime(ref, "%Y-%m-%d")
            local = (day + timedelta(days=1)).astimezone()
        else:
            parsed = datetime.fromisoformat(ref)
            local = parsed if parsed.tzinfo else parsed.astimezone()
            local = local + timedelta(microseconds=1)   # "at that time" includes it
    except ValueError:
        return None
    return local.astimezone(UTC).replace(tzinfo=None)


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer and a killed writer leaves the database consistent.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def _make_sqlite_dir(url: str):
    path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _register_other_tables():
    # The outbox declares its tables on our Base; importing it registers them before create_all().
    # Imported here, not at the top: watcher.outbox imports this module.
    import watcher.outbox  # noqa: F401


def _safe_url(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


_SHA256 = re.compile(r"[0-9a-f]{64}")


def one_line(error: Exception) -> str:
    """An error as one short line (a database error's own message, not SQLAlchemy's wrapping)."""
    text = str(getattr(error, "orig", None) or error)
    return " ".join(text.split())[:300]


def open_store(settings: StoreSettings) -> Store:
    return Store(settings)
