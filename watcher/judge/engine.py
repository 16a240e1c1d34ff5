"""Running the [[rule]] tables of a rules file on one changed unit: the findings, with evidence."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property

from rapidfuzz import fuzz, process

from watcher.judge.builtins import BUILTINS
from watcher.judge.meaning import MeaningIndex, sentence_keys, sentences
from watcher.judge.rules import Rule, Rules
from watcher.judge.text import clip, dedupe, doc_text, key_lines
from watcher.judge.topics import clause_topics
from watcher.judge.units import Finding, Unit, meaningful
from watcher.models import Clause
from watcher.normalize import key

# Sentence ends: Japanese full stops, line breaks, and a Latin full stop or semicolon before a space (not the
# stop of a one-letter abbreviation: "U.S. States", "e.g. cookies").
SENTENCE_BOUNDARY = re.compile(r"[。！？!?\n|]|(?<!\b[A-Za-z])\.(?=\s|$)|;(?=\s)")
_PHRASE_BOUNDARY = re.compile(r"[。！？!?\n|、；「」()（）]|(?<!\b[A-Za-z])\.(?=\s|$)|;(?=\s)")
# An added unit at least this long (characters) found word for word in the old document moved there.
_MOVED_MIN = 25
# The company's own name: 「X(以下「当社」…)」, "X ("we", ...)", or a name that is the subject of many sentences.
# 「X(以下「当社」…)」 / "X ("we" ...)": the words a company calls itself are the lexicon `self_reference`.
_SELF_DEFINITION = r"([^\s、。()「」]{{2,40}}?)\s*\((?:以下[、,]?)?\s*[「\"“]?(?:{words})\b"
_SELF_SUBJECT = re.compile(r"(?:^|[\s、。「」()])([A-Za-z][A-Za-z0-9.\-]{1,30}|[ァ-ヶー]{2,20})(?:は|が|では)")
_SELF_SUBJECT_MIN = 5
# English: a name that begins sentences as their subject again and again ("Mozilla may ...", "Firefox sends ...").
_SELF_SUBJECT_EN = re.compile(r"(?:^|[.;!?]\s+|\n)([A-Z][A-Za-z0-9\-]{1,30}) (?:may|will|does|do|uses|collects|receives|"
                              r"shares|processes|is|has|also|only|never|provides|offers|sends)\b")
# A sentence at least this long found word for word in the other version is not new there.
_SENTENCE_MOVED_MIN = 15
# A lexicon match of at least this many meaning words is a phrase (judged by its words, not its spelling).
_PHRASE_WORDS = 3
# An old sentence this alike (rapidfuzz ratio, 0-100) to a new one is its counterpart (reworded, moved).
_COUNTERPART_MIN = 70


def _meaning_words(text: str, rules: Rules) -> list[str]:
    return [w for k in sentence_keys(text, rules) for w in k]


def _word_set(text: str, rules: Rules) -> frozenset[str]:
    """The meaning words of a unit's text, cached (the rules ask for the same unit again and again)."""
    cache = rules.meaning_cache
    found = cache.get(("words", text))
    if found is None:
        found = cache[("words", text)] = frozenset(_meaning_words(text, rules))
    return found


class Documents:
    """The two versions as a whole, computed only when a rule needs them (most changes never do)."""

    def __init__(self, old_clauses: list[Clause], new_clauses: list[Clause], rules: Rules):
        self.old_clauses, self.new_clauses, self.rules = old_clauses, new_clauses, rules
        # A document the segmenter could not split into clauses: its preamble / metadata hold the policy.
        self.sparse = min(sum(c.kind == "clause" for c in old_clauses),
                          sum(c.kind == "clause" for c in new_clauses)) < 2

    @cached_property
    def old_text(self) -> str:
        return doc_text(self.old_clauses)

    @cached_property
    def new_text(self) -> str:
        return doc_text(self.new_clauses)

    @cached_property
    def old_meaning(self) -> MeaningIndex:
        """The old version's sentences as meaning keys (judge/meaning.py): built only when a unit changed."""
        return MeaningIndex(_node_lines(self.old_clauses), self.rules)

    @cached_property
    def new_meaning(self) -> MeaningIndex:
        return MeaningIndex(_node_lines(self.new_clauses), self.rules)

    @cached_property
    def old_transfer_text(self) -> str:
        """The old version's sentences about transfers (the lexicon transfer), spelling-folded (@known_transfer)."""
        return "\n".join(self.rules.fold(s) for s in SENTENCE_BOUNDARY.split(self.old_text)
                         if self.rules.search("transfer", s))

    @cached_property
    def self_names(self) -> tuple[str, ...]:
        """How the company names itself: defined names (「当社」) and names that are the subject again and again."""
        text = self.old_text + "\n" + self.new_text
        definition = re.compile(_SELF_DEFINITION.format(words=self.rules.lexicons["self_reference"].pattern), re.I)
        names = {m.group(1) for m in definition.finditer(text)}
        counts = Counter(m.group(1) for m in _SELF_SUBJECT.finditer(text))
        counts.update(m.group(1) for m in _SELF_SUBJECT_EN.finditer(text))
        names |= {name for name, n in counts.items() if n >= _SELF_SUBJECT_MIN}
        return tuple(sorted((n for n in names if len(n) >= 2), key=len, reverse=True))

    @cached_property
    def _old_sentences(self) -> tuple[dict[str, tuple[str, str]], list[str]]:
        """The old version's sentences by comparison key -> (sentence, the title of its top-level clause)."""
        found: dict[str, tuple[str, str]] = {}
        for clause in self.old_clauses:
            frame = frame_of(clause)
            for node in clause.walk():
                for sentence in sentences(key_lines(node.own_text())):
                    found.setdefault(key(sentence), (sentence, frame))
        return found, list(found)

    def old_counterpart(self, sentence: str) -> tuple[str, str] | None:
        """The old sentence that says this one (the same words, or the most alike, rapidfuzz ratio >= 70) and
        the title of the clause it stood in: where a statement was before it moved or was reworded."""
        by_key, keys = self._old_sentences
        k = key(sentence)
        if k in by_key:
            return by_key[k]
        best = process.extractOne(k, keys, scorer=fuzz.ratio, score_cutoff=_COUNTERPART_MIN)
        return by_key[best[0]] if best else None

    @cached_property
    def old_topics(self) -> list[tuple[set[str], Clause]]:
        return [(clause_topics(c, self.rules), c) for c in self.old_clauses]

    @cached_property
    def new_topics(self) -> list[tuple[set[str], Clause]]:
        return [(clause_topics(c, self.rules), c) for c in self.new_clauses]


def frame_of(clause: Clause | None) -> str:
    """What frames every statement of a top-level clause: its title (or, untitled, its first line)."""
    if clause is None:
        return ""
    return key(clause.title) if clause.title else key(clause.body[0]) if clause.body else ""


def _node_lines(clauses: list[Clause]) -> str:
    """Every node's own text (without its number marker), line by line, as comparison keys."""
    return "\n".join(key_lines(n.own_text()) for c in clauses for n in c.walk())


@dataclass
class Context:
    """What the rules may look at besides the unit: the clauses and documents around it."""

    rules: Rules
    old_clause_text: str
    new_clause_text: str
    old_items: list[str]
    docs: Documents
    old_frame: str = ""     # the titles of the clause in each version (frame_of): what frames its statements
    new_frame: str = ""

    @property
    def old_doc_text(self) -> str:
        return self.docs.old_text

    @property
    def new_doc_text(self) -> str:
        return self.docs.new_text

    @property
    def sparse(self) -> bool:
        return self.docs.sparse


def moved_text(unit: Unit, ctx: Context) -> bool:
    """An added unit whose text was already in the old document (or a removed one still in the new) moved.

    Only sentences long enough not to occur by chance count; a short item that moves is judged as new.
    """
    if unit.kind in ("added", "clause_added"):
        text, other = unit.new, ctx.docs.old_text
    elif unit.kind in ("removed", "clause_removed"):
        text, other = unit.old, ctx.docs.new_text
    else:
        return False
    if len(text) < _MOVED_MIN:
        return False
    if key(text) in other:
        return True
    # Moved sentence by sentence (a paragraph re-cut when a section was reorganised).
    sentences = [k for k in (key(p) for p in SENTENCE_BOUNDARY.split(text)) if len(k) >= 8]
    return bool(sentences) and all(k in other for k in sentences)


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------

_SIDES = {
    "added": ("new", "added"), "clause_added": ("new", "clause_added"), "gained": ("new", "gained"),
    "removed": ("old", "removed"), "clause_removed": ("old", "clause_removed"), "lost": ("old", "lost"),
}


def _change_kinds(unit: Unit, rules: Rules) -> list[str]:
    if unit.kind == "edited":
        return [kind for kind, pieces in (("gained", unit.gained), ("lost", unit.lost)) if meaningful(pieces, rules)]
    return [unit.kind]


def run_rules(unit: Unit, topics: set[str], ctx: Context) -> list[Finding]:
    found: list[Finding] = []
    rules = ctx.rules
    for kind in _change_kinds(unit, rules):
        for rule in rules.rules:
            if kind not in rule.change or not rule.applies_to(topics):
                continue
            finding = _apply(rule, unit, kind, ctx)
            if finding is None:
                continue
            found.append(finding)
            if rule.stop:
                break
    return found


def _apply(rule: Rule, unit: Unit, kind: str, ctx: Context) -> Finding | None:
    rules = ctx.rules
    side = unit.new if _SIDES[kind][0] == "new" else unit.old
    if rule.unit_any and not any(_unit_has(name, unit, side, kind, ctx) for name in rule.unit_any):
        return None
    if rule.unit_none and any(_unit_has(name, unit, side, kind, ctx) for name in rule.unit_none):
        return None
    if rule.any:
        terms = _new_terms(rule.any, unit, kind, rule.novel, ctx, also=rule.also, unless=rule.unless)
        if not terms:
            return None
        evidence = dedupe(phrase for _, phrase in terms)
        matched = [m for m, _ in terms]
    else:
        evidence = piece_evidence(unit, kind, rules)
        matched = []
    severity, reason, adjusted, note, strength = rule.severity, rule.reason, "", "", rule.strength
    for n, adjust in enumerate(rule.adjusts):
        outcome = _adjust(adjust, rule, unit, kind, side, matched, ctx)
        if outcome is not None:
            severity, strength = adjust.severity, adjust.strength
            reason = f"{rule.reason} {adjust.reason}{outcome}".strip()
            adjusted, note = f"{rule.id}.adjust.{n}", outcome
            break
    return Finding(rule.category, severity, reason, evidence, rule.id, adjusted, note, strength=strength)


def _adjust(adjust, rule: Rule, unit: Unit, kind: str, side: str, matched: list[str], ctx: Context) -> str | None:
    """None when the adjustment does not apply, else a note for the reason (possibly '')."""
    rules = ctx.rules
    note = ""
    if adjust.if_new:
        if adjust.min_cues > 1:
            # Several cues together: each lexicon that matches new words is one cue.
            cues = sum(1 for name in adjust.if_new
                       if _new_terms([name], unit, kind, adjust.novel or rule.novel, ctx, unless=["negation"]))
            if cues < adjust.min_cues:
                return None
        terms = _new_terms(adjust.if_new, unit, kind, adjust.novel or rule.novel, ctx, unless=["negation"])
        if not terms:
            return None
        note += " [" + ", ".join(dedupe(m for m, _ in terms)[:6]) + "]"
    for name in adjust.if_present:
        hit = _unit_has(name, unit, side, kind, ctx)
        if not hit:
            return None
        if isinstance(hit, str):
            note += f" [{hit}]"
    if adjust.if_in_clause:
        # Clause-level context: the basis may be stated in another paragraph of the same clause
        # (the country in one paragraph, the standard contractual clauses in the next).
        clause = ctx.new_clause_text if _SIDES[kind][0] == "new" else ctx.old_clause_text
        hits = [m.group(0) for name in adjust.if_in_clause for m in [rules.search(name, clause)] if m]
        if not hits:
            return None
        note += " [" + ", ".join(dedupe(hits)[:3]) + "]"
    if adjust.if_all_evidence:
        if not matched or not all(rules.fullmatch(adjust.if_all_evidence, m) for m in matched):
            return None
    return note


def _unit_has(name: str, unit: Unit, side: str, kind: str, ctx: Context):
    """A unit-level condition: a unit built-in ('@item'...), or a lexicon anywhere in the unit."""
    b = BUILTINS.get(name)
    if b is not None:
        return b(unit, side, kind, ctx)
    return bool(ctx.rules.search(name, side))


def _new_terms(lexicons: list[str], unit: Unit, kind: str, novel: str, ctx: Context,
               also: list[str] | None = None, unless: list[str] | None = None) -> list[tuple[str, str]]:
    """(matched words, evidence phrase) for words of these lexicons that came (or went) with this change."""
    rules = ctx.rules
    new_side = _SIDES[kind][0] == "new"
    side = unit.new if new_side else unit.old
    other = (unit.old if new_side else unit.new) if kind in ("gained", "lost") else ""
    if novel == "clause":
        reference = ctx.old_clause_text if new_side else ctx.new_clause_text
    elif novel == "document":
        reference = ctx.old_doc_text if new_side else ctx.new_doc_text
    else:
        reference = ""
    folded_reference = rules.fold(reference) if reference else ""
    other_counts = Counter(rules.fold(m.group(0)) for name in lexicons for m in rules.finditer(name, other)) if other else Counter()
    matches = [m for name in lexicons for m in rules.finditer(name, side)]
    side_counts = Counter(rules.fold(m.group(0)) for m in matches)
    other_words = _word_set(other, rules) if other else frozenset()
    out = []
    for m in matches:
        word = rules.fold(m.group(0))
        if other and side_counts[word] <= other_counts[word]:
            continue
        if other_words:
            # A phrase match ("share your information with entities affiliated with us") whose words all stand
            # in the other version of the unit restates it: only a phrase bringing a new word is new.
            said = _meaning_words(m.group(0), rules)
            if len(said) >= _PHRASE_WORDS and set(said) <= other_words:
                continue
        if folded_reference and word in folded_reference:
            continue
        sentence = _sentence(side, m.start(), m.end())
        if also and not any(rules.search(name, sentence) for name in also):
            continue
        if unless and any(_unless_hits(name, sentence, m, side, ctx) for name in unless):
            continue
        if _sentence_was_there(sentence, new_side, ctx):
            continue
        out.append((m.group(0), _phrase(side, m.start(), m.end())))
    return out


def _sentence_was_there(sentence: str, new_side: bool, ctx: Context) -> bool:
    """The whole sentence already stood in the other version (moved from another clause): not new words."""
    sentence = sentence.strip()
    if len(sentence) < _SENTENCE_MOVED_MIN:
        return False
    return key(sentence) in (ctx.docs.old_text if new_side else ctx.docs.new_text)


def _unless_hits(name: str, sentence: str, match: re.Match, side: str, ctx: Context) -> bool:
    """An `unless` lexicon blocks a match when it occurs in the match's sentence (outside the match itself);
    a match built-in ('@to_self') decides for itself."""
    b = BUILTINS.get(name)
    if b is not None:
        return b(match, sentence, side, ctx)
    for hit in ctx.rules.finditer(name, sentence):
        if hit.group(0) != match.group(0) or name == "negation":
            return True
    return False


def _span(boundary: re.Pattern, text: str, start: int, end: int) -> tuple[int, int]:
    left = max(0, start - 400)
    for m in boundary.finditer(text, left, start):
        left = m.end()
    m = boundary.search(text, end)
    return left, (m.start() if m else len(text))


def _sentence(text: str, start: int, end: int) -> str:
    left, right = _span(SENTENCE_BOUNDARY, text, start, end)
    return text[left:right]


def _phrase(text: str, start: int, end: int) -> str:
    """The words around a match, cut at punctuation, for evidence."""
    left, right = _span(_PHRASE_BOUNDARY, text, start, end)
    left, right = max(left, start - 60), min(max(right, end), end + 60)
    # Do not cut a Latin word in two at the edges of the window.
    while 0 < left < start and text[left - 1].isascii() and text[left - 1].isalnum():
        left -= 1
    while end <= right < len(text) and text[right].isascii() and text[right].isalnum():
        right += 1
    return text[left:right].strip()


def piece_evidence(unit: Unit, kind: str, rules: Rules) -> list[str]:
    """The inserted (or deleted) words of a unit with the phrase around them; a whole unit when it was added / removed."""
    if kind not in ("gained", "lost"):
        return [clip(unit.new if kind in ("added", "clause_added") else unit.old)]
    text, spans = (unit.new, unit.gained_spans) if kind == "gained" else (unit.old, unit.lost_spans)
    out = []
    for start, end in spans:
        if rules.filler_re.sub("", rules.fold(text[start:end])).strip():
            out.append(_phrase(text, start, end))
    return dedupe(clip(e) for e in out)


def fallback(unit: Unit, topics: set[str], rules: Rules) -> list[Finding]:
    """The verdict for a substantive change no rule explained: its topic's fallback, else editorial."""
    if unit.kind == "edited":
        evidence = piece_evidence(unit, "gained", rules) or piece_evidence(unit, "lost", rules)
    else:
        evidence = piece_evidence(unit, unit.kind, rules)
    own_words = f"{unit.old}\n{unit.new}"
    for name in rules.topic_order:
        topic = rules.topics[name]
        if name in topics and topic.fallback:
            if topic.fallback_if and not any(rules.search(lex, own_words) for lex in topic.fallback_if):
                continue    # the unit states no fact of this topic (fallback.if)
            fb = topic.fallback
            return [Finding(fb["category"], fb["severity"], fb["reason"], evidence, f"topic.{name}.fallback")]
    return [Finding("editorial", "minor", "substantive rewording that fits no other category", evidence,
                    "fallback.editorial")]
