"""The store: one interface (Repository for rows, its BodyStore for raw bodies) that every other
module uses. SQLAlchemy is imported nowhere else; the tables are in `schema`, their history in
`migrations/` (Alembic; `watch migrate`).

    repo = open_store(settings.store)
    with repo.unit_of_work() as uow:        # one transaction
        repo.record_checks(uow, records, alert_after=3)
        uow.publish(CheckFailed(...))       # stored + handed to subscribers, same transaction
"""

from __future__ import annotations

from watcher.config import StoreSettings
from watcher.store.bodies import (
    FileBodies,
    RowBodies,
    StoreConflict,
    StoreError,
    compress,
    sha256,
)
from watcher.store.deliveries import DeliveryView, DigestItemView, PendingDigest
from watcher.store.engine import safe_url
from watcher.store.repository import Repository, UnitOfWork, one_line
from watcher.store.schema import (
    HEAD,
    AlertRow,
    Base,
    BodyRow,
    ChangeRow,
    CheckRow,
    Compressed,
    Delivery,
    Digest,
    DigestItem,
    EncodedJSON,
    EventRow,
    PolicyRow,
    SnapshotRow,
    compress_outline,
    compress_text,
    utcnow,
)
from watcher.store.views import (
    AlertView,
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

# The store is its repository (the name the rest of the code and the tests know it by).
Store = Repository


def open_store(settings: StoreSettings) -> Repository:
    return Repository(settings)


__all__ = [
    "HEAD", "AlertRow", "AlertView", "Base", "BodyRow", "ChangeRow", "ChangeView", "CheckRecord", "CheckRecorded",
    "CheckRow", "CheckView", "Compressed", "Delivery", "DeliveryView", "DigestItemView", "PendingDigest", "DerivedColumns", "Digest", "DigestItem", "EncodedJSON",
    "EventRow", "FileBodies", "History", "NewVersion", "PolicyRow", "PolicyState", "Raced", "Repository",
    "RowBodies", "SnapshotRow", "SnapshotView", "Store", "StoreConflict", "StoreError", "StoredVersion", "UnitOfWork", "compress",
    "compress_outline", "compress_text", "one_line", "open_store", "safe_url", "sha256", "utcnow",
]
