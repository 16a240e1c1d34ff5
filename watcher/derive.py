"""Derivation: a raw body -> the stored text, lines, clause outline and comparison keys.

Pure: no I/O (reading a stored body is the caller's `load_body`). Everything that shapes what is
stored is covered by EXTRACTOR_VERSION, the derivation fingerprint — extraction, the simple CSS
selectors it matches itself, normalisation, the date pattern, segmentation, this module itself
and the extractor's rule file — so that a snapshot stored by other code is re-derived from its
raw body instead of reporting a difference the code made.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from watcher import css, dates, extract, normalize, segment, suspect
from watcher.errors import InputError
from watcher.models import Clause, Document, Line


def _module_version(module) -> str:
    """The module's declared VERSION plus a fingerprint of its source: a code change that
    forgets to bump VERSION still re-derives old snapshots instead of reporting false changes."""
    path = Path(module.__file__)
    files = sorted(path.parent.glob("*.py")) if path.name == "__init__.py" else [path]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:10]
    return f"{getattr(module, 'VERSION', '-')}:{digest}"


VERSION = 1
# The extractor's rule file (noise selectors): editing it re-derives stored snapshots too.
_EXTRACT_RULES = Path(extract.__file__).resolve().parents[1] / "rules" / "boilerplate.toml"
EXTRACTOR_VERSION = ";".join(f"{m.__name__.rsplit('.', 1)[-1]}={_module_version(m)}"
                             for m in (extract, css, normalize, dates, segment, sys.modules[__name__])) + \
    ";rules=" + hashlib.sha256(_EXTRACT_RULES.read_bytes()).hexdigest()[:10]

OUTLINE_BODY_CHARS = 80


class Derived:
    """What the code derives from a raw body: the Document, its clause outline, the hash and size
    of its normalised text, and whether the page is not a version at all (`problem`).

    It crosses the process boundary (a derive worker's answer) in its *stored* form: the column
    values, with the JSON of `lines` and `outline` already encoded. The checker decodes the
    Document and the outline only when it needs them (a compare); a first version never does,
    and unpickling a Document tree cost more than deriving half of it.

    Made from a Document (derive_document), it segments the Document when its clauses are first
    asked for: page noise (the same normalised text as the latest version) never needs them, and
    a compare takes the same clauses (`segments`) instead of segmenting the new version again. A
    first version is stored unsegmented (its outline and clause count NULL: caches of its text,
    made when first read): segmenting cost a third of deriving a new page, for an outline that a
    check of the next version does not read (it segments the text it compares)."""

    __slots__ = ("_document", "_outline", "_stored", "_segments", "_clauses", "text_key", "text_length", "problem")

    def __init__(self, document: Document | None, outline: list | None, text_key: str, text_length: int,
                 clauses: int | None, problem: str | None = None, *, stored: tuple | None = None):
        self._document, self._outline, self._stored = document, outline, stored
        self._segments: list[Clause] | None = None
        self._clauses = clauses
        self.text_key = text_key          # sha256 of the normalised lines
        self.text_length = text_length    # characters of normalised text
        self.problem = problem            # not a version: login / maintenance / error page

    @property
    def segments(self) -> list[Clause]:
        """The document's clauses (segment.segment), segmented once."""
        if self._segments is None:
            self._segments = segment.segment(self.document)
        return self._segments

    @property
    def clauses(self) -> int:
        """Top-level clauses (preamble and date lines not counted)."""
        if self._clauses is None:
            self._clauses = sum(1 for c in self.segments if c.kind == "clause")
        return self._clauses

    @property
    def document(self) -> Document:
        if self._document is None:
            source, text, lines, title, charset, content_type, _ = self._stored
            self._document = Document(source=source, lines=decode_lines(text, json.loads(lines)), title=title,
                                      charset=charset, content_type=content_type)
        return self._document

    @property
    def outline(self) -> list:
        if self._outline is None:
            self._outline = (json.loads(self._stored[6]) if self._stored is not None and self._stored[6] is not None
                             else [clause_to_json(c) for c in self.segments])
        return self._outline

    @property
    def segmented(self) -> bool:
        """Are the clauses known already (segmented here, or stored with the outline)?"""
        return self._segments is not None or self._outline is not None or \
            (self._stored is not None and self._stored[6] is not None)

    @property
    def counted_clauses(self) -> int | None:
        """The clause count if the document is segmented already; None rather than segment it."""
        return self.clauses if self._clauses is not None or self.segmented else None

    def stored(self) -> tuple:
        """(source, text, lines JSON, title, charset, content_type, outline JSON or None when the
        document was never segmented)"""
        if self._stored is None:
            doc = self._document
            self._stored = (doc.source, doc.text, _dumps(encode_lines(doc)), doc.title, doc.charset,
                            doc.content_type, _dumps(self.outline) if self.segmented else None)
        elif self._stored[6] is None and self.segmented:
            self._stored = (*self._stored[:6], _dumps(self.outline))
        return self._stored

    def __reduce__(self):
        return (_unpickle_derived, (self.stored(), self.text_key, self.text_length, self.counted_clauses,
                                    self.problem))


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _unpickle_derived(stored, text_key, text_length, clauses, problem) -> Derived:
    return Derived(None, None, text_key, text_length, clauses, problem, stored=stored)


def derive(body: bytes, *, source: str, content_type: str | None, select: str | None,
           remove: list[str] | tuple[str, ...]) -> Derived:
    """Extract, segment and hash one body. Raises InputError when no policy text comes out."""
    doc = extract.extract(body, source=source, content_type=content_type or None, select=select,
                          remove=list(remove))
    return derive_document(doc, body)


def derive_document(doc: Document, body: bytes = b"") -> Derived:
    keys = [k for k in (normalize.key(line.text) for line in doc.lines) if k]
    text_length = sum(len(k) for k in keys)
    derived = Derived(     # segmented when its clauses are first asked for
        document=doc,
        outline=None,
        text_key=hashlib.sha256("\n".join(keys).encode("utf-8")).hexdigest(),
        text_length=text_length,
        clauses=None,
    )
    if body:
        derived.problem = suspect.page_problem(body, doc, text_length)
    return derived


def derive_safely(body: bytes, source: str, content_type: str | None, select: str | None,
                  remove: list[str]) -> Derived | str:
    """derive() for a worker: a bad page is an answer (its message), not an exception."""
    try:
        return derive(body, source=source, content_type=content_type, select=select, remove=remove)
    except InputError as e:
        return str(e)


def clause_to_json(clause: Clause) -> dict:
    """The outline of a clause: its number, title, kind and children, and the start of its first
    body line (what names an untitled item). The full text is in the snapshot's lines."""
    out: dict = {"number": clause.number, "title": clause.title, "kind": clause.kind}
    if clause.ordinal is not None:
        out["ordinal"] = clause.ordinal
    if clause.style:
        out["style"] = clause.style
    if clause.body:
        out["body"] = [clause.body[0][:OUTLINE_BODY_CHARS]]
    if clause.children:
        out["children"] = [clause_to_json(c) for c in clause.children]
    return out


def clause_from_json(data: dict, index: int = 0) -> Clause:
    return Clause(number=data.get("number", ""), ordinal=data.get("ordinal"), title=data.get("title", ""),
                  body=list(data.get("body", [])), kind=data.get("kind", "clause"), style=data.get("style", ""),
                  index=index,
                  children=[clause_from_json(c, i) for i, c in enumerate(data.get("children", []))])


def outline_tree(outline: list) -> list[Clause]:
    return [clause_from_json(c, i) for i, c in enumerate(outline or [])]


def encode_lines(doc: Document) -> list:
    """`lines` column: the heading level of each line of `text` (the text is not stored twice), or
    [heading, depth] for a line in a nested list; [text, heading(, depth)] in the unlikely case
    that a line holds a newline itself."""
    if any("\n" in line.text for line in doc.lines):
        return [[line.text, line.heading, line.depth] if line.depth else [line.text, line.heading]
                for line in doc.lines]
    return [[line.heading, line.depth] if line.depth else line.heading for line in doc.lines]


def decode_lines(text: str, lines: list) -> list[Line]:
    if any(isinstance(entry, list) and entry and isinstance(entry[0], str) for entry in lines):
        return [Line(entry[0], entry[1], entry[2] if len(entry) > 2 else 0) for entry in lines]
    texts = text.split("\n") if text else []
    if len(texts) != len(lines):
        return [Line(text=t) for t in texts]
    return [Line(t, entry, 0) if isinstance(entry, int) else Line(t, entry[0], entry[1])
            for t, entry in zip(texts, lines, strict=True)]


def stored_document(snapshot, source: str | None = None) -> Document:
    """The Document a snapshot (anything with text, lines, title, charset, content_type, url) stores."""
    lines = decode_lines(snapshot.text or "", snapshot.lines or [])
    return Document(source=source or snapshot.url, lines=lines, title=snapshot.title or "",
                    charset=snapshot.charset or "",
                    content_type="html" if "html" in (snapshot.content_type or "") else "")


def options_key(select: str | None, remove) -> str:
    """select/remove as part of the derivation fingerprint: changing them re-derives, never reports."""
    return json.dumps({"select": select, "remove": list(remove or ())}, sort_keys=True)


def derivation_version(policy) -> str:
    """The fingerprint a snapshot of `policy` (anything with select / remove, or None) is derived with."""
    if policy is None:
        return EXTRACTOR_VERSION
    opts = options_key(policy.select, policy.remove)
    return EXTRACTOR_VERSION + "|" + hashlib.sha256(opts.encode()).hexdigest()[:10]


def current_document(snapshot, policy, load_body: Callable[[str], bytes],
                     source: str | None = None) -> tuple[Document, Derived | None]:
    """A snapshot's Document as the current code derives it; the Derived when it had to re-derive
    (from the raw body `load_body(sha256)` returns)."""
    if snapshot.extractor_version == derivation_version(policy):
        return stored_document(snapshot, source), None
    body = load_body(snapshot.body_sha256)
    derived = derive(body, source=snapshot.url, content_type=snapshot.content_type,
                     select=policy.select if policy else None, remove=policy.remove if policy else [])
    doc = dataclasses.replace(derived.document, source=source or snapshot.url)
    return doc, derived


def current_outline(snapshot, policy, load_body: Callable[[str], bytes]) -> list[Clause]:
    """A snapshot's clause tree as the current code segments it."""
    if snapshot.extractor_version == derivation_version(policy) and snapshot.outline is not None:
        return outline_tree(snapshot.outline)
    doc, derived = current_document(snapshot, policy, load_body)
    return outline_tree((derived or derive_document(doc)).outline)


def stored_clauses(snapshot) -> int:
    """A snapshot's top-level clause count as stored, counted from its text if it was stored
    unsegmented (a first version)."""
    if snapshot.clauses is not None:
        return snapshot.clauses
    return derive_document(stored_document(snapshot)).clauses
