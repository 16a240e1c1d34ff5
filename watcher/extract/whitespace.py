"""Whitespace: collapse runs and join text that a <br> or a hard wrap split.

Lines that a `<br>` or a hard wrap split are joined without a space when a Japanese
character is on either side of the break, with one space between Latin words.
"""

from __future__ import annotations

import re

from watcher import lazy

# Japanese (and Chinese) characters: no space is written between them, so a line break
# between two of them (or between one of them and anything) is not a word break.
_WIDE = "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u31f0-\u31ff\u3200-\u33ff\u3400-\u4dbf\u4e00-\u9fff" \
        "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003ffff"
# compiled at their first use (lazy.pattern): the wide ranges take ~5 ms, which a process that
# extracts no page (a check of 304s) never spends
_WIDE_CHAR = lazy.pattern(f"[{_WIDE}]")
_BREAK_NEAR_WIDE = lazy.pattern(f"(?<=[{_WIDE}])[^\\S\u3000]*\n\\s*|[^\\S\u3000]*\n[^\\S\u3000]*(?=[{_WIDE}])")
_SPACE_RUN = re.compile(r"\s+")
# Invisible characters, and control characters that page text must never carry into a terminal,
# a mail or a stored snapshot: C0 (but tab and line breaks), DEL, C1 (ESC sequences, OSC), and
# the bidi overrides that make text read differently from what it is.
_INVISIBLE = lazy.pattern("[\u200b\u200c\u2060\ufeff\u00ad\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
                        "\u202a-\u202e\u2066-\u2069]")


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
    if not text.isprintable():  # every character _INVISIBLE matches is unprintable: most texts skip the scan
        text = _INVISIBLE.sub("", text)
    if "\n" in text or "\r" in text:
        text = _BREAK_NEAR_WIDE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if "\u3000" in text:    # the callback only where it can matter
        return _SPACE_RUN.sub(_collapse, text).strip()
    # str.split() cuts at the runs that \s+ matches (both read str.isspace) and drops the ends:
    # the same text as _SPACE_RUN.sub(" ", text).strip(), for about a quarter of the CPU.
    return " ".join(text.split())


def _collapse(m: re.Match[str]) -> str:
    run = m.group(0)
    return "\u3000" if "\u3000" in run and not run.strip("\u3000") else " "
