"""What a stored version costs (issue 14): a first version is stored unsegmented; the outline a
check writes with a change is compressed with the version's text as zlib's dictionary, reads back the same, and stays readable when the text is
replaced through the ORM; bodies and texts are compressed with dictionaries the store trains from
its own values (watcher.store.codec), readable by any process, on SQLite and PostgreSQL. Real
checks of pages from a real HTTP server, real stores."""

from __future__ import annotations

import zlib

from sqlalchemy import select, text
from test_check import ENMONO, ENMONO_NEW, make_settings
from webserver import policy_page

from watcher.app import check_policies
from watcher.config import StoreSettings
from watcher.derive import clause_to_json, current_outline, derive, stored_clauses
from watcher.store import BodyRow, SnapshotRow, Store, codec
from watcher.store.schema import DictionaryRow


def changed_version(tmp_path, server):
    """A policy with two versions: the first stored unsegmented, the second (a change: the compare
    segmented it) with its outline. Returns the settings and the outline the second one derives to."""
    settings = make_settings(tmp_path, [{"name": "a", "url": server.url("/p")}])
    server.set("/p", policy_page(ENMONO, nonce="fixed", views=1, stamp="2026-05-01"))
    [outcome] = check_policies(settings, notify=False)
    assert outcome.status == "first", outcome.error
    body = policy_page(ENMONO_NEW, nonce="fixed", views=1, stamp="2026-05-01")
    server.set("/p", body)
    [outcome] = check_policies(settings, notify=False)
    assert outcome.status == "changed", outcome.error
    expected = derive(body, source=server.url("/p"),
                      content_type="text/html; charset=utf-8", select=None, remove=[]).outline
    return settings, expected


def test_a_changes_outline_is_compressed_with_its_text_and_reads_back_the_same(tmp_path, server):
    settings, expected = changed_version(tmp_path, server)
    store = Store(settings.store)
    try:
        with store.engine.connect() as conn:
            raw, stored_text = conn.execute(text("SELECT outline, text FROM snapshots WHERE version = 2")).one()
        assert raw[1] & 0x20, "a zlib stream with a preset dictionary (FDICT)"
        plain = zlib.compress(zlib.decompressobj(zdict=codec.decompress(stored_text)).decompress(raw), 6)
        assert len(raw) < len(plain) / 2
        assert store.resolve_ref("a", "latest").outline == expected
        with store.Session() as session:
            assert session.scalars(select(SnapshotRow).where(SnapshotRow.version == 2)).one().outline == expected
    finally:
        store.close()


def test_a_text_replaced_through_the_orm_keeps_the_outline_readable(tmp_path, server):
    settings, expected = changed_version(tmp_path, server)
    store = Store(settings.store)
    try:
        with store.session() as session:
            snap = session.scalars(select(SnapshotRow).where(SnapshotRow.version == 2)).one()
            snap.text = snap.text + "\n追記"
        assert store.resolve_ref("a", "latest").outline == expected
    finally:
        store.close()


def test_a_first_version_is_stored_unsegmented_and_outlined_when_read(tmp_path, server):
    """Its outline and clause count are NULL (a third of deriving a new page went into them, for an
    outline nobody had read); `current_outline` and `stored_clauses` make them from its text."""
    body = policy_page(ENMONO, nonce="fixed", views=1, stamp="2026-05-01")
    server.set("/p", body)
    settings = make_settings(tmp_path, [{"name": "a", "url": server.url("/p")}])
    [outcome] = check_policies(settings, notify=False)
    assert outcome.status == "first", outcome.error
    derived = derive(body, source=server.url("/p"), content_type="text/html; charset=utf-8", select=None, remove=[])
    store = Store(settings.store)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT outline, clauses FROM snapshots")).one() == (None, None)
        snap = store.resolve_ref("a", "latest")
        assert snap.outline is None and snap.clauses is None
        tree = current_outline(snap, settings.policy("a"), store.get_body)
        assert [clause_to_json(c) for c in tree] == derived.outline and len(derived.outline) > 5
        assert stored_clauses(snap) == derived.clauses > 5
    finally:
        store.close()


# ---------------------------------------------------------------- dictionaries the store trains

def _pages(n: int, *, change: str = "") -> dict[str, bytes]:
    """n policies of one site: one template, each with its own company and purposes."""
    pages = {}
    for i in range(n):
        text = ENMONO.replace("株式会社", f"株式会社サンプル{i}号") + f"\n第9条 問い合わせ窓口 窓口{i}番{change}"
        pages[f"/p{i}"] = policy_page(text, nonce=f"n{i}", views=i, stamp="2026-05-01")
    return pages


def test_a_first_batch_trains_the_dictionaries_that_its_values_are_compressed_with(tmp_path, server, store_url):
    pages = _pages(40)
    for path, body in pages.items():
        server.set(path, body, validators=False)
    policies = [{"name": f"p{i}", "url": server.url(f"/p{i}")} for i in range(len(pages))]
    settings = make_settings(tmp_path, policies, url=store_url)
    assert {o.status for o in check_policies(settings, notify=False)} == {"first"}
    store = Store(settings.store)
    try:
        with store.session() as session:
            dictionaries = {d.kind: d for d in session.scalars(select(DictionaryRow))}
            assert set(dictionaries) == {"body", "text"}
            for d in dictionaries.values():
                assert d.id == codec.dictionary_id(d.data[8:]) and int.from_bytes(d.data[4:8], "little") == d.id
            rows = session.scalars(select(BodyRow)).all()
            assert len(rows) == len(pages)
            for row in rows:
                assert codec.zstandard.get_frame_parameters(row.data).dict_id == dictionaries["body"].id
            stored = sum(len(r.data) for r in rows)
            plain = sum(len(codec.compress(body)) for body in pages.values())
            assert stored < plain / 2, (stored, plain)
        with store.engine.connect() as conn:
            texts = [t for (t,) in conn.execute(text("SELECT text FROM snapshots"))]
        assert {codec.zstandard.get_frame_parameters(t).dict_id for t in texts} == {dictionaries["text"].id}
    finally:
        store.close()
    # another process (no dictionary in memory) reads them from the store
    codec._known.clear()
    fresh = Store(settings.store)
    try:
        snapshot = fresh.resolve_ref("p7", "latest")
        assert "窓口7番" in snapshot.text
        assert fresh.get_body(snapshot.body_sha256, verify=True) == pages["/p7"]
    finally:
        fresh.close()


def test_a_store_checked_one_policy_at_a_time_trains_from_what_it_stored(tmp_path, server):
    pages = _pages(codec.TRAIN_MIN_SAMPLES + 2)
    for path, body in pages.items():
        server.set(path, body, validators=False)
    policies = [{"name": f"p{i}", "url": server.url(f"/p{i}")} for i in range(len(pages))]
    settings = make_settings(tmp_path, policies)
    for p in policies:
        [o] = check_policies(settings, [p["name"]], notify=False)
        assert o.status == "first", o.error
    store = Store(settings.store)
    try:
        with store.session() as session:
            kinds = {d.kind: d.id for d in session.scalars(select(DictionaryRow))}
            assert set(kinds) == {"body", "text"}
            ids = [codec.zstandard.get_frame_parameters(r.data).dict_id
                   for r in session.scalars(select(BodyRow).order_by(BodyRow.created_at))]
        # plain zstd until the store held enough bodies to learn from, then its dictionary
        assert ids[0] == 0 and ids[-1] == kinds["body"]
        for i in range(len(pages)):
            assert store.get_body(store.resolve_ref(f"p{i}", "latest").body_sha256, verify=True) == pages[f"/p{i}"]
    finally:
        store.close()


def test_a_dictionary_rolled_back_with_its_batch_is_never_used_later(tmp_path):
    """A dictionary trained in a transaction that rolls back goes with it: the next batch does not
    compress with a dictionary the store does not have."""
    store = Store(StoreSettings(url=f"sqlite:///{tmp_path}/watch.db", bodies_dir=tmp_path / "bodies"))
    samples = [body for body in _pages(codec.TRAIN_MIN_SAMPLES + 4).values()]
    try:
        try:
            with store.unit_of_work() as uow:
                assert store.dictionaries.for_batch(uow.session, "body", samples) is not None
                raise RuntimeError("the batch failed")
        except RuntimeError:
            pass
        with store.session() as session:
            assert session.scalars(select(DictionaryRow)).all() == []
            assert store.dictionaries.current(session, "body") is None
    finally:
        store.close()
