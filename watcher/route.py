"""Read the old version's revision clause and decide who is told about a change."""

from __future__ import annotations

from watcher.models import SEVERITY_RANK, Clause, ClauseChange, Notify, Promises, RevisionClause


def find_revision_clause(clauses: list[Clause], language: str = "ja") -> Clause | None:
    return None


def parse_promises(text: str, language: str = "ja") -> Promises:
    return Promises()


def route(changes: list[ClauseChange], old_clauses: list[Clause], language: str) -> tuple[RevisionClause | None, Notify]:
    staff = any(SEVERITY_RANK[c.severity] >= SEVERITY_RANK["minor"] for c in changes)
    return None, Notify(users=False, staff=staff)
