"""Engines, sessions and the schema check: SQLite (the embedded default) or PostgreSQL by URL.

A new, empty database is created at the schema's HEAD revision (no `watch migrate` needed for a
first run). A database made by an older release — its tables but another Alembic revision, or
none at all (releases before migrations) — is refused with a one-line message until
`watch migrate` upgrades it (watcher.store.migrate).
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import sessionmaker

from watcher.store.bodies import StoreError
from watcher.store.schema import HEAD, Base, json_serializer

VERSION_TABLE = "alembic_version"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        _make_sqlite_dir(url)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False},
                               json_serializer=json_serializer)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20, json_serializer=json_serializer)
    _ping_when_idle(engine)
    return engine


IDLE_PING = 10.0   # seconds: a pooled connection idle longer than this is pinged before it is used again


def _ping_when_idle(engine: Engine) -> None:
    """pool_pre_ping, but only for a connection that sat idle in the pool: a busy worker takes a
    connection several times per check, and a ping each time was a round trip (and PostgreSQL CPU)
    per unit of work. A connection the server dropped while it was idle is replaced on checkout
    (DisconnectionError: the pool connects afresh); one dropped since, fails its unit of work and
    SQLAlchemy invalidates the pool, as with pre-ping."""
    @event.listens_for(engine, "checkin")
    def checkin(dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def checkout(dbapi_connection, record, proxy):
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < IDLE_PING:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_connection.rollback()
        except Exception as e:   # any failure of the ping: this connection is gone
            raise DisconnectionError(f"stale pooled connection: {e}") from e


def sessionmaker_for(engine: Engine):
    return sessionmaker(engine, expire_on_commit=False)


def revision(engine: Engine) -> str | None:
    """The store's schema revision: HEAD-like id, "legacy" (tables, no version table), None (empty)."""
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        if VERSION_TABLE in names:
            row = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
            if row is not None:
                return row[0]
        return "legacy" if "policies" in names else None


def create_or_check(engine: Engine, *, check: bool = True, attempts: int = 5) -> None:
    """Create an empty store at HEAD; refuse a store at another revision (`watch migrate`)."""
    for attempt in range(attempts):
        try:
            current = revision(engine)
            if current is None:
                _create(engine)
                return
            break
        except (OperationalError, ProgrammingError, IntegrityError) as e:
            # Two processes opening a new store at once race between "is it empty?" and "CREATE
            # TABLE": the loser fails with "already exists"; looking again then finds it. Any other
            # error (a refused connection, a bad password) is not worth waiting for.
            if attempt == attempts - 1 or not _is_creation_race(e):
                raise
            time.sleep(0.05 * (attempt + 1))
    if check and current != HEAD:
        what = "made by a release before schema migrations" if current == "legacy" else f"at revision {current}"
        raise StoreError(f"the store at {safe_url(str(engine.url))} is {what}; this release needs revision "
                         f"{HEAD}: run `watch migrate` first (back the store up before)")


def _is_creation_race(error: Exception) -> bool:
    text_ = str(getattr(error, "orig", None) or error).lower()
    return "already exists" in text_ or "unique" in text_ or "duplicate" in text_ or "locked" in text_


def _create(engine: Engine) -> None:
    # The version table first, committed on its own; then the version row, which opens the
    # transaction (SQLite begins one at the first write and runs a CREATE TABLE alone otherwise),
    # so every table is created in it and another process sees them only with their version.
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, "
                          f"CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))"))
    with engine.begin() as conn:
        if conn.execute(text(f"SELECT count(*) FROM {VERSION_TABLE}")).scalar_one() == 0:
            conn.execute(text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:v)"), {"v": HEAD})
        Base.metadata.create_all(conn)


def close(engine: Engine, is_sqlite: bool) -> None:
    if is_sqlite:
        # Fold the write-ahead log back into the database and truncate it: a store at rest is one file.
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except Exception:  # noqa: BLE001 - another process may hold the database; its log stays
            pass
    engine.dispose()


def safe_url(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given
        return url


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
