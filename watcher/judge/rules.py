"""The rules files: rules/<language>.toml (classification) and rules/routing.toml (who is told).

Reading checks everything a mistake could break later: unknown categories, severities, change
kinds, lexicons, topics and built-ins named by a rule are refused, and so is a file that lacks a
lexicon, topic or revision pattern the engine itself (its Python code or a built-in) uses. Every
refusal is a one-line ConfigError naming the file and the entry.
"""

from __future__ import annotations

import re
import string
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from watcher.errors import ConfigError
from watcher.judge.builtins import BUILTINS
from watcher.judge.meaning import Meaning, parse_meaning
from watcher.models import SEVERITIES, Promises
from watcher.normalize import key

RULES_DIR = Path(__file__).parent.parent / "rules"
ROUTING_FILE = RULES_DIR / "routing.toml"

# The closed vocabulary of TAXONOMY.md.
CATEGORIES = (
    "purpose_added", "purpose_modified", "purpose_removed", "data_added", "data_removed", "sensitive_data_added",
    "third_party_added", "third_party_removed", "opt_out_added", "joint_use_changed", "foreign_transfer_added",
    "processor_changed", "tracking_changed", "retention_changed", "rights_changed", "fee_changed", "security_changed",
    "contact_changed", "controller_changed", "children_changed", "anonymization_changed", "revision_clause_changed",
    "editorial", "effective_date_changed", "formatting", "moved", "renumbered",
)
# How much a finding's cue decides: a "weak" one (a word that may signal the practice without stating it)
# never makes consent alone; routing.toml sends such a change to legal review.
STRENGTHS = ("strong", "weak")
# The key of a Reason's fields that marks a reason found on a weak cue only (classify.py -> route.py).
WEAK_CUE_FIELD = "cue"
CHANGE_KINDS = ("added", "removed", "gained", "lost", "clause_added", "clause_removed")
PSEUDO_TOPICS = ("preamble", "metadata")

# What the engine's Python code names itself (the built-ins declare their own lexicons in BUILTINS):
# a rules file without one of these is refused at load.
ENGINE_LEXICONS = (
    "negation",           # a negated sentence is no handling; an edit adding / removing one is never rewording
    "collection_shape",   # an item of a clause on both data and purposes that lists data ...
    "purpose_shape",      # ... or that states a purpose
)
ENGINE_TOPICS = (
    "purposes", "data_collected",   # a unit of a clause about both is one or the other
    "disclaimer",                   # a vague topic: a unit only under it is judged by its own first words
)
# How a revision clause is read (revision.py): every name is a [revision] entry of each rules file.
CHANNELS = ("website", "service", "email", "app", "unspecified")
REVISION_PATTERNS = ("titles", "not_titles", "body", "no_notice", "material", "refers_back", "announce", "consent",
                     "not_consent", "deemed_consent", *CHANNELS, "addressed", "public_means", "separate_notice",
                     "lead_time", "lead_time_after")


def required_lexicons() -> dict[str, str]:
    """Lexicon name -> who uses it (the engine, or a built-in)."""
    needed = {name: "the engine" for name in ENGINE_LEXICONS}
    for builtin_name, fn in BUILTINS.items():
        for name in fn.lexicons:
            needed.setdefault(name, f"the built-in {builtin_name}")
    return needed


# ---------------------------------------------------------------------------
# rules/<language>.toml
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
    # Lexicons one of which the changed unit's own words must match for the fallback to apply: what makes a
    # unit a fact of this topic (a product list in the "Who we are" section is no controller detail).
    fallback_if: list[str] = field(default_factory=list)


@dataclass
class Adjust:
    severity: str
    reason: str
    if_new: list[str]
    if_present: list[str]
    if_all_evidence: str
    novel: str
    if_in_clause: list[str] = field(default_factory=list)
    strength: str = "strong"        # "weak": the cue alone does not decide (routing: legal_review)
    min_cues: int = 1               # at least this many of the if_new lexicons must match (each one cue)


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
    strength: str = "strong"        # as Adjust.strength, for the rule's own verdict

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
    meaning: Meaning = field(default_factory=Meaning)      # what a meaning key leaves out (judge/meaning.py)
    meaning_cache: dict = field(default_factory=dict, repr=False, compare=False)
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


class LazyPattern:
    """A rule file's regular expression, compiled at its first use (then a plain re.Pattern does
    the work). The packaged rule files hold about a hundred large alternations, 0.1 s or more to
    compile, and a process uses few of them: a `watch diff` with no change only the revision
    clause's. A bad expression is then the same ConfigError, raised at that first use."""

    __slots__ = ("pattern", "_flags", "_where", "_compiled")

    def __init__(self, pattern: str, flags: int, where: str):
        self.pattern, self._flags, self._where, self._compiled = pattern, flags, where, None

    def compiled(self) -> re.Pattern:
        if self._compiled is None:
            try:
                self._compiled = re.compile(self.pattern, self._flags)
            except re.error as exc:
                raise ConfigError(f"{self._where}: bad regular expression: {exc}") from exc
        return self._compiled

    def __getattr__(self, name: str):           # search, finditer, fullmatch, sub, flags ...
        if name.startswith("__"):               # copy/pickle probes: this object, not the pattern
            raise AttributeError(name)
        return getattr(self.compiled(), name)

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern[:40]!r}{'...' if len(self.pattern) > 40 else ''})"


def _alternation(where: str, terms: list[str], patterns: list[str], lazy: bool = False) -> re.Pattern | LazyPattern:
    parts = [re.escape(key(t)) for t in sorted(terms, key=len, reverse=True) if t]
    parts += [f"(?:{p})" for p in patterns]
    if not parts:
        raise ConfigError(f"{where}: no terms or patterns")
    pattern = LazyPattern("|".join(parts), re.IGNORECASE, where)
    return pattern if lazy else pattern.compiled()


def _regex_list(where: str, patterns: list[str], lazy: bool = False) -> re.Pattern | LazyPattern | None:
    return _alternation(where, [], patterns, lazy) if patterns else None


@lru_cache(maxsize=8)
def load_rules(language: str = "ja") -> Rules:
    """The rules for a language (rules/<language>.toml; Japanese when there is no file for it)."""
    path = RULES_DIR / f"{language}.toml"
    if not path.exists():
        path = RULES_DIR / "ja.toml"
    # compiled at first use: tests/test_startup.py compiles every packaged file's expressions
    return parse_rules(path.read_text(encoding="utf-8"), str(path), compile_now=False)


def _toml(text: str, where: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from exc


def parse_rules(text: str, where: str = "rules", *, compile_now: bool = True) -> Rules:
    """Read and check a rules file; any mistake raises ConfigError naming the entry. With
    compile_now=False its regular expressions are LazyPatterns, checked at their first use."""
    data = _toml(text, where)
    lazy = not compile_now
    lexicons = {name: _alternation(f"{where}: lexicon.{name}", lex.get("terms", []), lex.get("patterns", []), lazy)
                for name, lex in data.get("lexicon", {}).items()}
    topics: dict[str, Topic] = {}
    for name, t in data.get("topic", {}).items():
        fallback = t.get("fallback")
        if fallback is not None:
            _check_verdict(f"{where}: topic.{name}.fallback", fallback.get("category"), fallback.get("severity"))
            if "reason" not in fallback:
                raise ConfigError(f"{where}: topic.{name}.fallback: no reason")
        topics[name] = Topic(
            name=name, label=t.get("label", name),
            headings=_regex_list(f"{where}: topic.{name}.headings", t.get("headings", []), lazy),
            not_headings=_regex_list(f"{where}: topic.{name}.not_headings", t.get("not_headings", []), lazy),
            markers=_regex_list(f"{where}: topic.{name}.markers", t.get("markers", []), lazy),
            overrides=list(t.get("overrides", [])), fallback=fallback,
            fallback_if=list((fallback or {}).get("if", [])),
        )
    _check_required(where, lexicons, topics, data.get("revision", {}))
    known_topics = set(topics) | set(PSEUDO_TOPICS)
    for t in topics.values():
        for name in t.fallback_if:
            if name not in lexicons:
                raise ConfigError(f"{where}: topic.{t.name}.fallback.if: unknown lexicon {name!r}")
        for other in t.overrides:
            if other not in known_topics:
                raise ConfigError(f"{where}: topic.{t.name}.overrides: unknown topic {other!r}")

    def lex_names(rule_where: str, names: list[str], scope: str | None = None) -> list[str]:
        """Check that each name is a lexicon, or (where `scope` allows built-ins) a built-in of that scope."""
        for name in names:
            if name in lexicons:
                continue
            if scope is not None and name in BUILTINS:
                if BUILTINS[name].scope != scope:
                    raise ConfigError(f"{rule_where}: the built-in {name!r} cannot be used here "
                                      f"(a {BUILTINS[name].scope} built-in)")
                continue
            if name.startswith("@"):
                raise ConfigError(f"{rule_where}: unknown built-in {name!r} (one of {', '.join(BUILTINS)})")
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
            min_cues = a.get("min_cues", 1)
            if not isinstance(min_cues, int) or min_cues < 1 or (min_cues > 1 and min_cues > len(a.get("if_new", []))):
                raise ConfigError(f"{rw}: adjust.min_cues must be a whole number from 1 to the number of if_new lexicons")
            adjusts.append(Adjust(
                severity=a["severity"], reason=a.get("reason", ""), strength=_strength(f"{rw}: adjust", a),
                min_cues=min_cues,
                if_new=lex_names(rw, a.get("if_new", [])),
                if_present=lex_names(rw, a.get("if_present", []), scope="unit"),
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
            unless=lex_names(rw, r.get("unless", []), scope="match"),
            unit_any=lex_names(rw, r.get("unit_any", []), scope="unit"),
            unit_none=lex_names(rw, r.get("unit_none", []), scope="unit"),
            novel=novel, category=r["category"], severity=r["severity"], reason=r.get("reason", ""),
            stop=bool(r.get("stop", False)), adjusts=adjusts, strength=_strength(rw, r),
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
    navigation_re = _regex_list(f"{where}: wording.navigation", wording.get("navigation", []), lazy)
    negator_re = _regex_list(f"{where}: wording.negators", wording.get("negators", []), lazy)
    revision = {name: _alternation(f"{where}: revision.{name}", [], pats, lazy)
                for name, pats in data.get("revision", {}).items() if pats}
    return Rules(language=data.get("language", "ja"), lexicons=lexicons, topics=topics, topic_order=list(topics),
                 rules=rules, fold_re=fold_re, fold_map=fold_map, filler_re=filler_re, navigation_re=navigation_re,
                 revision=revision, negator_re=negator_re, meaning=parse_meaning(where, data.get("meaning", {})))


def _check_required(where: str, lexicons: dict, topics: dict, revision: dict) -> None:
    """Refuse a file that lacks what the engine or a built-in names, or whose [revision] has unknown entries."""
    for name, user in required_lexicons().items():
        if name not in lexicons:
            raise ConfigError(f"{where}: no [lexicon.{name}]: {user} uses it")
    for name in ENGINE_TOPICS:
        if name not in topics:
            raise ConfigError(f"{where}: no [topic.{name}]: the engine uses it")
    for name in REVISION_PATTERNS:
        if name not in revision:
            raise ConfigError(f"{where}: no revision.{name}: the revision clause reader uses it "
                              "(an empty list turns it off)")
    for name in revision:
        if name not in REVISION_PATTERNS:
            raise ConfigError(f"{where}: revision.{name}: unknown entry (one of {', '.join(REVISION_PATTERNS)})")


def _strength(where: str, entry: dict) -> str:
    strength = entry.get("strength", "strong")
    if strength not in STRENGTHS:
        raise ConfigError(f"{where}: strength must be one of {', '.join(STRENGTHS)}")
    if strength == "weak" and entry.get("severity") == "consent":
        raise ConfigError(f"{where}: a weak cue cannot give consent (strength = \"weak\" with severity = \"consent\")")
    return strength


def _check_verdict(where: str, category, severity) -> None:
    if category not in CATEGORIES:
        raise ConfigError(f"{where}: unknown category {category!r} (see TAXONOMY.md)")
    if severity not in SEVERITIES:
        raise ConfigError(f"{where}: unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")


# ---------------------------------------------------------------------------
# rules/routing.toml
# ---------------------------------------------------------------------------

NOTIFY_USERS = ("none", "material", "all")
# The promise flags a condition may test (`promise.NAME`), and what each accepts.
PROMISE_FLAGS = {
    "notify_users": "a list of none / material / all",
    "consent_when_required": "true / false",
    "deemed_consent": "true / false",
    "personal_notice": "true / false",
    "lead_time_days": "true / false (it promises a number of days' notice before a change takes effect)",
}
# What a `{name}` in a note's text is replaced with.
TEXT_FIELDS = ("severity", "notify_users", "channels", "lead_time_days")
REVISION_CHANGES = ("removed_with_promises", "removed", "added", "weakened", "changed")
REVISION_CHANGE_FIELDS = {"weakened": ("weaker",)}


@dataclass(frozen=True)
class Situation:
    """What routing conditions read: the change's top severity and categories, and the old revision clause."""

    severity: str
    categories: frozenset[str]
    revision_clause: bool                 # the old version has one
    promises: Promises                    # its promises (nothing promised when there is none)
    public_channels: frozenset[str]
    users: bool | None = None             # the users decision, once made (notes may test it)
    bilingual_mismatch: bool = False      # the two language texts of a bilingual policy disagree (judge/bilingual.py)
    weak_cue: bool = False                # a material finding of the change rests on a weak cue alone (strength = "weak")

    @property
    def personal_notice(self) -> bool:
        return bool(set(self.promises.channels) - self.public_channels)


@dataclass(frozen=True)
class Condition:
    """All of its tests must hold; a test left out always holds."""

    severity: frozenset[str] | None = None
    any_category: frozenset[str] | None = None
    revision_clause: bool | None = None
    users: bool | None = None
    promise: tuple[tuple[str, object], ...] = ()
    bilingual_mismatch: bool | None = None
    weak_cue: bool | None = None

    def holds(self, s: Situation) -> bool:
        if self.severity is not None and s.severity not in self.severity:
            return False
        if self.any_category is not None and not (self.any_category & s.categories):
            return False
        if self.revision_clause is not None and s.revision_clause != self.revision_clause:
            return False
        if self.users is not None and s.users != self.users:
            return False
        if self.bilingual_mismatch is not None and s.bilingual_mismatch != self.bilingual_mismatch:
            return False
        if self.weak_cue is not None and s.weak_cue != self.weak_cue:
            return False
        for flag, wanted in self.promise:
            value = s.personal_notice if flag == "personal_notice" else getattr(s.promises, flag)
            if isinstance(wanted, frozenset) and value not in wanted:
                return False
            if isinstance(wanted, bool) and bool(value) != wanted:
                return False
        return True


def holds(conditions: tuple[Condition, ...], s: Situation) -> bool:
    """Any one of the conditions holds (an entry's `when` is one table, or a list of alternatives)."""
    return any(c.holds(s) for c in conditions)


@dataclass(frozen=True)
class Action:
    name: str
    when: tuple[Condition, ...]
    citation: str = ""


@dataclass(frozen=True)
class Note:
    id: str
    when: tuple[Condition, ...]
    text: str
    citation: str = ""

    def render(self, s: Situation) -> str:
        text = self.text.format(severity=s.severity, notify_users=s.promises.notify_users,
                                channels="/".join(s.promises.channels), lead_time_days=s.promises.lead_time_days)
        return f"{text} ({self.citation})" if self.citation else text


@dataclass(frozen=True)
class RevisionVerdict:
    category: str
    severity: str
    reason: str


@dataclass(frozen=True)
class Routing:
    users: tuple[Condition, ...]
    staff: tuple[Condition, ...]
    public_channels: frozenset[str]
    actions: tuple[Action, ...]
    notes: tuple[Note, ...]
    revision_change: dict[str, RevisionVerdict]


@lru_cache(maxsize=4)
def load_routing(path: Path = ROUTING_FILE) -> Routing:
    """rules/routing.toml: who is told, the actions and notes (with their APPI citations)."""
    return parse_routing(path.read_text(encoding="utf-8"), str(path))


def parse_routing(text: str, where: str = "routing") -> Routing:
    """Read and check a routing file; any mistake raises ConfigError naming the entry."""
    data = _toml(text, where)
    _known_keys(where, data, ("users", "staff", "promise", "action", "note", "revision_change"))
    for section in ("users", "staff"):
        if section not in data:
            raise ConfigError(f"{where}: no [{section}]")
        _known_keys(f"{where}: {section}", data[section], ("when", "note"))
    promise = data.get("promise", {})
    _known_keys(f"{where}: promise", promise, ("public_channels", "note"))
    public = promise.get("public_channels", [])
    for ch in public:
        if ch not in CHANNELS:
            raise ConfigError(f"{where}: promise.public_channels: unknown channel {ch!r} (one of {', '.join(CHANNELS)})")
    actions = []
    for n, a in enumerate(data.get("action", [])):
        aw = f"{where}: action {a.get('name', f'#{n + 1}')}"
        _known_keys(aw, a, ("name", "when", "citation", "note"))
        if not a.get("name"):
            raise ConfigError(f"{aw}: no name")
        actions.append(Action(a["name"], _when(aw, a), a.get("citation", "")))
    notes = []
    for n, x in enumerate(data.get("note", [])):
        nw = f"{where}: note {x.get('id', f'#{n + 1}')}"
        _known_keys(nw, x, ("id", "when", "text", "citation"))
        if not x.get("text"):
            raise ConfigError(f"{nw}: no text")
        _check_fields(nw, x["text"], TEXT_FIELDS)
        notes.append(Note(x.get("id", f"#{n + 1}"), _when(nw, x), x["text"], x.get("citation", "")))
    revision_change = {}
    rc = data.get("revision_change", {})
    for name in REVISION_CHANGES:
        if name not in rc:
            raise ConfigError(f"{where}: no [revision_change.{name}]: the classifier uses it")
    for name, v in rc.items():
        vw = f"{where}: revision_change.{name}"
        if name not in REVISION_CHANGES:
            raise ConfigError(f"{vw}: unknown entry (one of {', '.join(REVISION_CHANGES)})")
        _known_keys(vw, v, ("category", "severity", "reason"))
        _check_verdict(vw, v.get("category"), v.get("severity"))
        if not v.get("reason"):
            raise ConfigError(f"{vw}: no reason")
        _check_fields(vw, v["reason"], REVISION_CHANGE_FIELDS.get(name, ()))
        revision_change[name] = RevisionVerdict(v["category"], v["severity"], v["reason"])
    return Routing(users=_when(f"{where}: users", data["users"]), staff=_when(f"{where}: staff", data["staff"]),
                   public_channels=frozenset(public), actions=tuple(actions), notes=tuple(notes),
                   revision_change=revision_change)


def _known_keys(where: str, table, known: tuple[str, ...]) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table")
    for k in table:
        if k not in known:
            raise ConfigError(f"{where}: unknown key {k!r} (one of {', '.join(known)})")


def _check_fields(where: str, text: str, fields: tuple[str, ...]) -> None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ConfigError(f"{where}: bad {{field}} in text: {exc}") from exc
    for name in names:
        if name not in fields:
            raise ConfigError(f"{where}: unknown field {{{name}}} in text (one of {', '.join(fields) or 'none'})")


def _when(where: str, entry: dict) -> tuple[Condition, ...]:
    raw = entry.get("when")
    if raw is None:
        raise ConfigError(f"{where}: no when")
    tables = raw if isinstance(raw, list) else [raw]
    if not tables:
        raise ConfigError(f"{where}: when is an empty list")
    return tuple(_condition(f"{where}: when", t) for t in tables)


def _condition(where: str, t) -> Condition:
    _known_keys(where, t, ("severity", "severity_at_least", "any_category", "revision_clause", "users", "promise",
                           "bilingual_mismatch", "weak_cue"))
    severity = None
    if "severity" in t:
        severity = frozenset(_names(f"{where}.severity", t["severity"], SEVERITIES))
    if "severity_at_least" in t:
        least = t["severity_at_least"]
        if least not in SEVERITIES:
            raise ConfigError(f"{where}.severity_at_least: unknown severity {least!r} (one of {', '.join(SEVERITIES)})")
        at_least = frozenset(SEVERITIES[SEVERITIES.index(least):])
        severity = at_least if severity is None else severity & at_least
    categories = None
    if "any_category" in t:
        categories = frozenset(_names(f"{where}.any_category", t["any_category"], CATEGORIES))
    flags = []
    promise = t.get("promise", {})
    _known_keys(f"{where}.promise", promise, tuple(PROMISE_FLAGS))
    for flag, value in promise.items():
        if flag == "notify_users":
            flags.append((flag, frozenset(_names(f"{where}.promise.notify_users", value, NOTIFY_USERS))))
        elif isinstance(value, bool):
            flags.append((flag, value))
        else:
            raise ConfigError(f"{where}.promise.{flag}: must be {PROMISE_FLAGS[flag]}")
    for name in ("revision_clause", "users", "bilingual_mismatch", "weak_cue"):
        if name in t and not isinstance(t[name], bool):
            raise ConfigError(f"{where}.{name}: must be true / false")
    return Condition(severity=severity, any_category=categories, revision_clause=t.get("revision_clause"),
                     users=t.get("users"), promise=tuple(flags), bilingual_mismatch=t.get("bilingual_mismatch"),
                     weak_cue=t.get("weak_cue"))


def _names(where: str, value, allowed: tuple[str, ...]) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: must be a non-empty list")
    for v in value:
        if v not in allowed:
            raise ConfigError(f"{where}: unknown value {v!r} (one of {', '.join(allowed)})")
    return value
