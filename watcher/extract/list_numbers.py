"""List numbers: the markers a browser draws for <ol>/<ul> items, written into the text.

    ListState.of(<ol>/<ul>) -> state;  state.next_marker(<li>) -> "1. ", "a. ", "イ、", "・" or ""
    MARKER_START: the item text already starts with its own number or bullet (no marker added)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:       # annotations only: docx.py reads the number formats without lxml
    from lxml.etree import _Element as Element

_LIST_STYLE = re.compile(r"list-style(?:-type)?\s*:\s*([a-z-]+)", re.I)


# A list item that already starts with its own number or bullet (many CMSs type "1." into
# the text and hide the browser's numbers): no marker is added.
MARKER_START = re.compile(
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
class ListState:
    style: str          # CSS list-style-type: "decimal", "lower-alpha", "disc", "none", ...
    next_value: int
    step: int

    @classmethod
    def of(cls, element: Element) -> ListState:
        ordered = element.tag == "ol"
        style = "decimal" if ordered else "disc"
        type_attr = element.get("type")
        if type_attr is not None and type_attr.strip() in _TYPE_ATTR:
            style = _TYPE_ATTR[type_attr.strip()]
        elif type_attr is not None and type_attr.strip().lower() in _TYPE_ATTR:
            style = _TYPE_ATTR[type_attr.strip().lower()]
        css = _LIST_STYLE.search(element.get("style", ""))
        if css:
            style = css.group(1).lower()
        reversed_ = ordered and "reversed" in element.attrib
        start = _int(element.get("start")) if ordered else None
        if start is None:
            start = sum(1 for _ in element.iterchildren("li")) if reversed_ else 1
        return cls(style, start, -1 if reversed_ else 1)

    def next_marker(self, li: Element) -> str:
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


_INTEGER = re.compile(r"\s*([+-]?\d+)")


def _int(value: str | None) -> int | None:
    m = _INTEGER.match(value) if value is not None else None
    return int(m.group(1)) if m else None
