"""Segment a Document into a clause tree.

A line may start with a numbering marker (第N条, `N.`, `N `, `N.title`, `N. (title)`, `N-M.`,
(N), ①, イ/ア, ・, ...) or be an HTML/Markdown heading. The strongest marker style that
repeats in the document is the top level (article / section); everything else nests under
it by a stack: a marker style seen again closes the deeper levels (its list continues), a
new style opens a level. In a text document without markup headings, short unmarked lines over
paragraphs that repeat (「個人情報の利用目的」 on its own line) are one more style, the top level only
when they fit better than the numbering. A notice with no section structure (one heading over
everything, or none) is read after its intro as paragraph sections: each paragraph with the list
under it. The text before the first top-level clause is the preamble (前文);
the date / 改定履歴 lines at the end are metadata, not policy content.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from watcher import lazy
from watcher.dates import DATE_RE
from watcher.models import Clause, Document, Line
from watcher.normalize import key, language

# Outlines change with it (derive.EXTRACTOR_VERSION re-derives stored snapshots). 2: the top level
# chosen by fit, not by a ranking of marker styles; Roman, kanji 号 and sub-numbered markers.
# 3: a line in a nested list (Line.depth) is a child of the item of the list around it. 4: plain heading
# lines of a text document (TITLE_LINE) may be its top level. 5: a notice without sections is read as
# paragraph sections after its intro; a title drawn as the first section heading is the preamble's.
VERSION = 5

_D = r"[0-9０-９]+"
_K = r"[〇零一二三四五六七八九十百千]+"
_KANJI_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳㉑㉒㉓㉔㉕㉖㉗㉘㉙㉚㉛㉜㉝㉞㉟㊱㊲㊳㊴㊵㊶㊷㊸㊹㊺㊻㊼㊽㊾㊿"
_PAREN_DIGITS = "⑴⑵⑶⑷⑸⑹⑺⑻⑼⑽⑾⑿⒀⒁⒂⒃⒄⒅⒆⒇"
_IROHA = "イロハニホヘトチリヌルヲワカヨタレソツネナラムウヰノオクヤマケフコエテアサキユメミシヱヒモセス"
_GOJUON = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲン"
# Roman numerals as one character (Ⅰ Ⅱ … Ⅻ, ⅰ ⅱ … ⅻ) and as letters (I II IV, full-width Ｉ Ｖ Ｘ too).
_ROMAN_UPPER = "ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫ"
_ROMAN_LOWER = "ⅰⅱⅲⅳⅴⅵⅶⅷⅸⅹⅺⅻ"
_KANJI_NUM = "一二三四五六七八九十"

# Marker styles, strongest first. The strength decides which repeated style is the top level.
STRENGTH = {
    "chapter": 100, "article": 90, "roman": 80, "dotparen": 76, "dotted2": 51, "dotted3": 49, "dotted4": 48, "bracket": 74, "square": 73, "dotnospace": 70,
    "spacenum": 66, "dot": 62, "closeparen": 56, "paren": 52, "hyphen": 50, "circled": 46,
    "kanji": 45, "parenkanji": 44, "alpha": 42, "lroman": 41, "kana": 40, "parenroman": 39, "parenkana": 38,
    "bullet": 10,
}
# Headings without a number: h1 strongest; they rank between articles and numbered sections.
for _level in range(1, 6):
    STRENGTH[f"h{_level}"] = 86 - _level
# h6 is also what a bold-only paragraph becomes: weaker than numbered sections, which it may sit in.
STRENGTH["h6"] = 60
# A plain heading line of a text document (a short unmarked line over a paragraph): the weakest heading.
TITLE_LINE = "titleline"
STRENGTH[TITLE_LINE] = 58

# Variants of one numbering that a careless page mixes ("3.利用目的" then "4. 通知・公表...").
_FAMILY = {"dot": "dot", "dotnospace": "dot", "dotparen": "dot", "spacenum": "dot", "closeparen": "dot"}

_MARKERS: list[tuple[str, str]] = [
    # "Ⅰ．取得する情報", "Ⅱ 利用目的", "IV. Your Rights": a Roman number and a separator (an ASCII one
    # needs a dot: "I agree" is a sentence). Its value is checked in parse_marker ("VIVID." is no number).
    ("roman", rf"^([{_ROMAN_UPPER}][.．、]?|[IVXＩＶＸ]{{1,6}}[.．、])[\s　]*(?=\S)"),
    ("lroman", rf"^([{_ROMAN_LOWER}][.．、]?|[ivx]{{1,6}}[.．](?=[\s　]))[\s　]*(?=\S)"),
    ("parenroman", r"^([（(]\s*[ivx]{1,6}\s*[)）])[\s　]*"),
    ("chapter", rf"^(第\s*(?:{_D}|{_K})\s*章)[\s　.．、:：]*"),
    ("article", rf"^(第\s*(?:{_D}|{_K})\s*条(?:\s*の\s*(?:{_D}|{_K}))?)[\s　.．、:：]*"),
    ("hyphen", rf"^({_D}\s*[-‐－]\s*{_D}(?:\s*[-‐－]\s*{_D})*\s*[.．]?)[\s　]*(?=\S)"),
    # Sub-numbers: "1.1 範囲", "3.a.Personal Data…", "3.a.ii.Information…" (the level is the count of parts).
    ("dotted", rf"^({_D}(?:[.．](?:{_D}|[a-zA-Z]{{1,4}}))+(?:[.．](?=\S)|(?=[\s　]+\S)))[\s　]*"),
    ("dotparen", rf"^({_D}\s*[.．])\s*(?=[（(][^）)]{{1,40}}[）)])"),
    ("dot", rf"^({_D}\s*[.．])(?![0-9０-９])[\s　]+"),
    ("dotnospace", rf"^({_D}[.．])(?![0-9０-９])(?=\S)"),
    ("closeparen", rf"^({_D}\s*[)）])[\s　]*"),
    ("paren", rf"^([（(]\s*{_D}\s*[)）]|[{_PAREN_DIGITS}])[\s　]*"),
    ("circled", rf"^([{_CIRCLED}])[\s　]*"),
    # 号 items of a Japanese article: "一　法令に基づく場合", "二、…", "（三）…". "一部の…" is a word.
    ("parenkanji", rf"^([（(]\s*[{_KANJI_NUM}]{{1,3}}\s*[)）])[\s　]*"),
    ("kanji", rf"^([{_KANJI_NUM}]{{1,3}}(?:[、．.]|(?=[\s　])))[\s　]*(?=\S)"),
    ("spacenum", rf"^({_D})[\s　]+(?=[^\s0-9０-９年月日%％円])"),
    ("parenkana", r"^([（(]\s*[ア-ンa-zａ-ｚ]\s*[)）])[\s　]*"),
    # "イ. 氏名" or "ア　住所" are markers; "イベント" is a word: a separator must follow the kana.
    ("kana", rf"^([{_GOJUON}{_IROHA}][.．、\s　])[\s　]*"),
    ("alpha", r"^([a-zA-Z][.)）])[\s　]+"),
    ("bracket", r"^【([^】]{1,40})】\s*$"),
    ("square", r"^([■□◆◇▼▽▶►◎〇])[\s　]*"),
    ("bullet", r"^([・･•●○◦▪\-*+])[\s　]*"),
]


@cache
def _patterns() -> list[tuple[str, re.Pattern]]:
    """_MARKERS compiled, at the first marker parsed: ~5 ms that a process deriving no text never spends."""
    return [(style, re.compile(regex)) for style, regex in _MARKERS]


# A "- " that an extractor put before another marker ("- (1) ...", "- ・...") is not itself a level.
_LEADING_DASH = re.compile(r"^[-*]\s+(?=\S)")

# The larger expressions compile at their first use (lazy.pattern), as _MARKERS do.
_DATE_WORDS = lazy.pattern(
    r"制定|改定|改訂|改正|変更|更新|最終|施行|効力発生|発効|作成|公開|適用|開始|日付|年月日|日|版|附則|"
    r"last\s+(?:updated|modified|revised)|effective(?:\s+date)?|updated|revised|version|date|as\s+of|on|from",
    re.I,
)
_HISTORY_HEADINGS = lazy.pattern(r"^[【\[(（]?\s*(改定履歴|改訂履歴|変更履歴|更新履歴|沿革|附\s*則|制定日?・?改定日?|revision history|change log|changelog)\s*[】\])）:：]?$", re.I)
_TERMINATOR = re.compile(r"^以\s*上$")
# Every date DATE_RE finds has a 年 or a four-digit year: a scan for those is cheaper than its alternatives.
_FOUR_DIGITS = re.compile(r"\d{4}")


@dataclass
class Marker:
    style: str
    number: str          # the marker as written
    ordinal: int | None
    rest: str            # the text after the marker


def parse_number(text: str) -> int | None:
    """The value of a marker's number: '第十二条' -> 12, '（３）' -> 3, '④' -> 4, 'ロ' -> 2."""
    folded = unicodedata.normalize("NFKC", text)
    digits = re.findall(r"\d+", folded)
    if digits:
        return int(digits[0])
    for ch in text:
        if ch in _CIRCLED:
            return _CIRCLED.index(ch) + 1
        if ch in _PAREN_DIGITS:
            return _PAREN_DIGITS.index(ch) + 1
    kanji = re.search(_K, text)
    if kanji:
        return _kanji_to_int(kanji.group())
    letter = re.search(r"[a-zA-Z]", folded)
    if letter:
        return ord(letter.group().lower()) - ord("a") + 1
    kana = re.search(rf"[{_GOJUON}]", text)
    if kana:
        ch = kana.group()
        # ア/イ/ウ lists and イ/ロ/ハ lists both exist; ロ, ハ, ニ... only occur in iroha order.
        return (_IROHA.index(ch) + 1) if ch in "ロハニホヘト" else (_GOJUON.index(ch) + 1)
    return None


def _kanji_to_int(text: str) -> int | None:
    total, current = 0, 0
    for ch in text:
        if ch in _KANJI_DIGITS:
            current = _KANJI_DIGITS[ch]
        elif ch in "十百千":
            unit = {"十": 10, "百": 100, "千": 1000}[ch]
            total += (current or 1) * unit
            current = 0
    return total + current


# Every marker pattern starts with one of these (or a digit / Latin letter): most body lines
# start with something else and need no pattern tried at all (segmenting is on the check hot path).
_MARKER_FIRST = frozenset("第(（【" + _CIRCLED + _PAREN_DIGITS + "■□◆◇▼▽▶►◎〇・･•●○◦▪-*+" + _ROMAN_UPPER
                          + _ROMAN_LOWER + _KANJI_NUM + "ＩＶＸ")
_ROMAN_STYLES = {"roman", "lroman", "parenroman"}
_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10}


def roman_value(text: str) -> int | None:
    """'Ⅳ．' -> 4, 'xii' -> 12, '(ii)' -> 2; None when the letters are no well-formed Roman number."""
    letters = re.sub(r"[^ivx]", "", unicodedata.normalize("NFKC", text).lower())
    if not letters:
        return None
    total = 0
    for k, ch in enumerate(letters):
        value = _ROMAN_VALUES[ch]
        following = _ROMAN_VALUES[letters[k + 1]] if k + 1 < len(letters) else 0
        total += -value if value < following else value
    return total if _to_roman(total) == letters else None


def _to_roman(n: int) -> str:
    out = ""
    for value, digits in ((10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while n >= value:
            out += digits
            n -= value
    return out
_KANA = frozenset(_GOJUON + _IROHA)


def parse_marker(text: str) -> Marker | None:
    """The numbering marker at the start of a line, if any."""
    s = text.strip()
    if not s:
        return None
    first = s[0]
    if first in _KANA:
        if len(s) < 2 or not (s[1] in ".．、" or s[1].isspace()):
            return None
    elif first not in _MARKER_FIRST and not first.isdigit() and not first.isascii():
        return None
    if _LEADING_DASH.match(s):
        inner = _LEADING_DASH.sub("", s, count=1)
        found = parse_marker(inner)
        if found and found.style != "bullet":
            return found
        if found:  # "- ・item": one bullet
            return found
    for style, pattern in _patterns():
        m = pattern.match(s)
        if not m:
            continue
        if style == "bracket":
            return Marker(style, "", None, m.group(1).strip())
        number = m.group(1).strip()
        rest = s[m.end():].strip()
        if not rest and style not in ("article", "chapter"):
            continue
        if style == "bullet":
            return Marker(style, number, None, rest)
        if style == "square":
            return Marker(style, number, None, rest)
        if style == "dotted":
            parts = [p for p in re.split(r"[.．]", unicodedata.normalize("NFKC", number)) if p]
            last = parts[-1]
            value = int(last) if last.isdigit() else (roman_value(last) if len(parts) > 2 else None)
            if value is None and len(last) == 1:
                value = ord(last.lower()) - ord("a") + 1
            return Marker(f"dotted{len(parts)}", number, value, rest)
        if style in _ROMAN_STYLES:
            value = roman_value(number)
            if value is None or value > 39:
                continue
            return Marker(style, number, value, rest)
        return Marker(style, number, parse_number(number), rest)
    return None


def split_title(marker: Marker, line: Line) -> tuple[str, list[str]]:
    """Split the text after a marker into (title, body lines)."""
    rest = marker.rest
    m = re.match(r"^[（(]([^）)]{1,40})[）)]\s*(.*)$", rest)
    if m and marker.style in ("article", "dotparen", "chapter", "spacenum", "dot", "dotnospace", "hyphen"):
        title, after = m.group(1).strip(), m.group(2).strip()
        return title, [after] if after else []
    if marker.style == "bullet" or not rest:
        return "", [rest] if rest else []
    if looks_like_title(rest) or line.heading:
        return rest, []
    return "", [rest]


def looks_like_title(text: str) -> bool:
    folded = key(text)
    if folded.isascii():
        # English headings often end with a period ("1. INFORMATION WE COLLECT."); a sentence has more words.
        return 0 < len(folded.split()) <= 8 and folded.count(". ") == 0 and not folded.endswith(":")
    return 0 < len(folded) <= 40 and not folded.endswith(("。", ".", ":", "：")) and "。" not in folded


def is_date_line(text: str) -> bool:
    """'2018年11月21日 作成', '【2022年4月1日制定】', 'Last updated: May 1, 2025' — but not a sentence."""
    if len(text) > 80 or ("年" not in text and not _FOUR_DIGITS.search(text)) or not DATE_RE.search(text):
        return False
    rest = DATE_RE.sub("", text)
    rest = _DATE_WORDS.sub("", rest)
    rest = re.sub(r"[\s\W_]+", "", rest)
    return len(rest) <= 4


@dataclass
class _Entry:
    clause: Clause
    style: str
    ordinal: int | None
    heading: int
    depth: int = 0      # the Line.depth of the line that opened it (nested lists)


def _style_of(line: Line, marker: Marker | None) -> str:
    if marker:
        return marker.style
    if line.heading:
        return f"h{line.heading}"
    return ""


def _top_style(styles: list[str], lines: list[Line], markers: list[Marker | None]) -> str:
    """The numbering or heading style of the document's articles / sections.

    Not a fixed ranking of marker styles: each style that repeats is tried as the top level and
    charged for what would not fit under it (`_misfit`); the one that fits best wins, then the
    one that starts first. 第N条 (and 第N章 above it) is the legal article numbering wherever
    it appears.
    """
    positions: dict[str, list[int]] = {}
    for i, s in enumerate(styles):
        if s and s != "bullet":
            positions.setdefault(s, []).append(i)
    candidates = [s for s, where in positions.items() if len(where) >= 2]
    if not candidates:
        return ""
    for legal in ("chapter", "article"):
        if legal in candidates:
            return legal
    if len(candidates) == 1:
        return candidates[0]
    cost = {s: _misfit(s, positions, candidates, lines, markers) for s in candidates}
    return min(candidates, key=lambda s: (cost[s], positions[s][0], -STRENGTH.get(s, 0)))


# A plain heading line ends without sentence punctuation, and does not end like a line wrapped in
# the middle of a sentence (a particle, a comma; an English article or preposition).
_SENTENCE_END_CHARS = frozenset("。．.!?！？:：;；、，,")
_WRAPPED_JA = frozenset("はをがにのとでもへや、")
_WRAPPED_EN = frozenset(("a", "an", "the", "and", "or", "of", "to", "in", "for", "with", "by", "we", "our", "your",
                         "that", "which", "is", "are", "as", "at", "on", "from"))
_NOT_TITLE = lazy.pattern(r"@|https?://|www\.|〒|\||[0-9０-９]{3}[-‐－][0-9０-９]{3,4}")
_PARAGRAPH_MIN = 41     # a line this long is a paragraph (or a paragraph's first line), never a title


def title_line_shape(text: str) -> bool:
    """May an unmarked line of a text document be a heading: short, no sentence, not a wrapped fragment?"""
    folded = key(text)
    if not folded or folded[-1] in _SENTENCE_END_CHARS or _NOT_TITLE.search(folded):
        return False
    if folded.isascii():
        words = folded.split()
        return (0 < len(words) <= 8 and folded[0].isupper() and words[-1].lower() not in _WRAPPED_EN
                and not any(ch in folded for ch in ".,;"))
    return (2 <= len(folded) <= 30 and folded[-1] not in _WRAPPED_JA and "。" not in folded
            and not folded.endswith(("ます", "です", "ください", "ません")))


def _ends_sentence(text: str) -> bool:
    folded = key(text)
    return bool(folded) and (folded[-1] in "。．.!?！？)）」』" or len(folded) >= _PARAGRAPH_MIN)


def _title_lines(lines: list[Line], styles: list[str], dates: list[bool]) -> list[int]:
    """The plain heading lines of a text document without markup headings.

    A short unmarked line (title_line_shape) after the end of a sentence (or a list, or another
    heading) and over a paragraph or a list: 「個人情報の利用目的」 on its own line. The first line of
    the document is its title. None when any line is a markup heading: the markup says what the
    headings are.
    """
    if any(line.heading for line in lines):
        return []
    found = []
    for i in range(1, len(lines) - 1):
        if styles[i] or dates[i] or not title_line_shape(lines[i].text):
            continue
        before, after = lines[i - 1].text, lines[i + 1].text
        if not (styles[i - 1] or _ends_sentence(before) or (found and found[-1] == i - 1)):
            continue    # a fragment of a wrapped paragraph
        if styles[i + 1] or (_ends_sentence(after) and not title_line_shape(after)):
            found.append(i)
    return found if len(found) >= 2 else []


def _title_lines_or(top: str, titles: list[int], styles: list[str], lines: list[Line],
                    markers: list[Marker | None]) -> str:
    """The top level with the plain heading lines as one more style: they win only by fit (`_misfit`).

    The style chosen without them keeps its place unless the title lines fit strictly better (or as
    well, starting first), so a document whose numbering fits is read as before. The title lines
    become a style only when they are the top level.
    """
    trial = list(styles)
    for i in titles:
        trial[i] = TITLE_LINE
    positions: dict[str, list[int]] = {}
    for i, s in enumerate(trial):
        if s and s != "bullet":
            positions.setdefault(s, []).append(i)
    candidates = [s for s, where in positions.items() if len(where) >= 2]
    if top in ("chapter", "article"):
        return top
    if top:
        mine = _misfit(TITLE_LINE, positions, candidates, lines, markers)
        theirs = _misfit(top, positions, candidates, lines, markers)
        if (mine, positions[TITLE_LINE][0]) >= (theirs, positions[top][0]):
            return top
    for i in titles:
        styles[i] = TITLE_LINE
    return TITLE_LINE


def _heading_level(style: str) -> int:
    return int(style[1:]) if style.startswith("h") and style[1:].isdigit() else 0


def _misfit(top: str, positions: dict[str, list[int]], candidates: list[str], lines: list[Line],
            markers: list[Marker | None]) -> float:
    """How badly the document fits a tree with `top` as its sections (0: it fits).

    - a section numbering never starts again: each time `top` counts back down is one misfit
      (a list restarting at 1 in every section is not the sections);
    - a list inside sections starts again in each section: another numbered style whose count
      runs on across a boundary of `top` (1. … ■ … 2. … ■ … 3.) is one misfit each time;
    - a heading under a plain numbered line, or a higher heading (h2) under a lower one (h3), is one
      misfit each;
    - a line of another repeated style before the first section (it would be preamble) is a quarter
      of one: a summary or a list often comes before the sections.
    """
    where = positions[top]
    first = where[0]
    cost = 0.0
    if top == TITLE_LINE:
        # Unmarked lines are weak evidence: a numbered style that runs on after the last of them (the
        # document's own sections, under a title or two) makes them preamble lines, not sections;
        # and a numbered line that is a heading itself (a title over its own paragraph or list, not
        # an item of a run of items) never sits under an unmarked one.
        style_at = {i: s for s, rows in positions.items() for i in rows}     # bullets are not in it
        for other in candidates:
            if other != top and not _heading_level(other):
                rows = positions[other]
                cost += max(0, sum(1 for i in rows if i > where[-1]) - 2)
                cost += sum(1 for i in rows if i + 1 < len(lines) and i + 1 not in style_at
                            and markers[i] is not None and looks_like_title(markers[i].rest)
                            and style_at.get(i - 1) != other)
    elif TITLE_LINE in positions:
        # ... and a plain heading line inside numbered sections is a sign they are not the sections.
        cost += 0.5 * sum(1 for i in positions[TITLE_LINE] if i > first)
    heads = [lines[i].heading for i in where if lines[i].heading]
    # Sections drawn as headings and items as plain lines of the same numbering: the headings count.
    counted = [i for i in where if lines[i].heading] if len(heads) * 2 > len(where) else where
    ordinals = [markers[i].ordinal for i in counted if markers[i] is not None and markers[i].ordinal is not None]
    cost += sum(1 for a, b in zip(ordinals, ordinals[1:], strict=False) if b <= a)
    bounds = where
    # The heading level the sections are drawn at (7: plain lines, under any heading).
    level = _heading_level(top) or (min(heads) if len(heads) * 2 > len(where) else 7)
    numbered_top = not _heading_level(top)
    for other in candidates:
        if other == top:
            continue
        rows = positions[other]
        cost += 0.25 * sum(1 for i in rows if i < first)
        # A heading can sit under a lower section heading only; a numbered heading not even under an
        # unnumbered one of its own level.
        other_numbered = not _heading_level(other)
        cost += sum(1 for i in rows if i > first and lines[i].heading
                    and (lines[i].heading < level or (lines[i].heading == level and other_numbered
                                                       and not numbered_top)))
        if _FAMILY.get(other) and _FAMILY.get(other) == _FAMILY.get(top):
            continue   # a variant of the section numbering ("3.利用目的" then "4. 通知…")
        prev_span = prev_ordinal = None
        k = 0
        for i in rows:
            while k < len(bounds) and bounds[k] <= i:
                k += 1
            marker = markers[i]
            ordinal = marker.ordinal if marker is not None else None
            if ordinal is not None and prev_ordinal is not None and k != prev_span and ordinal == prev_ordinal + 1:
                cost += 1
            prev_span, prev_ordinal = k, ordinal
    return cost


def _roman_or_letter(markers: list[Marker | None]) -> None:
    """'I.' after 'H.' is the ninth letter, not the Roman one ('V.' after 'U.', '(i)' after '(h)')."""
    last_alpha: dict[bool, int] = {}
    for k, marker in enumerate(markers):
        if marker is None:
            continue
        if marker.style in ("alpha", "parenkana") and marker.ordinal is not None:
            last_alpha[marker.style == "parenkana"] = marker.ordinal
            continue
        if marker.style not in _ROMAN_STYLES:
            continue
        letters = re.sub(r"[^A-Za-z]", "", unicodedata.normalize("NFKC", marker.number))
        paren = marker.style == "parenroman"
        if len(letters) == 1 and last_alpha.get(paren) == ord(letters.lower()) - ord("a"):
            value = ord(letters.lower()) - ord("a") + 1
            markers[k] = Marker("parenkana" if paren else "alpha", marker.number, value, marker.rest)
            last_alpha[paren] = value


def segment(doc: Document) -> list[Clause]:
    """Top-level clauses of the document: [preamble?] + sections + [metadata?]."""
    lines = [ln for ln in doc.lines if ln.text.strip()]
    # Date and 改定履歴 lines are metadata wherever they are: never a numbering style ("【2022年4月1日制定】").
    dates = [is_date_line(ln.text.strip()) or bool(_HISTORY_HEADINGS.match(key(ln.text))) for ln in lines]
    markers = [None if is_date else parse_marker(ln.text) for ln, is_date in zip(lines, dates, strict=True)]
    _roman_or_letter(markers)
    styles = [("" if is_date else _style_of(ln, mk)) for ln, mk, is_date in zip(lines, markers, dates, strict=True)]
    for style in sorted({s for s in styles if s}):
        _drop_table_of_contents(markers, styles, style, contiguous=True)
    top = _top_style(styles, lines, markers)
    titles = _title_lines(lines, styles, dates)
    if titles:
        top = _title_lines_or(top, titles, styles, lines, markers)
    _drop_table_of_contents(markers, styles, top)
    top_heading = min((ln.heading for ln, s in zip(lines, styles, strict=True) if s == top and ln.heading), default=0)

    # Where the policy ends: the date / history lines after the last top-level clause,
    # or 以上, are metadata.
    end = _metadata_start(lines, styles, top)
    # No section structure at all (a single-section or preamble-only notice): after its intro, each
    # paragraph with the list under it is a section of its own, so that what a part is about comes
    # from its own words, not from a lone heading over everything nor from the preamble's.
    groups = _paragraph_groups_start(lines, styles, dates, end) if not top else None

    preamble = Clause(kind="preamble", title="")
    metadata = Clause(kind="metadata", title="制定・改定日" if language(doc.text) == "ja" else "Dates")
    clauses: list[Clause] = []
    stack: list[_Entry] = []
    last_top_ordinal: int | None = None

    for i, (line, marker, style) in enumerate(zip(lines, markers, styles, strict=True)):
        text = line.text.strip()
        if i >= end:
            metadata.children.append(Clause(body=[text], index=len(metadata.children)))
            continue
        if dates[i]:
            metadata.children.append(Clause(body=[text], index=len(metadata.children)))
            continue
        is_top = False
        if groups is not None and i >= groups:
            if line.heading:
                is_top = True   # a sub-heading is the section of what follows it
            elif not style and (not clauses or (not lines[i - 1].heading
                                                and (_ends_sentence(lines[i - 1].text) or styles[i - 1]))):
                clause = Clause(body=[text], index=len(clauses), style="paragraph")
                clauses.append(clause)
                stack = [_Entry(clause, "paragraph", None, 0, line.depth)]
                continue
            elif not clauses:
                is_top = True
        if top and style:
            if style == top or (top == "article" and style == "chapter"):
                ordinal = marker.ordinal if marker else None
                is_top = _continues_top(ordinal, last_top_ordinal, stack, style, text)
            elif (marker and _FAMILY.get(style) and _FAMILY.get(style) == _FAMILY.get(top)
                  and marker.ordinal is not None and last_top_ordinal is not None
                  and marker.ordinal == last_top_ordinal + 1 and looks_like_title(marker.rest)
                  and not any(e.style == style and e.ordinal is not None and e.ordinal + 1 == marker.ordinal
                              for e in stack[1:])):
                is_top = True   # the next section, written with a variant of the section numbering
            elif (not marker and line.heading and top_heading and line.heading <= top_heading < 6 and clauses):
                is_top = True   # an unnumbered heading at the level of the numbered sections
        if is_top and clauses and line.depth > stack[0].depth:
            is_top = False      # an item of a list nested in a section, numbered like the sections
        if is_top:
            clause = _new_clause(line, marker, style)
            clause.index = len(clauses)
            clauses.append(clause)
            stack = [_Entry(clause, style, clause.ordinal, line.heading, line.depth)]
            if marker and marker.ordinal is not None:
                last_top_ordinal = marker.ordinal
            continue
        if not clauses:
            _add_to_preamble(preamble, line, marker, style)
            continue
        if not style:
            _attach_body(stack, text, line.depth)
            continue
        _nest(stack, line, marker, style)

    if _is_title_section(clauses, lines, dates, top):
        # The document's title drawn at the level of its sections: the preamble's first line, not a clause.
        title = clauses.pop(0)
        preamble.children.insert(0, Clause(body=[title.title], style=title.style))
        for k, child in enumerate(preamble.children):
            child.index = k
    result: list[Clause] = []
    if preamble.body or preamble.children:
        result.append(preamble)
    result.extend(clauses)
    if metadata.children:
        metadata.index = len(result)
        result.append(metadata)
    for i, clause in enumerate(result):
        clause.index = i
    return result


def _is_title_section(clauses: list[Clause], lines: list[Line], dates: list[bool], top: str) -> bool:
    """Is the first section the document's title drawn as a section heading?

    An unnumbered heading that is the document's first line (nothing before it but a date), over
    nothing (or the effective date only), with the sections after it.
    """
    if len(clauses) < 3 or not _heading_level(top):
        return False
    first = clauses[0]
    if first.number or first.body or first.children or not first.title:
        return False
    start = next((i for i, line in enumerate(lines) if not dates[i]), None)
    return start is not None and lines[start].heading and lines[start].text.strip() == first.title


# A notice is read as paragraph sections only when it has at least this many paragraphs after its intro.
_MIN_GROUPS = 3


def _paragraph_groups_start(lines: list[Line], styles: list[str], dates: list[bool], end: int) -> int | None:
    """Where the paragraphs of a notice without sections start (None: too few to be read so).

    The intro is the title and the first paragraph, and a lone heading after it (「留意事項」) with
    the lines before it: the text after is the notice's content.
    """
    def paragraph(i: int) -> bool:
        return not styles[i] and not dates[i] and not lines[i].heading

    first = next((i for i in range(end) if paragraph(i) and _ends_sentence(lines[i].text)), None)
    if first is None:
        return None
    heading = next((i for i in range(first + 1, end) if lines[i].heading), None)
    start = (heading if heading is not None else first) + 1
    count = sum(1 for i in range(start, end) if paragraph(i) and (i == start or _ends_sentence(lines[i - 1].text)
                                                                  or styles[i - 1]))
    return start if count >= _MIN_GROUPS else None


def _drop_table_of_contents(markers: list[Marker | None], styles: list[str], top: str,
                            contiguous: bool = False) -> None:
    """A numbered list of the section titles before the sections themselves is a table of contents.

    Seen as: section 1's title appears twice with the top style, first in a run of bare
    titles. The run becomes plain preamble lines, so the real sections are the top level.
    """
    firsts = [i for i, (m, s) in enumerate(zip(markers, styles, strict=True))
              if s == top and m is not None and m.ordinal == 1]
    if len(firsts) < 2:
        return
    a, b = firsts[0], firsts[1]
    if key(markers[a].rest).rstrip("。.") != key(markers[b].rest).rstrip("。."):
        return
    if contiguous:
        # Before the top level is chosen: only a run of bare titles of this style, one line each.
        run = a
        while run + 1 < b and styles[run + 1] == top:
            run += 1
        if run == a or any(styles[k] for k in range(run + 1, b) if styles[k] == top):
            return
    for k in range(a, b):
        if styles[k] == top:
            markers[k] = None
            styles[k] = ""


def _continues_top(ordinal: int | None, last: int | None, stack: list[_Entry], style: str, text: str) -> bool:
    """Is a line of the top style a new top-level clause, or an item of a nested list of the same style?"""
    if ordinal is None or last is None or style in ("article", "chapter"):
        return True  # 第N条 is never an item of a list; 第2条の2 follows 第2条
    if ordinal <= last:
        return False  # a list restarting at 1 inside a section
    nested = next((e for e in reversed(stack[1:]) if e.style == style), None)
    if nested is not None and nested.ordinal is not None and ordinal == nested.ordinal + 1:
        # Both readings fit ("2." after section 1 holding one item 1.): a title-like line is a section.
        return ordinal == last + 1 and looks_like_title(text) and not looks_like_title(nested.clause.label)
    return True


def _new_clause(line: Line, marker: Marker | None, style: str) -> Clause:
    if marker:
        title, body = split_title(marker, line)
        return Clause(number=marker.number, ordinal=marker.ordinal, title=title, body=body, style=style)
    return Clause(title=line.text.strip(), style=style)


def _add_to_preamble(preamble: Clause, line: Line, marker: Marker | None, style: str) -> None:
    # The preamble keeps its lines as items so an edit to one of them is reported as that line.
    preamble.children.append(Clause(number=marker.number if marker else "", body=[line.text.strip()],
                                    style=style, index=len(preamble.children)))


def _attach_body(stack: list[_Entry], text: str, depth: int = 0) -> None:
    # Bullets are one-line items: a paragraph after a bullet list belongs to the list's parent
    # (and a paragraph outside a nested list to an item outside it).
    for entry in reversed(stack):
        if (entry.style != "bullet" and entry.depth <= depth) or entry is stack[0]:
            entry.clause.body.append(text)
            return


def _nest(stack: list[_Entry], line: Line, marker: Marker | None, style: str) -> None:
    ordinal = marker.ordinal if marker else None
    heading = line.heading
    # A line in a nested list: the items of lists nested deeper are closed, and it sits inside the
    # item of the list around it (a sub-bullet is a child of its bullet); its siblings are at its depth.
    floor = 1
    if line.depth or stack[-1].depth:
        while len(stack) > 1 and stack[-1].depth > line.depth:
            stack.pop()
        if line.depth:
            floor = 1 + max((k for k, e in enumerate(stack) if e.depth < line.depth), default=0)
    pos = _sibling_position(stack, style, ordinal, heading, floor)
    if pos is None and style == "spacenum" and ordinal == 2 and len(stack) > 1 and floor == 1:
        # 項 numbering: "２　…" after the article's unnumbered first paragraph (and its 号 items 一 二)
        # is the article's second paragraph, not an item of the last 号.
        pos = 1
    if pos is not None:
        del stack[pos:]
    while style != "bullet" and len(stack) > floor and stack[-1].style == "bullet":
        stack.pop()   # a bullet is a one-line item: a numbered line or heading after the list is not inside it
    parent = stack[-1].clause
    clause = _new_clause(line, marker, style)
    clause.index = len(parent.children)
    parent.children.append(clause)
    stack.append(_Entry(clause, style, ordinal, heading, line.depth))


def _sibling_position(stack: list[_Entry], style: str, ordinal: int | None, heading: int,
                      floor: int = 1) -> int | None:
    """Index in the stack of the entry this line is a sibling of (None: it opens a new level).

    Entries below `floor` hold the line (the item of the list around a nested list): never its siblings.
    """
    if style.startswith("h") and style[1:].isdigit():
        level = int(style[1:])
        for i in range(floor, len(stack)):
            s = stack[i].style
            if s.startswith("h") and s[1:].isdigit() and int(s[1:]) >= level:
                return i
        return None
    same = [i for i in range(floor, len(stack)) if stack[i].style == style]
    if not same:
        return None
    if ordinal is not None:
        for i in reversed(same):
            prev = stack[i].ordinal
            if prev is not None and ordinal == prev + 1:
                return i
        if ordinal == 1:
            return None  # a new list inside the current item
    return same[-1]


def _metadata_start(lines: list[Line], styles: list[str], top: str) -> int:
    """Index of the first line of the trailing footer (len(lines) if none).

    The footer starts at a date / 改定履歴 / 以上 line after the last section, and holds
    only short lines (dates, the company name, its representative). A date line followed
    by paragraphs is not a footer: only the date line itself is metadata then.
    """
    last_top = max((i for i, s in enumerate(styles) if s and s == top), default=-1) if top else -1
    for i in range(last_top + 1, len(lines)):
        text = lines[i].text.strip()
        if _TERMINATOR.match(text) or is_date_line(text) or _HISTORY_HEADINGS.match(key(text)):
            if all(len(key(ln.text)) <= FOOTER_LINE for ln in lines[i + 1:]):
                return i
    return len(lines)


# A footer line (company name, address, representative, a date) is at most this long.
FOOTER_LINE = 60


def outline(clauses: list[Clause], depth: int = 0) -> list[str]:
    """A readable outline of the clause tree, one line per node."""
    out = []
    for c in clauses:
        label = c.label if depth == 0 else " ".join(
            p for p in (c.number, c.title or (c.body[0] if c.body else "")) if p)
        out.append("  " * depth + label[:80])
        out.extend(outline(c.children, depth + 1))
    return out
