"""How the store compresses its big values: zstd, with dictionaries the store trains from its own
page bodies and texts.

Policies watched together look alike: one site's pages share a template, every Japanese policy says
個人情報 and 利用目的 in the same sentences, a new version is mostly the old one. Compressed one by
one, each value pays again for what all of them share; compressed with a dictionary of what they
share, a 14 KB page costs a few hundred bytes instead of ~4.5 KB (zstd's dictionary mode, made for
many small similar values). The store trains one dictionary per kind of value (`body`, `text`) from
the values of its first batch that has enough of them (`train`), and keeps it in the
`dictionaries` table. A dictionary is immutable: a value names the dictionary it was compressed with
in its zstd frame header (the dictionary id), so it stays readable for as long as the store
lives, whatever dictionary later values use.

Reading recognises every format the store ever wrote by its first bytes: a zstd frame (with or
without a dictionary), gzip (bodies before 0008), zlib (texts and JSON before 0008).

The registry of dictionaries is per process: a dictionary's id is a function of its bytes, so two
stores open in one process can never give one id two meanings. A value whose dictionary is not
loaded yet asks the stores open in this process (each registers a loader) and keeps the answer.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import weakref
import zlib
from collections.abc import Callable, Sequence

import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
LEVEL = 3                       # zstd's default: ~4x the speed of zlib level 6 at a similar ratio

# Training: at least TRAIN_MIN_SAMPLES values of a kind, of TRAIN_MIN_BYTES in all; the dictionary
# is about a fourteenth of the samples' size, at most DICTIONARY_MAX_BYTES (zstd's own advice is
# ~100x samples to dictionary size; below that a big dictionary learns the samples, not what they
# share). A dictionary that does not make the samples smaller than plain zstd is not kept.
TRAIN_MIN_SAMPLES = 16
TRAIN_MIN_BYTES = 64 * 1024
TRAIN_MAX_SAMPLES = 256
DICTIONARY_MAX_BYTES = 32 * 1024
DICTIONARY_MIN_BYTES = 4 * 1024
# COVER's segment and d-mer sizes, given rather than searched for: the search (zstd's default)
# cost 3x the training for dictionaries 0-7 % better on the peers' fixture and the seed corpus.
COVER_K, COVER_D = 1024, 8


class CodecError(ValueError):
    """A stored value cannot be decoded (damaged, or its dictionary is not in the store)."""


class Dictionary:
    """A trained zstd dictionary: its id (in every frame compressed with it), kind and bytes."""

    __slots__ = ("id", "kind", "data", "_zstd")

    def __init__(self, id: int, kind: str, data: bytes):
        self.id, self.kind, self.data = id, kind, bytes(data)
        self._zstd = zstandard.ZstdCompressionDict(self.data, dict_type=zstandard.DICT_TYPE_FULLDICT)

    @property
    def zstd(self) -> zstandard.ZstdCompressionDict:
        return self._zstd


def dictionary_id(content: bytes) -> int:
    """The id a dictionary's bytes get: from their sha256, in zstd's range for user dictionaries
    (32,768 .. 2**31 - 1; lower ids are reserved)."""
    n = int.from_bytes(hashlib.sha256(content).digest()[:4], "big")
    return 32768 + n % (2**31 - 32768)


# ---------------------------------------------------------------- the process's dictionaries

_known: dict[int, Dictionary] = {}
_loaders: list[weakref.WeakMethod | Callable] = []
_lock = threading.Lock()


def register(dictionary: Dictionary) -> Dictionary:
    with _lock:
        return _known.setdefault(dictionary.id, dictionary)


def add_loader(method) -> None:
    """`method(id) -> Dictionary | None`: asked for a dictionary no store registered yet (a bound
    method is held weakly: a closed store does not stay alive for it)."""
    with _lock:
        _loaders.append(weakref.WeakMethod(method) if hasattr(method, "__self__") else method)


def known(dictionary_id_: int) -> Dictionary | None:
    found = _known.get(dictionary_id_)
    if found is not None:
        return found
    with _lock:
        loaders = list(_loaders)
    for ref in loaders:
        loader = ref() if isinstance(ref, weakref.WeakMethod) else ref
        if loader is None:
            continue
        try:
            found = loader(dictionary_id_)
        except Exception:       # noqa: BLE001 - a closed or unreachable store: ask the next one
            found = None
        if found is not None:
            return register(found)
    with _lock:
        _loaders[:] = [r for r in _loaders if not (isinstance(r, weakref.WeakMethod) and r() is None)]
    return None


# ---------------------------------------------------------------- compress / decompress

class _Contexts:
    """zstd (de)compressor objects per dictionary, lent to one thread at a time (an object is not
    for two threads at once) and kept for the next: a few for the whole process, however many
    threads check (each holds ~1-2 MB of tables; the daemon runs a check on each of its threads)."""

    KEEP = 2        # per dictionary and direction: writers are one at a time on SQLite anyway

    def __init__(self, make: Callable[[Dictionary | None], object]):
        self.make, self.idle, self.lock = make, {}, threading.Lock()

    def run(self, dictionary: Dictionary | None, call: Callable[[object], bytes]) -> bytes:
        key = dictionary.id if dictionary is not None else 0
        with self.lock:
            idle = self.idle.setdefault(key, [])
            context = idle.pop() if idle else None
        if context is None:
            context = self.make(dictionary)
        try:
            return call(context)
        finally:
            with self.lock:
                if len(self.idle[key]) < self.KEEP:
                    self.idle[key].append(context)


_compressors = _Contexts(lambda d: zstandard.ZstdCompressor(level=LEVEL, dict_data=d.zstd) if d is not None
                         else zstandard.ZstdCompressor(level=LEVEL))
_decompressors = _Contexts(lambda d: zstandard.ZstdDecompressor(dict_data=d.zstd) if d is not None
                           else zstandard.ZstdDecompressor())


def compress(data: bytes, dictionary: Dictionary | None = None) -> bytes:
    """One zstd frame (content size and, with a dictionary, its id in the header)."""
    return _compressors.run(dictionary, lambda c: c.compress(data))


def decompress(data: bytes) -> bytes:
    """Any value the store ever wrote: zstd (its dictionary found by id), gzip or zlib."""
    data = bytes(data)
    if data[:4] == ZSTD_MAGIC:
        try:
            wanted = zstandard.get_frame_parameters(data).dict_id
        except zstandard.ZstdError as e:
            raise CodecError(f"damaged zstd value: {e}") from None
        dictionary = None
        if wanted:
            dictionary = known(wanted)
            if dictionary is None:
                raise CodecError(f"compressed with dictionary {wanted}, which this store does not have")
        try:
            return _decompressors.run(dictionary, lambda d: d.decompress(data))
        except zstandard.ZstdError as e:
            raise CodecError(f"damaged zstd value: {e}") from None
    if data[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise CodecError(f"damaged gzip value: {e}") from None
    try:
        return zlib.decompress(data)
    except zlib.error as e:
        raise CodecError(f"not a value the store wrote: {e}") from None


def train(kind: str, samples: Sequence[bytes]) -> Dictionary | None:
    """A dictionary of what `samples` share, or None when they are too few or too small to learn
    from, or it would not make them smaller than plain zstd does."""
    samples = [s for s in samples if s][:TRAIN_MAX_SAMPLES]
    total = sum(map(len, samples))
    if len(samples) < TRAIN_MIN_SAMPLES or total < TRAIN_MIN_BYTES:
        return None
    size = max(DICTIONARY_MIN_BYTES, min(DICTIONARY_MAX_BYTES, total // 14))
    try:
        trained = zstandard.train_dictionary(size, samples, k=COVER_K, d=COVER_D, level=LEVEL)
    except zstandard.ZstdError:
        return None
    content = trained.as_bytes()
    # the id zstd wrote into the dictionary is random; ours is a function of the content, so that
    # the same id can never mean two dictionaries (written into the header: frames carry it)
    dictionary = Dictionary(dictionary_id(content[8:]), kind, _with_id(content, dictionary_id(content[8:])))
    plain = sum(len(compress(s)) for s in samples)
    with_dictionary = sum(len(compress(s, dictionary)) for s in samples) + len(dictionary.data)
    return dictionary if with_dictionary < plain else None


def _with_id(content: bytes, new_id: int) -> bytes:
    """A zstd dictionary's bytes with another id (bytes 4..8, little-endian, after the magic)."""
    return content[:4] + new_id.to_bytes(4, "little") + content[8:]
