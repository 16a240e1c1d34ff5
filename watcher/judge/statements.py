"""Practices, not keywords: what a sentence states a party does with data.

A rule that fires on a word ("米国", "provide", "Kevel") fires on every sentence that names it,
whatever role the word plays there. A statement reads a sentence for its parts instead: the
actions done to data (send, provide, transfer, entrust, store ...), whether data is their object,
the places it names and the role each place plays (where data goes, or where users live and a
service is offered, or whose law applies), the legal basis or default the sentence states
(on by default, only when the user turns a feature on), and whether it is negated.

The vocabulary is data: each action, role and basis is a lexicon of rules/<language>.toml
(ACTIONS, PLACE_ROLES and BASES below name them), so a lawyer extends the words, not the code.
Statements are compared across versions by the built-ins (judge/builtins.py): a transfer abroad
needs a place in the role of a destination; a data flow whose basis moved from opt-in to on by
default is a changed practice even when its sentence is word for word the same.
"""

from __future__ import annotations

from dataclasses import dataclass

# action -> the lexicon of its verbs
ACTIONS = {
    "send": "sending", "provide": "provision", "transfer": "transfer", "entrust": "processor_terms",
    "store": "cloud_storage", "sell": "sale", "link": "identifier_linking",
}
# the lexicons of a place's roles other than a destination: the words just after / just before the place
AUDIENCE_AFTER, AUDIENCE_BEFORE, JURISDICTION = "audience_after_place", "audience_before_place", "jurisdiction"
# basis -> the lexicon of its cues
BASES = {"default": "basis_default", "opt_in": "basis_opt_in"}
# what makes the object of an action data: a data noun or item, or a named kind of recipient of it
DATA_OBJECT, RECIPIENT_ROLES = "data_object", "recipient_roles"
DATA_LEXICONS = (DATA_OBJECT, "data_terms", RECIPIENT_ROLES, "recipients", "processor_terms")
PLACE_LEXICONS = ("foreign_places",)
# How far around a place its role words are looked for (characters).
_AFTER, _BEFORE = 16, 48

STATEMENT_LEXICONS = (*ACTIONS.values(), AUDIENCE_AFTER, AUDIENCE_BEFORE, JURISDICTION, *BASES.values(),
                      *DATA_LEXICONS, "negation", *PLACE_LEXICONS)


@dataclass(frozen=True)
class Place:
    name: str
    role: str          # destination | audience | jurisdiction
    start: int
    end: int


@dataclass(frozen=True)
class Statement:
    """What one sentence states: its actions on data, the data, the places and their roles, its basis."""

    text: str
    actions: frozenset[str]
    data: tuple[str, ...]          # data nouns and recipient roles the sentence names
    places: tuple[Place, ...]
    basis: str | None              # "default" | "opt_in" | None (the sentence states neither, or both)
    negated: bool

    @property
    def data_flow(self) -> bool:
        """Data is sent, provided, transferred or entrusted (not negated)."""
        return bool(self.actions & {"send", "provide", "transfer", "entrust"}) and bool(self.data) and not self.negated

    @property
    def destinations(self) -> tuple[Place, ...]:
        return tuple(p for p in self.places if p.role == "destination")


def basis(text: str, rules) -> str | None:
    """The basis a text states for a handling: "default" (on unless the user turns it off), "opt_in"
    (only when the user turns it on or chooses it), or None (neither, or both)."""
    found = {name for name, lexicon in BASES.items() if rules.search(lexicon, text)}
    return found.pop() if len(found) == 1 else None


def place_role(sentence: str, start: int, end: int, rules) -> str:
    """The role of a place named at sentence[start:end].

    "audience" where users live or a service is offered (「米国にお住まいのユーザー」, "users in the US",
    "available in Canada"), "jurisdiction" whose law applies ("California law", 「州法」), else "destination"."""
    after = sentence[end:end + _AFTER]
    if rules.lexicons[AUDIENCE_AFTER].match(after):
        return "audience"
    before = sentence[max(0, start - _BEFORE):start]
    if any(m.end() == len(before) for m in rules.finditer(AUDIENCE_BEFORE, before)):
        return "audience"
    around = sentence[max(0, start - 24):end + 24]
    for m in rules.finditer(JURISDICTION, around):
        at = max(0, start - 24)
        if m.start() + at <= end and m.end() + at >= start:
            return "jurisdiction"
    return "destination"


def statement(sentence: str, rules) -> Statement:
    """The statement a sentence makes (cached per sentence: rules ask about the same one again and again)."""
    cache = rules.meaning_cache
    found = cache.get(("statement", sentence))
    if found is not None:
        return found
    actions = frozenset(name for name, lexicon in ACTIONS.items() if rules.search(lexicon, sentence))
    data = tuple(m.group(0) for name in DATA_LEXICONS for m in rules.finditer(name, sentence))
    places = tuple(Place(m.group(0), place_role(sentence, m.start(), m.end(), rules), m.start(), m.end())
                   for name in PLACE_LEXICONS for m in rules.finditer(name, sentence))
    found = Statement(sentence, actions, data, places, basis(sentence, rules), bool(rules.search("negation", sentence)))
    cache[("statement", sentence)] = found
    return found
