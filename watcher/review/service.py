"""The review use case: one reviewer's request on one change, recorded in one unit of work."""

from __future__ import annotations

from watcher.review.states import checklist
from watcher.review.workflow import ReviewError, ReviewRequest, plan_review
from watcher.store import Repository
from watcher.store.reviews import ReviewConflict, ReviewView

ATTEMPTS = 8     # n reviewers at once: every round one of them lands


def record_review(repo: Repository, change_id: int, request: ReviewRequest, *, actor: str,
                  role: str = "reviewer") -> ReviewView:
    """Apply `request` to the change's review and append its audit events; returns the review after.
    Another reviewer writing at the same moment: the request is applied again on what they wrote
    (it says what to tick and decide, not which row to overwrite)."""
    change = repo.change(change_id)
    if change is None:
        raise ReviewError(f"change #{change_id} is not in the store")
    if role != "reviewer":
        raise ReviewError(f"{actor}: the {role} role cannot review changes")
    items = checklist(change.report)
    for attempt in range(ATTEMPTS):
        review = repo.review(change_id)
        planned = plan_review(change_id, review, items, request)
        try:
            with repo.unit_of_work() as uow:
                repo.append_review(uow, change_id, planned.entries, actor=actor, role=role,
                                   decision=planned.decision, actions=planned.actions,
                                   expect_last=review.last_event_id)
        except ReviewConflict:
            if attempt == ATTEMPTS - 1:
                raise
            continue
        return repo.review(change_id)
    raise AssertionError("unreachable")
