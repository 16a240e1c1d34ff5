"""Text helpers shared by the judge modules: comparison keys line by line, evidence clipping, language."""

from __future__ import annotations

import re

from watcher.models import Clause
from watcher.normalize import key

EVIDENCE_MAX = 160
# Bilingual policies: a clause / unit is judged with the other language's rules only when it is clearly
# written in it (share of kana/kanji among its letters) and long enough for that to mean something.
_JA_LETTER = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_LANG_MIN_LETTERS = 30
_CLEARLY_EN = 0.05
_CLEARLY_JA = 0.3


def key_lines(text: str) -> str:
    """Comparison key line by line: key() drops line breaks between Japanese characters, sentences need them."""
    return "\n".join(k for k in (key(line) for line in text.splitlines()) if k)


def clause_key(clause: Clause) -> str:
    """The whole clause's key, spelled as the diff stage spells it, so that key()'s cache answers."""
    return key("\n".join(n.own_text() for n in clause.walk()))


def doc_text(clauses: list[Clause]) -> str:
    return "\n".join(clause_key(c) for c in clauses)


def clause_text(clause: Clause | None) -> str:
    return key_lines(clause.full_text()) if clause is not None else ""


def text_language(text: str, default: str) -> str:
    """The language of a piece of text when it is clearly not `default` (ja / en), else `default`."""
    letters = sum(1 for ch in text[:4000] if ch.isalpha())
    if letters < _LANG_MIN_LETTERS:
        return default
    share = len(_JA_LETTER.findall(text[:4000])) / letters
    if default == "ja" and share < _CLEARLY_EN:
        return "en"
    if default != "ja" and share > _CLEARLY_JA:
        return "ja"
    return default


def clip(text: str, limit: int = EVIDENCE_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dedupe(items) -> list[str]:
    seen, out = set(), []
    for item in items:
        if item and item not in seen:
            seen.add(item)
            out.append(item)
    return out
