"""What one check found, decided from what was fetched and derived: no I/O at all.

    fetch (conditional) ─ 304 / same body sha ──────────────────────────> unchanged (nothing parsed)
          │ error, 4xx/5xx ─────────────────────────────────────────────> failed
          └ new body ─> derive (extract, segment, normalised-text hash)
                          │ login / maintenance / error page ───────────> failed (never a version)
                          │ lost most of the text ─> failed, until seen shrink_confirm times / `watch accept`
                          │ no previous version ──────────────────────────> first (snapshot)
                          │ same normalised text as the previous version ─> unchanged (page noise)
                          └ compare(previous, new): no clause change ─────> unchanged
                                 │ confirm = 2 and first sighting ────────> hold (unchanged, candidate)
                                 └──────────────────────────────────────> changed

`triage()` settles what needs no parsing; `decide()` the rest, given the derived new body and the
previous version as the current code derives it (`Previous`). The checker does the I/O around them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

from watcher import lazy, suspect
from watcher.config import PolicySettings
from watcher.derive import Derived, derivation_version, derive_document
from watcher.fetch import FetchResult
from watcher.models import Document, Report
from watcher.store import PolicyState, sha256

# The diff and the judge load when a page must be compared: a pass of 304s and first versions needs neither.
compare = lazy.function("watcher.compare:compare")

# What a decision is once made ("derive": triaged, the new body still to be derived and decided).
KINDS = ("failed", "unchanged", "hold", "first", "changed", "derive")


@dataclass
class CheckOutcome:
    name: str
    status: str                      # first | unchanged | changed | failed
    severity: str | None = None      # of the change (changed only)
    error: str | None = None         # why it failed (failed only)
    http_status: int | None = None
    not_modified: bool = False       # a 304 or the very same bytes: nothing was parsed
    held: bool = False               # a change seen once, waiting for confirmation (confirm >= 2)
    snapshot_id: int | None = None
    change_id: int | None = None
    version: int | None = None
    elapsed: float = 0.0

    def to_dict(self) -> dict:
        """`watch check --json`'s row: the v1 fields, the stored version and its snapshot, the change
        recorded (None when none) and the `watch diff` that shows it (None without a change)."""
        diff = (f"watch diff {self.name}@{self.version - 1} {self.name}@{self.version}"
                if self.change_id is not None and self.version and self.version > 1 else None)
        return {"name": self.name, "status": self.status, "severity": self.severity, "error": self.error,
                "version": self.version, "snapshot_id": self.snapshot_id, "change_id": self.change_id,
                "diff_command": diff}


@dataclass
class Previous:
    """The latest stored version as the current code derives it."""

    document: Document
    text_key: str
    text_length: int
    stored_clauses: int | None            # as stored; None: stored unsegmented (a first version)
    rederived: Derived | None = None     # set when the stored columns came from other code
    _derived: Derived | None = field(default=None, init=False, repr=False)

    @property
    def derived(self) -> Derived:
        """The document's derivation (segmented once, when its clauses are first asked for)."""
        if self.rederived is not None:
            return self.rederived
        if self._derived is None:
            self._derived = derive_document(self.document)
        return self._derived

    @property
    def clauses(self) -> int:
        return self.stored_clauses if self.stored_clauses is not None else self.derived.clauses


@dataclass
class Decision:
    policy: PolicySettings
    state: PolicyState
    result: FetchResult
    started_at: datetime
    outcome: CheckOutcome
    kind: str = "failed"                  # one of KINDS
    body_sha: str | None = None
    derived: Derived | None = None
    report: Report | None = None
    rederived_old: Derived | None = None  # the previous snapshot as the current code derives it
    candidate_seen: int = 0               # hold: times this candidate has been seen
    extra: dict = field(default_factory=dict)

    def fail(self, error: str) -> Decision:
        self.kind = "failed"
        self.outcome.status, self.outcome.error, self.outcome.severity = "failed", error, None
        return self

    def unchanged(self, *, not_modified: bool = False) -> Decision:
        self.kind = "unchanged"
        self.outcome.status, self.outcome.not_modified = "unchanged", not_modified
        self.outcome.version = self.state.latest_version or None
        self.outcome.snapshot_id = self.state.latest_id
        return self

    @property
    def is_version(self) -> bool:
        return self.kind in ("first", "changed")

    def validators(self) -> tuple[str | None, str | None] | None:
        """The conditional-GET validators to keep for the policy after an unchanged check."""
        r, s = self.result, self.state
        if self.kind != "unchanged":
            return None
        if r.status == 304:       # a server may send fresher validators with a 304
            return (r.etag or s.etag, r.last_modified or s.last_modified)
        return (r.etag, r.last_modified)   # same text as the stored version: these bytes are "current"


def new_body_sha(state: PolicyState, result: FetchResult) -> str | None:
    """The sha256 of a body that needs parsing (None: a 304, an error, empty, the same bytes)."""
    if not (result.ok and result.status != 304 and result.body and result.body.strip()):
        return None
    digest = sha256(result.body)
    return digest if digest != state.body_sha256 else None


def triage(policy: PolicySettings, state: PolicyState, result: FetchResult, started_at: datetime,
           body_sha: str | None = None) -> Decision:
    """Decide what needs no parsing; kind "derive" when the body is new and must be derived."""
    outcome = CheckOutcome(name=policy.name, status="failed", http_status=result.status, elapsed=result.elapsed)
    d = Decision(policy=policy, state=state, result=result, started_at=started_at, outcome=outcome,
                 body_sha=body_sha)
    if result.error:
        return d.fail(result.error)
    if result.status == 304:
        if state.latest_id is None:
            return d.fail("HTTP 304 Not Modified, but no version is stored yet")
        return d.unchanged(not_modified=True)
    body = result.body or b""
    if not body.strip():
        return d.fail(f"empty body (HTTP {result.status})")
    d.body_sha = d.body_sha or sha256(body)
    if d.body_sha == state.body_sha256 and state.latest_id is not None:
        return d.unchanged(not_modified=True)    # server ignores conditional GET: same bytes
    d.kind = "derive"
    return d


def needs_previous(d: Decision, derived: Derived | str) -> bool:
    """Whether deciding needs the previous version (a derived, real page of a policy with versions
    whose text is not the latest version's as the current code derived it)."""
    return d.kind == "derive" and not isinstance(derived, str) and not derived.problem \
        and d.state.latest_id is not None and not same_as_latest(d, derived)


def same_as_latest(d: Decision, derived: Derived) -> bool:
    """The new body derives to the latest version's normalised text, and that version's columns are
    the current code's: page noise (a footer, markup), decided without loading the version."""
    state = d.state
    return (state.latest_id is not None and bool(state.latest_text_key) and derived.text_key == state.latest_text_key
            and state.latest_derivation == derivation_version(d.policy))


def decide(d: Decision, derived: Derived | str, previous: Previous | None = None) -> Decision:
    """Finish a triaged decision with the derived new body (or why it could not be derived)."""
    if d.kind != "derive":
        return d
    policy, state = d.policy, d.state
    if isinstance(derived, str):
        return d.fail(derived)
    d.derived = derived
    if derived.problem:
        return d.fail(derived.problem)
    if state.latest_id is None:
        d.kind, d.outcome.status = "first", "first"
        return d
    if previous is None:
        if same_as_latest(d, derived):
            return d.unchanged()                  # page noise: same normalised text (no shrink either)
        raise ValueError("decide() needs the previous version of a policy that has one")
    d.rederived_old = previous.rederived
    problem = suspect.shrink_problem(derived.text_length, derived.clauses, previous.text_length, previous.clauses)
    shrink_accepted = False
    if problem:
        # A broken page rarely comes back byte for byte the same text; a real short rewrite does. The
        # same shrunken text on `shrink_confirm` checks in a row, or staff's `watch accept`, is a version.
        seen = state.candidate_seen + 1 if state.candidate_key == derived.text_key else 1
        needed = suspect.rules().shrink_confirm
        if not d.extra.get("accept_shrink") and seen < needed:
            d.candidate_seen = seen
            d.extra["shrink"] = problem
            return d.fail(f"{problem} (the same text seen {seen} of {needed} times: if it is a real revision it "
                          f"is recorded then, or now with `watch accept {policy.name}`)")
        shrink_accepted = True
    if derived.text_key == previous.text_key:
        return d.unchanged()                      # page noise: same normalised text
    new_doc = dataclasses.replace(derived.document, source=f"{policy.name}@{state.latest_version + 1}")
    # the clauses of the derivation are the new document's (a clause names no source); the previous
    # version's are segmented once, for the shrink test or here
    report = compare(previous.document, new_doc, old_clauses=previous.derived.segments,
                     new_clauses=derived.segments)
    if not report.changes:
        return d.unchanged()                      # formatting only, as the diff engine sees it
    d.report = report
    if policy.confirm > 1 and not shrink_accepted:
        seen = state.candidate_seen + 1 if state.candidate_key == derived.text_key else 1
        if seen < policy.confirm:
            d.unchanged()
            d.kind, d.outcome.held, d.candidate_seen = "hold", True, seen
            return d
    d.kind, d.outcome.status, d.outcome.severity = "changed", "changed", report.severity
    return d
