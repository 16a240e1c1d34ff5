"""Raw page bodies, content-addressed by sha256 and gzip-compressed (the BodyStore).

With SQLite they are files `bodies_dir/ab/<sha256>.gz`, written via temp file + fsync + os.replace
before the transaction that references them commits, so an orphan is harmless and a snapshot never
points at a missing body. With PostgreSQL they are rows of the `bodies` table, written in the same
transaction (one database holds everything, for every worker machine).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
from pathlib import Path

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from watcher.errors import WatchError
from watcher.store.schema import BodyRow, utcnow

_SHA256 = re.compile(r"[0-9a-f]{64}")


class StoreError(WatchError):
    """The store cannot be opened or read (bad URL, database down, old schema, corrupt body)."""


class StoreConflict(StoreError):
    """A write collided with another process's (a unique key): trying again may succeed."""


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

    def put(self, session: Session | None, data: bytes, digest: str | None = None) -> str:
        digest = digest or sha256(data)
        target = self.path(digest)
        if target.exists() and self.valid(digest):
            return digest       # content-addressed: the same name is the same bytes (checked: a lost
                                # or damaged file is written again when its bytes come back)
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

    def get(self, session: Session | None, digest: str) -> bytes:
        try:
            return gzip.decompress(self.path(digest).read_bytes())
        except FileNotFoundError:
            raise StoreError(f"body {digest[:12]} is missing from {self.root}") from None
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise StoreError(f"body {digest[:12]} is corrupt: {e}") from None

    def exists(self, session: Session | None, digest: str) -> bool:
        return self.path(digest).exists()

    def valid(self, digest: str, session: Session | None = None) -> bool:
        """The file is there and holds the bytes its name says."""
        try:
            return sha256(self.get(session, digest)) == digest
        except StoreError:
            return False


class RowBodies:
    """gzip blobs in the `bodies` table (PostgreSQL: one database holds everything)."""

    def put(self, session: Session, data: bytes, digest: str | None = None) -> str:
        digest = digest or sha256(data)
        if self.exists(session, digest):
            if self.valid(digest, session):
                return digest       # content-addressed: the same name is the same bytes
            # a damaged row: its bytes came back, write them again
            session.execute(update(BodyRow).where(BodyRow.sha256 == digest)
                            .values(size=len(data), data=compress(data)))
            return digest
        try:
            # A savepoint: another process inserting the same body at once costs this insert only,
            # not the caller's transaction (without a dialect-specific ON CONFLICT).
            with session.begin_nested():
                session.execute(insert(BodyRow).values(sha256=digest, size=len(data), data=compress(data),
                                                       created_at=utcnow()))
        except IntegrityError:
            pass
        return digest

    def get(self, session: Session, digest: str) -> bytes:
        row = session.get(BodyRow, digest)
        if row is None:
            raise StoreError(f"body {digest[:12]} is missing from the bodies table")
        try:
            return gzip.decompress(row.data)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise StoreError(f"body {digest[:12]} is corrupt: {e}") from None

    def exists(self, session: Session, digest: str) -> bool:
        return session.get(BodyRow, digest) is not None

    def valid(self, digest: str, session: Session | None = None) -> bool:
        try:
            return sha256(self.get(session, digest)) == digest
        except StoreError:
            return False


def write_body_file(root: str, data: bytes, digest: str | None = None) -> str:
    """Write one body file (a derive worker does this for first versions, off the main process)."""
    return FileBodies(Path(root)).put(None, data, digest)


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
