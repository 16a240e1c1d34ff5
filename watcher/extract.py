"""Extract: turn a fetched page or a file into a Document (the policy's lines).

    extract(data, source=..., content_type=..., select=..., remove=..., kind=...) -> Document
    load_file(path) -> Document
    decode(data, declared) -> (text, charset)

Three input kinds:
- html: beautifulsoup4 + lxml. Site chrome and noise (rules/boilerplate.toml) are dropped,
  the policy body is found (`select`, or main-content detection), and blocks become lines.
  `<ol>` numbers that the browser draws are written into the text ("1. ", "a. "); `<ul>`
  items get "・" (what the browser draws as a disc, and the bullet the segmenter reads,
  so an HTML list lines up with the same list in a text version: "• item").
- markdown: headings, paragraphs joined across hard wraps, list markers kept as written.
- text: one line per non-blank line.

Lines that a `<br>` or a hard wrap split are joined without a space when a Japanese
character is on either side of the break, with one space between Latin words.
"""

from __future__ import annotations

import codecs
import html as htmllib
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import charset_normalizer
from bs4 import BeautifulSoup, CData, NavigableString, Tag
from soupsieve import SelectorSyntaxError

from watcher.errors import ConfigError, InputError
from watcher.models import Document, Line

# Bump when the extracted lines change for the same input (rules/boilerplate.toml edits too):
# stored snapshots are then re-derived instead of reported as changed.
VERSION = 2

RULES_PATH = Path(__file__).parent / "rules" / "boilerplate.toml"

KINDS = ("html", "markdown", "text")
_EXTENSIONS = {".html": "html", ".htm": "html", ".xhtml": "html", ".txt": "text", ".text": "text",
               ".md": "markdown", ".markdown": "markdown", ".mdown": "markdown", ".mkd": "markdown"}
_MIME_KINDS = {"text/html": "html", "application/xhtml+xml": "html", "text/markdown": "markdown",
               "text/x-markdown": "markdown", "text/plain": "text"}


# --------------------------------------------------------------------------- public API

def extract(data: bytes | str, *, source: str = "", content_type: str | None = None,
            select: str | None = None, remove: Sequence[str] = (), kind: str | None = None) -> Document:
    """Extract the policy text of one page or file.

    `data` is the raw body (or already-decoded text), `content_type` the HTTP Content-Type
    header if any (its charset= is honoured), `kind` one of "html", "markdown", "text" or
    None to decide from the content type and the content. `select` / `remove` are CSS
    selectors of the policy body / of parts to drop (HTML only).
    """
    name = source or "<input>"
    if kind is not None and kind not in KINDS:
        raise InputError(f"{name}: unknown input kind {kind!r} (expected html, markdown or text)")
    if isinstance(data, bytes | bytearray):
        if not data.strip():
            raise InputError(f"{name}: empty body")
        try:
            text, charset = decode(bytes(data), _header_charset(content_type))
        except InputError as err:
            raise InputError(f"{name}: {err}") from None
    elif isinstance(data, str):
        text, charset = data, ""
        if "\x00" in text:
            raise InputError(f"{name}: binary content (NUL characters), not a policy page")
    else:
        raise InputError(f"{name}: expected bytes or str, got {type(data).__name__}")
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise InputError(f"{name}: empty body")

    kind = kind or _kind_from_content_type(content_type, text) or ("html" if looks_like_html(text) else "text")
    if kind == "html":
        lines, title = html_lines(text, select=select, remove=remove, source=name)
    elif kind == "markdown":
        lines, title = markdown_lines(text)
    else:
        lines, title = text_lines(text), ""
    lines = _drop_debris(lines)
    if not lines:
        raise InputError(f"{name}: no policy text found after extraction")
    return Document(source=source, lines=lines, title=title, charset=charset, content_type=kind)


def load_file(path: str | Path) -> Document:
    """Read and extract a file; the kind comes from the extension (.html/.htm/.txt/.md/.markdown)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a file")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise InputError(f"{p}: cannot read file ({err.strerror or err})") from None
    if not data.strip():
        raise InputError(f"{p}: empty file")
    return extract(data, source=str(p), kind=_EXTENSIONS.get(p.suffix.lower()))


# --------------------------------------------------------------------------- charsets

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
          (b"\xd0\xcf\x11\xe0", "MS Office"), (b"\x7fELF", "ELF"), (b"MZ", "executable"),
          (b"\x00asm", "WebAssembly"), (b"OggS", "Ogg"), (b"ID3", "MP3"), (b"wOFF", "WOFF"), (b"wOF2", "WOFF2"),
          (b"\x00\x00\x01\x00", "ICO"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"SQLite format 3", "SQLite"))
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]{1,40})""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9_.:+-]{1,40})["']""", re.I)
_ESC_JIS = re.compile(rb"\x1b\$[@B]|\x1b\(J|\x1b\$\(D")
# Characters that a right decode of Japanese text hardly ever produces, but a wrong one
# (EUC-JP read as CP932 and so on) produces in bulk: half-width katakana, private use,
# C1 controls, replacement characters.
_MOJIBAKE = re.compile(r"[\uff61-\uff9f\ue000-\uf8ff\x80-\x9f\ufffd]")
_KANA = re.compile(r"[\u3041-\u309f\u30a0-\u30ff]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\x80-\x9f\ufffd]")


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
        declared = _header_charset(declared)
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
            text = _strict(data, codec)
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
            if kana >= 3 and kana * 10 >= len(text) - len(_NON_ASCII.sub("", text)):
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
    if len(_CONTROL.findall(text)) > max(2, len(text) // 100):
        return False
    non_ascii = len(text) - len(_NON_ASCII.sub("", text)) if not text.isascii() else 0
    if not non_ascii:
        return True
    odd = len(_MOJIBAKE.findall(text))
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


def _header_charset(content_type: str | None) -> str | None:
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


def _kind_from_content_type(content_type: str | None, text: str) -> str | None:
    if not content_type:
        return None
    mime = content_type.split(";", 1)[0].strip().lower()
    kind = _MIME_KINDS.get(mime)
    if kind == "text" and _DOCUMENT_START.match(text):
        return "html"      # servers label HTML pages text/plain more often than they serve real text
    return kind


_DOCUMENT_START = re.compile(r"\s*(<!--.*?-->\s*)*(<!doctype\s+html|<html[\s>]|<\?xml[^>]*>\s*<(!doctype\s+)?html)",
                             re.I | re.S)
_MARKUP = re.compile(r"<(html|head|body|p|div|table|h[1-6]|ul|ol|li|br|span|a|section|article|main|meta|title)"
                     r"(\s[^>]*)?/?>", re.I)


def looks_like_html(text: str) -> bool:
    """HTML if it starts like a document or its opening is dense with common tags."""
    if _DOCUMENT_START.match(text):
        return True
    head = text[:8192]
    return len(_MARKUP.findall(head)) >= 3


# --------------------------------------------------------------------------- rules

@dataclass(frozen=True)
class _Rules:
    keep_share: float
    drop_tags: frozenset[str]
    chrome_tags: frozenset[str]
    drop_roles: frozenset[str]
    noise_names: re.Pattern[str]
    content_index: _SelectorIndex
    min_share: float
    debris: re.Pattern[str]


@lru_cache(maxsize=1)
def rules() -> _Rules:
    with RULES_PATH.open("rb") as fh:
        raw = tomllib.load(fh)
    return _Rules(
        keep_share=float(raw["keep_share"]),
        drop_tags=frozenset(raw["tags"]["drop"]),
        chrome_tags=frozenset(raw["tags"]["chrome"]),
        drop_roles=frozenset(raw["roles"]["drop"]),
        noise_names=re.compile("|".join(f"(?:{p})" for p in raw["names"]["noise"]), re.I),
        content_index=_SelectorIndex([_SimpleSelector.parse(sel) for sel in raw["content"]["selectors"]]),
        min_share=float(raw["content"]["min_share"]),
        debris=re.compile("|".join(f"(?:{p})" for p in raw["lines"]["drop"]), re.I),
    )


def _drop_debris(lines: list[Line]) -> list[Line]:
    debris = rules().debris
    return [line for line in lines if not debris.fullmatch(line.text)]


# --------------------------------------------------------------------------- text helpers

# Japanese (and Chinese) characters: no space is written between them, so a line break
# between two of them (or between one of them and anything) is not a word break.
_WIDE = "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u31f0-\u31ff\u3200-\u33ff\u3400-\u4dbf\u4e00-\u9fff" \
        "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003ffff"
_WIDE_CHAR = re.compile(f"[{_WIDE}]")
_BREAK_NEAR_WIDE = re.compile(f"(?<=[{_WIDE}])[^\\S\u3000]*\n\\s*|[^\\S\u3000]*\n[^\\S\u3000]*(?=[{_WIDE}])")
_SPACE_RUN = re.compile(r"\s+")
_INVISIBLE = re.compile("[\u200b\u200c\u2060\ufeff\u00ad]")


def join_pieces(left: str, right: str) -> str:
    """Join two pieces of one sentence split by a <br> or a hard wrap."""
    if not left:
        return right
    if not right:
        return left
    if _WIDE_CHAR.match(left[-1]) or _WIDE_CHAR.match(right[0]):
        return left + right
    return f"{left} {right}"


def clean(text: str) -> str:
    """Collapse whitespace runs (NBSP included) to one space and strip the ends.

    A source line break next to a Japanese character is dropped (it is a hard wrap, not a
    space); an ideographic space inside the text is kept as written.
    """
    text = _INVISIBLE.sub("", text)
    if "\n" in text or "\r" in text:
        text = _BREAK_NEAR_WIDE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _SPACE_RUN.sub(_collapse, text)
    return text.strip()


def _collapse(m: re.Match[str]) -> str:
    run = m.group(0)
    return "\u3000" if "\u3000" in run and not run.strip("\u3000") else " "


# --------------------------------------------------------------------------- HTML

_BLOCK_TAGS = frozenset((
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog", "dir",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hgroup", "hr", "html", "legend", "li", "main", "menu", "nav", "ol", "p", "pre", "section",
    "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "listing", "plaintext", "xmp",
))
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_LIST_TAGS = frozenset(("ol", "ul", "menu", "dir"))
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_LIST_STYLE = re.compile(r"list-style(?:-type)?\s*:\s*([a-z-]+)", re.I)
_CONTENT_ROOTS = ("main", "article")


# Comments and elements whose content is never policy text, removed from the source before
# parsing (a large share of a modern page, and of the parse time). Matched left to right as
# an HTML tokenizer would: a "<!--" inside a script is script, a "<script>" in a comment is comment.
_RAW_NOISE = re.compile(
    r"<!--.*?(?:-->|\Z)|<(script|style|noscript|template|svg|math|iframe|textarea)(?=[\s/>])[^>]*>.*?(?:</\1\s*>|\Z)",
    re.I | re.S)


def html_lines(text: str, *, select: str | None = None, remove: Sequence[str] = (),
               source: str = "<input>") -> tuple[list[Line], str]:
    """The policy lines and the title of an HTML page."""
    soup = BeautifulSoup(_RAW_NOISE.sub(" ", text), "lxml")
    title = clean(soup.title.get_text()) if soup.title else ""
    r = rules()
    for sel in remove:
        for tag in _select(soup, sel, source, "remove"):
            tag.extract()
    body = soup.body or soup
    if select:
        roots = _outermost(_select(soup, select, source, "select"))
        if not roots:
            raise InputError(f"{source}: the CSS selector {select!r} (select) matches nothing on the page")
        total = _text_len(body)
        for root in roots:
            _strip_noise(root, total, r)
    else:
        candidates: list[Tag] = []
        _strip_noise(body, _text_len(body), r, candidates)
        roots = [_main_content(body, candidates, r)]      # the text length after the noise is gone
    builder = _LineBuilder()
    for root in roots:
        builder.block(root)
    if not title:
        h1 = soup.find("h1")
        title = clean(h1.get_text()) if h1 else ""
    return builder.lines, title


def _select(soup: BeautifulSoup, selector: str, source: str, what: str) -> list[Tag]:
    simple = _simple_selectors(selector)
    if simple:      # one quick walk; soupsieve costs tens of ms on a large page
        return [t for t in soup.descendants if type(t) is Tag and any(sel.matches(t) for sel in simple)]
    try:
        return soup.select(selector)
    except (SelectorSyntaxError, ValueError, NotImplementedError) as err:
        reason = str(err).splitlines()[0]
        raise ConfigError(f"{source}: invalid CSS selector {selector!r} in {what}: {reason}") from None


def _outermost(tags: list[Tag]) -> list[Tag]:
    chosen = set(map(id, tags))
    return [t for t in tags if not any(id(p) in chosen for p in t.parents)]


def _text_len(tag: Tag) -> int:
    """Characters of visible text, whitespace not counted."""
    return sum(map(len, tag.get_text().split()))      # get_text() skips comments and doctypes


def _strip_noise(root: Tag, total: int, r: _Rules, candidates: list[Tag] | None = None) -> None:
    """Drop site chrome, hidden elements and boilerplate below `root` (never `root` itself).

    With `candidates`, also collect the main-content candidates that survive (same walk).
    """
    keep_at = max(1, int(total * r.keep_share))
    stack = [c for c in root.children if isinstance(c, Tag)]
    while stack:
        tag = stack.pop()
        if tag.name in r.drop_tags or (_is_noise(tag, r) and not _holds_content(tag, keep_at)):
            tag.extract()
            continue
        if candidates is not None and r.content_index.matches(tag):
            candidates.append(tag)
        stack.extend(c for c in tag.children if isinstance(c, Tag))


def _is_noise(tag: Tag, r: _Rules) -> bool:
    name = tag.name
    attrs = tag.attrs
    # An article's own header (its title) and footer are content, unless their attributes say otherwise.
    if name in r.chrome_tags and not (name in ("header", "footer") and tag.find_parent(_CONTENT_ROOTS)):
        return True
    if not attrs:
        return False
    if "hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    style = attrs.get("style")
    if style and _HIDDEN_STYLE.search(style):
        return True
    role = attrs.get("role")
    if role and role.lower() in r.drop_roles:
        return True
    names = attrs.get("class") or []
    if isinstance(names, str):
        names = names.split()
    ident = attrs.get("id")
    if ident:
        names = [*names, ident]
    return any(_noise_name(n) for n in names)


@lru_cache(maxsize=8192)
def _noise_name(name: str) -> bool:
    return rules().noise_names.search(name) is not None


def _holds_content(tag: Tag, keep_at: int) -> bool:
    """Guard: an element that holds the main content or most of the text is never noise.

    A <nav> is exempt: a page that is all navigation has no policy on it.
    """
    if tag.name == "nav":
        return False
    if tag.name in _CONTENT_ROOTS or tag.find(_CONTENT_ROOTS) is not None or tag.find(attrs={"role": "main"}):
        return True
    return _text_len(tag) >= keep_at


def _main_content(body: Tag, candidates: list[Tag], r: _Rules) -> Tag:
    """The candidate container holding the most text, or the body if none holds enough."""
    total = _text_len(body)
    best, best_len = None, 0
    for tag in candidates:      # in document order: ties keep the earlier, outer candidate
        n = _text_len(tag)
        if n > best_len:
            best, best_len = tag, n
    if best is not None and best_len >= total * r.min_share:
        return best
    return body


def _classes(tag: Tag) -> list[str]:
    names = tag.get("class") or []
    return names.split() if isinstance(names, str) else names


@lru_cache(maxsize=256)
def _simple_selectors(selector: str) -> tuple[_SimpleSelector, ...]:
    """`#a, .b, main` as simple selectors, or () when any part needs the full CSS engine."""
    parts = []
    for part in selector.split(","):
        m = _SimpleSelector.SYNTAX.match(part.strip())
        if not m or not any(m.groups()):
            return ()
        parts.append(_SimpleSelector.parse(part))
    return tuple(parts)


class _SelectorIndex:
    """Simple selectors indexed by tag name, id, class and attribute, to test a tag quickly."""

    def __init__(self, selectors: Sequence[_SimpleSelector]) -> None:
        self.by_tag: dict[str, list[_SimpleSelector]] = {}
        self.by_id: dict[str, list[_SimpleSelector]] = {}
        self.by_class: dict[str, list[_SimpleSelector]] = {}
        self.by_attr: dict[str, list[_SimpleSelector]] = {}
        for sel in selectors:
            if sel.ident:
                self.by_id.setdefault(sel.ident, []).append(sel)
            elif sel.cls:
                self.by_class.setdefault(sel.cls, []).append(sel)
            elif sel.attr:
                self.by_attr.setdefault(sel.attr[0], []).append(sel)
            else:
                self.by_tag.setdefault(sel.tag or "", []).append(sel)

    def matches(self, tag: Tag) -> bool:
        found = self.by_tag.get(tag.name, [])
        attrs = tag.attrs
        if attrs:
            ident = attrs.get("id")
            if ident in self.by_id:
                found = found + self.by_id[ident]
            for cls in attrs.get("class") or ():
                if cls in self.by_class:
                    found = found + self.by_class[cls]
            for attr in self.by_attr:
                if attr in attrs:
                    found = found + self.by_attr[attr]
        return any(sel.matches(tag) for sel in found)


@dataclass(frozen=True)
class _SimpleSelector:
    """`tag`, `#id`, `.class`, `[attr=value]` or a combination such as `div.content`."""

    tag: str | None
    ident: str | None
    cls: str | None
    attr: tuple[str, str] | None

    SYNTAX: ClassVar[re.Pattern[str]] = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)?(?:#([\w-]+))?(?:\.([\w-]+))?"
                         r"(?:\[([\w-]+)=[\"']?([^\"'\]]+)[\"']?\])?$")

    @classmethod
    def parse(cls, text: str) -> _SimpleSelector:
        m = cls.SYNTAX.match(text.strip())
        if not m or not any(m.groups()):
            raise ConfigError(f"{RULES_PATH.name}: content selector {text!r} is not a simple tag/#id/.class/[attr=value]")
        tag, ident, klass, attr, value = m.groups()
        return cls(tag.lower() if tag else None, ident, klass, (attr, value) if attr else None)

    def matches(self, tag: Tag) -> bool:
        if self.tag and tag.name != self.tag:
            return False
        if self.ident and tag.get("id") != self.ident:
            return False
        if self.cls and self.cls not in _classes(tag):
            return False
        if self.attr and str(tag.get(self.attr[0], "")).lower() != self.attr[1].lower():
            return False
        return True


class _LineBuilder:
    """Walks HTML blocks and collects Lines.

    Inline text accumulates in `segments` (a new segment after each <br>); a block boundary
    flushes it as one Line. A list item's marker waits in `marker` for the item's first line.
    """

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self.segments: list[list[str]] = [[]]
        self.marker: str | None = None
        self.heading = 0
        self.lists: list[_ListState] = []

    # -- output
    def flush(self) -> None:
        """End the current block: its <br>-separated pieces become one line, or several.

        A single <br> is a wrap inside a sentence: the pieces are joined. Two <br> in a row
        are a paragraph break, and a piece that starts with an item or article marker
        ("・", "(1)", "第3条") starts a new line: old sites lay out whole policies this way.
        """
        if len(self.segments) == 1 and not self.segments[0]:
            return          # nothing since the last block boundary (most calls)
        pieces = [clean("".join(seg)) for seg in self.segments]
        self.segments = [[]]
        texts, text = [], ""
        for i, piece in enumerate(pieces):
            if not piece:
                if text and 0 < i < len(pieces) - 1:
                    texts.append(text)
                    text = ""
            elif text and _LIST_LINE.match(piece):
                texts.append(text)
                text = piece
            else:
                text = join_pieces(text, piece)
        texts.append(text)
        for text in texts:
            if not text:
                continue
            if self.marker is not None:
                if self.marker and not _MARKER_START.match(text):
                    text = self.marker + text
                self.marker = None
            self.lines.append(Line(text, self.heading))

    def emit(self, text: str) -> None:
        self.flush()
        text = clean(text)
        if text:
            self.lines.append(Line(text, self.heading))

    # -- walking (with an explicit stack: real pages nest deeper than Python recursion allows)
    def block(self, root: Tag) -> None:
        """Walk `root` as a block: its content becomes lines."""
        stack: list[object] = [self.flush, root]
        while stack:
            item = stack.pop()
            if isinstance(item, Tag):
                after = self.enter(item)
                if after is not None:
                    stack.append(after)
                    stack.extend(reversed(item.contents))
            elif type(item) in (NavigableString, CData):
                self.segments[-1].append(str(item))
            elif callable(item):
                item()
        self.flush()

    def enter(self, tag: Tag):
        """Start an element; return what to do after its children, or None to skip them."""
        name = tag.name
        if name == "br":
            self.segments.append([])
            return None
        if name in _HEADINGS:
            self.flush()
            outer, self.heading = self.heading, _HEADINGS[name]

            def leave_heading() -> None:
                self.flush()
                self.heading = outer
            return leave_heading
        if name in ("pre", "listing", "xmp", "plaintext"):
            self.flush()
            for raw in tag.get_text().splitlines():
                self.emit(raw)
            return None
        if name in _LIST_TAGS:
            self.flush()
            self.lists.append(_ListState.of(tag))

            def leave_list() -> None:
                self.flush()
                self.lists.pop()
            return leave_list
        if name == "li":
            self.flush()
            state = self.lists[-1] if self.lists else _ListState("disc", 1, 1)
            self.marker = state.next_marker(tag)

            def leave_item() -> None:
                self.flush()
                self.marker = None
            return leave_item
        if name == "table" and self.data_table(tag):
            return None
        if name == "hr":
            self.flush()
            return None
        if name in ("img", "area", "wbr"):
            return None
        if name in _BLOCK_TAGS:
            self.flush()
            return self.flush
        return _NOTHING

    def data_table(self, table: Tag) -> bool:
        """Emit a data table as one line per row; False for a layout table (walked as blocks)."""
        rows = _rows(table)
        layout = (
            str(table.get("role", "")).lower() in ("presentation", "none")
            or not rows
            or all(len(_cells(tr)) <= 1 for tr in rows)
            or any(type(d) is Tag and d.name in _LAYOUT_SIGNS for d in table.descendants)
        )
        if layout:
            return False
        self.flush()
        for child in table.children:
            if type(child) is Tag and child.name == "caption":
                self.emit(child.get_text(" "))
        for tr in rows:
            cells = [_cell_text(td) for td in _cells(tr)]
            text = " | ".join(c for c in cells if c)
            if text:
                self.lines.append(Line(text, 0))
        return True


# A table holding another table or headings lays out a page; it is not a table of data.
_LAYOUT_SIGNS = frozenset(("table", *_HEADINGS))


def _rows(table: Tag) -> list[Tag]:
    rows = []
    for child in table.children:
        if type(child) is Tag:
            if child.name == "tr":
                rows.append(child)
            elif child.name in ("thead", "tbody", "tfoot"):
                rows.extend(c for c in child.children if type(c) is Tag and c.name == "tr")
    return rows


def _nothing() -> None:
    pass


_NOTHING = _nothing


def _cells(tr: Tag) -> list[Tag]:
    return [c for c in tr.children if type(c) is Tag and c.name in ("td", "th")]


def _cell_text(cell: Tag) -> str:
    """A table cell as one piece of text: its own lines joined by spaces."""
    sub = _LineBuilder()
    sub.block(cell)
    return " ".join(line.text for line in sub.lines)


# A list item that already starts with its own number or bullet (many CMSs type "1." into
# the text and hide the browser's numbers): no marker is added.
_MARKER_START = re.compile(
    r"""(?:
        [(（]\s*[0-9０-９]{1,3}\s*[)）]                      # (1)
      | [0-9０-９]{1,3}(?:[-‐－][0-9０-９]{1,3})*\s*[.．)）、:](?![0-9０-９])  # 1.  1)  4-1.  １．
      | [(（][a-zA-Zａ-ｚア-ンｱ-ﾝ一二三四五六七八九十ivxIVX]{1,4}[)）]  # (a) (ア) (iv)
      | 第[0-9０-９一二三四五六七八九十百]+[条章項節款号]        # 第3条
      | [\u2460-\u2473\u3251-\u325f\u32b1-\u32bf\u24b6-\u24e9\u2776-\u2793]  # ① ⑳ ㉑ Ⓐ ❶
      | [・•●○◦▪■□◆◇▶►※\-–—*+・]                            # bullets
      | [a-zA-Z][.)](?=\s)                                   # a. b)
      | [ivxIVX]{1,5}[.)](?=\s)                              # iv.
      | [ア-ンｱ-ﾝ一二三四五六七八九十][.．、)）](?!\S*[ぁ-ん])  # ア. イ、 一、
    )""",
    re.X,
)

_ALPHA = "abcdefghijklmnopqrstuvwxyz"
_IROHA = "イロハニホヘトチリヌルヲワカヨタレソツネナラムウヰノオクヤマケフコエテアサキユメミシヱヒモセス"
_AIUEO = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヰヱヲン"
_CJK_DIGITS = "〇一二三四五六七八九"


def _roman(n: int) -> str:
    out = []
    for value, numeral in ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
                           (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while n >= value:
            out.append(numeral)
            n -= value
    return "".join(out)


def _alpha(n: int, letters: str) -> str:
    out = ""
    while n > 0:
        n, rem = divmod(n - 1, len(letters))
        out = letters[rem] + out
    return out


def _cjk(n: int) -> str:
    return "".join(_CJK_DIGITS[int(d)] for d in str(n))


def _format_number(n: int, style: str) -> str:
    """The marker a browser draws for item `n` in list-style `style`."""
    if n <= 0 and style not in ("decimal", "decimal-leading-zero"):
        style = "decimal"
    match style:
        case "lower-alpha" | "lower-latin":
            return f"{_alpha(n, _ALPHA)}. "
        case "upper-alpha" | "upper-latin":
            return f"{_alpha(n, _ALPHA.upper())}. "
        case "lower-roman":
            return f"{_roman(n)}. " if n < 4000 else f"{n}. "
        case "upper-roman":
            return f"{_roman(n).upper()}. " if n < 4000 else f"{n}. "
        case "decimal-leading-zero":
            return f"{n:02d}. "
        case "cjk-decimal" | "cjk-ideographic" | "japanese-informal":
            return f"{_cjk(n)}、"
        case "katakana-iroha":
            return f"{_alpha(n, _IROHA)}、"
        case "katakana":
            return f"{_alpha(n, _AIUEO)}、"
        case "hiragana-iroha" | "hiragana":
            kata = _alpha(n, _IROHA if style == "hiragana-iroha" else _AIUEO)
            return "".join(chr(ord(c) - 0x60) for c in kata) + "、"
        case _:
            return f"{n}. "


_TYPE_ATTR = {"1": "decimal", "a": "lower-alpha", "A": "upper-alpha", "i": "lower-roman", "I": "upper-roman",
              "disc": "disc", "circle": "disc", "square": "disc", "none": "none"}
_BULLET_STYLES = {"disc", "circle", "square"}


@dataclass
class _ListState:
    style: str          # CSS list-style-type: "decimal", "lower-alpha", "disc", "none", ...
    next_value: int
    step: int

    @classmethod
    def of(cls, tag: Tag) -> _ListState:
        ordered = tag.name == "ol"
        style = "decimal" if ordered else "disc"
        type_attr = tag.get("type")
        if isinstance(type_attr, str) and type_attr.strip() in _TYPE_ATTR:
            style = _TYPE_ATTR[type_attr.strip()]
        elif isinstance(type_attr, str) and type_attr.strip().lower() in _TYPE_ATTR:
            style = _TYPE_ATTR[type_attr.strip().lower()]
        css = _LIST_STYLE.search(str(tag.get("style", "")))
        if css:
            style = css.group(1).lower()
        reversed_ = ordered and tag.has_attr("reversed")
        start = _int(tag.get("start")) if ordered else None
        if start is None:
            start = len(tag.find_all("li", recursive=False)) if reversed_ else 1
        return cls(style, start, -1 if reversed_ else 1)

    def next_marker(self, li: Tag) -> str:
        value = _int(li.get("value"))
        if value is not None:
            self.next_value = value
        n = self.next_value
        self.next_value += self.step
        if self.style == "none":
            return ""
        if self.style in _BULLET_STYLES:
            return "・"
        return _format_number(n, self.style)


def _int(value: object) -> int | None:
    if isinstance(value, str):
        m = re.match(r"\s*([+-]?\d+)", value)
        if m:
            return int(m.group(1))
    return None


def html_fragment_lines(fragment: str) -> list[Line]:
    """Lines of an HTML fragment embedded in another document (Markdown): no noise detection."""
    soup = BeautifulSoup(fragment, "lxml")
    for tag in soup.find_all(rules().drop_tags):
        tag.decompose()
    builder = _LineBuilder()
    builder.block(soup.body or soup)
    return builder.lines


# --------------------------------------------------------------------------- Markdown

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HR = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_IAL_LINE = re.compile(r"^\s*\{:[^}]*\}\s*$")
_IAL_TRAILING = re.compile(r"\s*\{(?::|#)[^}]*\}\s*$")
_LINK_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+.*$")
_TABLE_DELIM = re.compile(r"^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$")
_BLOCKQUOTE = re.compile(r"^ {0,3}>[ ]?")
_HTML_BLOCK = re.compile(r"^ {0,3}<(/?)([a-zA-Z][a-zA-Z0-9]*)(?=[\s/>]|$)")
_HTML_COMMENT = re.compile(r"^ {0,3}<!--")
# Markdown block-level HTML (CommonMark's list, trimmed to what carries text).
_MD_HTML_BLOCKS = frozenset((
    "address", "article", "aside", "blockquote", "center", "details", "dialog", "dd", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "ul", "style", "script",
))
# A line that starts a new item even inside a paragraph (the segmenter reads these markers).
_LIST_LINE = re.compile(
    r"""^\s*(?:
        [-*+](?:\s|$)                       # - item   * item
      | [0-9０-９]{1,3}(?:[-‐－][0-9０-９]{1,3})*[.．)）](?![0-9０-９])   # 1. 1) 4-1.
      | [(（][0-9０-９a-zA-Zア-ン一二三四五六七八九十ivx]{1,4}[)）]   # (1) （ア）
      | [・•●○◦▪■□◆◇※]                     # ・ item
      | [\u2460-\u2473\u3251-\u325f\u32b1-\u32bf\u2776-\u2793]      # ①
      | 第[0-9０-９一二三四五六七八九十百]+[条章節]                     # 第3条
    )""",
    re.X,
)


def markdown_lines(text: str) -> tuple[list[Line], str]:
    """Lines of a Markdown document: headings keep their level, wrapped paragraphs are joined."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    title = ""
    fm = _FRONT_MATTER.match(text)
    if fm:
        m = re.search(r"^title:\s*[\"']?(.*?)[\"']?\s*$", fm.group(1), re.M)
        title = m.group(1) if m else ""
        text = text[fm.end():]
    src = text.split("\n")
    out: list[Line] = []
    para: list[str] = []

    def end_para() -> None:
        # Emphasis may span the wrapped lines ("**Dept.  \nCompany**"): it goes after the join.
        if para:
            joined = ""
            for piece in para:
                joined = join_pieces(joined, piece)
            single = len(para) == 1
            para.clear()
            text = _md_finish(joined)
            if text:
                out.append(Line(text, BOLD_HEADING if single and _bold_heading(joined, text) else 0))

    i = 0
    while i < len(src):
        raw = src[i]
        line = _BLOCKQUOTE.sub("", raw)
        while _BLOCKQUOTE.match(line):
            line = _BLOCKQUOTE.sub("", line)
        stripped = line.strip()
        i += 1
        if not stripped:
            end_para()
            continue
        fence = _FENCE.match(line)
        if fence:
            end_para()
            mark = fence.group(1)
            while i < len(src) and not src[i].strip().startswith(mark):
                piece = clean(src[i])
                if piece:
                    out.append(Line(piece, 0))
                i += 1
            i += 1
            continue
        atx = _ATX.match(line)
        if atx:
            end_para()
            heading = _md_inline(_IAL_TRAILING.sub("", atx.group(2) or ""))
            if heading:
                out.append(Line(heading, len(atx.group(1))))
            continue
        setext = _SETEXT.match(line)
        if setext and len(para) == 1 and para[0]:
            level = 1 if setext.group(1)[0] == "=" else 2
            heading = _md_finish(para.pop())
            if heading:
                out.append(Line(heading, level))
            continue
        if _HR.match(line) or _IAL_LINE.match(line) or _LINK_DEF.match(line):
            end_para()
            continue
        if _HTML_COMMENT.match(line):
            end_para()
            while i <= len(src) and "-->" not in src[i - 1]:
                i += 1
            continue
        block = _HTML_BLOCK.match(line)
        # "<Summary>" in mixed case is prose that lost its escaping, not a tag.
        tag_name = block.group(2) if block else ""
        if block and tag_name.lower() in _MD_HTML_BLOCKS and tag_name in (tag_name.lower(), tag_name.upper()):
            end_para()
            i = _md_html_block(src, i - 1, block.group(2).lower(), out)
            continue
        if "|" in stripped and i < len(src) and _TABLE_DELIM.match(src[i]) and "-" in src[i]:
            end_para()
            out.append(Line(_md_row(stripped), 0))
            i += 1
            while i < len(src) and "|" in src[i] and src[i].strip():
                row = _md_row(src[i].strip())
                if row:
                    out.append(Line(row, 0))
                i += 1
            continue
        if _LIST_LINE.match(stripped):
            end_para()
        piece = _md_line(stripped)
        if piece:
            para.append(piece)
    end_para()
    if not title:
        title = next((line.text for line in out if line.heading), "")
    return [line for line in out if line.text], title


def _md_html_block(src: list[str], start: int, tag: str, out: list[Line]) -> int:
    """Consume an HTML block starting at src[start]; return the index after it.

    The block runs to a blank line, or, when its opening tag is not closed by then (a
    <table> laid out over blank lines), to the line that closes it.
    """
    open_re = re.compile(rf"<{tag}(?=[\s/>])", re.I)
    close_re = re.compile(rf"</{tag}\s*>", re.I)
    depth = 0
    end = start
    while end < len(src):
        line = src[end]
        if end > start and not line.strip() and depth <= 0:
            break
        depth += len(open_re.findall(line)) - len(close_re.findall(line))
        end += 1
    fragment = "\n".join(src[start:end])
    if tag in ("style", "script"):
        return end
    for line in html_fragment_lines(fragment):
        # Markdown links and emphasis left inside HTML (converters leave them there) go too.
        text = _md_inline(line.text)
        if text:
            out.append(Line(text, line.heading))
    return end


def _md_row(row: str) -> str:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    cells = [_md_inline(c) for c in re.split(r"(?<!\\)\|", row)]
    return " | ".join(c for c in cells if c)


_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\((?:[^()\s]|\([^)]*\))*(?:\s+\"[^\"]*\")?\)")
_MD_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\((?:[^()]|\([^)]*\))*\)")
_MD_REF_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])+)\]\[[^\]]*\]")
_MD_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+|[^>\s@]+@[^>\s@]+\.[^>\s@]+)>")
_MD_CODE = re.compile(r"(`+)(.+?)\1")
_MD_STRONG = re.compile(r"(\*\*|__)(?=[^\s*_])(.+?)(?:(?<=\S)\1|(\s+)\1(?=\w))")
# `*` may mark emphasis inside a word (and Japanese has no word breaks); `_` may not (snake_case).
_MD_EM_STAR = re.compile(r"(?<!\*)\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?!\*)")
_MD_EM_UNDER = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
_MD_BR = re.compile(r"<br\s*/?>", re.I)
_MD_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]*)?/?>|<!--.*?-->")
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
# Escaped and code-span characters wait in the private use area while emphasis is stripped.
_PROTECT_BASE = 0xF0000
_PROTECTED = re.compile("[\U000F0000-\U000F007F]")


def _protect(text: str) -> str:
    return "".join(chr(_PROTECT_BASE + ord(ch)) if ch in "*_\\`[]<>|" else ch for ch in text)


def _md_line(text: str) -> str:
    """One source line's inline markup to text, emphasis marks still in place (see _md_finish)."""
    text = _IAL_TRAILING.sub("", text.rstrip())
    if text.endswith("\\"):
        text = text[:-1]        # a backslash hard break
    text = _MD_ESCAPE.sub(lambda m: _protect(m.group(1)), text)
    text = _MD_CODE.sub(lambda m: _protect(m.group(2).strip()), text)
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_REF_LINK.sub(r"\1", text)
    text = _MD_AUTOLINK.sub(lambda m: _protect(m.group(1)), text)
    if "<" in text:
        parts = [_MD_TAG.sub("", p) for p in _MD_BR.split(text)]
        text = ""
        for p in parts:
            text = join_pieces(text, p.strip())
    return text.strip()


# A short paragraph that is bold from end to end ("**Information We Collect**") is how many
# policies write their headings: it becomes a heading of the lowest level.
BOLD_HEADING = 6
_ALL_BOLD = re.compile(r"^(\*\*|__)(?:(?!\1).)+\1[.:：]?$")


def _bold_heading(raw: str, text: str) -> bool:
    return bool(_ALL_BOLD.match(raw.strip())) and len(text) <= 80 and not _LIST_LINE.match(raw.strip())


def _md_finish(text: str) -> str:
    """Strip emphasis from a (joined) piece of Markdown text and restore protected characters."""
    for _ in range(2):      # nested: ***x*** / **_x_**
        text = _MD_STRONG.sub(lambda m: m.group(2) + (" " if m.group(3) else ""), text)
        text = _MD_EM_STAR.sub(r"\1", text)
        text = _MD_EM_UNDER.sub(r"\1", text)
    text = _PROTECTED.sub(lambda m: chr(ord(m.group(0)) - _PROTECT_BASE), text)
    if "&" in text:
        text = htmllib.unescape(text)
    return clean(text)


def _md_inline(text: str) -> str:
    """Markdown inline markup of one piece of text (a heading, a cell) to plain text."""
    return _md_finish(_md_line(text))


# --------------------------------------------------------------------------- plain text

def text_lines(text: str) -> list[Line]:
    """One Line per non-blank line; lines are not joined."""
    lines = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        piece = clean(raw)
        if piece:
            lines.append(Line(piece, 0))
    return lines

