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
from watcher.judge.statements import STATEMENT_LEXICONS, basis, place_role, statement
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


# ---------------------------------------------------------------------------
# statements: practices compared across versions (judge/statements.py)
# ---------------------------------------------------------------------------

@builtin("@not_sent_abroad", "match", lexicons=STATEMENT_LEXICONS)
def not_sent_abroad(match: re.Match, sentence: str, side: str, ctx: Context) -> bool:
    """The place the match names is not where personal data goes (for rules on transfers abroad).

    Its sentence names it in another role — where users live or a service is offered (「米国にお住まいの
    ユーザー向けに提供」, "available to users in the US"), or whose law applies — or the sentence states no
    data at all (no data noun, no kind of recipient: 「初期バージョンが米国で提供されています」). A transfer
    abroad is a sentence saying that data is provided, stored or transferred to a foreign country or recipient."""
    rules = ctx.rules
    said = statement(sentence, rules)
    if not said.data:
        return True
    start = sentence.find(match.group(0))
    if start < 0:
        return False
    return place_role(sentence, start, start + len(match.group(0)), rules) != "destination"


# A name in a changed sentence: capitalised Latin words (Kevel, Adzerk, Acme Cloud), a katakana run, a Japanese company.
_SWAP_NAME = re.compile(r"(?<![A-Za-z0-9])[A-Z][A-Za-z0-9&.\-]*(?: [A-Z][A-Za-z0-9&.\-]*){0,3}|(?<![ァ-ヶー])[ァ-ヶー]{2,}")
_SWAP_FILLER = re.compile(r"[\s、。,.()（）「」\"'“”:：/]+")


def _names_only(piece: str, rules) -> list[str] | None:
    """The names a changed piece consists of, or None when it holds other words too."""
    names = [m.group(0) for m in _SWAP_NAME.finditer(piece)]
    names += [m.group(0) for m in rules.finditer("company_names", piece)]
    rest = piece
    for name in sorted(names, key=len, reverse=True):
        rest = rest.replace(name, " ")
    rest = rules.lexicons["rename_marker"].sub(" ", rest)
    return names if not _SWAP_FILLER.sub("", rest) else None


# A name attached to the particle or preposition of a recipient: 「Kevelと共有」「Xに送信」, "with X", "to X", "by X".
_RECIPIENT_AFTER = re.compile(r"\s?(?:と|に|へ|社)")
_RECIPIENT_BEFORE = re.compile(r"\b(?:with|to|by|from)\s(?:the\s)?$", re.I)


def _in_recipient_role(name: str, text: str, rules) -> bool:
    """The name stands as a party that data goes to: its sentence sends, provides or transfers data and names
    a kind of recipient (「広告プラットフォーム、Kevelと共有」), or the name takes a recipient's particle."""
    at = text.find(name)
    if at < 0:
        return False
    sentence = next((s for s in sentences(text) if name in s), text)
    said = statement(sentence, rules)
    if not said.actions & {"send", "provide", "transfer"}:
        return False
    if rules.search("recipient_roles", sentence):
        return True
    after, before = text[at + len(name):at + len(name) + 3], text[max(0, at - 12):at]
    return bool(_RECIPIENT_AFTER.match(after) or _RECIPIENT_BEFORE.search(before))


@builtin("@name_swapped", "unit", lexicons=("company_names", "rename_marker", "recipient_roles"))
def name_swapped(unit: Unit, side: str, kind: str, ctx: Context) -> str | bool:
    """An edit that only renames a party that receives data: the same entity under a new name.

    One name swapped for another in the same sentence, the role, the data and everything else around it
    unchanged (「広告プラットフォーム、Adzerkと共有」 →
    「…、Kevelと共有」), or a new name given with its old one (「Kevel(旧Adzerk)」, "Kevel (formerly Adzerk)").
    The same entity under a new name is no new recipient. The reason shows "old → new"."""
    if unit.kind != "edited" or kind not in ("gained", "lost"):
        return False
    rules = ctx.rules
    gained = [unit.new[a:b] for a, b in unit.gained_spans]
    lost = [unit.old[a:b] for a, b in unit.lost_spans]
    new_names, old_names = [], []
    for pieces, names in ((gained, new_names), (lost, old_names)):
        for piece in pieces:
            found = _names_only(piece, rules)
            if found is None:
                return False
            names.extend(found)
    if not new_names or not any(_in_recipient_role(name, unit.new, rules) for name in new_names):
        return False   # a product or a feature renamed, not a party that receives data: judged as wording
    if rules.search("rename_marker", " ".join(gained)):
        # "Kevel (formerly Adzerk)": the old name is still there, after the marker.
        former = [n for n in new_names if n in unit.old]
        fresh = [n for n in new_names if n not in unit.old]
        if former and fresh and not old_names:
            return clip(f"{former[0]} → {fresh[0]}", 60)
    if old_names and len(old_names) == len(new_names) and not set(new_names) & set(old_names):
        return clip(f"{', '.join(old_names)} → {', '.join(new_names)}", 60)
    return False


# Where a fact's value ends: the end of its line or sentence (「住所:東京都…」, "Registered address: 4 Harbour Street").
_FACT_END = re.compile(r"\n|。|;|\.(?:\s|$)")
_FACT_TRIM = " :：、,.-"


def _entity_facts(clause: str, rules) -> tuple[frozenset[str], frozenset[str]]:
    """(seat, representative) a clause states of its parties: the value after each label (seat_label 所在地 / 住所 /
    "address", representative_label 代表者 / 代表取締役 / "representative") up to the end of its line or the next
    label, and the address / representative shapes found anywhere in it. Folded, so a reflowed line is the same fact."""
    labels = sorted(m.start() for name in ("seat_label", "representative_label") for m in rules.finditer(name, clause))
    facts = []
    for label, shape in (("seat_label", "address"), ("representative_label", "representative")):
        found = set()
        for m in rules.finditer(label, clause):
            stop = next((at for at in labels if at >= m.end()), len(clause))
            value = _FACT_END.split(clause[m.end():stop], maxsplit=1)[0].strip(_FACT_TRIM)
            if value:
                found.add(rules.fold(value))
        found.update(rules.fold(m.group(0).strip(_FACT_TRIM)) for m in rules.finditer(shape, clause))
        facts.append(frozenset(found))
    return facts[0], facts[1]


def _names_counted(text: str, rules, spelling: dict[str, str]) -> Counter:
    """How often the text names each company (folded), recording each one's first spelling in `spelling`."""
    counted: Counter = Counter()
    for m in rules.finditer("company_names", text):
        name = m.group(0).rstrip(". ")
        folded = rules.fold(name)
        spelling.setdefault(folded, name)
        counted[folded] += 1
    return counted


def _party_renamed(unit: Unit, ctx: Context) -> tuple[list[str], list[str], bool] | None:
    """(company names the new clause has more often than the old, names the old clause has more often than the
    new, whether the new clause newly gives a former name it still names) when the unit holds one of those
    names; None otherwise. Read over the whole clause: the new name and the old one may sit in different units
    (a line replaced, or a sentence cut down to what is new)."""
    rules = ctx.rules
    old_clause, new_clause = ctx.old_clause_text, ctx.new_clause_text
    spelling: dict[str, str] = {}
    before, after = _names_counted(old_clause, rules, spelling), _names_counted(new_clause, rules, spelling)
    came = [n for n in after if after[n] > before[n]]
    went = [n for n in before if before[n] > after[n]]
    here = rules.fold(unit.old + "\n" + unit.new)
    if not came or not any(n in here for n in came + went):
        return None
    markers = len(list(rules.finditer("rename_marker", new_clause)))
    # The former name may be read into the marker (「旧株式会社X」 is one match of the lexicon): look for it as text.
    kept = any(n in rules.fold(new_clause) for n in before)
    marked = markers > len(list(rules.finditer("rename_marker", old_clause))) and kept
    return [spelling[n] for n in came], [spelling[n] for n in went], marked


@builtin("@same_entity", "unit", lexicons=("company_names", "rename_marker", "seat_label", "representative_label",
                                          "address", "representative"))
def same_entity(unit: Unit, side: str, kind: str, ctx: Context) -> str | bool:
    """A party's name changed and the text shows it is the same entity: a rename, not a new party.

    The clause newly gives a former name it still names (rename_marker: 旧社名, 「(旧…)」, "formerly"), or a
    name gave way to another while the clause's seat and representative (seat_label, representative_label,
    address, representative), at least one of them stated, stayed the same. The reason shows the new name."""
    renamed = _party_renamed(unit, ctx)
    if renamed is None:
        return False
    came, went, marked = renamed
    if marked:
        return clip(came[0], 60)
    if not went:
        return False
    seat_old, rep_old = _entity_facts(ctx.old_clause_text, ctx.rules)
    seat_new, rep_new = _entity_facts(ctx.new_clause_text, ctx.rules)
    if (seat_old or rep_old) and seat_old == seat_new and rep_old == rep_new:
        return clip(f"{went[0]} → {came[0]}", 60)
    return False


@builtin("@other_entity", "unit", lexicons=("company_names", "rename_marker", "seat_label", "representative_label",
                                           "address", "representative"))
def other_entity(unit: Unit, side: str, kind: str, ctx: Context) -> str | bool:
    """A party's name gave way to another and the text shows another entity: a new party, not a rename.

    No former name is given (rename_marker), a name of the old clause is gone, and the clause's seat or
    representative changed with the name. The reason shows the new entity's name."""
    renamed = _party_renamed(unit, ctx)
    if renamed is None:
        return False
    came, went, marked = renamed
    if marked or not went:
        return False
    seat_old, rep_old = _entity_facts(ctx.old_clause_text, ctx.rules)
    seat_new, rep_new = _entity_facts(ctx.new_clause_text, ctx.rules)
    if (seat_old and seat_old != seat_new) or (rep_old and rep_old != rep_new):
        return clip(came[0], 60)
    return False


def _flow_bases(unit: Unit, ctx: Context) -> tuple[str | None, str | None, str]:
    """(old basis, new basis, the sentence) of the first data flow the added text states whose counterpart in
    the old version stated it under another basis; (None, None, "") when there is none."""
    rules = ctx.rules
    new_frame = basis(ctx.new_frame, rules)
    for sentence in sentences(unit.new):
        said = statement(sentence, rules)
        if not said.data_flow:
            continue
        new_basis = said.basis or new_frame
        if new_basis is None:
            continue
        counterpart = ctx.docs.old_counterpart(sentence)
        if counterpart is None:
            continue
        old_sentence, old_frame = counterpart
        old_basis = statement(old_sentence, rules).basis or basis(old_frame, rules)
        if old_basis is not None and old_basis != new_basis:
            return old_basis, new_basis, sentence
    return None, None, ""


@builtin("@default_widened", "unit", lexicons=STATEMENT_LEXICONS)
def default_widened(unit: Unit, side: str, kind: str, ctx: Context) -> str | bool:
    """A data flow that happened only when the user turned a feature on (opt-in) now happens by default.

    The basis of a sentence is what it says itself (「初期設定で」, "by default", 「有効にすると」, "if you
    turn on"), else what its section's heading says (「以下の目的でデータを共有するよう初期設定されています」
    against 「あなたが以下の機能を使用した場合」). The sentence is compared with its counterpart in the old
    version — the same sentence, or the one most like it — even when it moved word for word into the other
    section. The reason shows the sentence."""
    if kind not in ("added", "gained", "clause_added"):
        return False
    old, new, sentence = _flow_bases(unit, ctx)
    return clip(sentence, 80) if (old, new) == ("opt_in", "default") else False


@builtin("@default_narrowed", "unit", lexicons=STATEMENT_LEXICONS)
def default_narrowed(unit: Unit, side: str, kind: str, ctx: Context) -> str | bool:
    """A data flow that happened by default now happens only when the user turns it on.

    A change in the user's favour. Read as for @default_widened; the reason shows the sentence."""
    if kind not in ("added", "gained", "clause_added"):
        return False
    old, new, sentence = _flow_bases(unit, ctx)
    return clip(sentence, 80) if (old, new) == ("default", "opt_in") else False


@builtin("@states_purpose", "unit", lexicons=("purpose_marker", "purpose_shape"))
def states_purpose(unit: Unit, side: str, kind: str, ctx: Context) -> bool:
    """The words that changed stand in a sentence that states a purpose, or the unit is an item of the purposes.

    A purpose: 「…のため」「…を目的として」「…に利用します」, "to provide ...", "for the purpose of".

    A sentence of a purposes section that states no purpose (「その検索プロバイダーのプライバシーポリシーが
    適用されます」, a link, a vendor's name) changes no purpose, whatever section it stands in."""
    if unit.is_item and not unit.heading:
        return True
    text = unit.new if kind in ("gained", "added", "clause_added") else unit.old
    spans = unit.gained_spans if kind == "gained" else unit.lost_spans if kind == "lost" else [(0, len(text))]
    rules = ctx.rules
    for start, end in spans:
        left = max(text.rfind(c, 0, start) for c in "。\n")
        right = min((i for i in (text.find(c, end) for c in "。\n") if i >= 0), default=len(text))
        sentence = text[left + 1:right]
        if rules.search("purpose_marker", sentence) or rules.search("purpose_shape", sentence.strip()):
            return True
    return False


# The name a connective of working together attaches to: before it in Japanese (「広告提供者と共同で」),
# after it in English ("jointly with advertising providers").
_PARTNER_BEFORE = re.compile(r"(?<![^\s、。,()「」])[^\s、。,()「」]{2,24}$")
_PARTNER_AFTER = re.compile(r"^\s?(?:the |our |selected |certain )?[^,.;()]{2,40}")


@builtin("@shared_with_partner", "unit", lexicons=("joint_work", "recipient_roles", "company_names", *STATEMENT_LEXICONS))
def shared_with_partner(unit: Unit, side: str, kind: str, ctx: Context) -> str | bool:
    """New text shares data with a party it says the company works with, naming that party only there.

    A sentence names a recipient by role or name joined to a connective of working together (the lexicon
    joint_work: 「広告提供者と共同で…」, "jointly with advertising providers"), and that sentence or the
    next one sends or shares (not negated; what it shares need not be on a data list): the partner
    is where the data goes (「…と共同で…提供しています。この支援に伴い、…情報を共有することがあります」).
    The party must be new: the old version does not name it. The reason shows the party."""
    if kind not in ("added", "gained", "clause_added"):
        return False
    rules = ctx.rules
    said = sentences(side)
    old = rules.fold(ctx.docs.old_text)
    for n, sentence in enumerate(said):
        for m in rules.finditer("joint_work", sentence):
            if rules.language == "ja":
                found = _PARTNER_BEFORE.search(sentence[:m.start()])
            else:
                found = _PARTNER_AFTER.match(sentence[m.end():])
            party = found.group(0).strip() if found else ""
            if rules.language == "ja":
                party = re.split(r"[はがもで]", party)[-1]     # 「当社は広告配信事業者」: the name after the subject
            if not party or not (rules.search("recipient_roles", party) or rules.search("company_names", party)):
                continue
            if rules.fold(party) in old:
                continue
            for flow in said[n:n + 2]:
                # What is shared need not be on a data list: sharing, next to the partner, is the flow.
                stated = statement(flow, rules)
                if stated.actions & {"send", "provide"} and not stated.negated and key_lines(flow) not in ctx.docs.old_text:
                    return clip(party, 60)
    return False
