"""Bilingual policies: the Japanese and the English text of one policy must say the same thing.

A policy written in both languages (a Japanese half and an English half one after the other, or each
clause in both languages side by side) is one promise to its users in two texts. When a revision
changes one text materially and not the other, or the two texts reach different verdicts, a user
reading one language is told something else than one reading the other: staff must know (legal
review: which text governs, and the other must follow).

How: each version is projected into its Japanese-only and its English-only text (every line whose
letters are clearly one language goes to that projection; a line without letters of either, such as
a number or a date, to both), and each projection's revision is judged on its own, with its own
language's rules (segment -> diff -> classify, as for any policy). The two verdicts are compared:

- one text changed materially (notice / consent), the other not at all     -> `one_half`
- one material, the other to another severity (consent / notice / minor)   -> `severity`
- both material, with no category in common (different facts changed)     -> `facts`

The thresholds of "bilingual" and the language of a line are in this module's constants; the words
of the reasons are rules/reasons.toml (codes bilingual.*), the routing of a disagreement is
rules/routing.toml (`bilingual_mismatch = true`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from watcher.diff import diff_clauses
from watcher.judge.classify import classify
from watcher.models import SEVERITY_RANK, ClauseChange, Document, Reason, max_severity
from watcher.segment import segment

LANGUAGES = ("ja", "en")
MATERIAL = ("notice", "consent")
_JA_LETTER = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_LATIN_LETTER = re.compile(r"[A-Za-z]")
_HIRAGANA = re.compile(r"[\u3041-\u309f]")
# A line with hiragana is Japanese prose (it may quote English product names: 「Google Analyticsを利用」);
# otherwise the letters of one language must be most of the line (an English line may name 株式会社...).
# A Japanese letter says more than a Latin one (a word is 2-3 kanji/kana, 5-6 Latin letters): weigh it so.
_JA_WEIGHT = 2.5
_CLEAR_SHARE = 0.75
# A document is bilingual when each language has at least this many lines and this share of the
# weighted letters: a Japanese policy with a few English product lines is not.
_MIN_LINES = 2
_MIN_SHARE = 0.2


@dataclass
class Half:
    """One language's text of the policy, and the verdict on its revision judged alone."""

    language: str
    severity: str = "none"
    categories: list[str] = field(default_factory=list)           # of its substantive changes
    material_categories: list[str] = field(default_factory=list)  # of its material changes
    evidence: list[str] = field(default_factory=list)


@dataclass
class Agreement:
    """Whether the two language texts of a bilingual policy were revised alike."""

    halves: dict[str, Half]
    agree: bool = True
    code: str = ""            # bilingual.one_half / bilingual.severity / bilingual.facts ("" when they agree)
    changed: str = ""         # the language whose text changed (more); "" when they agree
    other: str = ""

    @property
    def mismatch(self) -> bool:
        return not self.agree

    def to_dict(self, reason: str = "") -> dict:
        """JSON v1 addition `bilingual` (README): each text's verdict, and whether they agree."""
        return {"languages": list(LANGUAGES), "agree": self.agree, "code": self.code or None,
                "reason": reason or None, "changed": self.changed or None,
                "halves": {lang: {"severity": h.severity, "categories": list(h.categories),
                                  "material_categories": list(h.material_categories)}
                           for lang, h in self.halves.items()}}

    def fields(self) -> dict:
        """The {fields} of the reason text (rules/reasons.toml bilingual.*; a language is a piece, language.*)."""
        a, b = self.halves[self.changed], self.halves[self.other]
        return {"changed": [(f"language.{self.changed}", {})], "other": [(f"language.{self.other}", {})],
                "changed_severity": a.severity,
                "other_severity": b.severity, "changed_categories": ", ".join(a.material_categories or a.categories) or "-",
                "other_categories": ", ".join(b.material_categories or b.categories) or "-"}


def line_language(text: str) -> str:
    """"ja" or "en" when the line's letters are clearly that language, else "" (no letters, or mixed)."""
    if _HIRAGANA.search(text):
        return "ja"
    ja = len(_JA_LETTER.findall(text)) * _JA_WEIGHT
    en = len(_LATIN_LETTER.findall(text))
    total = ja + en
    if total == 0:
        return ""
    if ja / total >= _CLEAR_SHARE:
        return "ja"
    if en / total >= _CLEAR_SHARE:
        return "en"
    return ""


def is_bilingual(doc: Document) -> bool:
    """Both languages carry a fair share of the document (not a Japanese policy quoting product names)."""
    lines = {lang: 0 for lang in LANGUAGES}
    weight = {lang: 0.0 for lang in LANGUAGES}
    for line in doc.lines:
        lang = line_language(line.text)
        if lang:
            lines[lang] += 1
            weight[lang] += len(_JA_LETTER.findall(line.text)) * _JA_WEIGHT if lang == "ja" \
                else len(_LATIN_LETTER.findall(line.text))
    total = sum(weight.values())
    return total > 0 and all(lines[lang] >= _MIN_LINES and weight[lang] / total >= _MIN_SHARE for lang in LANGUAGES)


def project(doc: Document, language: str) -> Document:
    """The document's text in one language: its lines in that language, and the lines of neither."""
    return replace(doc, lines=[line for line in doc.lines if line_language(line.text) in ("", language)])


def judge_half(old: Document, new: Document, language: str) -> Half:
    """The revision of one language's text, judged as a policy of its own."""
    old_clauses, new_clauses = segment(project(old, language)), segment(project(new, language))
    changes, _ = diff_clauses(old_clauses, new_clauses)
    verdicts = classify(changes, old_clauses, new_clauses, language)
    substantive = [v for v in verdicts if v.severity != "none"]
    material = [v for v in substantive if v.severity in MATERIAL]
    half = Half(language=language, severity=max_severity(v.severity for v in verdicts))
    for group, target in ((substantive, half.categories), (material, half.material_categories)):
        for v in group:
            target.extend(c for c in v.categories if c not in target)
    for v in material or substantive:
        half.evidence.extend(e for e in v.evidence if e not in half.evidence)
    return half


def agreement(old: Document, new: Document, substantive: bool = True) -> Agreement | None:
    """The two language texts' verdicts compared; None when the policy is not bilingual (in both versions).
    `substantive` False: the whole revision changes nothing of substance, so neither text does."""
    if not (is_bilingual(old) and is_bilingual(new)):
        return None
    if not substantive:
        return Agreement(halves={lang: Half(language=lang) for lang in LANGUAGES})
    return compare_halves({lang: judge_half(old, new, lang) for lang in LANGUAGES})


def compare_halves(halves: dict[str, Half]) -> Agreement:
    """Whether the two texts' verdicts agree, and how they differ when they do not."""
    ja, en = halves["ja"], halves["en"]
    more, less = (ja, en) if SEVERITY_RANK[ja.severity] >= SEVERITY_RANK[en.severity] else (en, ja)
    code = ""
    if more.severity in MATERIAL and less.severity == "none":
        code = "bilingual.one_half"
    elif more.severity in MATERIAL and more.severity != less.severity:
        code = "bilingual.severity"
    elif more.severity in MATERIAL and not set(more.material_categories) & set(less.material_categories):
        code = "bilingual.facts"
    if not code:
        return Agreement(halves=halves)
    return Agreement(halves=halves, agree=False, code=code, changed=more.language, other=less.language)


def mark_changes(changes: list[ClauseChange], found: Agreement | None, text: str) -> list[ClauseChange]:
    """The report's changes with the disagreement as a reason on the material changes of the text that
    changed (all material changes when none of them can be told apart by language)."""
    if found is None or found.agree:
        return changes
    material = [n for n, c in enumerate(changes) if c.severity in MATERIAL]
    if not material:
        material = [n for n, c in enumerate(changes) if c.severity != "none"]
    own = [n for n in material if _change_language(changes[n]) == found.changed]
    marked = list(changes)
    for n in own or material:
        change = changes[n]
        if text in change.reasons:
            continue
        reason = Reason(found.code, text, [], fields=found.fields())
        marked[n] = replace(change, reasons=[*change.reasons, text], details=[*change.details, reason])
    return marked


def _change_language(change: ClauseChange) -> str:
    evidence = " ".join(change.evidence)
    if evidence:
        return line_language(evidence)
    node = change.new or change.old
    return line_language(node.full_text()) if node is not None else ""
