"""Comparison keys: two texts that differ only in formatting get the same key.

The original text is always kept for display; only keys are compared. A key is
NFKC-folded (full-width digits and letters, ① -> 1), with punctuation variants unified,
Markdown emphasis dropped, and whitespace removed wherever a Japanese character is on
either side (Japanese has no word spaces, so a reflow or a `<br>` must not count).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from watcher import lazy

# Bump when the keys change: stored snapshots are then re-derived, never reported as changes.
VERSION = 1

_PUNCT = str.maketrans({
    "，": "、", "､": "、", "．": "。", "｡": "。",
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-", "－": "-",
    "〜": "~", "～": "~",
    "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
    "‘": "'", "’": "'", "‚": "'",
    "「": "「", "『": "「", "』": "」",
    "•": "・", "●": "・", "◦": "・", "▪": "・", "·": "・", "･": "・",
    "\u00a0": " ", "\u3000": " ", "\u200b": "", "\ufeff": "",
})

# The expressions with the wide ranges compile at their first use (lazy.pattern: ~10 ms in all),
# which a process that keys no text (a check of 304s) never reaches.
_PUNCT_CHAR = lazy.pattern("[" + "".join(re.escape(chr(c)) for c, to in _PUNCT.items() if to != chr(c)) + "]")

# A Japanese (or other wide) character: CJK ideographs, kana, full-width forms, CJK punctuation.
_WIDE = r"\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
_SPACE_NEAR_WIDE = lazy.pattern(rf"(?<=[{_WIDE}])\s+|\s+(?=[{_WIDE}])")
_SPACES = re.compile(r"\s+")
_EMPHASIS = re.compile(r"(\*\*|__|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w)|`)")
# "、" and "。" after NFKC: NFKC maps full-width comma to ASCII ",", so put them back between wide chars.
_ASCII_COMMA_JA = lazy.pattern(rf"(?<=[{_WIDE}]),|,(?=[{_WIDE}])")
_ASCII_STOP_JA = lazy.pattern(rf"(?<=[{_WIDE}])\.(?!\d)")
_JA_RUN = lazy.pattern(r"[\u3040-\u30ff\u4e00-\u9fff]+")   # runs, not characters: 5x fewer matches


@lru_cache(maxsize=200_000)
def key(text: str) -> str:
    """The comparison key of a piece of text (cached: segment, diff and classify key the same lines)."""
    if not text:
        return ""
    # Each step runs only on text it can change (str.translate looks up every character in a
    # dict; a substitution's scan costs as much as its work): a line is keyed ~3x faster.
    if _PUNCT_CHAR.search(text):
        text = text.translate(_PUNCT)
    folded = unicodedata.normalize("NFKC", text)
    if _PUNCT_CHAR.search(folded):
        folded = folded.translate(_PUNCT)
    if "*" in folded or "_" in folded or "`" in folded:
        folded = _EMPHASIS.sub("", folded)
    spaced = _SPACES.search(folded) is not None
    if spaced:
        folded = _SPACE_NEAR_WIDE.sub("", folded)
    if "," in folded:
        folded = _ASCII_COMMA_JA.sub("、", folded)
    if "." in folded:
        folded = _ASCII_STOP_JA.sub("。", folded)
    return _SPACES.sub(" ", folded).strip() if spaced else folded


def join_wrapped(left: str, right: str) -> str:
    """Join two pieces of one sentence that a line wrap or `<br>` separated."""
    left, right = left.rstrip(), right.lstrip()
    if not left or not right:
        return left + right
    if re.match(rf"[{_WIDE}]", left[-1]) or re.match(rf"[{_WIDE}]", right[0]):
        return left + right
    return f"{left} {right}"


def language(text: str) -> str:
    """'ja' when the text has a fair share of kana/kanji, else 'en'."""
    sample = text[:20000]
    if not sample:
        return "ja"
    ja = sum(map(len, _JA_RUN.findall(sample)))
    if not ja:
        return "en"
    if ja * 5 > len(sample):    # a fifth of all characters, so of the letters too: no need to count them
        return "ja" if any(map(str.isalpha, sample)) else "en"
    letters = sum(map(str.isalpha, sample))    # a C loop: a third of the generator's time
    return "ja" if letters and ja / letters > 0.2 else "en"
