"""Word .docx -> lines (python-docx, MIT): the "docx" kind's implementation, loaded by name.

The body in document order: a paragraph is a line (a Heading N / Title style is a heading), a
table is one line per row with its cells joined by " | " (as the HTML extractor writes a data
table). The numbers Word draws for a numbered paragraph (`w:numPr` on the paragraph or its
style: the numbering part's level format and text, e.g. "第%1条", "(%2)", "%1.") are written into
the line, as the browser's numbers are for `<ol>`; bullets become "・". Line breaks inside a
paragraph are hard wraps, joined with the rule the other extractors use.
"""

from __future__ import annotations

import re
import zipfile
from io import BytesIO

import docx
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
    lines: list[Line] = []
    for child in document.element.body.iterchildren():
        if child.tag == qn("w:p"):
            paragraph = Paragraph(child, document)
            text = _paragraph_text(paragraph)
            if not text:
                continue
            marker = numbering.marker(paragraph)
            lines.append(Line(marker + text, _heading(paragraph)))
        elif child.tag == qn("w:tbl"):
            lines.extend(_table_lines(Table(child, document)))
    title = (document.core_properties.title or "").strip()
    return lines, title


def _paragraph_text(paragraph: Paragraph) -> str:
    pieces = [clean(p) for p in paragraph.text.replace("\r", "\n").split("\n")]
    text = ""
    for piece in pieces:
        text = join_pieces(text, piece)
    return clean(text.replace("\t", " "))


def _heading(paragraph: Paragraph) -> int:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name.lower() == "title":
        return 1
    m = _HEADING_STYLE.match(name.strip())
    return min(6, int(m.group(1))) if m else 0


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

    def marker(self, paragraph: Paragraph) -> str:
        num_id, ilvl = _num_pr(paragraph)
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


def _num_pr(paragraph: Paragraph) -> tuple[str | None, int]:
    """(numId, ilvl) of the paragraph's own w:numPr, else of its style (and the styles it is based on)."""
    holders = [paragraph._p.pPr]
    style = paragraph.style
    while style is not None:
        holders.append(style.element.pPr)
        style = style.base_style
    num_id, ilvl = None, None
    for ppr in holders:
        if ppr is None or ppr.numPr is None:
            continue
        if num_id is None and ppr.numPr.numId is not None:
            num_id = str(ppr.numPr.numId.val)
        if ilvl is None and ppr.numPr.ilvl is not None:
            ilvl = int(ppr.numPr.ilvl.val)
    return num_id, ilvl or 0


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
