"""Extract: turn a fetched page or a file into a Document (the policy's lines).

    extract(data, source=..., content_type=..., select=..., remove=..., kind=...) -> Document
    load_file(path) -> Document
    decode(data, declared) -> (text, charset)
    looks_like_html(text) -> bool

The input kinds are a registry, EXTRACTORS (kind -> class, `@register`), each a small
class with a docstring, the file extensions and MIME types it claims, and `lines(text, ...)`:
- html (tree, html_text, page_body, list_numbers): lxml, loaded by name on the first HTML or
  Markdown input (watcher.lazy: a diff of two text files never imports it). Site chrome
  and noise (rules/boilerplate.toml) are dropped, the policy body is found (`select`, or main-content
  detection), and blocks become lines, with the numbers the browser draws for `<ol>`.
- markdown (markdown_text): headings, paragraphs joined across hard wraps, list markers kept.
- text: one line per non-blank line.
- pdf (pdf.py, pdfminer.six) and docx (docx.py, python-docx): *binary* kinds, given the bytes
  (never decoded as text), sniffed by their magic whatever the Content-Type or suffix says. Their
  registered classes are here; the modules that import the heavy libraries are loaded by name
  (`impl`, "module:function") on the first PDF / .docx, so a diff of two text files never loads them.
A new input kind is one more registered class here (its heavy code a module of this package).

This module sniffs the kind, decodes (charset), dispatches through EXTRACTORS, and drops
debris lines. The stage is a package so that its VERSION and source fingerprint
(watcher.check) cover every module of it.
"""

from __future__ import annotations

import importlib
import os
import re
import stat
from collections.abc import Callable, Sequence
from io import BytesIO
from pathlib import Path
from typing import ClassVar, Protocol

from watcher import lazy
from watcher.errors import InputError
from watcher.extract.boilerplate import rules
from watcher.extract.charset import decode, header_charset
from watcher.extract.whitespace import clean, join_pieces
from watcher.models import Document, Line
from watcher.registry import Registry

__all__ = ["EXTRACTORS", "KINDS", "VERSION", "BinaryExtractor", "Extractor", "clean", "decode", "extract", "html_fragment_lines",
           "html_lines", "join_pieces", "load_file", "looks_like_html", "markdown_lines", "register", "text_lines"]

# zipfile with the first input that starts like a ZIP (a .docx?): a diff of two text files needs none.
zipfile = lazy.module("zipfile")
# lxml with the first HTML or Markdown input (bs4 and soupsieve only for a CSS selector that needs them).
html_lines = lazy.function("watcher.extract.html_text:html_lines")
html_fragment_lines = lazy.function("watcher.extract.html_text:html_fragment_lines")
markdown_lines = lazy.function("watcher.extract.markdown_text:markdown_lines")

# Bump when the extracted lines change for the same input (rules/boilerplate.toml edits too):
# stored snapshots are then re-derived instead of reported as changed. 8: Line.depth of nested list items.
VERSION = 8


class Extractor(Protocol):
    """What a registered input kind provides."""

    kind: ClassVar[str]                      # "html", "markdown", "text"
    extensions: ClassVar[tuple[str, ...]]    # file suffixes that are this kind (load_file)
    mime_types: ClassVar[tuple[str, ...]]    # Content-Type values that are this kind

    def lines(self, text: str, *, source: str, select: str | None,
              remove: Sequence[str]) -> tuple[list[Line], str]: ...   # (lines, title)


class BinaryExtractor(Protocol):
    """A kind read from bytes (PDF, Word): `impl` names its "module:function", which is called as
    function(data, source=...) -> (lines, title) and raises InputError for a file it cannot read."""

    kind: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    mime_types: ClassVar[tuple[str, ...]]
    binary: ClassVar[bool]                   # True
    impl: ClassVar[str]

    @staticmethod
    def sniff(data: bytes) -> bool: ...      # do these bytes look like this kind's files?


# A suffix or MIME type claimed by two kinds is a bug.
EXTRACTORS = Registry("extractor", unique=("extensions", "mime_types"))
register = EXTRACTORS.register


@register
class HtmlExtractor:
    """HTML pages: site chrome and noise dropped, the policy body found, blocks become lines."""

    kind = "html"
    extensions = (".html", ".htm", ".xhtml")
    mime_types = ("text/html", "application/xhtml+xml")

    def lines(self, text, *, source, select, remove):
        return html_lines(text, select=select, remove=remove, source=source)


@register
class MarkdownExtractor:
    """Markdown: headings, paragraphs joined across hard wraps, list markers kept."""

    kind = "markdown"
    extensions = (".md", ".markdown", ".mdown", ".mkd")
    mime_types = ("text/markdown", "text/x-markdown")

    def lines(self, text, *, source, select, remove):
        return markdown_lines(text)


@register
class TextExtractor:
    """Plain text: one line per non-blank line, nothing joined."""

    kind = "text"
    extensions = (".txt", ".text")
    mime_types = ("text/plain",)

    def lines(self, text, *, source, select, remove):
        return text_lines(text), ""


@register
class PdfExtractor:
    """PDF (pdfminer.six): paragraphs from the text boxes, wrapped Japanese lines joined, no scans."""

    kind = "pdf"
    extensions = (".pdf",)
    mime_types = ("application/pdf", "application/x-pdf")
    binary = True
    impl = "watcher.extract.pdf:pdf_lines"

    @staticmethod
    def sniff(data: bytes) -> bool:
        return data[:1024].lstrip(b"\x00\t\n\r\f ").startswith(b"%PDF-")


@register
class DocxExtractor:
    """Word .docx (python-docx): paragraphs, headings, the numbers Word draws (w:numPr), tables."""

    kind = "docx"
    extensions = (".docx",)
    mime_types = ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",)
    binary = True
    impl = "watcher.extract.docx:docx_lines"

    @staticmethod
    def sniff(data: bytes) -> bool:
        if not data.startswith(b"PK\x03\x04"):
            return False
        try:
            with zipfile.ZipFile(BytesIO(data)) as z:
                return "word/document.xml" in z.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return False


KINDS = tuple(EXTRACTORS)


def _implementation(name: str) -> Callable:
    """A binary kind's "module:function", imported on first use (the heavy library with it)."""
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function)


def _binary_kind(kind: str | None, content_type: str | None, data: bytes) -> str | None:
    """The binary kind these bytes are: the file's magic wins over a suffix or a Content-Type."""
    binaries = [cls for cls in EXTRACTORS.values() if getattr(cls, "binary", False)]
    for cls in binaries:
        if cls.sniff(data):
            return cls.kind
    if kind is not None:
        return kind if getattr(EXTRACTORS[kind], "binary", False) else None
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return next((cls.kind for cls in binaries if mime in cls.mime_types), None)


def _expected_kinds() -> str:
    kinds = list(EXTRACTORS)
    return kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} or {kinds[-1]}"


def _kind_of_extension(suffix: str) -> str | None:
    return next((cls.kind for cls in EXTRACTORS.values() if suffix in cls.extensions), None)


def _kind_of_mime(mime: str) -> str | None:
    return next((cls.kind for cls in EXTRACTORS.values() if mime in cls.mime_types), None)


def extract(data: bytes | str, *, source: str = "", content_type: str | None = None,
            select: str | None = None, remove: Sequence[str] = (), kind: str | None = None) -> Document:
    """Extract the policy text of one page or file.

    `data` is the raw body (or already-decoded text), `content_type` the HTTP Content-Type
    header if any (its charset= is honoured), `kind` a key of EXTRACTORS ("html",
    "markdown", "text") or None to decide from the content type and the content. `select` /
    `remove` are CSS selectors of the policy body / of parts to drop (HTML only).
    """
    name = source or "<input>"
    if kind is not None and kind not in EXTRACTORS:
        raise InputError(f"{name}: unknown input kind {kind!r} (expected {_expected_kinds()})")
    if isinstance(data, bytes | bytearray):
        if not data.strip():
            raise InputError(f"{name}: empty body")
        binary = _binary_kind(kind, content_type, bytes(data))
        if binary is not None:
            lines, title = _implementation(EXTRACTORS[binary].impl)(bytes(data), source=name)
            lines = _drop_debris(lines)
            if not lines:
                raise InputError(f"{name}: no policy text found in the {binary} file")
            return Document(source=source, lines=lines, title=title, charset="", content_type=binary)
        try:
            text, charset = decode(bytes(data), header_charset(content_type))
        except InputError as err:
            raise InputError(f"{name}: {err}") from None
    elif isinstance(data, str):
        if kind is not None and getattr(EXTRACTORS[kind], "binary", False):
            raise InputError(f"{name}: a {kind} file is read from its bytes, not from text")
        text, charset = data, ""
        if "\x00" in text:
            raise InputError(f"{name}: binary content (NUL characters), not a policy page")
    else:
        raise InputError(f"{name}: expected bytes or str, got {type(data).__name__}")
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise InputError(f"{name}: empty body")

    kind = kind or _kind_from_content_type(content_type, text) or ("html" if looks_like_html(text) else "text")
    if getattr(EXTRACTORS[kind], "binary", False):
        raise InputError(f"{name}: declared {kind}, but it is text that is not a {kind} file")
    lines, title = EXTRACTORS[kind]().lines(text, source=name, select=select, remove=remove)
    lines = _drop_debris(lines)
    if not lines:
        raise InputError(f"{name}: no policy text found after extraction")
    return Document(source=source, lines=lines, title=title, charset=charset, content_type=kind)


LOAD_MAX_BYTES = 5_000_000     # the default fetch.max_bytes


def load_file(path: str | Path, max_bytes: int = LOAD_MAX_BYTES) -> Document:
    """Read and extract a file; the kind comes from the extension (.html/.htm/.txt/.md/.markdown/.pdf/.docx)
    or, for PDF and Word files, from the bytes. Only a regular file of at most `max_bytes` is read
    (checked before reading: a FIFO, a device such as /dev/zero, a directory or a huge file is a
    one-line error), and never more than max_bytes + 1 bytes of it (a file that grows meanwhile)."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except OSError as err:
        raise InputError(f"{p}: cannot read file ({err.strerror or err})") from None
    _regular_and_small(p, st, max_bytes)
    try:
        # O_NONBLOCK: a FIFO put in its place after the stat does not block the open
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            _regular_and_small(p, os.fstat(f.fileno()), max_bytes)
            data = f.read(max_bytes + 1)
    except OSError as err:
        raise InputError(f"{p}: cannot read file ({err.strerror or err})") from None
    if len(data) > max_bytes:
        raise InputError(f"{p}: larger than fetch.max_bytes ({max_bytes} bytes)")
    if not data.strip():
        raise InputError(f"{p}: empty file")
    return extract(data, source=str(p), kind=_kind_of_extension(p.suffix.lower()))


def _regular_and_small(p: Path, st: os.stat_result, max_bytes: int) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{p}: is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        what = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a device" if
                stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a special file")
        raise InputError(f"{p}: is {what}, not a regular file")
    if st.st_size > max_bytes:
        raise InputError(f"{p}: {st.st_size} bytes, larger than fetch.max_bytes ({max_bytes} bytes)")


def _kind_from_content_type(content_type: str | None, text: str) -> str | None:
    if not content_type:
        return None
    mime = content_type.split(";", 1)[0].strip().lower()
    kind = _kind_of_mime(mime)
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


def _drop_debris(lines: list[Line]) -> list[Line]:
    debris = rules().debris
    return [line for line in lines if not debris.fullmatch(line.text)]


def text_lines(text: str) -> list[Line]:
    """One Line per non-blank line; lines are not joined."""
    lines = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        piece = clean(raw)
        if piece:
            lines.append(Line(piece, 0))
    return lines
