"""Classify clause changes under APPI (TAXONOMY.md): categories, severity, reasons, evidence.

The judgement itself is data: watcher/rules/<language>.toml holds the topics, the word
lists and the rules (see the header of that file). This module only cuts each changed
clause into units (items / paragraphs added, removed or edited), finds what each unit
is about, runs the rules on the words that came or went, and sums the findings up.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path

from rapidfuzz import fuzz

from watcher.diff import inline_ops
from watcher.errors import ConfigError
from watcher.models import SEVERITIES, SEVERITY_RANK, Clause, ClauseChange, max_severity
from watcher.normalize import key
from watcher.route import find_revision_clause, parse_promises, weakened_promises

# Set to a list to record (clause label, unit, topics, findings) for each judged unit: a window for
# rule authors into why a verdict came out as it did (see bench/ or a REPL); None in normal runs.
TRACE: list | None = None

# Verdicts the diff stage sets before we run; they are kept as they are.
STRUCTURAL = {"moved", "renumbered", "formatting", "effective_date_changed"}

# Sentence ends: Japanese full stops, line breaks, and a Latin full stop or semicolon before a space.
_SENTENCE_BOUNDARY = re.compile(r"[。！？!?\n|]|\.(?=\s|$)|;(?=\s)")
_PHRASE_BOUNDARY = re.compile(r"[。！？!?\n|、；「」()（）]|\.(?=\s|$)|;(?=\s)")
_EVIDENCE_MAX = 160
# An added item this similar (0-100) to an item of the old clause is "the same kind of use".
_SIMILAR_OLD = 65.0
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
_NAME_WORD = re.compile(r"[A-Za-z][A-Za-z0-9.\-]*|[ァ-ヶー]+")
# A sentence at least this long found word for word in the other version is not new there.
_SENTENCE_MOVED_MIN = 15
# Bilingual policies: a clause / unit is judged with the other language's rules only when it is clearly
# written in it (share of kana/kanji among its letters) and long enough for that to mean something.
_JA_LETTER = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_LANG_MIN_LETTERS = 30
_CLEARLY_EN = 0.05
_CLEARLY_JA = 0.3


RULES_DIR = Path(__file__).parent / "rules"

# The closed vocabulary of TAXONOMY.md.
CATEGORIES = (
    "purpose_added", "purpose_modified", "purpose_removed", "data_added", "data_removed", "sensitive_data_added",
    "third_party_added", "third_party_removed", "opt_out_added", "joint_use_changed", "foreign_transfer_added",
    "processor_changed", "tracking_changed", "retention_changed", "rights_changed", "fee_changed", "security_changed",
    "contact_changed", "controller_changed", "children_changed", "anonymization_changed", "revision_clause_changed",
    "editorial", "effective_date_changed", "formatting", "moved", "renumbered",
)
CHANGE_KINDS = ("added", "removed", "gained", "lost", "clause_added", "clause_removed")
BUILTINS = ("@item", "@top_item", "@similar_old", "@rename_only", "@to_self", "@names_old_service")
PSEUDO_TOPICS = ("preamble", "metadata")


# ---------------------------------------------------------------------------
# The rules file
# ---------------------------------------------------------------------------

@dataclass
class Topic:
    name: str
    label: str
    headings: re.Pattern | None
    not_headings: re.Pattern | None
    markers: re.Pattern | None
    overrides: list[str]
    fallback: dict | None


@dataclass
class Adjust:
    severity: str
    reason: str
    if_new: list[str]
    if_present: list[str]
    if_all_evidence: str
    novel: str
    if_in_clause: list[str] = field(default_factory=list)


@dataclass
class Rule:
    id: str
    topics: frozenset[str] | None       # None: any topic
    topics_not: frozenset[str]
    change: frozenset[str]
    any: list[str]
    also: list[str]
    unless: list[str]
    unit_any: list[str]
    unit_none: list[str]
    novel: str
    category: str
    severity: str
    reason: str
    stop: bool
    adjusts: list[Adjust]

    def applies_to(self, topics: set[str]) -> bool:
        if self.topics_not & topics:
            return False
        return self.topics is None or bool(self.topics & topics)


@dataclass
class Rules:
    language: str
    lexicons: dict[str, re.Pattern]
    topics: dict[str, Topic]
    topic_order: list[str]
    rules: list[Rule]
    fold_re: re.Pattern | None
    fold_map: dict[str, str]
    filler_re: re.Pattern
    navigation_re: re.Pattern | None
    revision: dict[str, re.Pattern]
    negator_re: re.Pattern | None = None
    # Folded whole-clause / whole-document texts: rules compare against them again and again.
    _folded: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def search(self, lexicon: str, text: str):
        return self.lexicons[lexicon].search(text) if text else None

    def finditer(self, lexicon: str, text: str):
        return self.lexicons[lexicon].finditer(text) if text else iter(())

    def fullmatch(self, lexicon: str, text: str) -> bool:
        return bool(self.lexicons[lexicon].fullmatch(text))

    def fold(self, text: str) -> str:
        """Spelling variants to one spelling (頂く/いただく, 収集/取得), for deciding what really changed."""
        long_text = len(text) > 200
        if long_text and text in self._folded:
            return self._folded[text]
        folded = text.lower()
        if self.fold_re is not None:
            folded = self.fold_re.sub(lambda m: self.fold_map[m.group(0)], folded)
        if long_text:
            if len(self._folded) > 256:
                self._folded.clear()
            self._folded[text] = folded
        return folded

    def heading_topics(self, heading: str) -> set[str]:
        if not heading:
            return set()
        found = set()
        for topic in self.topics.values():
            if topic.headings and topic.headings.search(heading):
                if not (topic.not_headings and topic.not_headings.search(heading)):
                    found.add(topic.name)
        return found

    def marker_topics(self, text: str) -> set[str]:
        return {t.name for t in self.topics.values() if t.markers and t.markers.search(text)}


def _alternation(where: str, terms: list[str], patterns: list[str]) -> re.Pattern:
    parts = [re.escape(key(t)) for t in sorted(terms, key=len, reverse=True) if t]
    parts += [f"(?:{p})" for p in patterns]
    if not parts:
        raise ConfigError(f"{where}: no terms or patterns")
    try:
        return re.compile("|".join(parts), re.IGNORECASE)
    except re.error as exc:
        raise ConfigError(f"{where}: bad regular expression: {exc}") from exc


def _regex_list(where: str, patterns: list[str]) -> re.Pattern | None:
    return _alternation(where, [], patterns) if patterns else None


@lru_cache(maxsize=8)
def load_rules(language: str = "ja") -> Rules:
    """The rules for a language (rules/<language>.toml; Japanese when there is no file for it)."""
    path = RULES_DIR / f"{language}.toml"
    if not path.exists():
        path = RULES_DIR / "ja.toml"
    return parse_rules(path.read_text(encoding="utf-8"), str(path))


def parse_rules(text: str, where: str = "rules") -> Rules:
    """Read and check a rules file; any mistake raises ConfigError naming the entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from exc
    lexicons = {name: _alternation(f"{where}: lexicon.{name}", lex.get("terms", []), lex.get("patterns", []))
                for name, lex in data.get("lexicon", {}).items()}
    topics: dict[str, Topic] = {}
    for name, t in data.get("topic", {}).items():
        fallback = t.get("fallback")
        if fallback is not None:
            _check_verdict(f"{where}: topic.{name}.fallback", fallback.get("category"), fallback.get("severity"))
        topics[name] = Topic(
            name=name, label=t.get("label", name),
            headings=_regex_list(f"{where}: topic.{name}.headings", t.get("headings", [])),
            not_headings=_regex_list(f"{where}: topic.{name}.not_headings", t.get("not_headings", [])),
            markers=_regex_list(f"{where}: topic.{name}.markers", t.get("markers", [])),
            overrides=list(t.get("overrides", [])), fallback=fallback,
        )
    known_topics = set(topics) | set(PSEUDO_TOPICS)
    for t in topics.values():
        for other in t.overrides:
            if other not in known_topics:
                raise ConfigError(f"{where}: topic.{t.name}.overrides: unknown topic {other!r}")

    def lex_names(rule_where: str, names: list[str], builtins: bool = False) -> list[str]:
        for name in names:
            if name in lexicons or (builtins and name in BUILTINS):
                continue
            raise ConfigError(f"{rule_where}: unknown lexicon {name!r}")
        return list(names)

    rules: list[Rule] = []
    for n, r in enumerate(data.get("rule", [])):
        rid = r.get("id", f"#{n + 1}")
        rw = f"{where}: rule {rid}"
        _check_verdict(rw, r.get("category"), r.get("severity"))
        for kind in r.get("change", []):
            if kind not in CHANGE_KINDS:
                raise ConfigError(f"{rw}: unknown change kind {kind!r} (one of {', '.join(CHANGE_KINDS)})")
        raw_topics = r.get("topics", ["*"])
        for t in list(raw_topics) + list(r.get("topics_not", [])):
            if t != "*" and t not in known_topics:
                raise ConfigError(f"{rw}: unknown topic {t!r}")
        novel = r.get("novel", "unit")
        if novel not in ("unit", "clause", "document"):
            raise ConfigError(f"{rw}: novel must be unit, clause or document")
        adjusts = []
        for a in r.get("adjust", []):
            _check_verdict(f"{rw}: adjust", r.get("category"), a.get("severity"))
            evidence_lex = a.get("if_all_evidence", "")
            if evidence_lex:
                lex_names(rw, [evidence_lex])
            adjusts.append(Adjust(
                severity=a["severity"], reason=a.get("reason", ""),
                if_new=lex_names(rw, a.get("if_new", [])),
                if_present=lex_names(rw, a.get("if_present", []), builtins=True),
                if_all_evidence=evidence_lex, novel=a.get("novel", ""),
                if_in_clause=lex_names(rw, a.get("if_in_clause", [])),
            ))
        rules.append(Rule(
            id=rid,
            topics=None if "*" in raw_topics else frozenset(raw_topics),
            topics_not=frozenset(r.get("topics_not", [])),
            change=frozenset(r.get("change", [])),
            any=lex_names(rw, r.get("any", [])),
            also=lex_names(rw, r.get("also", [])),
            unless=lex_names(rw, r.get("unless", []), builtins=True),
            unit_any=lex_names(rw, r.get("unit_any", []), builtins=True),
            unit_none=lex_names(rw, r.get("unit_none", []), builtins=True),
            novel=novel, category=r["category"], severity=r["severity"], reason=r.get("reason", ""),
            stop=bool(r.get("stop", False)), adjusts=adjusts,
        ))
    wording = data.get("wording", {})
    fold_map: dict[str, str] = {}
    for group in wording.get("equivalents", []):
        canonical = unicodedata.normalize("NFKC", group[0]).lower()
        for variant in group:
            fold_map[unicodedata.normalize("NFKC", variant).lower()] = canonical
    fold_re = re.compile("|".join(re.escape(v) for v in sorted(fold_map, key=len, reverse=True))) if fold_map else None
    filler = sorted(wording.get("filler", []), key=len, reverse=True)
    # Latin fillers ("the", "and") are whole words; Japanese ones (の, 及び) are not delimited.
    filler_re = re.compile("|".join([rf"\b{re.escape(f)}\b" if re.fullmatch(r"[A-Za-z]+", f) else re.escape(f)
                                     for f in filler] + [r"\s+"]))
    navigation_re = _regex_list(f"{where}: wording.navigation", wording.get("navigation", []))
    negator_re = _regex_list(f"{where}: wording.negators", wording.get("negators", []))
    revision = {name: _alternation(f"{where}: revision.{name}", [], pats)
                for name, pats in data.get("revision", {}).items() if pats}
    return Rules(language=data.get("language", "ja"), lexicons=lexicons, topics=topics, topic_order=list(topics),
                 rules=rules, fold_re=fold_re, fold_map=fold_map, filler_re=filler_re, navigation_re=navigation_re,
                 revision=revision, negator_re=negator_re)


def _check_verdict(where: str, category, severity) -> None:
    if category not in CATEGORIES:
        raise ConfigError(f"{where}: unknown category {category!r} (see TAXONOMY.md)")
    if severity not in SEVERITIES:
        raise ConfigError(f"{where}: unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")


# ---------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------

@dataclass
class Unit:
    """One changed item / paragraph of a clause, as comparison keys."""

    kind: str            # added | removed | edited | clause_added | clause_removed
    old: str
    new: str
    heading: str = ""    # the heading of the item's parent inside the clause
    is_item: bool = False
    gained: list[str] = field(default_factory=list)   # inserted pieces, spelling-folded (edited units)
    lost: list[str] = field(default_factory=list)     # deleted pieces, spelling-folded (edited units)
    gained_spans: list[tuple[int, int]] = field(default_factory=list)   # where words were inserted in `new`
    lost_spans: list[tuple[int, int]] = field(default_factory=list)     # where words were deleted in `old`
    column: bool = False  # a cell of a table row: `heading` is its column header, the clause's topics do not apply


@dataclass
class Finding:
    category: str
    severity: str
    reason: str
    evidence: list[str]


class _Documents:
    """The two versions as a whole, computed only when a rule needs them (most changes never do)."""

    def __init__(self, old_clauses: list[Clause], new_clauses: list[Clause], rules: Rules):
        self.old_clauses, self.new_clauses, self.rules = old_clauses, new_clauses, rules
        # A document the segmenter could not split into clauses: its preamble / metadata hold the policy.
        self.sparse = min(sum(c.kind == "clause" for c in old_clauses),
                          sum(c.kind == "clause" for c in new_clauses)) < 2

    @cached_property
    def old_text(self) -> str:
        return _doc_text(self.old_clauses)

    @cached_property
    def new_text(self) -> str:
        return _doc_text(self.new_clauses)

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
    def old_topics(self) -> list[tuple[set[str], Clause]]:
        return [(clause_topics(c, self.rules), c) for c in self.old_clauses]

    @cached_property
    def new_topics(self) -> list[tuple[set[str], Clause]]:
        return [(clause_topics(c, self.rules), c) for c in self.new_clauses]


@dataclass
class _Context:
    """What the rules may look at besides the unit: the clauses and documents around it."""

    rules: Rules
    old_clause_text: str
    new_clause_text: str
    old_items: list[str]
    docs: _Documents

    @property
    def old_doc_text(self) -> str:
        return self.docs.old_text

    @property
    def new_doc_text(self) -> str:
        return self.docs.new_text

    @property
    def sparse(self) -> bool:
        return self.docs.sparse


def classify(changes: list[ClauseChange], old_clauses: list[Clause], new_clauses: list[Clause], language: str,
             rules: Rules | None = None) -> None:
    """Fills change.categories / severity / reasons / evidence in place.

    `rules` defaults to watcher/rules/<language>.toml; pass parse_rules(text) to try an edited rule file.
    """
    rules = rules or load_rules(language)
    todo = [c for c in changes if not (c.categories and set(c.categories) <= STRUCTURAL)]
    if not todo:
        return
    docs = {rules.language: _Documents(old_clauses, new_clauses, rules)}
    rc_old = find_revision_clause(old_clauses, language)
    rc_new = find_revision_clause(new_clauses, language)
    for change in todo:
        # A bilingual policy (an English half and a Japanese half): each clause under its own language's rules.
        node = change.new or change.old
        lang = text_language(node.full_text(), rules.language) if node is not None else rules.language
        clause_rules = rules if lang == rules.language else load_rules(lang)
        if clause_rules.language not in docs:
            docs[clause_rules.language] = _Documents(old_clauses, new_clauses, clause_rules)
        _classify_one(change, clause_rules, docs[clause_rules.language], rc_old, rc_new)


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


def key_lines(text: str) -> str:
    """Comparison key line by line: key() drops line breaks between Japanese characters, sentences need them."""
    return "\n".join(k for k in (key(line) for line in text.splitlines()) if k)


def clause_key(clause: Clause) -> str:
    """The whole clause's key, spelled as the diff stage spells it, so that key()'s cache answers."""
    return key("\n".join(n.own_text() for n in clause.walk()))


def _doc_text(clauses: list[Clause]) -> str:
    return "\n".join(clause_key(c) for c in clauses)


def _classify_one(change: ClauseChange, rules: Rules, docs: _Documents, rc_old: Clause | None,
                  rc_new: Clause | None) -> None:
    topics = set()
    for clause in (change.old, change.new):
        if clause is not None:
            topics |= clause_topics(clause, rules)
    ctx = _Context(
        rules=rules,
        old_clause_text=_clause_text(change.old),
        new_clause_text=_clause_text(change.new),
        old_items=[key_lines(n.own_text()) for n in change.old.walk()] if change.old else [],
        docs=docs,
    )
    # A whole new (or deleted) clause is compared with the other version's clauses on the same topics.
    if change.old is None:
        ctx.old_clause_text = key_lines("\n".join(c.full_text() for t, c in docs.old_topics if t & topics))
    if change.new is None:
        ctx.new_clause_text = key_lines("\n".join(c.full_text() for t, c in docs.new_topics if t & topics))

    findings: list[Finding] = []
    reworded: list[str] = []      # "old → new" for edits that change only wording
    units = build_units(change, rules)
    if change.type == "modified" and not units:
        change.categories = ["moved"]
        change.severity = "none"
        change.reasons = ["the same items in another order inside the clause"]
        return
    findings.extend(_revision_findings(change, rc_old, rc_new, rules))
    units = _pair_rephrased(units, rules)
    for unit in units:
        if _moved_text(unit, ctx):
            continue
        if unit.kind == "edited" and (not (_meaningful(unit.gained, rules) or _meaningful(unit.lost, rules))
                                      or _same_words(unit, rules)):
            reworded.extend(_rewording_evidence(unit))
            continue
        unit_rules, unit_ctx = rules, ctx
        lang = text_language(unit.new or unit.old, rules.language)
        if lang != rules.language:
            # One paragraph in the other language inside a clause (bilingual text side by side).
            unit_rules = load_rules(lang)
            unit_ctx = replace(ctx, rules=unit_rules)
        unit_topics = _unit_topics(unit, topics, unit_rules, ctx.sparse)
        found = run_rules(unit, unit_topics, unit_ctx)
        if not found:
            found = _fallback(unit, unit_topics, unit_rules)
        if TRACE is not None:
            TRACE.append(((change.new or change.old).label, unit, sorted(unit_topics), found))
        findings.extend(found)
    _summarise(change, findings, reworded, units)


def _clause_text(clause: Clause | None) -> str:
    return key_lines(clause.full_text()) if clause is not None else ""


# ---------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------

def build_units(change: ClauseChange, rules: Rules) -> list[Unit]:
    """The items / paragraphs that changed in a clause change."""
    if change.type == "added" and change.new is not None:
        return list(_tree_units(change.new, "clause_added"))
    if change.type == "removed" and change.old is not None:
        return list(_tree_units(change.old, "clause_removed"))
    root_texts = {c.own_text() for c in (change.old, change.new) if c is not None}
    units = []
    for item in change.items:
        is_root = (item.text in root_texts) or (item.old_text in root_texts)
        is_item = not is_root and bool(item.number or item.old_number)
        old, new = key_lines(item.old_text or ""), key_lines(item.text or "")
        if item.op == "added":
            units.append(Unit("added", "", new, key(item.title), is_item))
        elif item.op == "removed":
            units.append(Unit("removed", old, "", key(item.title), is_item))
        else:
            unit = Unit("edited", old, new, key(item.title), is_item)
            unit.gained, unit.lost = _edit_pieces(rules.fold(old), rules.fold(new))
            unit.gained_spans, unit.lost_spans = _edit_spans(old, new)
            units.append(unit)
    return _table_cells(units, change, rules)


_CELL_SPLIT = re.compile(r"\s*\|\s*")


def _table_header(row: str, table_lines: list[str]) -> list[str] | None:
    """The header cells of the table a row belongs to: the first line of its block of '|' lines."""
    first = row.split("\n")[0]
    try:
        i = table_lines.index(first)
    except ValueError:
        return None
    while i > 0 and "|" in table_lines[i - 1]:
        i -= 1
    if table_lines[i] == first:
        return None   # the row is the header itself
    return _CELL_SPLIT.split(table_lines[i])


def _table_cells(units: list[Unit], change: ClauseChange, rules: Rules) -> list[Unit]:
    """A changed table row is judged cell by cell under its column's header.

    In a table "purpose | data | legal basis | details", an edit in the details column is not a
    change of purpose although the row (and the header) name purposes: each cell is a unit of its
    own whose topic comes from its column header, not from the clause.
    """
    if not any("|" in u.old or "|" in u.new for u in units):
        return units
    lines = {side: (key_lines(c.full_text()).split("\n") if c is not None else [])
             for side, c in (("old", change.old), ("new", change.new))}
    out: list[Unit] = []
    for unit in units:
        text = unit.new or unit.old
        if "|" not in text or "\n" in text.strip():
            out.append(unit)
            continue
        header = _table_header(text, lines["new" if unit.new else "old"])
        old_cells = _CELL_SPLIT.split(unit.old) if unit.old else []
        new_cells = _CELL_SPLIT.split(unit.new) if unit.new else []
        if header is None or any(cells and len(cells) != len(header) for cells in (old_cells, new_cells)):
            out.append(unit)
            continue
        for n, title in enumerate(header):
            old = old_cells[n] if old_cells else ""
            new = new_cells[n] if new_cells else ""
            if old == new or not (old or new):
                continue
            if unit.kind == "edited" and old and new:
                cell = Unit("edited", old, new, key(title), False, column=True)
                cell.gained, cell.lost = _edit_pieces(rules.fold(old), rules.fold(new))
                cell.gained_spans, cell.lost_spans = _edit_spans(old, new)
            else:
                kind = unit.kind if unit.kind != "edited" else ("added" if new else "removed")
                cell = Unit(kind, old if not new else "", new, key(title), False, column=True)
            out.append(cell)
    return out


def _tree_units(clause: Clause, kind: str):
    def visit(node: Clause, heading: str, is_root: bool):
        text = key_lines(node.own_text())
        if text:
            unit = Unit(kind, text if kind == "clause_removed" else "", text if kind == "clause_added" else "",
                        heading, is_item=not is_root and bool(node.number))
            yield unit
        for child in node.children:
            yield from visit(child, "" if is_root else key(node.title), False)

    yield from visit(clause, "", True)


def _edit_pieces(old: str, new: str) -> tuple[list[str], list[str]]:
    gained, lost = [], []
    for op, a, b in inline_ops(old, new):
        if op == "equal":
            continue
        if b:
            gained.append(b)
        if a:
            lost.append(a)
    return gained, lost


def _edit_spans(old: str, new: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Positions of the inserted words in `new` and of the deleted words in `old`."""
    gained, lost = [], []
    i = j = 0
    for op, a, b in inline_ops(old, new):
        if op != "equal":
            if b:
                gained.append((j, j + len(b)))
            if a:
                lost.append((i, i + len(a)))
        i += len(a)
        j += len(b)
    return gained, lost


def _meaningful(pieces: list[str], rules: Rules) -> bool:
    """Whether inserted / deleted pieces carry words, not just particles, punctuation or spelling variants."""
    for piece in pieces:
        rest = rules.fold(piece)
        if rules.navigation_re is not None:
            rest = rules.navigation_re.sub("", rest)
        rest = rules.filler_re.sub("", rest)
        if rest.strip():
            return True
    return False


_CONTENT_WORD = re.compile(r"[一-龥々]+|[ァ-ヶー]{2,}|[A-Za-z0-9][A-Za-z0-9'\-]*")


def _same_words(unit: Unit, rules: Rules) -> bool:
    """An edit that only rephrases: every word it inserts was already in the old text and every word
    it deletes is still in the new one (「Xの提供と改善」 → 「Xを提供して改善するため」), and no negation
    came or went. Japanese particles and inflections are not words here; kanji / katakana runs are.
    """
    old, new = rules.fold(unit.old), rules.fold(unit.new)
    for pieces, other in ((unit.gained, old), (unit.lost, new)):
        for piece in pieces:
            if rules.negator_re is not None and rules.negator_re.search(piece):
                return False
            for word in _CONTENT_WORD.findall(rules.filler_re.sub(" ", piece)):
                if word.lower() not in other:
                    return False
    negations = "negation" in rules.lexicons
    return not negations or (len(list(rules.finditer("negation", unit.old)))
                             == len(list(rules.finditer("negation", unit.new))))


def _words(text: str, rules: Rules) -> set[str]:
    return {w.lower() for w in _CONTENT_WORD.findall(rules.filler_re.sub(" ", rules.fold(text)))}


def _pair_rephrased(units: list[Unit], rules: Rules) -> list[Unit]:
    """An item removed and an item added with the same content words is one item rephrased
    (「会費の請求及び決済のため」 → 「会費を請求し決済するため」): judge it as an edit of the old one."""
    removed = [u for u in units if u.kind == "removed"]
    if not removed or not any(u.kind == "added" for u in units):
        return units
    out, used = [], set()
    for unit in units:
        if unit.kind == "added":
            words = _words(unit.new, rules)
            for n, old in enumerate(removed):
                if n in used or not words or _words(old.old, rules) != words:
                    continue
                negs = rules.negator_re
                if negs is not None and len(negs.findall(old.old)) != len(negs.findall(unit.new)):
                    continue
                used.add(n)
                edit = Unit("edited", old.old, unit.new, unit.heading, unit.is_item, column=unit.column)
                edit.gained, edit.lost = _edit_pieces(rules.fold(old.old), rules.fold(unit.new))
                edit.gained_spans, edit.lost_spans = _edit_spans(old.old, unit.new)
                unit = edit
                break
        out.append(unit)
    gone = {id(removed[n]) for n in used}
    return [u for u in out if id(u) not in gone]


def _moved_text(unit: Unit, ctx: _Context) -> bool:
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
    sentences = [k for k in (key(p) for p in _SENTENCE_BOUNDARY.split(text)) if len(k) >= 8]
    return bool(sentences) and all(k in other for k in sentences)


# ---------------------------------------------------------------------------
# Topics
# ---------------------------------------------------------------------------

def clause_topics(clause: Clause, rules: Rules) -> set[str]:
    """What a top-level clause is about, from its title (or its first sentence when untitled)."""
    if clause.kind == "preamble":
        return {"preamble"}
    if clause.kind == "metadata":
        return {"metadata"}
    topics = rules.heading_topics(key(clause.title))
    if not topics:
        first = key(clause.body[0]) if clause.body else ""
        first = first.split("。")[0][:80]
        topics = rules.heading_topics(first)
    return topics


_VAGUE_TOPICS = {"preamble", "metadata", "disclaimer"}


def _unit_topics(unit: Unit, clause_topics_: set[str], rules: Rules, sparse: bool) -> set[str]:
    topics = set(clause_topics_) if not unit.column else set()
    text = unit.new or unit.old
    outside_policy = bool(clause_topics_ & {"preamble", "metadata"}) and not sparse
    if unit.heading and not outside_policy:
        topics |= rules.heading_topics(unit.heading)
    topics |= rules.marker_topics(unit.old + "\n" + unit.new)
    if not (topics - _VAGUE_TOPICS) and not outside_policy and not unit.column:
        # No topic from the headings: judge by the unit's own first words (a heading-like lead).
        topics |= rules.heading_topics(text.split("\n")[0][:60])
    for name in list(topics):
        topic = rules.topics.get(name)
        if topic is not None:
            topics -= set(topic.overrides) - {name}
    # A clause about both collected data and purposes: an item is one or the other.
    if {"purposes", "data_collected"} <= topics:
        if rules.search("collection_shape", text):
            topics.discard("purposes")
        elif rules.search("purpose_shape", text):
            topics.discard("data_collected")
    return topics


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------

_SIDES = {
    "added": ("new", "added"), "clause_added": ("new", "clause_added"), "gained": ("new", "gained"),
    "removed": ("old", "removed"), "clause_removed": ("old", "clause_removed"), "lost": ("old", "lost"),
}


def _change_kinds(unit: Unit, rules: Rules) -> list[str]:
    if unit.kind == "edited":
        return [kind for kind, pieces in (("gained", unit.gained), ("lost", unit.lost)) if _meaningful(pieces, rules)]
    return [unit.kind]


def run_rules(unit: Unit, topics: set[str], ctx: _Context) -> list[Finding]:
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


def _apply(rule: Rule, unit: Unit, kind: str, ctx: _Context) -> Finding | None:
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
        evidence = _dedupe(phrase for _, phrase in terms)
        matched = [m for m, _ in terms]
    else:
        evidence = _piece_evidence(unit, kind, rules)
        matched = []
    severity, reason = rule.severity, rule.reason
    for adjust in rule.adjusts:
        outcome = _adjust(adjust, rule, unit, kind, side, matched, ctx)
        if outcome is not None:
            severity = adjust.severity
            reason = f"{rule.reason} {adjust.reason}{outcome}".strip()
            break
    return Finding(rule.category, severity, reason, evidence)


def _adjust(adjust, rule: Rule, unit: Unit, kind: str, side: str, matched: list[str], ctx: _Context) -> str | None:
    """None when the adjustment does not apply, else a note for the reason (possibly '')."""
    rules = ctx.rules
    note = ""
    if adjust.if_new:
        terms = _new_terms(adjust.if_new, unit, kind, adjust.novel or rule.novel, ctx, unless=["negation"])
        if not terms:
            return None
        note += " [" + ", ".join(_dedupe(m for m, _ in terms)[:6]) + "]"
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
        note += " [" + ", ".join(_dedupe(hits)[:3]) + "]"
    if adjust.if_all_evidence:
        if not matched or not all(rules.fullmatch(adjust.if_all_evidence, m) for m in matched):
            return None
    return note


def _unit_has(name: str, unit: Unit, side: str, kind: str, ctx: _Context):
    """A unit-level condition: a lexicon anywhere in the unit, or a built-in '@' test."""
    if name == "@item":
        return unit.is_item
    if name == "@top_item":
        # A list item directly under the clause (a purpose in the list of purposes), not one nested
        # under a sub-heading (a name in a list of partners), and long enough to say something.
        return unit.is_item and not unit.heading and len(side) >= 6
    if name == "@names_old_service":
        return _names_old_service(side, ctx)
    if name == "@similar_old":
        return _similar_old(side, ctx)
    if name == "@rename_only":
        return kind == "gained" and _rename_only(unit, ctx)
    return bool(ctx.rules.search(name, side))


def _similar_old(text: str, ctx: _Context) -> str | bool:
    """The old item this text closely resembles ('the same kind of use'), if any."""
    best, best_score = "", 0.0
    core = _strip_purpose_tail(text)
    for old in ctx.old_items:
        if not old or len(old) > 4 * max(len(text), 1):
            continue
        score = fuzz.ratio(core, _strip_purpose_tail(old))
        if score > best_score:
            best, best_score = old, score
    return _clip(best, 60) if best_score >= _SIMILAR_OLD else False


_PRODUCT_NAME = re.compile(r"[A-Z][A-Za-z0-9]{2,}|[ァ-ヶー]{3,}")


def _names_old_service(text: str, ctx: _Context) -> str | bool:
    """A product or service name in the new text that the old policy already named (Firefox, pixiv…):
    a new purpose about that same service is the same line of business."""
    old = ctx.old_doc_text
    for name in _PRODUCT_NAME.findall(text):
        if name in old and not ctx.rules.search("purpose_red_flags", name):
            return name
    return False


def _strip_purpose_tail(text: str) -> str:
    return text.rstrip("。.").removesuffix("のため").removesuffix("ため")


def _rename_only(unit: Unit, ctx: _Context) -> bool:
    """Only company names were swapped, one for one; no new kind of party or data item."""
    rules = ctx.rules
    new_names = _gained_matches("company_names", unit.new, unit.old, rules)
    old_names = _gained_matches("company_names", unit.old, unit.new, rules)
    if not old_names or len(new_names) > len(old_names):
        return False
    return not (_gained_matches("joint_parties", unit.new, unit.old, rules)
                or _gained_matches("data_terms", unit.new, unit.old, rules))


def _gained_matches(lexicon: str, side: str, other: str, rules: Rules) -> list[str]:
    found = [m.group(0) for m in rules.finditer(lexicon, side)]
    before = Counter(rules.fold(m.group(0)) for m in rules.finditer(lexicon, other))
    now = Counter(rules.fold(m) for m in found)
    return [m for m in found if now[rules.fold(m)] > before[rules.fold(m)]]


def _new_terms(lexicons: list[str], unit: Unit, kind: str, novel: str, ctx: _Context,
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
    out = []
    for m in matches:
        word = rules.fold(m.group(0))
        if other and side_counts[word] <= other_counts[word]:
            continue
        if folded_reference and word in folded_reference:
            continue
        sentence = _sentence(side, m.start(), m.end())
        if also and not any(rules.search(name, sentence) for name in also):
            continue
        if unless and any(_unless_hits(name, sentence, m, rules, side, ctx) for name in unless):
            continue
        if _sentence_was_there(sentence, new_side, ctx):
            continue
        out.append((m.group(0), _phrase(side, m.start(), m.end())))
    return out


def _sentence_was_there(sentence: str, new_side: bool, ctx: _Context) -> bool:
    """The whole sentence already stood in the other version (moved from another clause): not new words."""
    sentence = sentence.strip()
    if len(sentence) < _SENTENCE_MOVED_MIN:
        return False
    return key(sentence) in (ctx.docs.old_text if new_side else ctx.docs.new_text)


def _unless_hits(name: str, sentence: str, match, rules: Rules, side: str, ctx: _Context) -> bool:
    """An `unless` lexicon blocks a match when it occurs in the match's sentence (outside the match itself).

    "@to_self": the words just before the match name the company itself (「Mozillaに提供」 is no provision).
    """
    if name == "@to_self":
        before = side[max(0, match.start() - 40):match.start()].rstrip()
        if any(before.endswith(n) for n in ctx.docs.self_names):
            return True
        # A match that itself names the recipient (「Mozillaのサーバーに送信」, "sent to Mozilla").
        words = set(_NAME_WORD.findall(match.group(0)))
        return any(n in words for n in ctx.docs.self_names)
    for hit in rules.finditer(name, sentence):
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
    left, right = _span(_SENTENCE_BOUNDARY, text, start, end)
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


def _clip(text: str, limit: int = _EVIDENCE_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dedupe(items) -> list[str]:
    seen, out = set(), []
    for item in items:
        if item and item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _piece_evidence(unit: Unit, kind: str, rules: Rules) -> list[str]:
    """The inserted (or deleted) words of a unit with the phrase around them; a whole unit when it was added / removed."""
    if kind not in ("gained", "lost"):
        return [_clip(unit.new if kind in ("added", "clause_added") else unit.old)]
    text, spans = (unit.new, unit.gained_spans) if kind == "gained" else (unit.old, unit.lost_spans)
    out = []
    for start, end in spans:
        if rules.filler_re.sub("", rules.fold(text[start:end])).strip():
            out.append(_phrase(text, start, end))
    return _dedupe(_clip(e) for e in out)


def _fallback(unit: Unit, topics: set[str], rules: Rules) -> list[Finding]:
    if unit.kind == "edited":
        evidence = _piece_evidence(unit, "gained", rules) or _piece_evidence(unit, "lost", rules)
    else:
        evidence = _piece_evidence(unit, unit.kind, rules)
    for name in rules.topic_order:
        if name in topics and rules.topics[name].fallback:
            fb = rules.topics[name].fallback
            return [Finding(fb["category"], fb["severity"], fb["reason"], evidence)]
    return [Finding("editorial", "minor", "substantive rewording that fits no other category", evidence)]


# ---------------------------------------------------------------------------
# Revision clause
# ---------------------------------------------------------------------------

def _within(node: Clause | None, clause: Clause | None) -> Clause | None:
    if node is None or clause is None:
        return None
    return node if any(n is node for n in clause.walk()) else None


def _revision_findings(change: ClauseChange, rc_old: Clause | None, rc_new: Clause | None, rules: Rules) -> list[Finding]:
    """A change to the revision clause: are the promises to notify users / ask consent weaker?"""
    old_node = _within(rc_old, change.old)
    new_node = _within(rc_new, change.new)
    if old_node is None and new_node is None:
        return []
    if new_node is None and rc_new is not None:
        # The revision clause moved to another clause: that clause's change reports on it.
        return []
    old_node = old_node or rc_old
    lang = rules.language
    before = parse_promises(old_node.full_text(), lang) if old_node else None
    after = parse_promises(new_node.full_text(), lang) if new_node else None
    if before is not None and after is None:
        if before.notify_users != "none" or before.consent_when_required:
            return [Finding("revision_clause_changed", "notice",
                            "the revision clause that promised to announce changes / ask consent was removed",
                            [_clip(key(old_node.full_text()))])]
        return [Finding("revision_clause_changed", "minor", "the revision clause was removed",
                        [_clip(key(old_node.full_text()))])]
    if before is None:
        return [Finding("revision_clause_changed", "minor",
                        "a revision clause was added; its promises apply from the next change on",
                        [_clip(key(new_node.full_text()))])]
    weaker = weakened_promises(before, after)
    if weaker:
        return [Finding("revision_clause_changed", "notice",
                        "the revision clause now promises less to users: " + "; ".join(weaker)
                        + " (the new promise applies from the next change on)", weaker)]
    if before != after:
        changed = [f"{name}: {getattr(before, name)} → {getattr(after, name)}"
                   for name in ("notify_users", "consent_when_required", "channels", "lead_time_days", "deemed_consent")
                   if getattr(before, name) != getattr(after, name)]
        return [Finding("revision_clause_changed", "minor",
                        "the revision clause's promises changed without being weakened; they apply from the next change on",
                        changed)]
    return []


# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------

def _rewording_evidence(unit: Unit) -> list[str]:
    out = []
    for op, a, b in inline_ops(unit.old, unit.new):
        if op != "equal" and (a.strip() or b.strip()):
            out.append(f"{a.strip()} → {b.strip()}")
    return out[:6]


def _summarise(change: ClauseChange, findings: list[Finding], reworded: list[str], units: list[Unit]) -> None:
    substantive = [f for f in findings if f.category != "editorial" or f.severity != "minor"]
    if not findings:
        if reworded:
            findings = [Finding("editorial", "minor",
                                "wording only (synonyms, spelling variants, particles, links); the meaning is unchanged",
                                _dedupe(reworded))]
        else:
            # Every unit was text that moved between clauses.
            change.categories = ["moved"]
            change.severity = "none"
            change.reasons = ["the text moved to / from another clause"]
            return
    elif substantive:
        findings = substantive
    by_category: dict[str, Finding] = {}
    reasons: list[str] = []
    evidence: list[str] = []
    for f in findings:
        current = by_category.get(f.category)
        if current is None or SEVERITY_RANK[f.severity] > SEVERITY_RANK[current.severity]:
            by_category[f.category] = f
    ordered = sorted(by_category.values(), key=lambda f: -SEVERITY_RANK[f.severity])
    for f in findings:
        if f.reason not in reasons and (f is by_category[f.category] or f.severity == by_category[f.category].severity):
            reasons.append(f.reason)
        for e in f.evidence:
            if e not in evidence:
                evidence.append(e)
    categories = [f.category for f in ordered]
    if change.type == "modified" and change.old and change.new and key(change.old.number) != key(change.new.number):
        categories.append("renumbered")
    change.categories = categories
    change.severity = max_severity(f.severity for f in ordered)
    change.reasons = reasons
    change.evidence = evidence[:12]
