"""Raw page bodies, content-addressed by sha256 (the BodyStore): rows of the `bodies` table,
zstd-compressed with the store's body dictionary (watcher.store.codec), written in the transaction
of the snapshots that reference them: a crash leaves no half snapshot and no orphan, and a batch of
a thousand bodies is one statement, not a thousand files (creating, syncing and renaming a file cost
more CPU than parsing its page).

Before 0008 a SQLite store kept its bodies as gzip files `bodies_dir/ab/<sha256>.gz`: they are read
where they are (`FileBodies`, read-only); a body written again goes into the table.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from watcher.errors import WatchError
from watcher.store import codec
from watcher.store.schema import BodyRow, utcnow

_SHA256 = re.compile(r"[0-9a-f]{64}")


class StoreError(WatchError):
    """The store cannot be opened or read (bad URL, database down, old schema, corrupt body)."""


class StoreConflict(StoreError):
    """A write collided with another process's (a unique key): trying again may succeed."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compress(data: bytes, dictionary: codec.Dictionary | None = None) -> bytes:
    return codec.compress(data, dictionary)


def insert_new(session: Session, model, rows: list[dict], key: str) -> None:
    """Insert `rows`, skipping those whose `key` another writer stored first (content-addressed
    rows: theirs are the same bytes). One statement, and no savepoint: with SQLite's driver a
    savepoint opened before the transaction's first write would commit on release."""
    if not rows:
        return
    if session.get_bind().dialect.name == "sqlite":
        session.execute(insert(model).prefix_with("OR IGNORE"), rows)
        return
    # PostgreSQL (the dialect module is loaded already: the engine uses it)
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    session.execute(pg_insert(model).on_conflict_do_nothing(index_elements=[key]), rows)


class FileBodies:
    """The gzip files `root/ab/<sha256>.gz` of a SQLite store from before 0008 (read only)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        # The digest comes from the database: never let it name a path outside the bodies folder.
        if not _SHA256.fullmatch(digest or ""):
            raise StoreError(f"not a body digest: {digest!r}")
        return self.root / digest[:2] / f"{digest}.gz"

    def get(self, digest: str) -> bytes:
        try:
            return codec.decompress(self.path(digest).read_bytes())
        except FileNotFoundError:
            raise StoreError(f"body {digest[:12]} is missing from {self.root}") from None
        except (OSError, codec.CodecError) as e:
            raise StoreError(f"body {digest[:12]} is corrupt: {one_line_of(e)}") from None

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()


class RowBodies:
    """Bodies in the `bodies` table; `legacy`: the files of a SQLite store from before 0008. A
    body is compressed with the dictionary its writer passes (None: plain zstd)."""

    def __init__(self, legacy: FileBodies | None = None):
        self.legacy = legacy

    def put(self, session: Session, data: bytes, digest: str | None = None, *,
            dictionary: codec.Dictionary | None = None) -> str:
        digest = digest or sha256(data)
        row = session.get(BodyRow, digest)
        if row is not None:
            if self._row_valid(row, digest):
                return digest       # content-addressed: the same name is the same bytes
            # a damaged row: its bytes came back, write them again
            session.execute(update(BodyRow).where(BodyRow.sha256 == digest)
                            .values(size=len(data), data=compress(data, dictionary)))
            return digest
        insert_new(session, BodyRow, [{"sha256": digest, "size": len(data), "data": compress(data, dictionary),
                                        "created_at": utcnow()}], "sha256")
        return digest

    def put_many(self, session: Session, bodies: dict[str, bytes], dictionary: codec.Dictionary | None) -> None:
        """Many bodies (digest -> bytes) in one statement; those already stored are left as they are."""
        if not bodies:
            return
        digests = list(bodies)
        have = set()
        for i in range(0, len(digests), 500):
            have.update(session.scalars(select(BodyRow.sha256).where(BodyRow.sha256.in_(digests[i:i + 500]))))
        now = utcnow()
        insert_new(session, BodyRow, [{"sha256": d, "size": len(data), "data": compress(data, dictionary),
                                       "created_at": now} for d, data in bodies.items() if d not in have], "sha256")

    def get(self, session: Session, digest: str) -> bytes:
        row = session.get(BodyRow, digest)
        if row is None:
            if self.legacy is not None and self.legacy.exists(digest):
                return self.legacy.get(digest)
            raise StoreError(f"body {digest[:12]} is missing from the store")
        try:
            return codec.decompress(row.data)
        except codec.CodecError as e:
            raise StoreError(f"body {digest[:12]} is corrupt: {e}") from None

    def exists(self, session: Session, digest: str) -> bool:
        if session.get(BodyRow, digest) is not None:
            return True
        return self.legacy is not None and self.legacy.exists(digest)

    def valid(self, digest: str, session: Session | None = None) -> bool:
        try:
            return sha256(self.get(session, digest)) == digest
        except StoreError:
            return False

    @staticmethod
    def _row_valid(row: BodyRow, digest: str) -> bool:
        try:
            return sha256(codec.decompress(row.data)) == digest
        except codec.CodecError:
            return False


def one_line_of(error: Exception) -> str:
    return " ".join(str(error).split())
