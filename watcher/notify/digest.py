"""The daily staff digest: the minor changes waiting for it (digest items) and the operational
alerts not yet sent (failed checks in a row, undeliverable mail), one message per staff recipient
and language, queued in the outbox and taken once — two builds at the same moment send one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from watcher.config import User
from watcher.notify import compose
from watcher.notify.mail import Mail
from watcher.notify.outbox import DrainResult, channel_for, drain, enqueue
from watcher.notify.recipients import configured_policy, policy_view, snapshot_ref, staff_recipients
from watcher.store import AlertView, Repository, Store, utcnow
from watcher.store.deliveries import PendingDigest


@dataclass
class DigestMail:
    recipient: str
    language: str
    mail: Mail
    items: int
    alerts: int


@dataclass
class DigestRun:
    mails: list[DigestMail] = field(default_factory=list)
    deliveries: list[int] = field(default_factory=list)
    drained: DrainResult | None = None


class DigestRace(Exception):
    """Two digest builds overlapped; the later one is rolled back."""


def pending_digest(repo: Repository) -> PendingDigest:
    """What the next digest will carry: minor changes not yet in a digest, alerts not yet sent."""
    return repo.pending_digest()


def _alert_entry(alert: AlertView) -> dict:
    return {"when": alert.opened_at, "policy": alert.policy, "message": alert.message, "kind": alert.kind,
            "failures": alert.failures, "url": compose.safe_url(alert.policy_url)}


def _alert_recipients(settings, alert: AlertView) -> list[User]:
    return staff_recipients(settings, configured_policy(settings, alert.policy or None))


def build_digests(repo: Repository, settings, *, now: datetime | None = None, record: bool = True,
                  pending: PendingDigest | None = None) -> DigestRun:
    """Render the pending digest for every staff recipient. With record=True (one unit of work) the
    mails become outbox deliveries and their items and alerts are marked taken, so the next digest
    never repeats them (DigestRace, and nothing written, if another build took them first); with
    record=False nothing is written (dry run)."""
    if not record:
        return _render(repo, settings, now or utcnow(), pending or repo.pending_digest(), None)
    with repo.unit_of_work() as uow:
        return _render(repo, settings, now or utcnow(), pending or repo.pending_digest(uow=uow), uow)


def _render(repo: Repository, settings, now: datetime, pending: PendingDigest, uow) -> DigestRun:
    items, alerts = pending.items, pending.alerts
    entries: dict[tuple[str, str], list] = {}
    alerts_for: dict[tuple[str, str], list] = {}
    addresses: dict[tuple[str, str], str] = {}
    order: list[tuple[str, str]] = []

    def slot(email: str, lang: str) -> tuple[str, str]:
        key = (email.lower(), lang)
        if key not in entries:
            entries[key], alerts_for[key] = [], []
            order.append(key)
        addresses[key] = email
        return key

    changes = repo.changes_by_id((i.change_id for i in items), uow=uow)
    for item in items:
        change = changes.get(item.change_id)
        if change is None:
            continue
        policy = configured_policy(settings, item.policy)
        # A digest carries minor changes only: users are never mailed about those.
        entry = {"policy": policy_view(policy, item.policy, change.policy_url), "report": change.report,
                 "ref": snapshot_ref(item.policy, change.id, change.old_version, change.new_version),
                 "users_notified": False}
        for email, lang in item.recipients or []:
            entries[slot(email, compose.language(lang))].append(entry)
    taken_alerts = []
    for alert in alerts:
        recipients = _alert_recipients(settings, alert)
        if recipients:
            taken_alerts.append(alert)
        for r in recipients:
            alerts_for[slot(r.email, r.language)].append(_alert_entry(alert))

    run = DigestRun()
    for key in order:
        if not entries[key] and not alerts_for[key]:
            continue
        mail = compose.digest_mail(entries[key], alerts_for[key], key[1], now)
        run.mails.append(DigestMail(addresses[key], key[1], mail, len(entries[key]), len(alerts_for[key])))
    if uow is None or not run.mails:
        return run
    digest_id = repo.add_digest(uow, items=len(items), alerts=len(taken_alerts), now=now)
    channel = channel_for(settings, "email")
    for dm in run.mails:
        queued = enqueue(repo, uow, channel, kind="digest", audience="staff", recipient=dm.recipient,
                         language=dm.language, mail=dm.mail, digest_id=digest_id, now=now)
        run.deliveries.append(queued.id)
    # Take the items and alerts only if nobody else took them meanwhile (a daemon and a
    # `watch digest --send` at the same moment): otherwise roll back, never send them twice.
    if not repo.take_for_digest(uow, digest_id, item_ids=[i.id for i in items],
                                alert_ids=[a.id for a in taken_alerts], now=now):
        raise DigestRace("another process built the digest at the same time")
    return run


def send_daily_digest(settings, store: Repository | None = None, *, now: datetime | None = None,
                      transport=None) -> DigestRun:
    """Build the daily staff digest into the outbox, then send what is due. The daemon runs this
    at notify.digest_time."""
    own = store is None
    store = store or Store(settings.store)
    try:
        try:
            run = build_digests(store, settings, now=now)
        except DigestRace:
            run = DigestRun()
        run.drained = drain(settings, store, transport=transport, now=now)
        return run
    finally:
        if own:
            store.close()


def digest_command(settings, *, send: bool = False, dry_run: bool = False) -> str:
    """`watch digest`: list the pending digest mails; --dry-run prints them in full; --send
    queues them in the outbox and sends them (what the daemon does at notify.digest_time)."""
    store = Store(settings.store)
    try:
        if send:
            run = send_daily_digest(settings, store)
            if not run.mails:
                return "no pending digest: nothing to send\n"
            lines = [f"queued {len(run.mails)} digest mail(s): {run.drained}"]
            lines += [f"  {m.recipient}: {m.mail.subject}" for m in run.mails]
            return "\n".join(lines) + "\n"
        run = build_digests(store, settings, record=False)
        if not run.mails:
            return "no pending digest (no minor changes or alerts since the last one)\n"
        out = []
        for m in run.mails:
            if dry_run:
                out.append(f"To: {m.recipient}\nSubject: {m.mail.subject}\n\n{m.mail.text}\n{'-' * 72}")
            else:
                out.append(f"{m.recipient}: {m.mail.subject} ({m.items} change(s), {m.alerts} alert(s))")
        if not dry_run:
            out.append("(watch digest --dry-run prints them, --send sends them)")
        return "\n".join(out) + "\n"
    finally:
        store.close()
