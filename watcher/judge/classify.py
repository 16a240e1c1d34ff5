"""Classify clause changes under APPI (TAXONOMY.md): categories, severity, reasons, evidence.

The judgement itself is data: watcher/rules/<language>.toml holds the topics, the word lists
and the rules (see the header of that file), watcher/rules/routing.toml the verdicts on a
change to the revision clause itself. This module cuts each changed clause into units, finds
what each unit is about, runs the rules on the words that came or went, and sums the findings
up into one Verdict per change. It changes nothing: the caller applies the verdicts.
"""

from __future__ import annotations

from dataclasses import replace

from watcher.judge.builtins import default_narrowed, default_widened
from watcher.judge.engine import Context, Documents, fallback, frame_of, moved_text, run_rules
from watcher.judge.meaning import changed_sentences, sentences, words
from watcher.judge.revision import find_revision_clause, parse_promises, weakened_promises, weakenings
from watcher.judge.rules import WEAK_CUE_FIELD, Routing, Rules, load_routing, load_rules
from watcher.judge.text import clause_text, clip, dedupe, key_lines, text_language
from watcher.judge.topics import clause_topics, unit_topics
from watcher.judge.units import (
    Finding,
    Unit,
    build_units,
    edited_unit,
    meaningful,
    pair_rephrased,
    rewording_evidence,
    same_words,
)
from watcher.models import SEVERITY_RANK, Clause, ClauseChange, Reason, Verdict, max_severity
from watcher.normalize import key

# Set to a list to record (clause label, unit, topics, findings) for each judged unit: a window for
# rule authors into why a verdict came out as it did (see bench/ or a REPL); None in normal runs.
TRACE: list | None = None

# Verdicts the diff stage sets before we run; they are kept as they are.
STRUCTURAL = {"moved", "renumbered", "formatting", "effective_date_changed"}


def classify(changes: list[ClauseChange], old_clauses: list[Clause], new_clauses: list[Clause], language: str,
             rules: Rules | None = None, routing: Routing | None = None) -> list[Verdict]:
    """One Verdict per change, in order; the changes themselves are left as they are.

    A change the diff stage already judged structural (moved, renumbered...) keeps that verdict.
    `rules` defaults to watcher/rules/<language>.toml; pass parse_rules(text) to try an edited rule file
    (and `routing`, parse_routing(text), for the revision-clause verdicts of rules/routing.toml).
    """
    rules = rules or load_rules(language)
    routing = routing or load_routing()
    verdicts = [Verdict(list(c.categories), c.severity, list(c.reasons), list(c.evidence), list(c.details))
                for c in changes]
    todo = [n for n, c in enumerate(changes) if not (c.categories and set(c.categories) <= STRUCTURAL)]
    if not todo:
        return verdicts
    docs = {rules.language: Documents(old_clauses, new_clauses, rules)}
    rc_old = find_revision_clause(old_clauses, language)
    rc_new = find_revision_clause(new_clauses, language)
    for n in todo:
        change = changes[n]
        # A bilingual policy (an English half and a Japanese half): each clause under its own language's rules.
        node = change.new or change.old
        lang = text_language(node.full_text(), rules.language) if node is not None else rules.language
        clause_rules = rules if lang == rules.language else load_rules(lang)
        if clause_rules.language not in docs:
            docs[clause_rules.language] = Documents(old_clauses, new_clauses, clause_rules)
        verdicts[n] = _classify_one(change, clause_rules, docs[clause_rules.language], rc_old, rc_new, routing,
                                    verdicts[n])
    return verdicts


def _classify_one(change: ClauseChange, rules: Rules, docs: Documents, rc_old: Clause | None,
                  rc_new: Clause | None, routing: Routing, before: Verdict) -> Verdict:
    topics = set()
    for clause in (change.old, change.new):
        if clause is not None:
            topics |= clause_topics(clause, rules)
            siblings = docs.old_clauses if clause is change.old else docs.new_clauses
            if purpose_sections(clause, rules) or purpose_sibling(clause, siblings, rules):
                topics.add("purposes")
    ctx = Context(
        rules=rules,
        old_clause_text=clause_text(change.old),
        new_clause_text=clause_text(change.new),
        old_items=[key_lines(n.own_text()) for n in change.old.walk()] if change.old else [],
        docs=docs,
        old_frame=frame_of(change.old),
        new_frame=frame_of(change.new),
    )
    # A whole new (or deleted) clause is compared with the other version's clauses on the same topics.
    if change.old is None:
        ctx.old_clause_text = key_lines("\n".join(c.full_text() for t, c in docs.old_topics if t & topics))
    if change.new is None:
        ctx.new_clause_text = key_lines("\n".join(c.full_text() for t, c in docs.new_topics if t & topics))

    findings: list[Finding] = []
    reworded: list[str] = []      # "old → new" for edits that change only wording
    unchanged: set[str] = set()   # "formatting" / "moved": units whose meaning did not change
    titles = _titles(change)
    units = build_units(change, rules)
    if change.type == "modified" and not units:
        return _plain(before, "moved", "reordered", "the same items in another order inside the clause")
    findings.extend(revision_findings(change, rc_old, rc_new, rules, routing))
    units = pair_rephrased(units, rules)
    for whole in units:
        same, unit = sift(whole, ctx, titles)
        if same == "moved" and basis_moved(whole, ctx):
            same, unit = "", whole
        if same:
            unchanged.add(same)
            continue
        if moved_text(unit, ctx) and not basis_moved(unit, ctx):
            unchanged.add("moved")
            continue
        if whole.kind == "edited" and (not (meaningful(whole.gained, rules) or meaningful(whole.lost, rules))
                                       or same_words(whole, rules)):
            # The same content words rearranged (or moved inside the paragraph): the meaning may have shifted.
            reworded.extend(rewording_evidence(whole))
            continue
        unit_rules, unit_ctx = rules, ctx
        lang = text_language(unit.new or unit.old, rules.language)
        if lang != rules.language:
            # One paragraph in the other language inside a clause (bilingual text side by side).
            unit_rules = load_rules(lang)
            unit_ctx = replace(ctx, rules=unit_rules)
        topics_ = unit_topics(unit, topics, unit_rules, ctx.sparse)
        found = run_rules(unit, topics_, unit_ctx)
        if not found:
            found = fallback(unit, topics_, unit_rules)
        if TRACE is not None:
            TRACE.append(((change.new or change.old).label, unit, sorted(topics_), found))
        findings.extend(found)
    return _summarise(change, findings, reworded, unchanged, before)


def basis_moved(unit: Unit, ctx: Context) -> bool:
    """Text that moved word for word, but into a section of another basis (from 「あなたが以下の機能を使用した
    場合」 to 「…共有するよう初期設定されています」, from opt-in to on by default): the practice changed."""
    if unit.kind not in ("added", "clause_added"):
        return False
    return bool(default_widened(unit, unit.new, "added", ctx) or default_narrowed(unit, unit.new, "added", ctx))


# A clause whose sub-headings are purposes: at least this many, and at least this share of them.
_PURPOSE_HEADINGS_MIN = 2
_PURPOSE_HEADINGS_SHARE = 0.5


def purpose_sections(clause: Clause, rules: Rules) -> bool:
    """A clause that lists its purposes as sub-headings ("To provide you with the browser", 「…を提供するため」).

    Whatever its own title says ("How is your data used?"), a clause most of whose sub-headings are written
    as purposes (the lexicon purpose_shape) is about purposes: a sub-heading added there is a purpose added.
    """
    titles = [key(c.title) for c in clause.children if c.title and (c.body or c.children)]
    if len(titles) < _PURPOSE_HEADINGS_MIN:
        return False
    shaped = sum(1 for t in titles if rules.search("purpose_shape", t))
    return shaped >= _PURPOSE_HEADINGS_MIN and shaped >= _PURPOSE_HEADINGS_SHARE * len(titles)


def purpose_sibling(clause: Clause, clauses: list[Clause], rules: Rules) -> bool:
    """A top-level clause titled as a purpose next to another so titled: the purposes are the sections themselves
    (a document whose "To provide ..." headings became its top level)."""
    def shaped(c: Clause) -> bool:
        return bool(c.title) and bool(rules.search("purpose_shape", key(c.title)))
    if not shaped(clause):
        return False
    at = next((i for i, c in enumerate(clauses) if c is clause), None)
    if at is None:
        return False
    return any(0 <= j < len(clauses) and shaped(clauses[j]) for j in (at - 1, at + 1))


# ---------------------------------------------------------------------------
# Meaning first
# ---------------------------------------------------------------------------

# A heading is a label: one this short, without a sentence end, renamed / added / dropped is no change of practice.
_TITLE_MAX = 40


def _titles(change: ClauseChange) -> tuple[set[str], set[str]]:
    def of(clause: Clause | None) -> set[str]:
        if clause is None:
            return set()
        # A heading labels a body or sub-items; a titled node with neither is a list item, not a heading.
        return {k for n in clause.walk() if n.title and (n.body or n.children)
                for k in [key(n.title)] if len(k) <= _TITLE_MAX and "。" not in k}
    return of(change.old), of(change.new)


def sift(unit: Unit, ctx: Context, titles: tuple[set[str], set[str]]) -> tuple[str, Unit]:
    """Whether a unit's meaning changed: ("formatting" | "moved", unit) when it did not, else ("", the unit
    cut down to the sentences whose meaning is new or gone).

    Sentences are compared by meaning key (judge/meaning.py) within the unit and against the other
    version as a whole, so a sentence moved to another clause, split, joined or reworded with
    synonyms and spelling variants is not read as new.
    """
    rules, docs = ctx.rules, ctx.docs
    old_titles, new_titles = titles
    if unit.kind == "edited" and not unit.column and unit.old in old_titles and unit.new in new_titles:
        # A renamed heading: the body under it is judged on its own (a heading added over a new body is not
        # skipped: in many policies the sub-headings are the purposes).
        return "formatting", unit
    if unit.kind == "edited":
        sd = changed_sentences(unit.old, unit.new, rules, docs.old_meaning, docs.new_meaning)
        if not sd.gained and not sd.lost:
            return ("moved" if sd.moved else "formatting"), unit
        old, new = "\n".join(sd.lost), "\n".join(sd.gained)
        if (old, new) != (unit.old, unit.new):
            unit = edited_unit(old, new, unit.heading, unit.is_item, rules, column=unit.column)
        return "", unit
    if unit.kind in ("added", "clause_added"):
        text, doc, attr = unit.new, docs.old_meaning, "new"
    elif unit.kind in ("removed", "clause_removed"):
        text, doc, attr = unit.old, docs.new_meaning, "old"
    else:
        return "", unit
    keys = [(s, k) for s, k in ((s, words(s, rules)) for s in sentences(text)) if k]
    if not keys:
        return "formatting", unit
    new_ones = [s for s, k in keys if not doc.says(k)]
    if not new_ones:
        return "moved", unit
    if len(new_ones) < len(keys):
        # Part of the paragraph stood elsewhere before (merged text): judge only what is new.
        unit = replace(unit, **{attr: "\n".join(new_ones)})
    return "", unit


# ---------------------------------------------------------------------------
# Revision clause
# ---------------------------------------------------------------------------

def _within(node: Clause | None, clause: Clause | None) -> Clause | None:
    if node is None or clause is None:
        return None
    return node if any(n is node for n in clause.walk()) else None


def revision_findings(change: ClauseChange, rc_old: Clause | None, rc_new: Clause | None, rules: Rules,
                      routing: Routing) -> list[Finding]:
    """A change to the revision clause: are the promises to notify users / ask consent weaker?

    The verdict for each case is [revision_change.*] of rules/routing.toml.
    """
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

    def finding(case: str, evidence: list[str], **fields) -> list[Finding]:
        v = routing.revision_change[case]
        return [Finding(v.category, v.severity, v.reason.format(**fields), evidence, f"revision_change.{case}",
                        fields=pieces)]

    pieces: dict = {}

    if before is not None and after is None:
        case = "removed_with_promises" if before.notify_users != "none" or before.consent_when_required else "removed"
        return finding(case, [clip(key(old_node.full_text()))])
    if before is None:
        return finding("added", [clip(key(new_node.full_text()))])
    weaker = weakened_promises(before, after)
    if weaker:
        pieces["weaker"] = weakenings(before, after)
        return finding("weakened", weaker, weaker="; ".join(weaker))
    if before != after:
        changed = [f"{name}: {getattr(before, name)} → {getattr(after, name)}"
                   for name in ("notify_users", "consent_when_required", "channels", "lead_time_days", "deemed_consent")
                   if getattr(before, name) != getattr(after, name)]
        return finding("changed", changed)
    return []


# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------

def _summarise(change: ClauseChange, findings: list[Finding], reworded: list[str], unchanged: set[str],
               before: Verdict) -> Verdict:
    substantive = [f for f in findings if f.category != "editorial" or f.severity != "minor"]
    if not findings:
        if reworded:
            findings = [Finding("editorial", "minor",
                                "the same content words rearranged (or moved inside the paragraph); no new practice",
                                dedupe(reworded), "rearranged")]
        elif "formatting" in unchanged or "moved" not in unchanged:
            # Meaning-preserving edits are formatting (TAXONOMY), never a minor change.
            return _plain(before, "formatting", "wording-only",
                          "the meaning is unchanged: wording only (synonyms, spelling variants, particles, "
                          "punctuation, links, a renamed heading, a paragraph split or joined)")
        else:
            # Every unit was text that moved between clauses.
            return _plain(before, "moved", "moved-between-clauses", "the text moved to / from another clause")
    elif substantive:
        findings = substantive
    by_category: dict[str, Finding] = {}
    reasons: list[str] = []
    evidence: list[str] = []
    details: dict[str, Reason] = {}     # reason text -> the reason with its rule id and its own evidence
    for f in findings:
        current = by_category.get(f.category)
        if current is None or SEVERITY_RANK[f.severity] > SEVERITY_RANK[current.severity]:
            by_category[f.category] = f
    ordered = sorted(by_category.values(), key=lambda f: -SEVERITY_RANK[f.severity])
    for f in findings:
        if f.reason not in reasons and (f is by_category[f.category] or f.severity == by_category[f.category].severity):
            reasons.append(f.reason)
            fields = dict(f.fields)
            if f.strength == "weak":
                fields[WEAK_CUE_FIELD] = "weak"     # routing.toml `weak_cue` reads it (judge/route.py)
            details[f.reason] = Reason(f.code, f.reason, [], f.adjust, f.note, fields)
        for e in f.evidence:
            if e not in evidence:
                evidence.append(e)
        if f.reason in details:
            details[f.reason].evidence.extend(e for e in f.evidence if e not in details[f.reason].evidence)
    categories = [f.category for f in ordered]
    if change.type == "modified" and change.old and change.new and key(change.old.number) != key(change.new.number):
        categories.append("renumbered")
    kept = set(evidence[:12])
    return Verdict(categories=categories, severity=max_severity(f.severity for f in ordered), reasons=reasons,
                   evidence=evidence[:12],
                   details=[replace(d, evidence=[e for e in d.evidence if e in kept]) for d in details.values()])


def _plain(before: Verdict, category: str, code: str, reason: str) -> Verdict:
    """A verdict of no substance (formatting, moved) with its one reason."""
    return replace(before, categories=[category], severity="none", reasons=[reason], details=[Reason(code, reason)])
