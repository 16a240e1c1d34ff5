"""PDF -> lines (pdfminer.six, MIT): the "pdf" kind's implementation, loaded by name on the first PDF.

Each text box pdfminer finds is a paragraph; its wrapped lines are joined with the rule the
HTML extractor uses for hard wraps (no space next to a Japanese character, one between Latin
words). A paragraph that a page break cut (the page's last box ends on a full-width line without
a sentence end) is joined with the next page's first box. Boxes set in a clearly larger font are
headings. Kangxi-radical and CJK-radical code points (⽇ U+2F47 for 日: what some PDF fonts map
their glyphs to) are NFKC-folded to the ideographs they stand for; nothing else is folded, so
①, （ and full-width digits stay as written. A PDF with no text layer is refused ("a scanned
image?"); one with next to no text per page is flagged by watcher.suspect (never a version).
The hyphenation point U+2027 that CJK fonts give for ・ is read as ・ in a line of Japanese text.
"""

from __future__ import annotations

import logging
import re
import statistics
import unicodedata
from io import BytesIO

from pdfminer.high_level import extract_pages
from pdfminer.layout import LAParams, LTChar, LTPage, LTTextBox, LTTextLine
from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdfparser import PDFSyntaxError
from pdfminer.psparser import PSException

from watcher.errors import InputError
from watcher.extract.whitespace import _WIDE, clean, join_pieces
from watcher.models import Line

_RADICALS = re.compile("[\u2e80-\u2eff\u2f00-\u2fdf]")
# CJK fonts whose ToUnicode map gives the katakana middle dot ・ as U+2027 (hyphenation point):
# in a line with Japanese text it is the middle dot.
_JAPANESE = re.compile(f"[{_WIDE}]")
# A paragraph's last line ends a sentence (or is a heading): the page break did not cut it.
_ENDS = re.compile(r"[。．.!?！？:：」』）)]$")
# pdfminer warns per glyph about fonts it reads fine (e.g. "Could not get FontBBox"): not the user's problem
logging.getLogger("pdfminer").setLevel(logging.ERROR)
HEADING_RATIO = 1.25     # a box whose font is this much larger than the body text is a heading
FULL_LINE = 0.9          # a line reaching this share of the page's text width was wrapped


def pdf_lines(data: bytes, *, source: str) -> tuple[list[Line], str]:
    try:
        pages = list(extract_pages(BytesIO(data), laparams=LAParams()))
    except (PDFPasswordIncorrect, PDFEncryptionError):
        raise InputError(f"{source}: encrypted PDF (no text can be read without its password)") from None
    except (PDFSyntaxError, PSException, ValueError, KeyError, TypeError, AssertionError) as e:
        raise InputError(f"{source}: not a readable PDF ({type(e).__name__}: {str(e)[:120]})") from None
    boxes = [[(box, _box_lines(box)) for box in page if isinstance(box, LTTextBox)] for page in pages]
    if not any(lines for page in boxes for _, lines in page):
        raise InputError(f"{source}: PDF has no text layer ({len(pages)} page{'s' if len(pages) != 1 else ''}, "
                         "no text): a scanned image?")
    sizes = [_size(box) for page in boxes for box, lines in page if lines]
    body_size = statistics.median(sizes) if sizes else 0.0
    out: list[Line] = []
    carry = False       # the previous page's last paragraph goes on on this page
    for page, page_boxes in zip(pages, boxes, strict=True):
        page_boxes = [(b, ls) for b, ls in page_boxes if ls]
        right = _text_right(page)
        for i, (box, lines) in enumerate(page_boxes):
            text = _paragraph(lines)
            if not text:
                continue
            heading = 2 if body_size and _size(box) >= HEADING_RATIO * body_size else 0
            if carry and i == 0 and out and not heading:
                out[-1] = Line(join_pieces(out[-1].text, text), out[-1].heading)
            else:
                out.append(Line(text, heading))
            carry = False
        if page_boxes:
            last_box, last_lines = page_boxes[-1]
            last = last_lines[-1]
            carry = (right > 0 and last.x1 >= FULL_LINE * right + (1 - FULL_LINE) * _text_left(page)
                     and not _ENDS.search(_text(last)))
    return out, ""


def _box_lines(box: LTTextBox) -> list[LTTextLine]:
    return [line for line in box if isinstance(line, LTTextLine) and _text(line)]


def _text(line: LTTextLine) -> str:
    text = _RADICALS.sub(lambda m: unicodedata.normalize("NFKC", m.group(0)), line.get_text())
    if "\u2027" in text and _JAPANESE.search(text):
        text = text.replace("\u2027", "\u30fb")
    return clean(text)


def _paragraph(lines: list[LTTextLine]) -> str:
    text = ""
    for line in lines:
        text = join_pieces(text, _text(line))
    return text


def _size(box: LTTextBox) -> float:
    sizes = [ch.size for line in box if isinstance(line, LTTextLine) for ch in line if isinstance(ch, LTChar)]
    return statistics.median(sizes) if sizes else 0.0


def _text_right(page: LTPage) -> float:
    return max((line.x1 for box in page if isinstance(box, LTTextBox) for line in box
                if isinstance(line, LTTextLine)), default=0.0)


def _text_left(page: LTPage) -> float:
    return min((line.x0 for box in page if isinstance(box, LTTextBox) for line in box
                if isinstance(line, LTTextLine)), default=0.0)
