"""The store's compression dictionaries (watcher.store.codec): which one new values of a kind are
compressed with, trained when a kind has none yet, kept in the `dictionaries` table.

A dictionary is trained inside the transaction of the first batch that can teach one (its own
values, or with a small batch the store's latest values as well), stored in that transaction and
used for that batch's values: if the transaction rolls back, the dictionary and every value
compressed with it go together. It becomes the store's current one for later transactions only
once that commit succeeded. Two processes training at once each keep their own (two rows, each
value naming its own by id).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from watcher.store import codec
from watcher.store.bodies import insert_new
from watcher.store.schema import BodyRow, DictionaryRow, SnapshotRow, decompress_text, utcnow

KINDS = ("body", "text")
RECENT = 64         # stored values a small batch borrows to train from


class StoreDictionaries:
    def __init__(self, Session: Callable[[], Session]):
        self._Session = Session
        self._current: dict[str, codec.Dictionary] | None = None
        # values stored when training last found too little to learn from: tried again once doubled
        self._tried_at: dict[str, int] = {}
        codec.add_loader(self.load)

    def current(self, session: Session, kind: str) -> codec.Dictionary | None:
        """The dictionary new values of `kind` are compressed with (None: none trained yet)."""
        pending = session.info.get("dictionaries", {}).get(kind)
        if pending is not None:
            return pending
        if self._current is None:
            self._current = {}
            for row in session.scalars(select(DictionaryRow).order_by(DictionaryRow.created_at, DictionaryRow.id)):
                self._current[row.kind] = codec.register(codec.Dictionary(row.id, row.kind, row.data))
        return self._current.get(kind)

    def load(self, dictionary_id: int) -> codec.Dictionary | None:
        """The codec's loader: a dictionary another process trained since this one looked."""
        with self._Session() as session:
            row = session.get(DictionaryRow, dictionary_id)
            return codec.Dictionary(row.id, row.kind, row.data) if row is not None else None

    def for_batch(self, session: Session, kind: str, values: list[bytes]) -> codec.Dictionary | None:
        """The dictionary to compress this batch's `values` with: the current one, else one
        trained now from them (and the store's latest values, when they are few)."""
        found = self.current(session, kind)
        if found is not None:
            return found
        samples = list(values)
        if len(samples) < codec.TRAIN_MIN_SAMPLES:
            stored = self._stored_count(session, kind)
            if stored + len(samples) < codec.TRAIN_MIN_SAMPLES or stored < 2 * self._tried_at.get(kind, 0):
                return None
            samples += self._recent(session, kind)
        trained = codec.train(kind, samples)
        if trained is None:
            self._tried_at[kind] = max(1, self._stored_count(session, kind))
            return None
        codec.register(trained)
        # the same id is the same bytes: a row another process stored first will do
        insert_new(session, DictionaryRow, [{"id": trained.id, "kind": kind, "data": trained.data,
                                             "created_at": utcnow()}], "id")
        session.info.setdefault("dictionaries", {})[kind] = trained

        def promote(_session):
            if self._current is not None:
                self._current.setdefault(kind, trained)

        event.listen(session, "after_commit", promote, once=True)
        return trained

    @staticmethod
    def _stored_count(session: Session, kind: str) -> int:
        table = BodyRow if kind == "body" else SnapshotRow
        return session.scalar(select(func.count()).select_from(table)) or 0

    @staticmethod
    def _recent(session: Session, kind: str) -> list[bytes]:
        if kind == "body":
            rows = session.scalars(select(BodyRow.data).order_by(BodyRow.created_at.desc()).limit(RECENT))
            out = []
            for data in rows:
                try:
                    out.append(codec.decompress(data))
                except codec.CodecError:
                    continue
            return out
        texts = session.scalars(select(SnapshotRow.text).order_by(SnapshotRow.id.desc()).limit(RECENT))
        return [decompress_text(t).encode("utf-8") for t in texts if t]
