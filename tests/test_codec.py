"""The store's codec (watcher.store.codec): zstd with trained dictionaries, and every format the
store wrote before (gzip bodies, zlib text and JSON) read by its first bytes."""

from __future__ import annotations

import gc
import gzip
import threading
import zlib

import pytest
import zstandard
from test_store_size import _pages

from watcher.store import codec


@pytest.fixture()
def fresh_registry(monkeypatch):
    monkeypatch.setattr(codec, "_known", {})
    monkeypatch.setattr(codec, "_loaders", [])


def trained() -> codec.Dictionary:
    dictionary = codec.train("body", list(_pages(codec.TRAIN_MIN_SAMPLES + 8).values()))
    assert dictionary is not None
    return dictionary


def test_every_format_the_store_wrote_reads_back(fresh_registry):
    value = "第3条 利用目的 当社は個人情報を次の目的で利用します。".encode() * 40
    assert codec.decompress(codec.compress(value)) == value
    assert codec.decompress(gzip.compress(value)) == value          # bodies before 0008
    assert codec.decompress(zlib.compress(value, 6)) == value       # text and JSON before 0008
    assert codec.compress(value)[:4] == codec.ZSTD_MAGIC


def test_a_trained_dictionary_names_itself_in_every_frame_and_makes_values_smaller(fresh_registry):
    dictionary = codec.register(trained())
    assert dictionary.id == codec.dictionary_id(dictionary.data[8:]) >= 32768
    assert int.from_bytes(dictionary.data[4:8], "little") == dictionary.id     # the id zstd reads
    page = _pages(codec.TRAIN_MIN_SAMPLES + 20)["/p30"]                          # not a sample
    packed = codec.compress(page, dictionary)
    assert zstandard.get_frame_parameters(packed).dict_id == dictionary.id
    assert len(packed) < len(codec.compress(page)) / 2
    assert codec.decompress(packed) == page


def test_a_value_whose_dictionary_is_unknown_is_one_line_naming_it(fresh_registry):
    dictionary = trained()                     # never registered nor stored
    packed = codec.compress(b"x" * 5000, dictionary)
    with pytest.raises(codec.CodecError) as e:
        codec.decompress(packed)
    assert str(dictionary.id) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(codec.CodecError, match="damaged"):
        codec.decompress(codec.ZSTD_MAGIC + b"\x00garbage")
    with pytest.raises(codec.CodecError, match="not a value the store wrote"):
        codec.decompress(b"plain bytes")


def test_a_dictionary_another_process_trained_is_asked_of_the_open_stores(fresh_registry):
    dictionary = trained()
    asked = []

    class Store:
        def load(self, wanted):
            asked.append(wanted)
            return dictionary if wanted == dictionary.id else None

    store = Store()
    codec.add_loader(store.load)
    packed = codec.compress(b"y" * 5000, dictionary)
    assert codec.decompress(packed) == b"y" * 5000 and asked == [dictionary.id]
    assert codec.decompress(packed) == b"y" * 5000 and asked == [dictionary.id]   # kept: asked once
    # a closed store is not kept alive by the codec, nor asked
    other = codec.train("text", [body[::-1] for body in _pages(codec.TRAIN_MIN_SAMPLES + 8).values()])
    assert other is not None and other.id != dictionary.id
    del store
    gc.collect()
    with pytest.raises(codec.CodecError):
        codec.decompress(codec.compress(b"z" * 5000, other))
    assert asked == [dictionary.id]


def test_too_few_or_too_small_values_train_no_dictionary():
    assert codec.train("body", [b"a" * 100] * (codec.TRAIN_MIN_SAMPLES - 1)) is None
    assert codec.train("body", [b"tiny"] * 100) is None                # below TRAIN_MIN_BYTES


def test_many_threads_share_a_few_zstd_contexts(fresh_registry):
    dictionary = codec.register(trained())
    pages = list(_pages(40).values())
    errors = []

    def work(offset: int):
        try:
            for i in range(60):
                page = pages[(offset + i) % len(pages)]
                assert codec.decompress(codec.compress(page, dictionary)) == page
        except Exception as e:      # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    kept = [len(v) for pool in (codec._compressors, codec._decompressors) for v in pool.idle.values()]
    assert kept and max(kept) <= codec._Contexts.KEEP
