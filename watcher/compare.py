"""The diff pipeline on two documents: segment -> align/diff -> classify -> route -> Report."""

from __future__ import annotations

from dataclasses import replace

from watcher.dates import last_date
from watcher.diff import diff_clauses
from watcher.judge.bilingual import agreement, mark_changes
from watcher.judge.classify import classify
from watcher.judge.route import route
from watcher.models import Clause, ClauseChange, Document, Report
from watcher.normalize import language
from watcher.reasons import render
from watcher.segment import segment


def compare(old: Document, new: Document, old_clauses: list[Clause] | None = None,
            new_clauses: list[Clause] | None = None) -> Report:
    """`old_clauses` / `new_clauses`: a version's segment() when the caller has it already (a new version's
    derivation segmented it): not segmented again. The clauses are read, never changed."""
    lang = language(new.text or old.text)
    old_clauses = segment(old) if old_clauses is None else old_clauses
    new_clauses = segment(new) if new_clauses is None else new_clauses
    changes, summary = diff_clauses(old_clauses, new_clauses)
    verdicts = classify(changes, old_clauses, new_clauses, lang)
    changes = [_in_language(replace(change, categories=v.categories, severity=v.severity, reasons=v.reasons,
                                    evidence=v.evidence, details=v.details), lang)
               for change, v in zip(changes, verdicts, strict=True)]
    # A bilingual policy: its Japanese and English texts judged apart must agree (judge/bilingual.py).
    found = agreement(old, new, substantive=any(c.severity != "none" for c in changes))
    bilingual = None
    if found is not None:
        reason = render(found.code, lang, found.code, fields=found.fields()) if found.mismatch else ""
        changes = mark_changes(changes, found, reason)
        bilingual = found.to_dict(reason)
    revision_clause, notify = route(changes, old_clauses, lang,
                                    bilingual_mismatch=found is not None and found.mismatch)
    return Report(
        old_source=old.source,
        new_source=new.source,
        old_clauses=len(old_clauses),
        new_clauses=len(new_clauses),
        changes=changes,
        summary=summary,
        language=lang,
        revision_clause=revision_clause,
        notify=notify,
        old_meta=_meta(old, old_clauses),
        new_meta=_meta(new, new_clauses),
        bilingual=bilingual,
    )


def _in_language(change: ClauseChange, lang: str) -> ClauseChange:
    """The change's reasons in the report's language (rules/reasons.toml by their codes; the rule
    file's English text for a code it lacks)."""
    if not change.details:
        return change
    details = [replace(d, text=render(d.code, lang, d.text, d.adjust, d.note, d.fields)) for d in change.details]
    reasons = [d.text for d in details]
    if len(set(reasons)) < len(reasons):      # two texts one in this language: one reason, both evidence
        kept: dict[str, object] = {}
        for d in details:
            if d.text in kept:
                kept[d.text].evidence.extend(e for e in d.evidence if e not in kept[d.text].evidence)
            else:
                kept[d.text] = replace(d, evidence=list(d.evidence))
        details = list(kept.values())
        reasons = [d.text for d in details]
    return replace(change, reasons=reasons, details=details)


def _meta(doc: Document, clauses) -> dict:
    """A stored operand's snapshot identity plus the effective date its date lines state (None when none)."""
    if not doc.meta:
        return {}
    dated = [c.full_text() for c in clauses if c.kind == "metadata"]
    return {**doc.meta, "effective_date": next((d for d in map(last_date, reversed(dated)) if d), None)}
