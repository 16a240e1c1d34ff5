"""Every table of the store, in one place (the migrations in store/migrations build the same).

- `policies`     one row per watched policy: its conditional-GET validators, the sha256 of the last
                 body known to equal the latest version, the failure streak (incremented in SQL), and
                 a held candidate change (policies with `confirm = 2`).
                 Policies as data: the policy's table (`spec`), `source`, `schedule`, `next_due`.
- `snapshots`    one row per stored *version*: body sha256, URL, HTTP status, validators, the
                 extracted text and lines, the clause outline (JSON), a hash of the normalised text,
                 and `extractor_version` (the code that derived them; see watcher.derive).
- `bodies`       raw page bodies, content-addressed by sha256, zstd-compressed with the store's body
                 dictionary (gzip before 0008; a SQLite store of before 0008 also keeps its older
                 bodies as files, read where they are: watcher.store.bodies).
- `dictionaries` the zstd dictionaries the store trained from its own bodies and texts
                 (watcher.store.codec): immutable, each named by the frames compressed with it.
- `checks`       every check: when, URL, HTTP status, attempts, outcome, one-line error.
- `changes`      one row per detected change: old/new snapshot, the diff report (JSON v1), severity,
                 material, `state` (pending -> notified; silenced when recorded with --no-notify).
- `alerts`       operational alerts for staff (failed checks in a row, undeliverable mail).
- `events`       the domain events a check wrote in its transaction (version stored, change
                 recorded, check failed, mail undeliverable): what subscribers planned from.
- `deliveries`   the outbox: one rendered message per recipient and channel.
- `digests`, `digest_items`  the daily staff digest and the minor changes waiting for it.
- `user_notices` one row per (policy, content key of the new version's text, user) told: a page
                 flapping A->B->A->B never mails the same notice to one person twice.
- `fanouts`      a change's notice to many users, planned in the change's transaction as one row
                 (the message rendered per language); the drain expands it into deliveries in
                 batches, each recipient once (user_notices).
- `reviews`      the review state of a change (new -> in_review -> done, decision, actions done).
- `audit_events` every review action, append-only (who, when, what, note).

JSON columns are UTF-8 text (no \\uXXXX escapes: Japanese costs 3 bytes a character, not 6); the
big ones (derived text, lines, outline, reports) are compressed (ZText, ZJSON): zstd since 0008 (a
check compresses a version's text with the store's text dictionary), zlib before; a reader takes
either (watcher.store.codec). A snapshot's
outline, as a check writes it, is compressed with the snapshot's text as zlib's preset dictionary
(`compress_outline`): the clause bodies are the text again, and cost ~0.5 KB a version instead of
~2.2 KB. Such a value is a standard zlib stream with the FDICT flag (and the text's Adler-32); the
ORM decodes it when a row loads (`_outline_with_text`), with that row's text. Since 0009 a first
version is stored without an outline and clause count (NULL): they are caches of its text, made
when something reads them (watcher.derive.current_outline, stored_clauses).
Times are naive UTC (`utcnow()`), the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import zlib
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.orm.attributes import flag_modified, set_committed_value
from sqlalchemy.types import TypeDecorator

from watcher.store import codec

# The Alembic revision that this module describes: a new store is created at it, and a store at
# any other revision is refused until `watch migrate` (tests check it equals the migrations' head).
HEAD = "0009"

log = logging.getLogger("watcher.store")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class EncodedJSON(str):
    """A value already encoded as JSON text (e.g. by a derive worker): a JSON column stores it as
    it is instead of encoding it again. Anything else is encoded by `json_serializer`."""


def json_serializer(value) -> str:
    if type(value) is EncodedJSON:
        return str.__str__(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Compressed(bytes):
    """A column value already compressed (e.g. by a derive worker): stored as it is."""


def compress_text(text: str, dictionary: codec.Dictionary | None = None) -> bytes:
    return codec.compress(text.encode("utf-8"), dictionary)


def decompress_text(data: bytes | str) -> str:
    return data if isinstance(data, str) else codec.decompress(data).decode("utf-8")


class ZText(TypeDecorator):
    """Text stored compressed (the derived text of a version: a cache of its raw body)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or type(value) is Compressed:
            return value
        return compress_text(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decompress_text(value)


class NeedsText(bytes):
    """A stored outline compressed with its snapshot's text as dictionary, not decoded yet."""


def compress_outline(outline_json: str, text: str) -> bytes:
    """An outline (JSON text) compressed with the snapshot's text as zlib's preset dictionary."""
    if not text:
        return compress_text(outline_json)
    packer = zlib.compressobj(6, zdict=text.encode("utf-8"))
    return packer.compress(outline_json.encode("utf-8")) + packer.flush()


def decompress_outline(data: bytes, text: str) -> list:
    unpacker = zlib.decompressobj(zdict=(text or "").encode("utf-8"))
    return json.loads((unpacker.decompress(bytes(data)) + unpacker.flush()).decode("utf-8"))


def _needs_dictionary(data: bytes) -> bool:
    """A zlib stream whose header has FDICT set (RFC 1950: bit 5 of its second byte; a zstd
    frame's magic would pass that test, so it is ruled out first)."""
    return (len(data) > 2 and data[:4] != codec.ZSTD_MAGIC and data[0] & 0x0F == 8 and bool(data[1] & 0x20))


class ZJSON(TypeDecorator):
    """JSON stored as compressed UTF-8 text (outlines and reports: about half of a store)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or type(value) is Compressed:
            return value
        return compress_text(json_serializer(value))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if _needs_dictionary(value):
            return NeedsText(value)      # an outline: decoded with its row's text (SnapshotRow)
        return json.loads(decompress_text(value))


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
    # policies as data (watcher.store.policies): the [[policy]] table as imported or synced from the
    # config, where it came from (config | import), and when a scheduler next enqueues its check
    spec: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    schedule: Mapped[str | None] = mapped_column(String(200), nullable=True)
    next_due: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)


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
    text: Mapped[str] = mapped_column(ZText, default="")
    lines: Mapped[list] = mapped_column(ZJSON, default=list)      # heading level per line, see watcher.derive
    # clause tree, see watcher.derive; NULL: stored unsegmented (a first version), segmented when read
    outline: Mapped[list | None] = mapped_column(ZJSON, nullable=True, default=None)
    text_key: Mapped[str] = mapped_column(String(64), default="")  # sha256 of the normalised lines
    text_length: Mapped[int] = mapped_column(Integer, default=0)
    clauses: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)  # top-level; NULL as outline
    extractor_version: Mapped[str] = mapped_column(String(200), default="")
    fetcher: Mapped[str] = mapped_column(String(16), default="")   # the kind that fetched it: http | browser | file

    policy: Mapped[PolicyRow] = relationship()


@event.listens_for(SnapshotRow, "load")
def _outline_with_text(row: SnapshotRow, _context) -> None:
    """A loaded snapshot's outline, compressed with its text as dictionary, decoded with that text."""
    raw = row.__dict__.get("outline")
    if type(raw) is NeedsText:
        try:
            outline = decompress_outline(raw, row.text)
        except (zlib.error, ValueError) as e:   # not its text any more: the outline is a cache of it
            log.warning("snapshot %s: stored outline unreadable with its text (%s); read as empty", row.id, e)
            outline = []
        set_committed_value(row, "outline", outline)


@event.listens_for(SnapshotRow.text, "set")
def _text_set(row: SnapshotRow, value, old, _initiator) -> None:
    """A text set through the ORM writes the outline again too (plain zlib): the one stored may be
    compressed with the old text as its dictionary."""
    if "outline" in row.__dict__ and value != old:
        flag_modified(row, "outline")


@event.listens_for(SnapshotRow, "refresh")
def _outline_with_text_refreshed(row: SnapshotRow, _context, _attributes) -> None:
    _outline_with_text(row, _context)


class BodyRow(Base):
    __tablename__ = "bodies"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)     # zstd (watcher.store.codec); gzip before 0008
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DictionaryRow(Base):
    """A zstd dictionary the store trained (watcher.store.codec): never changed nor deleted, since
    the values compressed with it name it by its id."""
    __tablename__ = "dictionaries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))        # body | text
    data: Mapped[bytes] = mapped_column(LargeBinary)
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
    # one change per (old, new) version pair: a redelivered check can never record it twice
    __table_args__ = (UniqueConstraint("old_snapshot_id", "new_snapshot_id", name="uq_changes_snapshots"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    old_snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"))
    new_snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"))
    report: Mapped[dict] = mapped_column(ZJSON)              # policy-watcher/diff/v1
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
    kind: Mapped[str] = mapped_column(String(32), default="check_failures")   # | undeliverable
    message: Mapped[str] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    policy: Mapped[PolicyRow] = relationship()


class EventRow(Base):
    """A domain event (watcher.events), written in the transaction of what it reports."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)   # version_stored | change_recorded | ...
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("policies.id"), nullable=True, index=True)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)


class Delivery(Base):
    """One message to one recipient on one channel (the outbox)."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "state", "next_attempt_at"),
                      Index("ix_deliveries_change_state", "change_id", "state"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    channel: Mapped[str] = mapped_column(String(16), default="email")   # a kind of watcher.notify CHANNELS
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


class UserNotice(Base):
    """A user told of one content of a policy (the new version's text_key): the planner queues a
    notice only for a (policy, content_key, recipient) it can insert here."""

    __tablename__ = "user_notices"
    __table_args__ = (UniqueConstraint("policy", "content_key", "recipient", name="uq_user_notices"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy: Mapped[str] = mapped_column(String(200))
    content_key: Mapped[str] = mapped_column(String(80))
    recipient: Mapped[str] = mapped_column(String(320))      # the address, lowercased
    change_id: Mapped[int | None] = mapped_column(ForeignKey("changes.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Fanout(Base):
    """A notice to many users of one change, expanded into deliveries by the drain in batches."""

    __tablename__ = "fanouts"

    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id"), primary_key=True)
    policy: Mapped[str] = mapped_column(String(200))
    content_key: Mapped[str] = mapped_column(String(80))
    templates: Mapped[dict] = mapped_column(ZJSON)            # language -> {subject, raw, message_id}
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)   # pending | done
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class ReviewRow(Base):
    """The review state of one change (watcher.review): a projection of its audit events, written in
    the same transaction as each event; no row means `new`. The events are the record."""

    __tablename__ = "reviews"

    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)        # new | in_review | done
    decision: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actions: Mapped[list] = mapped_column(JSON, default=list)          # the checklist actions done
    last_event_id: Mapped[int] = mapped_column(Integer)                # optimistic lock: the newest event
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class AuditEventRow(Base):
    """One review action (who, when, what, note). Append-only: the store has no method that updates
    or deletes one."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="")
    action: Mapped[str] = mapped_column(String(16))          # start | tick | untick | decide | reopen | note
    value: Mapped[str | None] = mapped_column(String(64), nullable=True)   # the action or decision named
    note: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16))           # the review state after this event
