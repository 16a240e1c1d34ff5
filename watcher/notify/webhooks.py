"""Webhook planning: a subscriber to ChangeRecorded beside the mail planner (watcher.app wires
both), queueing one `webhook` delivery per configured [[webhook]] target at or above its
min_severity, in the unit of work that records the change. The channel is
watcher.notify.channels.webhook."""

from __future__ import annotations

import json

from watcher import lazy
from watcher.events import ChangeRecorded
from watcher.models import SEVERITY_RANK

# With the first change planned (subscribe() needs none of them; see watcher.notify.planner).
webhook = lazy.module("watcher.notify.channels.webhook")
Mail = lazy.function("watcher.notify.mail:Mail")
enqueue = lazy.function("watcher.notify.outbox:enqueue")


def subscribe(repo, settings) -> None:
    """Queue a webhook delivery per configured target for every change recorded through `repo`."""
    def on_change(uow, event: ChangeRecorded) -> None:
        plan_webhooks(repo, uow, settings, event)

    repo.subscribe(ChangeRecorded.kind, on_change, name=__name__)


def plan_webhooks(repo, uow, settings, event: ChangeRecorded) -> list:
    if not event.notify or not settings.webhooks:
        return []
    report = event.report or {}
    severity = report.get("severity") or event.severity or "none"
    versions = repo.snapshot_versions((event.old_snapshot_id, event.new_snapshot_id), uow=uow)
    payload = {
        "schema": webhook.SCHEMA,
        "event": "change_recorded",
        "change": {"id": event.change_id, "policy": event.policy, "severity": severity,
                   "material": bool(report.get("material", event.material)),
                   "old_version": versions.get(event.old_snapshot_id), "new_version": versions.get(event.new_snapshot_id),
                   "actions": list((report.get("notify") or {}).get("actions") or [])},
        "report": report,
    }
    mail = Mail(subject=f"{event.policy}: change #{event.change_id} ({severity})",
                text=json.dumps(payload, ensure_ascii=False))
    channel = webhook.WebhookChannel(settings)
    queued = []
    for hook in settings.webhooks:
        if SEVERITY_RANK.get(severity, 0) < SEVERITY_RANK.get(hook.min_severity, 0):
            continue
        queued.append(enqueue(repo, uow, channel, kind="webhook", audience="staff", recipient=hook.name,
                              language="", mail=mail, policy=event.policy, change_id=event.change_id))
    return queued
