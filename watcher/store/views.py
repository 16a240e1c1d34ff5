"""Plain data the store hands out: its callers never see a row object or a session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class PolicyState:
    """What a check needs to know about a policy, read before fetching."""

    policy_id: int
    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None
    consecutive_failures: int = 0
    candidate_key: str | None = None
    candidate_seen: int = 0
    latest_id: int | None = None
    latest_version: int = 0
    latest_text_key: str = ""
    latest_text_length: int = 0
    latest_clauses: int | None = 0    # None: the version was stored unsegmented
    latest_derivation: str = ""


@dataclass
class SnapshotView:
    id: int
    policy_id: int
    policy: str
    version: int
    fetched_at: datetime
    body_sha256: str
    body_size: int
    url: str
    status: int | None
    content_type: str
    charset: str
    title: str
    text: str
    lines: list
    outline: list | None           # None: stored unsegmented (a first version), see watcher.derive
    text_key: str
    text_length: int
    clauses: int | None            # None: likewise
    extractor_version: str
    fetcher: str = ""              # http | browser | file ("" for versions stored before it was recorded)


@dataclass
class DerivedColumns:
    """The derived columns of a snapshot (watcher.derive produces them; JSON already encoded)."""

    text: str
    lines: str                  # JSON text
    outline: str | None         # JSON text; None: not segmented (NULL)
    title: str
    charset: str
    text_key: str
    text_length: int
    clauses: int | None         # None: not segmented (NULL)
    extractor_version: str


@dataclass
class CheckRecord:
    """One check's row and what it does to the policy's state (unchanged / held / failed)."""

    policy_id: int
    policy: str
    outcome: str                   # first | unchanged | changed | failed
    started_at: datetime
    url: str
    final_url: str
    redirects: list = field(default_factory=list)
    http_status: int | None = None
    attempts: int = 0
    elapsed: float = 0.0
    error: str | None = None
    snapshot_id: int | None = None
    # policy state: the validators of the body that equals the latest version (None: keep them)
    validators: tuple[str | None, str | None] | None = None
    body_sha256: str | None = None
    hold: str | None = None     # confirm >= 2: the candidate's text key (its sightings are counted in SQL)
    rederived: DerivedColumns | None = None  # the latest snapshot as the current code derives it


@dataclass
class CheckRecorded:
    policy_id: int
    failures: int              # the streak after this check, as counted in SQL
    alert_id: int | None       # an alert this check opened


@dataclass
class NewVersion:
    """A first or changed version: body, snapshot, check, change, policy state — all or nothing."""

    check: CheckRecord
    expect_latest: int | None      # the snapshot compared against: raises Raced if another is latest now
    body: bytes
    body_sha256: str
    url: str
    status: int | None
    etag: str | None
    last_modified: str | None
    content_type: str
    derived: DerivedColumns
    change: dict | None = None     # {"report": ..., "severity": ..., "material": ..., "state": ...}
    fetcher: str = ""              # the fetcher kind that produced the body: http | browser | file


@dataclass
class StoredVersion:
    policy_id: int
    snapshot_id: int
    version: int
    change_id: int | None


class Raced(Exception):
    """Another check stored a version of this policy after we read its state."""

    def __init__(self, policy_id: int, snapshot_id: int, version: int, same_text: bool):
        super().__init__("another check stored a version of this policy at the same time")
        self.policy_id, self.snapshot_id, self.version, self.same_text = policy_id, snapshot_id, version, same_text


@dataclass
class ChangeView:
    id: int
    policy_id: int
    policy: str
    policy_url: str
    old_snapshot_id: int | None
    new_snapshot_id: int | None
    old_version: int | None
    new_version: int | None
    report: dict
    severity: str
    material: bool
    created_at: datetime
    state: str


@dataclass
class CheckView:
    started_at: datetime
    finished_at: datetime
    outcome: str
    http_status: int | None
    error: str | None
    elapsed: float


@dataclass
class AlertView:
    id: int
    policy: str
    policy_url: str
    kind: str
    message: str
    failures: int
    opened_at: datetime
    notified_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass
class History:
    name: str
    url: str
    consecutive_failures: int
    snapshots: list[SnapshotView]
    changes: list[ChangeView]
    checks: list[CheckView]
    open_alerts: list[AlertView]
