"""Word .docx -> lines (python-docx, MIT): the "docx" kind's implementation, loaded by name.

The body in document order: a paragraph is a line (a Heading N / Title style is a heading), a
table is one line per row with its cells joined by " | " (as the HTML extractor writes a data
table). The numbers Word draws for a numbered paragraph (`w:numPr` on the paragraph or its
style: the numbering part's level format and text, e.g. "第%1条", "(%2)", "%1.") are written into
the line, as the browser's numbers are for `<ol>`; bullets become "・". Line breaks inside a
paragraph are hard wraps, joined with the rule the other extractors use.

Styles are resolved once per style id (_Styles): python-docx's `paragraph.style` scans every
style of the document for the default one on each call, which made a 60 KB-text document take
~2 s (bench/fetch_kinds.py).
"""

from __future__ import annotations

import re
import zipfile
from io import BytesIO

import docx
from docx.enum.style import WD_STYLE_TYPE
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph

from watcher.errors import InputError
from watcher.extract.list_numbers import _AIUEO, _ALPHA, _IROHA, _alpha, _cjk, _roman
from watcher.extract.whitespace import clean, join_pieces
from watcher.models import Line

_HEADING_STYLE = re.compile(r"^(?:heading|見出し)\s*(\d)$", re.I)
_LEVEL_REF = re.compile(r"%([1-9])")
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def docx_lines(data: bytes, *, source: str) -> tuple[list[Line], str]:
    try:
        document = docx.Document(BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as e:
        raise InputError(f"{source}: not a readable .docx ({type(e).__name__}: {str(e)[:120]})") from None
    numbering = _Numbering(document)
    styles = _Styles(document)
    lines: list[Line] = []
    p_tag, tbl_tag = qn("w:p"), qn("w:tbl")
    for child in document.element.body.iterchildren():
        if child.tag == p_tag:
            text = _paragraph_text(Paragraph(child, document))
            if not text:
                continue
            heading, style_num_prs = styles.of(child)
            marker = numbering.marker(*_num_pr(child.pPr, style_num_prs))
            lines.append(Line(marker + text, heading))
        elif child.tag == tbl_tag:
            lines.extend(_table_lines(Table(child, document)))
    title = (document.core_properties.title or "").strip()
    return lines, title


def _paragraph_text(paragraph: Paragraph) -> str:
    pieces = [clean(p) for p in paragraph.text.replace("\r", "\n").split("\n")]
    text = ""
    for piece in pieces:
        text = join_pieces(text, piece)
    return clean(text.replace("\t", " "))


NumPr = tuple[str | None, int | None]     # (numId, ilvl) of one w:numPr, either may be missing


class _Styles:
    """A paragraph style's heading level and the w:numPr of it and the styles it is based on,
    looked up once per style id (the style python-docx gives the paragraph: a missing or unknown
    id is the document's default paragraph style)."""

    def __init__(self, document):
        self._styles = document.styles
        self._cache: dict[str | None, tuple[int, tuple[NumPr, ...]]] = {}

    def of(self, p) -> tuple[int, tuple[NumPr, ...]]:
        style_id = p.style
        hit = self._cache.get(style_id)
        if hit is None:
            style = self._styles.get_by_id(style_id, WD_STYLE_TYPE.PARAGRAPH)
            hit = self._cache[style_id] = (_heading(style), _style_num_prs(style))
        return hit


def _heading(style) -> int:
    name = (style.name if style is not None else "") or ""
    if name.lower() == "title":
        return 1
    m = _HEADING_STYLE.match(name.strip())
    return min(6, int(m.group(1))) if m else 0


def _style_num_prs(style) -> tuple[NumPr, ...]:
    """The w:numPr of a style and of the styles it is based on, nearest first."""
    out, seen = [], set()
    while style is not None and style.style_id not in seen:   # a basedOn loop ends
        seen.add(style.style_id)
        num_pr = _own_num_pr(style.element.pPr)
        if num_pr is not None:
            out.append(num_pr)
        style = style.base_style
    return tuple(out)


def _own_num_pr(ppr) -> NumPr | None:
    if ppr is None or ppr.numPr is None:
        return None
    num_pr = ppr.numPr
    return (str(num_pr.numId.val) if num_pr.numId is not None else None,
            int(num_pr.ilvl.val) if num_pr.ilvl is not None else None)


def _num_pr(ppr, style_num_prs: tuple[NumPr, ...]) -> tuple[str | None, int]:
    """(numId, ilvl) of the paragraph's own w:numPr, else of its style (and the styles it is based
    on): each of the two from the nearest w:numPr that has it."""
    own = _own_num_pr(ppr)
    num_id, ilvl = None, None
    for found_id, found_lvl in ((own,) if own is not None else ()) + style_num_prs:
        if num_id is None:
            num_id = found_id
        if ilvl is None:
            ilvl = found_lvl
    return num_id, ilvl or 0


def _table_lines(table: Table) -> list[Line]:
    out = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:      # a merged cell is listed once per grid column it spans
                continue
            seen.add(id(cell._tc))
            text = " ".join(t for t in (_paragraph_text(p) for p in cell.paragraphs) if t)
            if text:
                cells.append(text)
        if cells:
            out.append(Line(" | ".join(cells), 0))
    return out


class _Numbering:
    """Word's list counters: one per numbering instance (numId) and level, as Word draws them."""

    def __init__(self, document):
        self.levels: dict[str, dict[int, tuple[str, str, int]]] = {}   # numId -> ilvl -> (fmt, text, start)
        self.counters: dict[str, list[int]] = {}
        try:
            root = document.part.numbering_part.element
        except (NotImplementedError, KeyError, AttributeError):
            return
        abstract = {a.get(qn("w:abstractNumId")): _levels(a) for a in root.findall(qn("w:abstractNum"))}
        for num in root.findall(qn("w:num")):
            ref = num.find(qn("w:abstractNumId"))
            levels = dict(abstract.get(ref.get(qn("w:val")) if ref is not None else None, {}))
            for override in num.findall(qn("w:lvlOverride")):
                ilvl = int(override.get(qn("w:ilvl"), "0"))
                start = override.find(qn("w:startOverride"))
                if start is not None and ilvl in levels:
                    fmt, text, _ = levels[ilvl]
                    levels[ilvl] = (fmt, text, int(start.get(qn("w:val"), "1")))
                lvl = override.find(qn("w:lvl"))
                if lvl is not None:
                    levels[ilvl] = _level(lvl)
            self.levels[num.get(qn("w:numId"))] = levels
        self.styles = document.styles

    def marker(self, num_id: str | None, ilvl: int) -> str:
        if num_id is None or num_id == "0" or num_id not in self.levels:
            return ""
        levels = self.levels[num_id]
        if ilvl not in levels:
            return ""
        counters = self.counters.setdefault(num_id, [levels[i][2] - 1 if i in levels else 0 for i in range(9)])
        counters[ilvl] += 1
        for deeper in range(ilvl + 1, 9):       # a deeper level starts again under a new item
            counters[deeper] = levels[deeper][2] - 1 if deeper in levels else 0
        fmt, text, _ = levels[ilvl]
        if fmt == "none":
            return ""
        if fmt == "bullet":
            return "・"

        def number(m: re.Match) -> str:
            level = int(m.group(1)) - 1
            level_fmt = levels[level][0] if level in levels else "decimal"
            return _format(max(counters[level], levels.get(level, ("", "", 1))[2]), level_fmt)

        drawn = _LEVEL_REF.sub(number, text).strip()
        return f"{drawn} " if drawn else ""


def _levels(abstract) -> dict[int, tuple[str, str, int]]:
    return {int(lvl.get(qn("w:ilvl"), "0")): _level(lvl) for lvl in abstract.findall(qn("w:lvl"))}


def _level(lvl) -> tuple[str, str, int]:
    def val(tag: str, default: str) -> str:
        el = lvl.find(qn(tag))
        return el.get(qn("w:val"), default) if el is not None else default
    return val("w:numFmt", "decimal"), val("w:lvlText", ""), int(val("w:start", "1"))


def _format(n: int, fmt: str) -> str:
    """One number as Word's numFmt draws it (without the level text around it)."""
    match fmt:
        case "lowerLetter":
            return _alpha(n, _ALPHA)
        case "upperLetter":
            return _alpha(n, _ALPHA.upper())
        case "lowerRoman":
            return _roman(n)
        case "upperRoman":
            return _roman(n).upper()
        case "decimalZero":
            return f"{n:02d}"
        case "decimalEnclosedCircle" | "decimalEnclosedCircleChinese":
            return _CIRCLED[n - 1] if 1 <= n <= len(_CIRCLED) else str(n)
        case "decimalFullWidth" | "decimalFullWidth2":
            return str(n).translate(_FULLWIDTH)
        case "japaneseCounting" | "ideographDigital" | "chineseCounting" | "japaneseDigitalTenThousand":
            return _cjk(n)
        case "iroha" | "irohaFullWidth":
            return _alpha(n, _IROHA)
        case "aiueo" | "aiueoFullWidth":
            return _alpha(n, _AIUEO)
        case _:
            return str(n)
