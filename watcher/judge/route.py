"""Who is told about a change, and what is to be done: rules/routing.toml applied to the verdicts.

The old version's revision clause is the promise in force when the change was made
(TAXONOMY.md §Routing); routing.toml says, as data a lawyer reads, when users and staff are
told and which actions and notes (with their APPI citations) a change brings.
"""

from __future__ import annotations

from dataclasses import replace

from watcher.judge.revision import find_revision_clause, parse_promises
from watcher.judge.rules import WEAK_CUE_FIELD, Routing, Situation, holds, load_routing
from watcher.judge.text import dedupe
from watcher.models import Clause, ClauseChange, Notify, Promises, RevisionClause, max_severity

# What routing conditions read when the old version has no revision clause: nothing is promised.
NO_PROMISES = Promises(notify_users="none", consent_when_required=False, channels=[], deemed_consent=False)


def route(changes: list[ClauseChange], old_clauses: list[Clause], language: str,
          routing: Routing | None = None, bilingual_mismatch: bool = False) -> tuple[RevisionClause | None, Notify]:
    """The old revision clause, and who is told (users, staff) with the actions and notes for the change.

    `changes` carry their verdicts (ClauseChange with severity / categories); `routing` defaults to
    rules/routing.toml (pass parse_routing(text) to try an edited one). `bilingual_mismatch`: the two
    language texts of a bilingual policy were revised differently (judge/bilingual.py).
    """
    routing = routing or load_routing()
    severity = max_severity(c.severity for c in changes)
    categories = frozenset(cat for c in changes if c.severity != "none" for cat in c.categories)
    node = find_revision_clause(old_clauses, language)
    revision = None
    promises = NO_PROMISES
    if node is not None:
        promises = parse_promises(node.full_text(), language)
        revision = RevisionClause(number=node.number, title=node.title, promises=promises, text=node.full_text())
    # A material change none of whose material findings has a strong cue: notice at most, a lawyer decides.
    weak_cue = any(d.fields.get(WEAK_CUE_FIELD) == "weak" for c in changes if c.severity in ("notice", "consent")
                   for d in c.details)
    situation = Situation(severity=severity, categories=categories, revision_clause=node is not None,
                          promises=promises, public_channels=routing.public_channels,
                          bilingual_mismatch=bilingual_mismatch, weak_cue=weak_cue)
    users = holds(routing.users, situation)
    staff = holds(routing.staff, situation)
    situation = replace(situation, users=users)   # notes may depend on the users decision
    actions = dedupe(a.name for a in routing.actions if holds(a.when, situation))
    notes = [n.render(situation) for n in routing.notes if holds(n.when, situation)]
    return revision, Notify(users=users, staff=staff, actions=actions, notes=notes)
