"""Is a fetched page a version of the policy at all?

A 200 response can still be a login wall, a maintenance screen, a soft 404, a bot
challenge, a scanned PDF, or a page cut off half-way. Those must never be stored as versions
(the next real page would then be reported as a change). The phrases and thresholds are in
rules/suspect_pages.toml, where a reviewer can read and extend them.

`needs_browser(result)` is the other question, asked of an HTTP result under `fetch = "auto"`:
is this page a script shell (its text is written by a script) or a bot wall a browser may pass?
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from watcher import lazy
from watcher.models import Document

# html.unescape (its entity table) with the first page read for a script shell (fetch = "auto").
html = lazy.module("html")

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
    shell_text_chars: int = 200
    noscript_phrases: tuple[str, ...] = ()
    app_root: re.Pattern | None = None
    bare_text_chars: int = 20
    block_statuses: frozenset[int] = frozenset()
    block_phrases: tuple[str, ...] = ()
    pdf_chars_per_page: int = 40


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


@lru_cache(maxsize=1)
def rules() -> Rules:
    raw = tomllib.loads(RULES_PATH.read_text(encoding="utf-8"))
    kinds = []
    shell, block = raw["script_shell"], raw["bot_block"]
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
        shell_text_chars=int(shell["max_text_chars"]),
        noscript_phrases=tuple(_fold(p) for p in shell["noscript_phrases"]),
        app_root=_app_root_pattern(shell["app_root_ids"], shell["app_root_tags"]),
        bare_text_chars=int(shell["bare_text_chars"]),
        block_statuses=frozenset(int(n) for n in block["statuses"]),
        block_phrases=tuple(_fold(p) for p in block["phrases"]),
        pdf_chars_per_page=int(raw["pdf"]["min_chars_per_page"]),
    )


def _app_root_pattern(ids: list[str], tags: list[str]) -> re.Pattern:
    """An element with one of `ids` (or one of the `tags`) that holds nothing but whitespace."""
    id_alt = "|".join(re.escape(i) for i in ids)
    tag_alt = "|".join(re.escape(t) for t in tags)
    return re.compile(rf"<(?:(?P<t>[a-z][a-z0-9-]*)\b[^>]*\bid\s*=\s*[\"']?(?:{id_alt})(?=[\"'\s>/])[^>]*|(?P<c>{tag_alt})\b[^>]*)>"
                      rf"\s*</(?:(?P=t)|(?P=c))\s*>", re.I)


def page_problem(body: bytes, doc: Document, text_length: int) -> str | None:
    """Why this page is not a policy version on its own (login, maintenance, error, scan), or None."""
    r = rules()
    if doc.content_type == "pdf":
        return pdf_problem(body, text_length)
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


def pdf_problem(body: bytes, text_length: int) -> str | None:
    """A PDF with (almost) no text layer is a scan: never a version."""
    pages = max(1, len(_PDF_PAGE.findall(body)))
    if text_length < rules().pdf_chars_per_page * pages:
        return (f"looks like a scanned PDF (only {text_length} characters of text on {pages} "
                f"page{'s' if pages > 1 else ''}: a scanned image?)")
    return None


_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")

# ---------------------------------------------------------------- fetch = "auto"

_HIDDEN = re.compile(r"<(script|style|template|noscript|svg)\b[^>]*>.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_NOSCRIPT = re.compile(r"<noscript\b[^>]*>(.*?)</noscript\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>")
_SCRIPT = re.compile(r"<script\b", re.I)
_HTMLISH = re.compile(r"\s*(<!--.*?-->\s*)*<(!doctype|html|head|body|div|script|meta)\b", re.I | re.S)


def visible_text(markup: str) -> str:
    """The text a reader sees in raw HTML without running its scripts (folded, one space between words)."""
    return _fold(_unfolded_text(markup))


def _unfolded_text(markup: str) -> str:
    return html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", markup)))


def _holds_text(visible: str, chars: int) -> bool:
    """Does html.unescape(_TAG.sub(" ", visible)) hold `chars` characters that are not white space?
    Counted on a prefix first, a quarter of the page or so, then on four times as much: most pages
    have that many in their first few KB. Exact: a prefix ends with a tag (which the whole text reads
    as a space too, and which no character reference runs across), so its count is never more."""
    size = _FIRST_LOOK
    while True:
        tag = _TAG.search(visible, size) if size < len(visible) else None
        cut = tag.end() if tag is not None else len(visible)
        if len("".join(html.unescape(_TAG.sub(" ", visible[:cut])).split())) >= chars:
            return True
        if cut >= len(visible):
            return False
        size *= 4


_FIRST_LOOK = 2048      # characters of markup read first by _holds_text


# NFKC composes at most three characters into one (a Hangul syllable from its jamo): a text with this
# many times the characters needed has enough after folding too, without folding a whole page.
_FOLD_SHRINKS_AT_MOST = 3


def needs_browser(result) -> str | None:
    """Why an HTTP result (watcher.fetch.FetchResult) should be fetched with the browser, or None:
    a script shell (little text and a <noscript> notice, an empty app root, or scripts and next
    to no text) or a bot wall (403/406/429/503 with a challenge page)."""
    r = rules()
    if result.error:
        if result.status in r.block_statuses and result.error_body:
            page = _fold(visible_text(result.error_body[:65536].decode("utf-8", "replace")) + " "
                         + result.error_body[:65536].decode("utf-8", "replace"))
            hit = next((p for p in r.block_phrases if p in page), None)
            if hit is not None:
                return f"looks bot-blocked (HTTP {result.status} with a challenge page: {hit!r})"
        return None
    body = result.body or b""
    if not body or result.status == 304:
        return None
    ctype = result.content_type.split(";", 1)[0].strip().lower()
    if ctype and "html" not in ctype and ctype != "text/plain":
        return None
    markup = body[:1_000_000].decode("utf-8", "replace")
    if not _HTMLISH.match(markup):
        return None
    visible = _HIDDEN.sub(" ", markup)
    if _holds_text(visible, _FOLD_SHRINKS_AT_MOST * r.shell_text_chars):
        return None         # plenty of text: a page, not a script shell (most pages stop here)
    unfolded = html.unescape(_TAG.sub(" ", visible))
    text = _fold(unfolded)
    if len(text) >= r.shell_text_chars:
        return None
    for notice in _NOSCRIPT.findall(markup):
        folded = visible_text(notice)
        hit = next((p for p in r.noscript_phrases if p in folded), None)
        if hit is not None:
            return f"a script shell ({len(text)} characters of text and a <noscript> notice: {folded[:60]!r})"
    root = r.app_root.search(_HIDDEN.sub(" ", markup))
    if root is not None:
        return f"a script shell ({len(text)} characters of text and an empty {root.group(0)[:60]!r})"
    if len(text) < r.bare_text_chars and _SCRIPT.search(markup):
        return f"a script shell (scripts and only {len(text)} characters of text)"
    return None
