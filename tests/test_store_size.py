"""What a stored version costs (issue 14): the outline a check writes is compressed with the
version's text as zlib's dictionary, reads back the same, and stays readable when the text is
replaced through the ORM. A real check of a seed page, a real SQLite store."""

from __future__ import annotations

import zlib

from sqlalchemy import select, text
from test_check import ENMONO, make_settings
from webserver import policy_page

from watcher.app import check_policies
from watcher.derive import derive
from watcher.store import SnapshotRow, Store


def first_version(tmp_path, server):
    body = policy_page(ENMONO, nonce="fixed", views=1, stamp="2026-05-01")
    server.set("/p", body)
    settings = make_settings(tmp_path, [{"name": "a", "url": server.url("/p")}])
    [outcome] = check_policies(settings, notify=False)
    assert outcome.status == "first", outcome.error
    expected = derive(body, source=server.url("/p"),
                      content_type="text/html; charset=utf-8", select=None, remove=[]).outline
    return settings, expected


def test_a_checks_outline_is_compressed_with_its_text_and_reads_back_the_same(tmp_path, server):
    settings, expected = first_version(tmp_path, server)
    store = Store(settings.store)
    try:
        with store.engine.connect() as conn:
            raw, stored_text = conn.execute(text("SELECT outline, text FROM snapshots")).one()
        assert raw[1] & 0x20, "a zlib stream with a preset dictionary (FDICT)"
        plain = zlib.compress(zlib.decompressobj(zdict=zlib.decompress(stored_text)).decompress(raw), 6)
        assert len(raw) < len(plain) / 2
        assert store.resolve_ref("a", "latest").outline == expected
        with store.Session() as session:
            assert session.scalars(select(SnapshotRow)).one().outline == expected
    finally:
        store.close()


def test_a_text_replaced_through_the_orm_keeps_the_outline_readable(tmp_path, server):
    settings, expected = first_version(tmp_path, server)
    store = Store(settings.store)
    try:
        with store.session() as session:
            snap = session.scalars(select(SnapshotRow)).one()
            snap.text = snap.text + "\n追記"
        assert store.resolve_ref("a", "latest").outline == expected
    finally:
        store.close()
