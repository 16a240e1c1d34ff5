"""Is a fetched page a version of the policy at all?

A 200 response can still be a login wall, a maintenance screen, a soft 404, a bot
challenge, or a page cut off half-way. Those must never be stored as versions (the next
real page would then be reported as a change). The phrases and thresholds are in
rules/suspect_pages.toml, where a reviewer can read and extend them.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from watcher.models import Document

RULES_PATH = Path(__file__).parent / "rules" / "suspect_pages.toml"

_PASSWORD_FIELD = re.compile(rb"<input\b[^>]{0,400}?\btype\s*=\s*[\"']?password\b", re.I)


@dataclass(frozen=True)
class _Kind:
    label: str
    headings: frozenset[str]
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    short_text_chars: int
    min_text_ratio: float
    min_clause_ratio: float
    min_clauses_for_ratio: int
    shrink_confirm: int
    password_field: bool
    kinds: tuple[_Kind, ...]


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


@lru_cache(maxsize=1)
def rules() -> Rules:
    raw = tomllib.loads(RULES_PATH.read_text(encoding="utf-8"))
    kinds = []
    for section, label in (("login", "a login page"), ("maintenance", "a maintenance page"),
                           ("error_page", "an error page")):
        table = raw.get(section, {})
        kinds.append(_Kind(label, frozenset(_fold(h) for h in table.get("headings", [])),
                           tuple(_fold(p) for p in table.get("phrases", []))))
    return Rules(
        short_text_chars=int(raw["short_text_chars"]),
        min_text_ratio=float(raw["min_text_ratio"]),
        min_clause_ratio=float(raw["min_clause_ratio"]),
        min_clauses_for_ratio=int(raw["min_clauses_for_ratio"]),
        shrink_confirm=max(1, int(raw.get("shrink_confirm", 3))),
        password_field=bool(raw.get("login", {}).get("password_field", True)),
        kinds=tuple(kinds),
    )


def page_problem(body: bytes, doc: Document, text_length: int) -> str | None:
    """Why this page is not a policy version on its own (login, maintenance, error), or None."""
    r = rules()
    if text_length >= r.short_text_chars:
        return None
    if r.password_field and _PASSWORD_FIELD.search(body):
        return f"looks like a login page (password field, only {text_length} characters of text)"
    headings = {_fold(doc.title)} | {_fold(line.text) for line in doc.lines if line.heading}
    headings |= {_fold(part) for h in list(headings) for part in re.split(r"\s*[|｜:：\-–—]\s*", h)}
    text = _fold(doc.text)
    for kind in r.kinds:
        hit = next((h for h in kind.headings if h in headings), None)
        if hit is None:
            hit = next((p for p in kind.phrases if p in text), None)
        if hit is not None:
            return f"looks like {kind.label} ({hit!r}, only {text_length} characters of text)"
    return None


def shrink_problem(text_length: int, clauses: int, prev_length: int, prev_clauses: int) -> str | None:
    """A page that lost most of the previous version's text or clauses is broken, not revised."""
    r = rules()
    if prev_length > 0 and text_length < r.min_text_ratio * prev_length:
        share = 100 * text_length / prev_length
        return (f"extracted text is {share:.0f}% of the previous version's ({text_length} of {prev_length} "
                "characters): truncated or broken page")
    if prev_clauses >= r.min_clauses_for_ratio and clauses < r.min_clause_ratio * prev_clauses:
        return (f"only {clauses} of the previous version's {prev_clauses} clauses were found: "
                "truncated or broken page")
    return None
