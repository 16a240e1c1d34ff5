"""What a reviewer's request does to a review (pure: no I/O). The result is the audit events to
append and the review they lead to; the store writes both (watcher.review.service)."""

from __future__ import annotations

from dataclasses import dataclass, field

from watcher.errors import InputError
from watcher.review.states import ACTIONS, DECISIONS
from watcher.store.reviews import AuditEntry, ReviewView

NOTE_MAX = 4000


class ReviewError(InputError):
    """A review request that cannot be recorded (one line; nothing was written)."""


@dataclass
class ReviewRequest:
    """What a reviewer asks: tick / untick checklist actions, decide, reopen, and a note."""

    tick: list[str] = field(default_factory=list)
    untick: list[str] = field(default_factory=list)
    decision: str | None = None
    note: str = ""
    reopen: bool = False


@dataclass
class Planned:
    entries: list[AuditEntry]
    state: str
    decision: str | None
    actions: list[str]          # the actions done after these events, in checklist order


def plan_review(change_id: int, review: ReviewView, checklist: list[str], request: ReviewRequest) -> Planned:
    """The events `request` appends to `review` (ReviewError when it cannot be recorded)."""
    label = f"change #{change_id}"
    known = list(dict.fromkeys([*checklist, *ACTIONS]))
    for name in (*request.tick, *request.untick):
        if name not in known:
            raise ReviewError(f"{label}: unknown action {name!r} (the checklist: {', '.join(checklist) or 'empty'}; "
                              f"known: {', '.join(ACTIONS)})")
    both = set(request.tick) & set(request.untick)
    if both:
        raise ReviewError(f"{label}: {', '.join(sorted(both))} both ticked and unticked")
    if request.decision is not None and request.decision not in DECISIONS:
        raise ReviewError(f"{label}: unknown decision {request.decision!r} (one of: {', '.join(DECISIONS)})")
    note = (request.note or "").strip()
    if len(note) > NOTE_MAX:
        raise ReviewError(f"{label}: the note is {len(note)} characters long (at most {NOTE_MAX})")

    state, decision, done = review.state, review.decision, list(review.actions)
    entries: list[AuditEntry] = []

    def add(action: str, value: str | None, new_state: str) -> None:
        nonlocal state
        state = new_state
        entries.append(AuditEntry(action=action, value=value, note="", state=new_state))

    if request.reopen:
        if state != "done":
            raise ReviewError(f"{label}: not done, nothing to reopen (it is {state})")
        add("reopen", None, "in_review")
        decision = None
    ticks = [a for a in dict.fromkeys(request.tick) if a not in done]
    unticks = [a for a in dict.fromkeys(request.untick) if a in done]
    if state == "done" and (ticks or unticks or request.decision):
        raise ReviewError(f"{label}: the review is done ({decision}); reopen it first (--reopen)")
    if state == "new" and (ticks or unticks or request.decision or note):
        add("start", None, "in_review")
    for a in ticks:
        done.append(a)
        add("tick", a, "in_review")
    for a in unticks:
        done.remove(a)
        add("untick", a, "in_review")
    if request.decision:
        needs = DECISIONS[request.decision]
        if needs and needs in checklist and needs not in done:
            raise ReviewError(f"{label}: decision {request.decision} needs the action {needs} ticked first")
        decision = request.decision
        add("decide", request.decision, "done")
    if note:
        if entries:
            entries[-1].note = note
        else:
            add("note", None, state)
            entries[-1].note = note
    if not entries:
        raise ReviewError(f"{label}: nothing to record (tick or untick an action, decide, reopen or add a note)")
    order = {a: i for i, a in enumerate(known)}
    return Planned(entries, state, decision, sorted(done, key=lambda a: order.get(a, len(order))))
