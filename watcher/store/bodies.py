"""Raw page bodies, content-addressed by sha256 and gzip-compressed (the BodyStore).

With SQLite they are files `bodies_dir/ab/<sha256>.gz`, written via temp file + os.replace and made
durable (`make_durable`: one syncfs of the bodies' file system for a whole batch, not an fsync of
every file and folder) before the transaction that references them commits, so an orphan is
harmless and a snapshot never points at a missing body. A file renamed into place but not yet on
disk when the machine stops is such an orphan: `put` checks the bytes of a file it finds and writes
a damaged one again. With PostgreSQL they are rows of the `bodies` table, written in the same
transaction (one database holds everything, for every worker machine).
"""

from __future__ import annotations

import ctypes
import gzip
import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Iterable
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

    def put(self, session: Session | None, data: bytes, digest: str | None = None, *, durable: bool = True) -> str:
        """Write one body. `durable=False`: not synced yet; the caller calls `make_durable` with
        its batch before the transaction that references them commits."""
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
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if durable:
            _fsync_dir(target.parent)
            _fsync_dir(self.root)       # a new ab/ folder is an entry of the root
        return digest

    def make_durable(self, digests: Iterable[str]) -> None:
        """Put the files of `digests` (written with durable=False, by this process or a derive
        worker) and their folder entries on disk: one syncfs(2) of the file system on Linux,
        else an fsync of each file, then of each folder once."""
        digests = [d for d in dict.fromkeys(digests) if d]
        if not digests:
            return
        if _syncfs(self.root):
            return
        folders = {}
        for digest in digests:
            path = self.path(digest)
            _fsync_file(path)
            folders[path.parent] = True
        for folder in folders:
            _fsync_dir(folder)
        _fsync_dir(self.root)

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

    def make_durable(self, digests: Iterable[str]) -> None:
        """Rows are as durable as the transaction that writes them."""

    def put(self, session: Session, data: bytes, digest: str | None = None, *, durable: bool = True) -> str:
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
    """Write one body file, not synced yet (a derive worker does this for first versions, off the
    main process; the transaction that stores their versions makes the batch durable first)."""
    return FileBodies(Path(root)).put(None, data, digest, durable=False)


def _syncfs(path: Path) -> bool:
    """syncfs(2) of the file system holding `path` (Linux): everything written to it is on disk
    after one call. False where there is no syncfs or it failed (then fsync file by file)."""
    if not sys.platform.startswith("linux") or _LIBC is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return _LIBC.syncfs(fd) == 0
    finally:
        os.close(fd)


def _fsync_file(path: Path):
    fd = os.open(path, os.O_RDONLY)     # a body that is not there fails the batch (OSError)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def _libc():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syncfs.argtypes = [ctypes.c_int]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc() if sys.platform.startswith("linux") else None
