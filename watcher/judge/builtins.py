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

from watcher.judge.meaning import sentences, words
from watcher.judge.text import clip, key_lines

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



# ---------------------------------------------------------------------------
# open vocabulary: organisations and data items recognised by their shape, not by a list
# ---------------------------------------------------------------------------

# A line that is only an organisation's name: capitalised Latin words (CIRA, Shaw, NextDNS, Acme Cloud Inc.),
# optionally with a legal form, or a Japanese name with its legal form (株式会社X / X株式会社 / X社).
_LEGAL_FORM = r"(?:,? (?:Inc\.?|LLC|L\.L\.C\.|Ltd\.?|Limited|Corp\.?|Corporation|GmbH|S\.A\.|B\.V\.|AG|K\.K\.|Co\., ?Ltd\.?|PLC|plc))"
_ORG_LINE = re.compile(
    r"(?:[A-Z][A-Za-z0-9&.'\-]*)(?: (?:[A-Z][A-Za-z0-9&.'\-]*|&|of|and|de))*" + _LEGAL_FORM + r"?"
    r"|(?:株式会社|有限会社|合同会社)[^\s、。,()（）「」]{1,30}|[^\s、。,()（）「」]{1,30}(?:株式会社|有限会社|合同会社|社)")
_ITEM_MARK = re.compile(r"^\s*(?:[*\-・•●■□◆◇]|\(?\d+[.)）]|[（(][^)）]{1,3}[)）])\s*")
_NAME_LINE_MAX = 60


def _org_line(line: str) -> bool:
    line = _ITEM_MARK.sub("", line).strip().rstrip("。.、,;:：")
    return 0 < len(line) <= _NAME_LINE_MAX and _ORG_LINE.fullmatch(line) is not None


@builtin("@named_in_list", "unit", lexicons=("recipient_roles",))
def named_in_list(unit: Unit, side: str, kind: str, ctx: Context) -> str | bool:
    """An added list line that is only an organisation's name, in a list of such names led in by recipients.

    The line has the shape of a name (capitalised words, a legal form: Inc., LLC, 株式会社…); the lines
    next to it in the clause are names too (a bare list of companies); and the sentence that leads the
    list in names a role of receiving data (the lexicon recipient_roles: providers, vendors, partners,
    リゾルバ, 提供先…). A new name there is a new recipient, whether or not any list knows it. The reason
    shows the name."""
    if kind not in ("added", "clause_added") or "\n" in side.strip() or not _org_line(side):
        return False
    name = _ITEM_MARK.sub("", side).strip()
    for clause in ctx.docs.new_clauses:
        for parent in clause.walk():
            lines = [key_lines(c.own_text()) for c in parent.children]
            at = next((i for i, line in enumerate(lines) if _ITEM_MARK.sub("", line).strip() == name), None)
            if at is None:
                continue
            start = at
            while start > 0 and _org_line(lines[start - 1]):
                start -= 1
            end = at
            while end + 1 < len(lines) and _org_line(lines[end + 1]):
                end += 1
            if end == start:            # a list of one name
                continue
            # The list's lead-in: the paragraph just before the run of names, else the parent's own text.
            lead_in = lines[start - 1] if start > 0 else key_lines(parent.own_text())
            if ctx.rules.search("recipient_roles", lead_in):
                return clip(name, 60)
    return False


@builtin("@known_party", "match")
def known_party(match: re.Match, sentence: str, side: str, ctx: Context) -> bool:
    """The organisation the match names already acted in the old version (for rules on new words).

    The old version names it followed by a particle or verb of a party (「Adjustに送信」, "Adjust
    receives", 「…であるAdjust」), not only as part of another word (「Googleの広告ID」 names an
    identifier, not a recipient): the same recipient described again is no new recipient."""
    names = [n for n in _NAME_WORD.findall(match.group(0)) if n[:1].isupper() and len(n) >= 2]
    old = ctx.docs.old_text
    for n in names:
        party = re.compile(r"(?<![A-Za-z0-9])" + re.escape(n) + r"(?![A-Za-z0-9])\s?"
                           r"(?:に|へ|と|は|が|も|により|によって|社| (?:may|will|receives?|collects?|uses?|is|are|has))")
        if party.search(old) or re.search(r"である\s?" + re.escape(n) + r"(?![A-Za-z0-9])", old):
            return True
    return False


@builtin("@list_grew", "unit", lexicons=("sending", "negation"))
def list_grew(unit: Unit, side: str, kind: str, ctx: Context) -> str | bool:
    """Words were inserted as a new member of the list of what is sent, shared, received or collected.

    The inserted words stand next to a list separator (、 / および / , / and / or) and the sentence
    holding them sends or collects data (the lexicon sending) with the list as its object, without a
    negation: 「国、地域、クリックしたタイル、およびクリックした時間をXと共有します」. The item need
    not be on any data list. The reason shows the new item."""
    if kind != "gained":
        return False
    rules = ctx.rules
    text = unit.new
    for start, end in unit.gained_spans:
        piece = text[start:end]
        core = piece.strip(" 、,。.()（）")
        core = re.sub(r"^(?:および|及び|ならびに|並びに|または|又は|や|and |or )", "", core).strip(" 、,")
        if len(rules.filler_re.sub("", rules.fold(core))) < 2:
            continue
        before, after = text[max(0, start - 3):start], text[end:end + 6]
        # A comma after a topic or case particle (「Mozillaは、」「場合、」) ends a phrase, not a list member.
        listed = (re.search(r"(?<![はがもでにてとをば合])[、,]\s?$|(?:および|及び|and|or)\s?$", before) or re.match(r"\s?(?:[、,]|および|及び|and |or )", after)
                  or re.match(r"\s?[、,]|\s?(?:および|及び|and |or )", piece) or re.search(r"[、,]\s?$", piece))
        if not listed or "。" in core or len(core) > 60:
            continue
        left = max(text.rfind(c, 0, start) for c in "。\n")
        right = min((i for i in (text.find(c, end) for c in "。\n") if i >= 0), default=len(text))
        sentence, rest = text[left + 1:right], text[end:right]
        # Japanese puts the verb after its object list, English before it.
        if rules.search("negation", sentence) or not rules.search("sending", rest if rules.language == "ja" else sentence):
            continue
        if rules.language == "ja" and "を" not in rest and "に関する" not in rest:
            continue
        if not _only_grew(sentence, unit.old, core, rules):
            continue
        return clip(core, 60)
    return False


def _only_grew(sentence: str, old_text: str, item: str, rules) -> bool:
    """The sentence says all its old counterpart said, plus the new item's words (a list that grew).

    Its old counterpart is the old sentence sharing most meaning words; one of its words may be said once
    less (the list's new shape dropped a repeated あなたが), none may be gone altogether. A rewording or retranslation loses words
    and is no growing list."""
    new_key = Counter(words(sentence, rules))
    best, best_shared = None, 0
    for old in sentences(old_text):
        old_key = Counter(words(old, rules))
        shared = sum((old_key & new_key).values())
        if shared > best_shared:
            best, best_shared = old_key, shared
    if best is None:
        return False
    gone = best - new_key
    came = Counter(words(item, rules)) - best
    # A word said less often (あなた twice -> once) is still said; a word gone altogether was replaced.
    return sum(gone.values()) <= 1 and all(w in new_key for w in gone) and sum(came.values()) >= 1
