"""Charsets: decode a page body into text.

    decode(data, declared) -> (text, codec)
    header_charset(content_type) -> the charset= of a Content-Type, if any

A BOM wins, then the declared charset (HTTP header, then the page's own <meta> / <?xml?>)
unless the bytes contradict it, then detection. Binary files (images, archives, old .doc) are
refused with one clear line; PDF and .docx never get here (the extract package sniffs them first).
"""

from __future__ import annotations

import codecs
import re

from watcher import lazy
from watcher.errors import InputError

# Detection, for a body that no declared charset fits and that is neither ASCII nor UTF-8: loaded
# then (~15 ms of imports that a check of 304s or of UTF-8 pages never needs).
charset_normalizer = lazy.module("charset_normalizer")

# Names that pages declare for Japanese encodings, mapped to the codecs that decode what
# such pages really contain: "Shift_JIS" pages are written by Windows tools in CP932
# (NEC / IBM extensions: ①, ～, 髙), EUC-JP pages may use JIS X 0213 / NEC row 13.
_JA_ALIASES = {
    **dict.fromkeys(("shift_jis", "shift-jis", "sjis", "x-sjis", "s-jis", "shiftjis", "ms_kanji", "ms-kanji",
                     "csshiftjis", "windows-31j", "cswindows31j", "cp932", "ms932", "x-ms-cp932", "ibm-943",
                     "sjis-win", "sjis-open", "shift_jis-2004", "shift_jisx0213"), ("cp932", "shift_jis_2004")),
    **dict.fromkeys(("euc-jp", "euc_jp", "eucjp", "x-euc-jp", "x-euc", "ujis", "cseucpkdfmtjapanese", "eucjp-ms",
                     "eucjp-win", "eucjp-open", "cp51932", "euc-jis-2004", "euc_jis_2004", "euc-jisx0213"),
                    ("euc_jp", "euc_jis_2004")),
    **dict.fromkeys(("iso-2022-jp", "iso2022-jp", "iso2022_jp", "csiso2022jp", "cp50220", "cp50221", "cp50222",
                     "iso-2022-jp-1", "iso-2022-jp-2", "iso-2022-jp-3", "iso-2022-jp-2004"),
                    ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_2")),
}
# Browsers decode pages declared latin-1 / ascii as windows-1252 (WHATWG Encoding).
_WESTERN = {"latin-1", "latin1", "iso-8859-1", "iso8859-1", "iso_8859-1", "l1", "us-ascii", "ascii",
            "ansi_x3.4-1968", "cp819", "ibm819", "windows-1252", "cp1252", "x-cp1252"}
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# Files that are certainly not a page of text.
_MAGIC = ((b"%PDF-", "PDF"), (b"\x89PNG", "PNG"), (b"PK\x03\x04", "ZIP"), (b"PK\x05\x06", "ZIP"),
          (b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"\xff\xd8\xff", "JPEG"), (b"\x1f\x8b", "gzip"),
          (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"7z\xbc\xaf\x27\x1c", "7z"), (b"Rar!", "RAR"),
          (b"\xd0\xcf\x11\xe0", "MS Office 97-2003: save it as .docx"), (b"\x7fELF", "ELF"), (b"MZ", "executable"),
          (b"\x00asm", "WebAssembly"), (b"OggS", "Ogg"), (b"ID3", "MP3"), (b"wOFF", "WOFF"), (b"wOF2", "WOFF2"),
          (b"\x00\x00\x01\x00", "ICO"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"SQLite format 3", "SQLite"))
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]{1,40})""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9_.:+-]{1,40})["']""", re.I)
_ESC_JIS = re.compile(rb"\x1b\$[@B]|\x1b\(J|\x1b\$\(D")
# Characters that a right decode of Japanese text hardly ever produces, but a wrong one
# (EUC-JP read as CP932 and so on) produces in bulk: half-width katakana, private use,
# C1 controls, replacement characters.
_MOJIBAKE = lazy.pattern(r"[\uff61-\uff9f\ue000-\uf8ff\x80-\x9f\ufffd]")
_KANA = re.compile(r"[\u3041-\u309f\u30a0-\u30ff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\x80-\x9f\ufffd]")
# Either of the two: a clean page (most pages) is scanned once, not once for each.
_SUSPECT = lazy.pattern(r"[\x00-\x08\x0b\x0e-\x1f\x7f\x80-\x9f\ufffd\uff61-\uff9f\ue000-\uf8ff]")


def decode(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode a page body: return (text, the codec used).

    Order: a BOM (never accidental), the declared charset (`declared`: the HTTP header's,
    given as a charset name or a whole Content-Type), the page's own <meta charset> /
    http-equiv / <?xml encoding?>, then detection (UTF-8, then charset-normalizer). A
    declaration that the bytes contradict (strict decoding fails, UTF-8 bytes declared as
    latin-1 / ascii / Shift_JIS, or a Japanese decode full of half-width-kana mojibake) is
    ignored and the charset is detected instead.
    """
    if declared and "=" in declared:
        declared = header_charset(declared)
    for bom, codec in _BOMS:
        if data.startswith(bom):
            text = _strict(data, codec)
            if text is None:
                raise InputError(f"undecodable bytes: the page starts with a {codec} BOM but does not decode as {codec}")
            return text, codecs.lookup(codec).name
    _reject_binary(data)

    utf8 = _strict(data, "utf-8")
    utf8_multibyte = utf8 is not None and not data.isascii()
    for name in (declared, _declared_in_page(data)):
        chain = _codecs_for(name)
        if not chain:
            continue
        if utf8_multibyte and chain[0] != "utf-8":
            # Valid multi-byte UTF-8 by chance in another charset is vanishingly rare: the declaration is stale.
            break
        if chain[0] == "cp1252" and _japanese(data):
            continue      # a Western charset declared on a Japanese page would decode it as "¸Ä¿Í¾ðÊó"
        for codec in chain:
            text = utf8 if codec == "utf-8" else _strict(data, codec)     # not decoded twice
            if text is not None and _plausible(text, codec):
                return text, codecs.lookup(codec).name
        # This declaration does not fit the bytes: try the next one, then detect.

    if data.isascii():
        if _ESC_JIS.search(data):
            for codec in _JA_ALIASES["iso-2022-jp"]:
                text = _strict(data, codec)
                if text is not None:
                    return text, codecs.lookup(codec).name
        return data.decode("ascii"), "ascii"
    if utf8 is not None:
        return utf8, "utf-8"
    return _detect(data)


def _detect(data: bytes) -> tuple[str, str]:
    best = charset_normalizer.from_bytes(data).best()
    tried: list[str] = []
    if best is not None:
        codec = _codecs_for(best.encoding) or (best.encoding,)
        for name in codec:
            text = _strict(data, name)
            if text is not None and _plausible(text, name):
                return text, codecs.lookup(name).name
            tried.append(name)
    # charset-normalizer is unsure: try the Japanese encodings this tool is for.
    candidates = []
    for name in ("cp932", "euc_jp", "euc_jis_2004"):
        text = _strict(data, name)
        if text is not None and _plausible(text, name):
            candidates.append((len(_KANA.findall(text)), text, name))
    if candidates:
        _, text, name = max(candidates, key=lambda c: c[0])
        return text, codecs.lookup(name).name
    # Last resort: a page that is right but for a few stray bytes keeps its text.
    for name in dict.fromkeys([*tried, "utf-8", "cp932", "euc_jis_2004"]):
        text = data.decode(name, errors="replace")
        bad = text.count("\ufffd")
        if bad <= max(3, len(text) // 2000) and _plausible(text.replace("\ufffd", ""), name):
            return text, codecs.lookup(name).name
    raise InputError("undecodable bytes: no character encoding fits (not UTF-8, CP932, EUC-JP or another known one)")


def _japanese(data: bytes) -> str | None:
    """The Japanese codec that decodes `data` into text with a fair share of kana, if any."""
    for name in ("cp932", "euc_jp", "euc_jis_2004"):
        text = _strict(data, name)
        if text is not None and _plausible(text, name):
            kana = len(_KANA.findall(text))
            if kana >= 3 and kana * 10 >= len(text) - len(text.encode("ascii", "ignore")):
                return name
    return None


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _plausible(text: str, codec: str) -> bool:
    """Does this decode look like real text rather than mojibake or binary?"""
    if not text:
        return True
    if _SUSPECT.search(text) is None:       # no control character and no mojibake: only kana to look for
        if text.isascii() or codec not in _JA_CODECS:
            return True
        return bool(_KANA.search(text)) or len(text) - len(text.encode("ascii", "ignore")) < 20
    # A search first: most pages have none, and a findall of a whole page builds a list for nothing.
    if _CONTROL.search(text) and len(_CONTROL.findall(text)) > max(2, len(text) // 100):
        return False
    non_ascii = len(text) - len(text.encode("ascii", "ignore")) if not text.isascii() else 0
    if not non_ascii:
        return True
    odd = len(_MOJIBAKE.findall(text)) if _MOJIBAKE.search(text) else 0
    if codec in _JA_CODECS:
        # Real Japanese has kana; a wrong multi-byte decode yields half-width kana and private-use chars.
        return odd * 20 <= non_ascii and (bool(_KANA.search(text)) or non_ascii < 20)
    return odd * 20 <= non_ascii


_JA_CODECS = {c for chain in _JA_ALIASES.values() for c in chain}


def _codecs_for(name: str | None) -> tuple[str, ...]:
    """The codecs to try for a declared charset name (empty when unknown)."""
    if not name:
        return ()
    key = name.strip().strip("\"'").lower()
    if key in _JA_ALIASES:
        return _JA_ALIASES[key]
    if key in _WESTERN:
        return ("cp1252", "latin-1")
    if key in ("utf-16", "utf-16le", "utf-16be", "utf-32", "utf-32le", "utf-32be", "unicode"):
        return ("utf-8",)   # a <meta> cannot really declare UTF-16 (it would not be readable as ASCII): WHATWG
    try:
        info = codecs.lookup(key)
    except LookupError:
        return ()
    if not getattr(info, "_is_text_encoding", True):
        return ()
    if info.name in _JA_ALIASES:
        return _JA_ALIASES[info.name]
    if info.name == "shift_jis":
        return _JA_ALIASES["sjis"]
    return (info.name,)


def _declared_in_page(data: bytes) -> str | None:
    head = data[:16384]
    m = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    return m.group(1).decode("ascii", "replace") if m else None


def header_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    m = re.search(r"charset\s*=\s*[\"']?\s*([^\s;\"',]+)", content_type, re.I)
    if m:
        return m.group(1)
    return None if "/" in content_type or ";" in content_type else content_type.strip() or None


def _reject_binary(data: bytes) -> None:
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise InputError(f"binary content ({what} file), not a policy page")
    if data[4:8] == b"ftyp":
        raise InputError("binary content (MP4/HEIF file), not a policy page")
    if b"\x00" in data[:65536] or b"\x00" in data[-4096:]:
        raise InputError("binary content (NUL bytes), not a policy page")
