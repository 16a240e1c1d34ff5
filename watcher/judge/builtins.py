"""The '@' built-ins: conditions a rules file may name that are code, not word lists.

Each built-in is registered in BUILTINS under its name with the decorator `builtin`; its
docstring is what it means to a rule author. Two scopes:

    unit   a condition on the whole changed unit, allowed in `unit_any`, `unit_none` and
           `[[rule.adjust]] if_present`: fn(unit, side, kind, ctx) -> bool, or a str (a true
           value that is also shown in the reason, e.g. the old item a new one resembles)
    match  blocks one match of an `any` lexicon, allowed in `unless`:
           fn(match, sentence, side, ctx) -> bool

`lexicons` are the lexicons a built-in reads: a rules file without one of them is refused at load.
`side` is the unit's new text for added / gained words, its old text for removed / lost ones.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from watcher.judge.text import clip

if TYPE_CHECKING:   # types only: the engine imports this module
    from watcher.judge.engine import Context
    from watcher.judge.units import Unit

SCOPES = ("unit", "match")

# name ("@...") -> the function; each carries `scope` and `lexicons` (set by `builtin`) and a docstring.
BUILTINS: dict[str, Callable] = {}


def builtin(name: str, scope: str, lexicons: tuple[str, ...] = ()):
    """Register the decorated function as the built-in `name` ("@..."), in `scope` ("unit" or "match")."""
    if not name.startswith("@") or scope not in SCOPES:
        raise ValueError(f"built-in {name!r}: a name starts with '@', a scope is one of {SCOPES}")

    def register(fn: Callable) -> Callable:
        if name in BUILTINS:
            raise ValueError(f"built-in {name!r} registered twice")
        fn.builtin_name, fn.scope, fn.lexicons = name, scope, tuple(lexicons)
        BUILTINS[name] = fn
        return fn

    return register


# ---------------------------------------------------------------------------
# unit built-ins
# ---------------------------------------------------------------------------

@builtin("@item", "unit")
def item(unit: Unit, side: str, kind: str, ctx: Context) -> bool:
    """The unit is a numbered or bulleted list item (not the clause's own text)."""
    return unit.is_item


@builtin("@top_item", "unit")
def top_item(unit: Unit, side: str, kind: str, ctx: Context) -> bool:
    """A list item directly under the clause, at least 6 characters long.

    A purpose in the list of purposes, not one nested under a sub-heading (a name in a list of partners)."""
    return unit.is_item and not unit.heading and len(side) >= 6


# An added item this similar (0-100) to an item of the old clause is "the same kind of use".
_SIMILAR_OLD = 65.0


@builtin("@similar_old", "unit")
def similar_old(unit: Unit, side: str, kind: str, ctx: Context) -> str | bool:
    """The text closely resembles an item of the old clause ('the same kind of use').

    Similarity is rapidfuzz's ratio >= 65 with 「のため」 endings ignored; the reason shows that old item."""
    best, best_score = "", 0.0
    core = _strip_purpose_tail(side)
    for old in ctx.old_items:
        if not old or len(old) > 4 * max(len(side), 1):
            continue
        score = fuzz.ratio(core, _strip_purpose_tail(old))
        if score > best_score:
            best, best_score = old, score
    return clip(best, 60) if best_score >= _SIMILAR_OLD else False


def _strip_purpose_tail(text: str) -> str:
    return text.rstrip("。.").removesuffix("のため").removesuffix("ため")


@builtin("@rename_only", "unit", lexicons=("company_names", "joint_parties", "data_terms"))
def rename_only(unit: Unit, side: str, kind: str, ctx: Context) -> bool:
    """An edit that only swaps company names, one for one.

    Gained words only; no new kind of party (joint_parties) or data item (data_terms) came with them."""
    if kind != "gained":
        return False
    rules = ctx.rules
    new_names = _gained_matches("company_names", unit.new, unit.old, rules)
    old_names = _gained_matches("company_names", unit.old, unit.new, rules)
    if not old_names or len(new_names) > len(old_names):
        return False
    return not (_gained_matches("joint_parties", unit.new, unit.old, rules)
                or _gained_matches("data_terms", unit.new, unit.old, rules))


def _gained_matches(lexicon: str, side: str, other: str, rules) -> list[str]:
    found = [m.group(0) for m in rules.finditer(lexicon, side)]
    before = Counter(rules.fold(m.group(0)) for m in rules.finditer(lexicon, other))
    now = Counter(rules.fold(m) for m in found)
    return [m for m in found if now[rules.fold(m)] > before[rules.fold(m)]]


_PRODUCT_NAME = re.compile(r"[A-Z][A-Za-z0-9]{2,}|[ァ-ヶー]{3,}")


@builtin("@names_old_service", "unit", lexicons=("purpose_red_flags",))
def names_old_service(unit: Unit, side: str, kind: str, ctx: Context) -> str | bool:
    """The text names a product or service the old policy already named (Firefox, pixiv…).

    A name that is no purpose red flag: a new purpose about that same service is the same line of
    business. The reason shows the name."""
    old = ctx.old_doc_text
    for name in _PRODUCT_NAME.findall(side):
        if name in old and not ctx.rules.search("purpose_red_flags", name):
            return name
    return False


@builtin("@same_places", "unit", lexicons=("foreign_places", "adequate_places"))
def same_places(unit: Unit, side: str, kind: str, ctx: Context) -> str | bool:
    """The countries / regions the text names were all named in the other version's clause.

    At least one is named. A transfer clause that only restates its basis (standard contractual
    clauses -> an adequacy decision) for the same countries is no new transfer. The reason shows them."""
    rules = ctx.rules
    found = [m.group(0) for name in ("foreign_places", "adequate_places") for m in rules.finditer(name, side)]
    if not found:
        return False
    other = rules.fold(ctx.old_clause_text if kind in ("added", "gained", "clause_added") else ctx.new_clause_text)
    if not all(rules.fold(place) in other for place in found):
        return False
    return ", ".join(dict.fromkeys(found))


# ---------------------------------------------------------------------------
# match built-ins
# ---------------------------------------------------------------------------

_NAME_WORD = re.compile(r"[A-Za-z][A-Za-z0-9.\-]*|[ァ-ヶー]+")


@builtin("@to_self", "match", lexicons=("self_reference",))
def to_self(match: re.Match, sentence: str, side: str, ctx: Context) -> bool:
    """The recipient is the company itself, not a third party.

    The words just before the match end with one of the company's own names (「ミナト株式会社に提供」),
    or the match itself names it (「Mozillaのサーバーに送信」). The company's names are those it
    defines (「X(以下「当社」…)」, "X ("we" ...)": the words of the lexicon self_reference) and
    names that are the subject of many sentences. (当社 / 弊社 themselves are left out by the
    provision lexicon's own patterns.)"""
    names = ctx.docs.self_names
    before = side[max(0, match.start() - 40):match.start()].rstrip()
    if any(before.endswith(n) for n in names):
        return True
    # A match that itself names the recipient (「Mozillaのサーバーに送信」, "sent to Mozilla").
    words = set(_NAME_WORD.findall(match.group(0)))
    return any(n in words for n in names)


@builtin("@known_transfer", "match", lexicons=("transfer",))
def known_transfer(match: re.Match, sentence: str, side: str, ctx: Context) -> bool:
    """The place was already a destination of transfers in the old version (for rules on new words).

    Some sentence of the old version names the same country / region together with words of
    transfer (the lexicon transfer): the same transfer described again (under a new basis, in a
    new section) is no new transfer abroad."""
    return ctx.rules.fold(match.group(0)) in ctx.docs.old_transfer_text

