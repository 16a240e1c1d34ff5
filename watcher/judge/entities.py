"""Open vocabulary: organisations and countries recognised by their shape, not by a list of names.

The lexicons of rules/<language>.toml name the recipients, trackers and places a lawyer has seen;
a policy names others. This module finds, in one sentence,

    organisations   a name with its legal form: 株式会社X / X株式会社 / 有限会社・合同会社 …, a
                    katakana, Latin or proper-noun name followed by 社 (グーグル社, Google社),
                    capitalised Latin words with Inc. / LLC / Ltd. / GmbH …; and a word SudachiPy's
                    dictionary tags 名詞,固有名詞,組織名
    names           a proper noun SudachiPy tags 名詞,固有名詞,一般 (トヨタ自動車, ソニー, Kevel) and, in a
                    Japanese sentence, a capitalised Latin word: an organisation, a service or a product;
                    party_names() keeps those that stand as a party (「Xに提供」「Xと共有」「Xにより収集」)
    countries       a word SudachiPy tags 名詞,固有名詞,地名,国 (ケニア, チリ, アメリカ合衆国)

Two built-ins expose them to the rules (registered here, in watcher.judge.builtins' registry):
@names_new_party and @names_new_country. They look only at the unit's sentences whose meaning
changed (their meaning key is not said in the other version), so a formatting-only diff never asks.

SudachiPy is the tokenizer the meaning keys already load (watcher.judge.meaning): a sentence is
tokenized only when a rule asks about it, and the result is cached per sentence in the rules'
meaning cache. Without SudachiPy the legal-form shapes still work; countries then come from the
foreign_places lexicon alone. English has no dictionary here: its organisations come from the
legal-form shapes, its other names are capitalised words, parties where they stand after the verb
("shared with X, Y and Z", "collected by X", "bought from X"); countries come from the lexicons.

GiNZA (ja-ginza, spaCy NER) was measured for this and not adopted: bench/ginza_eval.py and the
README section "Open vocabulary: what GiNZA costs and buys".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from watcher.judge.builtins import builtin
from watcher.judge.meaning import TOKENIZE_MAX_CHARS, _tokenizer, sentences, words
from watcher.judge.text import clip

if TYPE_CHECKING:   # types only: the engine imports this module (through the built-ins' registry)
    from watcher.judge.engine import Context
    from watcher.judge.units import Unit

ORGANISATION, NAME, COUNTRY = "organisation", "name", "country"

_JA_FORMS = "株式会社|有限会社|合同会社|合資会社|合名会社|一般社団法人|一般財団法人|公益社団法人|公益財団法人"
_NAME_CHARS = r"[ァ-ヶー･・A-Za-z0-9&.\-一-龥々]"
# 株式会社X / X株式会社: the name is the run of name characters on the far side of the legal form.
_JA_FORM_BEFORE = re.compile(rf"(?:{_JA_FORMS})\s?(?![及並又等])(?:{_NAME_CHARS}){{2,30}}")
_JA_FORM_AFTER = re.compile(rf"(?<!{_NAME_CHARS})(?:{_NAME_CHARS}){{1,30}}?\s?(?:{_JA_FORMS})")
# グーグル社 / Google社 / Acme Cloud社: a katakana or Latin name before 社 (当社, 他社, 各社 are kanji: not names).
_SHA = re.compile(r"(?<![ァ-ヶーA-Za-z0-9&.\-])(?:[ァ-ヶー]{2,20}|[A-Z][A-Za-z0-9&.\-]*(?: [A-Z][A-Za-z0-9&.\-]*){0,3})\s?社"
                  r"(?![会員内外長名])")
_LATIN_FORM = re.compile(
    r"(?<![A-Za-z0-9&.\-])[A-Z][A-Za-z0-9&.'\-]*(?: (?:[A-Z][A-Za-z0-9&.'\-]*|&|of|and|de))*,? "
    r"(?:Inc\.?|LLC|L\.L\.C\.|Ltd\.?|Limited|Corp\.?|Corporation|GmbH|S\.A\.|B\.V\.|AG|K\.K\.|Co\., ?Ltd\.?|PLC|plc|Pte\.? Ltd\.?)"
    r"(?![A-Za-z])")
# A capitalised Latin name in Japanese text (Kevel, Acme Cloud): one to three capitalised words.
_LATIN_NAME = re.compile(r"(?<![A-Za-z0-9&.\-])[A-Z][A-Za-z0-9&\-]+(?: [A-Z][A-Za-z0-9&\-]+){0,2}(?![A-Za-z0-9&\-])")
# What follows a party of a handling in Japanese: data goes to it, is shared with it, comes from it, it collects.
_PARTY_AFTER = re.compile(r"\s?(?:社)?(?:に(?!は|関|よる|対応|応じ|基づ|つい)|へ|と(?:共有|共同|の間)|から(?:受|取得|提供)|により|によって|が(?:[^。、]{0,20})(?:収集|取得|受|利用))")
_LIST_SEPARATOR = re.compile(r"\s?(?:、|・|,|と|および|及び|ならびに|並びに|や|または|又は)\s?")
# What stands before a party of a handling in English, up to the name.
_EN_PARTY_BEFORE = re.compile(
    r"\b(?:(?:share[sd]?|sharing|disclose[sd]?|disclosing|sen[dt]s?|sending|transfer(?:s|red|ring)?|provide[sd]?|providing|"
    r"sell(?:s|ing)?|sold|pass(?:es|ed|ing)?|give[sn]?|gave|make[s]? available|made available)\b[^.;:]{0,60}?\b(?:with|to)"
    r"|(?:collected|received|processed|stored|hosted|provided|operated|used|analy[sz]ed) by"
    r"|(?:obtain(?:s|ed)?|receive[sd]?|get|gets|got|buy|bought|purchase[sd]?)\b[^.;:]{0,60}?\bfrom)"
    r"\s+(?:the\s+)?$", re.I)
_EN_LIST_SEPARATOR = re.compile(r",?\s+(?:and|or)\s+|,\s+")
_JA_TEXT = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
# The company's own words for itself and generic nouns a legal-form shape could take for a name.
_NOT_NAMES = frozenset({"当社", "弊社", "同社", "本社", "他社", "各社", "貴社", "御社", "子会社", "親会社", "関連会社",
                        "グループ会社", "会社"})


@dataclass(frozen=True)
class Entity:
    """A name found in a sentence: what it is, where it stands, and what showed it (for the reason)."""

    text: str
    kind: str       # ORGANISATION | NAME | COUNTRY
    start: int
    end: int
    cue: str        # "legal form", "SudachiPy 組織名", "SudachiPy 固有名詞", "Latin name", "SudachiPy 地名,国"


def _shape_entities(sentence: str) -> list[Entity]:
    found = []
    for pattern, cue in ((_JA_FORM_BEFORE, "legal form"), (_JA_FORM_AFTER, "legal form"), (_SHA, "legal form"),
                         (_LATIN_FORM, "legal form")):
        for m in pattern.finditer(sentence):
            name = m.group(0).strip(" ・･")
            if name in _NOT_NAMES or any(name == f for f in _JA_FORMS.split("|")):
                continue
            found.append(Entity(name, ORGANISATION, m.start(), m.end(), cue))
    return found


def _dictionary_entities(sentence: str) -> list[Entity]:
    tok = _tokenizer()
    if tok is None or not _JA_TEXT.search(sentence):
        return []
    found = []
    for m in tok.tokenize(sentence[:TOKENIZE_MAX_CHARS]):
        pos = m.part_of_speech()
        if pos[1] != "固有名詞":
            continue
        if pos[2] == "組織名":
            found.append(Entity(m.surface(), ORGANISATION, m.begin(), m.end(), "SudachiPy 組織名"))
        elif pos[2] == "地名" and pos[3] == "国":
            found.append(Entity(m.surface(), COUNTRY, m.begin(), m.end(), "SudachiPy 地名,国"))
        elif pos[2] == "一般" and len(m.surface()) >= 2:
            found.append(Entity(m.surface(), NAME, m.begin(), m.end(), "SudachiPy 固有名詞"))
    return found + _latin_names(sentence)


def _latin_names(sentence: str) -> list[Entity]:
    # Two capitals are a country or region code (UK, US, EU) as often as a name: not taken for one.
    return [Entity(m.group(0), NAME, m.start(), m.end(), "Latin name") for m in _LATIN_NAME.finditer(sentence)
            if len(m.group(0)) > 2]


def _without_overlaps(found: list[Entity]) -> tuple[Entity, ...]:
    """The longest of overlapping finds (株式会社X over X's 組織名), in the order they stand."""
    kept: list[Entity] = []
    for e in sorted(found, key=lambda e: (-(e.end - e.start), e.start)):
        if all(e.end <= k.start or k.end <= e.start for k in kept):
            kept.append(e)
    return tuple(sorted(kept, key=lambda e: e.start))


def entities(sentence: str, rules) -> tuple[Entity, ...]:
    """The organisations and countries one sentence names, cached per sentence in the rules' meaning cache."""
    cache = rules.meaning_cache
    found = cache.get(("entities", sentence))
    if found is None:
        found = _shape_entities(sentence)
        if rules.language == "ja":
            found += _dictionary_entities(sentence)
        elif not _JA_TEXT.search(sentence):
            found += _latin_names(sentence)
        found = cache[("entities", sentence)] = _without_overlaps(found)
    return found


def party_names(sentence: str, rules) -> list[Entity]:
    """The organisations a sentence names, and the names that stand as a party of a handling in it.

    An organisation by its legal form or SudachiPy's 組織名 counts wherever it stands; a bare proper
    noun (a product as often as a company) only when what follows makes it the party data goes to,
    is shared with or comes from: 「Xに提供」「Xと共有」「Xから取得」「Xにより収集」「Xが…収集」."""
    if rules.language != "ja" and not _JA_TEXT.search(sentence):
        return _english_parties(sentence, rules)
    out: list[Entity] = []
    party_starts: set[int] = set()
    # From the end: a name listed before a party (「トヨタ自動車、ソニーに提供」) is a party too.
    for e in reversed(entities(sentence, rules)):
        if e.kind == COUNTRY:
            continue
        listed = _LIST_SEPARATOR.match(sentence, e.end)
        if (e.kind == ORGANISATION or _PARTY_AFTER.match(sentence, e.end)
                or (listed is not None and listed.end() in party_starts)):
            out.append(e)
            party_starts.add(e.start)
    return out[::-1]


def _english_parties(sentence: str, rules) -> list[Entity]:
    """English puts the party after the verb: "shared with X", "sent to X", "collected by X", and the names listed after it."""
    out: list[Entity] = []
    last_end = -1
    for e in entities(sentence, rules):
        if e.kind == COUNTRY:
            continue
        listed = last_end >= 0 and _EN_LIST_SEPARATOR.fullmatch(sentence, last_end, e.start) is not None
        if e.kind == ORGANISATION or listed or _EN_PARTY_BEFORE.search(sentence, max(0, e.start - 80), e.start):
            out.append(e)
            last_end = e.end
    return out


def named_in(name: str, text: str) -> bool:
    """The other version names it too: as the same word (Latin names not inside a longer word)."""
    if name[:1].isascii():
        return re.search(r"(?<![A-Za-z0-9])" + re.escape(name) + r"(?![A-Za-z0-9])", text) is not None
    return name in text


def core_name(entity: Entity) -> str:
    """The name without its legal form (株式会社ミナト -> ミナト, Acme Cloud Inc. -> Acme Cloud): how the other version may name it."""
    name = re.sub(rf"^(?:{_JA_FORMS})\s?|\s?(?:{_JA_FORMS}|社)$", "", entity.text)
    name = re.sub(r",? (?:Inc\.?|LLC|L\.L\.C\.|Ltd\.?|Limited|Corp\.?|Corporation|GmbH|S\.A\.|B\.V\.|AG|K\.K\.|"
                  r"Co\., ?Ltd\.?|PLC|plc|Pte\.? Ltd\.?)$", "", name)
    return name.strip() or entity.text


# ---------------------------------------------------------------------------
# built-ins
# ---------------------------------------------------------------------------

_NEW_SIDE = ("added", "clause_added", "gained")


def _meaning_changed(side: str, new_side: bool, ctx: Context) -> list[str]:
    """The unit's sentences whose meaning key the other version does not say (anywhere in it)."""
    other = ctx.docs.old_meaning if new_side else ctx.docs.new_meaning
    return [s for s in sentences(side) if (k := words(s, ctx.rules)) and not other.says(k)]


def _own_name(name: str, ctx: Context) -> bool:
    return any(own in name or name in own for own in ctx.docs.self_names)


@builtin("@names_new_party", "unit", lexicons=("foreign_places", "recipient_roles"))
def names_new_party(unit: Unit, side: str, kind: str, ctx: Context) -> str | bool:
    """A changed sentence names an organisation as a party that the other version never names.

    Open vocabulary (watcher.judge.entities): an organisation by its legal form (株式会社X, X社,
    X Inc., X LLC …) or SudachiPy's 組織名, or a proper noun standing as the party of a handling
    (「Xに提供」「Xと共有」「Xから取得」「Xにより収集」, and the names listed before it). Only
    sentences whose meaning changed count; the company's own names and a name the other version
    already uses (with or without its legal form) do not, nor a place (「UKに転送」, the lexicon
    foreign_places) or a role (「マーケティングパートナーと共有」, the lexicon recipient_roles) read
    as a name, nor a name that only took another's place in the same sentence (a rename or a swap).
    The reason shows the name."""
    new_side = kind in _NEW_SIDE
    rules = ctx.rules
    other_text = ctx.docs.old_text if new_side else ctx.docs.new_text
    for sentence in _meaning_changed(side, new_side, ctx):
        for entity in party_names(sentence, rules):
            if _own_name(entity.text, ctx) or named_in(core_name(entity), other_text):
                continue
            if entity.kind == NAME and (rules.fullmatch("foreign_places", entity.text)
                                        or rules.search("recipient_roles", entity.text)):
                continue
            if _swapped(entity, sentence, unit.old if new_side else unit.new, rules):
                continue
            return clip(entity.text, 60)
    return False


def _swapped(entity: Entity, sentence: str, other_unit: str, rules) -> bool:
    """The name took another name's place in the same sentence, word for word (「広告プラットフォーム、Adzerk
    と共有」 -> 「…、Kevel と共有」): a rename or a swap, which the rules judge as such, not a new party."""
    without = sentence[:entity.start] + sentence[entity.end:]
    for old in sentences(other_unit):
        for other in entities(old, rules):
            if other.kind != COUNTRY and other.text != entity.text and old[:other.start] + old[other.end:] == without:
                return True
    return False


@builtin("@names_new_country", "unit")
def names_new_country(unit: Unit, side: str, kind: str, ctx: Context) -> str | bool:
    """A changed sentence names a country that the other version never names.

    Open vocabulary (watcher.judge.entities): a word SudachiPy's dictionary tags 名詞,固有名詞,地名,国,
    whether or not the foreign_places lexicon lists it (ケニア, チリ, ペルー). Only sentences whose
    meaning changed count; without SudachiPy (or in English) it finds nothing and the lexicon decides.
    The reason shows the country."""
    new_side = kind in _NEW_SIDE
    other_text = ctx.docs.old_text if new_side else ctx.docs.new_text
    for sentence in _meaning_changed(side, new_side, ctx):
        for entity in entities(sentence, ctx.rules):
            if entity.kind == COUNTRY and entity.text not in other_text:
                return clip(entity.text, 60)
    return False
