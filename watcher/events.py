"""Domain events: what a check found, written in the same transaction as the rows they report.

The checker appends them to its unit of work (watcher.store.Repository.publish); subscribers
registered by the composition root (watcher.app) run in that same transaction — notification
planning is one (watcher.notify.planner), so a recorded change and its mails are one commit.
Each event is also stored (table `events`) as a record of what subscribers planned from.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    policy: str            # the policy's name
    policy_id: int

    kind = "event"

    def payload(self) -> dict:
        """What is stored in the events table (small: ids and verdicts, not the report)."""
        return {}


@dataclass(frozen=True)
class VersionStored(Event):
    snapshot_id: int = 0
    version: int = 0
    first: bool = False

    kind = "version_stored"

    def payload(self) -> dict:
        return {"snapshot_id": self.snapshot_id, "version": self.version, "first": self.first}


@dataclass(frozen=True)
class ChangeRecorded(Event):
    change_id: int = 0
    old_snapshot_id: int = 0
    new_snapshot_id: int = 0
    severity: str = "none"
    material: bool = False
    notify: bool = True                 # False: recorded with --no-notify, nobody is to be told
    report: dict = field(default_factory=dict, compare=False, repr=False)   # JSON v1 (not stored again)

    kind = "change_recorded"

    def payload(self) -> dict:
        return {"change_id": self.change_id, "old_snapshot_id": self.old_snapshot_id,
                "new_snapshot_id": self.new_snapshot_id, "severity": self.severity, "material": self.material,
                "notify": self.notify}


@dataclass(frozen=True)
class CheckFailed(Event):
    error: str = ""
    failures: int = 0                   # the streak, as counted in SQL
    alert_id: int | None = None         # set when this failure opened an operational alert

    kind = "check_failed"

    def payload(self) -> dict:
        return {"error": self.error, "failures": self.failures, "alert_id": self.alert_id}


@dataclass(frozen=True)
class MailUndeliverable(Event):
    delivery_id: int = 0
    change_id: int | None = None
    recipient: str = ""
    error: str = ""
    alert_id: int | None = None

    kind = "mail_undeliverable"

    def payload(self) -> dict:
        return {"delivery_id": self.delivery_id, "change_id": self.change_id, "recipient": self.recipient,
                "error": self.error, "alert_id": self.alert_id}


EVENT_KINDS = {cls.kind: cls for cls in (VersionStored, ChangeRecorded, CheckFailed, MailUndeliverable)}
