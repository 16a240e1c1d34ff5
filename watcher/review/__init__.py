"""The review workflow: every recorded change is reviewed by a person, and every step is an
append-only audit event (who, when, what, note) — so staff can show later that a material change
was seen, decided and acted on.

    states     the review states, decisions and checklist actions (names, and what each means)
    workflow   pure: a review as it stands + what a reviewer asks -> the audit events to append
    service    the use case: read the change and its review, apply the request, write the events
               (one unit of work; a conflicting reviewer is retried on fresh state)
"""

from __future__ import annotations

from watcher.review.service import record_review
from watcher.review.states import ACTIONS, DECISIONS, OPEN_STATES, ROLES, STATES, checklist
from watcher.review.workflow import ReviewError, ReviewRequest, plan_review

__all__ = ["ACTIONS", "DECISIONS", "OPEN_STATES", "ROLES", "STATES", "ReviewError", "ReviewRequest", "checklist",
           "plan_review", "record_review"]
