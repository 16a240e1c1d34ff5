"""Rows -> the plain views of watcher.store.views (shared by the repository's methods)."""

from __future__ import annotations

from watcher.store.schema import AlertRow, ChangeRow, SnapshotRow
from watcher.store.views import AlertView, ChangeView, SnapshotView


def snapshot_view(row: SnapshotRow) -> SnapshotView:
    return SnapshotView(id=row.id, policy_id=row.policy_id, policy=row.policy.name if row.policy else "",
                        version=row.version, fetched_at=row.fetched_at, body_sha256=row.body_sha256,
                        body_size=row.body_size or 0, url=row.url, status=row.status,
                        content_type=row.content_type or "", charset=row.charset or "", title=row.title or "",
                        text=row.text or "", lines=row.lines or [], outline=row.outline,
                        text_key=row.text_key or "", text_length=row.text_length or 0, clauses=row.clauses,
                        extractor_version=row.extractor_version or "", fetcher=row.fetcher or "")


def change_view(row: ChangeRow, versions: dict[int, int] | None = None) -> ChangeView:
    if versions is None:
        versions = {s.id: s.version for s in (row.old_snapshot, row.new_snapshot) if s is not None}
    return ChangeView(id=row.id, policy_id=row.policy_id, policy=row.policy.name if row.policy else "",
                      policy_url=row.policy.url if row.policy else "", old_snapshot_id=row.old_snapshot_id,
                      new_snapshot_id=row.new_snapshot_id, old_version=versions.get(row.old_snapshot_id),
                      new_version=versions.get(row.new_snapshot_id), report=row.report or {},
                      severity=row.severity, material=bool(row.material), created_at=row.created_at,
                      state=row.state)


def alert_view(row: AlertRow) -> AlertView:
    return AlertView(id=row.id, policy=row.policy.name if row.policy else "",
                     policy_url=row.policy.url if row.policy else "", kind=row.kind, message=row.message,
                     failures=row.failures, opened_at=row.opened_at, notified_at=row.notified_at,
                     resolved_at=row.resolved_at)
