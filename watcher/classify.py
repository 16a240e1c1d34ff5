"""Classify clause changes under APPI (TAXONOMY.md): categories, severity, reasons, evidence."""

from __future__ import annotations

from watcher.models import Clause, ClauseChange

# Verdicts the diff stage sets before we run; they are kept as they are.
_STRUCTURAL = {"moved", "renumbered", "formatting", "effective_date_changed"}


def classify(changes: list[ClauseChange], old_clauses: list[Clause], new_clauses: list[Clause], language: str) -> None:
    """Fills change.categories / severity / reasons / evidence in place."""
    for change in changes:
        if change.categories and set(change.categories) <= _STRUCTURAL:
            continue
        if not change.categories:
            change.categories = ["editorial"]
            change.severity = "minor"
            change.reasons = ["substantive rewording that fits no other category"]
