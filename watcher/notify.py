"""Who is told what, and when.

Recipients
  staff = [notify] staff + the policy's own staff (in notify.language);
  users = the policy's `users` + its `users_file` rows (each in their own language).
Routing (shared/TAXONOMY.md §Routing; the verdict is the report's `notify` block)
  users are emailed when `notify_users` is "auto" and the report says so (notify.users: the old
  revision clause promises it), always for a material change when it is "always", never when
  "never";
  staff are emailed for every change of severity minor or more.
Cadence
  consent / notice -> one mail per recipient at once (rows in the outbox, sent by the next drain);
  minor            -> a digest item, collected into the daily staff digest (notify.digest_time),
                      together with the operational alerts (failed fetches) not yet sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from watcher import compose
from watcher.compose import safe_url
from watcher.config import User
from watcher.errors import ConfigError
from watcher.mail import Mail, parse_address
from watcher.outbox import Delivery, Digest, DigestItem, DrainResult, add_delivery, drain
from watcher.store import AlertRow, ChangeRow, SnapshotRow, Store, pending_alerts, utcnow


def _unique(users) -> list[User]:
    """One mail per address: 'Legal <LEGAL@x.org>' and 'legal@x.org' are one recipient."""
    seen, out = set(), []
    for user in users:
        try:
            key = parse_address(user.email, "recipient").addr_spec.lower()
        except ConfigError:
            key = user.email.strip().lower()    # kept: its delivery is recorded as invalid
        if key not in seen:
            seen.add(key)
            out.append(user)
    return out


def staff_recipients(settings, policy=None) -> list[User]:
    """[notify] staff + the policy's own staff, all in notify.language."""
    emails = list(settings.notify.staff) + (list(getattr(policy, "staff", []) or []) if policy else [])
    return _unique(User(e, settings.notify.language) for e in emails)


def user_recipients(settings, policy) -> list[User]:
    """The policy's users with their languages (config.PolicySettings.recipients: users_file rows carry theirs)."""
    return _unique(policy.recipients())


def users_wanted(policy, report: dict) -> bool:
    """The per-policy override of the routing verdict: auto | always | never."""
    mode = getattr(policy, "notify_users", "auto") or "auto"
    if mode == "never":
        return False
    if mode == "always":
        return compose.is_material(report.get("severity"))
    return bool((report.get("notify") or {}).get("users"))


def policy_view(policy, fallback_name: str = "", fallback_url: str = "") -> dict:
    return {"name": getattr(policy, "name", None) or fallback_name,
            "url": safe_url(getattr(policy, "url", None) or fallback_url)}


def snapshot_ref(session: Session, name: str, change_row) -> dict:
    """Commands that show the stored versions behind a change."""
    old = session.get(SnapshotRow, change_row.old_snapshot_id) if change_row.old_snapshot_id else None
    new = session.get(SnapshotRow, change_row.new_snapshot_id) if change_row.new_snapshot_id else None
    if old is None or new is None:
        return {"change_id": change_row.id}
    return {"change_id": change_row.id,
            "show": f"watch show {name}@{new.version}",
            "diff": f"watch diff {name}@{old.version} {name}@{new.version}"}


# ---------------------------------------------------------------------------------------------
# Queueing a recorded change (called through watcher.outbox.enqueue inside the check transaction)


def queue_change(session: Session, settings, policy, change_row, report: dict) -> list[Delivery]:
    severity = report.get("severity") or "none"
    if severity == "none":
        _nothing_to_send(change_row)
        return []
    now = utcnow()
    view = policy_view(policy)
    staff = staff_recipients(settings, policy)
    deliveries: list[Delivery] = []
    if compose.is_material(severity):
        ref = snapshot_ref(session, view["name"], change_row)
        mails: dict[str, Mail] = {}
        if users_wanted(policy, report):
            for r in user_recipients(settings, policy):
                if r.language not in mails:
                    mails[r.language] = compose.user_mail(view, report, r.language)
                deliveries.append(add_delivery(session, settings, kind="notice", audience="users",
                                               recipient=r.email, language=r.language, mail=mails[r.language],
                                               policy=view["name"], change_id=change_row.id, now=now))
        # What staff read under 利用者への通知 is what happened, not what the verdict wanted:
        # the per-policy override and an empty or unusable user list both leave users untold.
        users_told = any(d.state == "pending" for d in deliveries)
        mails = {}
        for r in staff:
            if r.language not in mails:
                mails[r.language] = compose.staff_mail(view, report, r.language, ref, users_notified=users_told)
            deliveries.append(add_delivery(session, settings, kind="alert", audience="staff", recipient=r.email,
                                           language=r.language, mail=mails[r.language], policy=view["name"],
                                           change_id=change_row.id, now=now))
    elif staff:
        session.add(DigestItem(change_id=change_row.id, policy=view["name"], created_at=now,
                               recipients=[[r.email, r.language] for r in staff]))
        return deliveries
    if not deliveries:
        _nothing_to_send(change_row)
    _report_invalid(session, change_row, view["name"], deliveries, now)
    return deliveries


def _report_invalid(session: Session, change_row, name: str, deliveries: list[Delivery], now: datetime) -> None:
    """A mail that could not be built keeps its change pending; staff read why in the next daily
    digest's alerts (an alert row of its own kind, taken once like a failed-fetch alert)."""
    for d in deliveries:
        if d.state == "invalid":
            session.add(AlertRow(policy_id=change_row.policy_id, kind="undeliverable", failures=0, opened_at=now,
                                 message=f"{name}: the {d.kind} mail to {d.recipient!r} (outbox #{d.id}) "
                                         f"was not sent: {d.last_error}; change #{change_row.id} stays pending"))


def _nothing_to_send(change_row) -> None:
    # Nobody is to be told (formatting only, or no recipients configured): nothing stays pending.
    if getattr(change_row, "state", None) == "pending":
        change_row.state = "notified"


# ---------------------------------------------------------------------------------------------
# The daily staff digest


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


def _alert_view(session: Session, alert: AlertRow) -> dict:
    name = alert.policy.name if alert.policy is not None else ""
    return {"when": alert.opened_at, "policy": name, "message": alert.message,
            "url": safe_url(alert.policy.url) if alert.policy is not None else ""}


def _alert_recipients(settings, alert: AlertRow) -> list[User]:
    name = alert.policy.name if alert.policy is not None else None
    policy = settings.policy(name) if name and settings.has_policy(name) else None
    return staff_recipients(settings, policy)


def pending_digest(session: Session) -> tuple[list[DigestItem], list[AlertRow]]:
    """What the next digest will carry: minor changes not yet in a digest, alerts not yet sent."""
    items = list(session.scalars(select(DigestItem).where(DigestItem.digest_id.is_(None)).order_by(DigestItem.id)))
    return items, pending_alerts(session)


def build_digests(session: Session, settings, *, now: datetime | None = None, record: bool = True,
                  pending: tuple[list[DigestItem], list[AlertRow]] | None = None) -> DigestRun:
    """Render the pending digest for every staff recipient. With record=True (in the caller's
    transaction) the mails become outbox deliveries and their items and alerts are marked taken,
    so the next digest never repeats them; with record=False nothing is written (dry run)."""
    now = now or utcnow()
    items, alerts = pending if pending is not None else pending_digest(session)
    entries: dict[tuple[str, str], list] = {}
    alerts_for: dict[tuple[str, str], list] = {}
    order: list[tuple[str, str]] = []

    def slot(email: str, lang: str) -> tuple[str, str]:
        key = (email.lower(), lang)
        if key not in entries:
            entries[key], alerts_for[key] = [], []
            order.append(key)
        return key

    addresses: dict[tuple[str, str], str] = {}
    for item in items:
        change = session.get(ChangeRow, item.change_id)
        if change is None:
            continue
        policy = settings.policy(item.policy) if settings.has_policy(item.policy) else None
        # A digest carries minor changes only: users are never mailed about those.
        entry = {"policy": policy_view(policy, item.policy, change.policy.url if change.policy else ""),
                 "report": change.report or {}, "ref": snapshot_ref(session, item.policy, change),
                 "users_notified": False}
        for email, lang in item.recipients or []:
            key = slot(email, compose.language(lang))
            addresses[key] = email
            entries[key].append(entry)
    taken_alerts = []
    for alert in alerts:
        recipients = _alert_recipients(settings, alert)
        if recipients:
            taken_alerts.append(alert)
        for r in recipients:
            key = slot(r.email, r.language)
            addresses[key] = r.email
            alerts_for[key].append(_alert_view(session, alert))

    run = DigestRun()
    for key in order:
        if not entries[key] and not alerts_for[key]:
            continue
        mail = compose.digest_mail(entries[key], alerts_for[key], key[1], now)
        run.mails.append(DigestMail(addresses[key], key[1], mail, len(entries[key]), len(alerts_for[key])))
    if not record or not run.mails:
        return run
    digest = Digest(created_at=now, items=len(items), alerts=len(taken_alerts))
    session.add(digest)
    session.flush()
    for dm in run.mails:
        row = add_delivery(session, settings, kind="digest", audience="staff", recipient=dm.recipient,
                           language=dm.language, mail=dm.mail, digest_id=digest.id, now=now)
        run.deliveries.append(row.id)
    # Take the items and alerts only if nobody else took them meanwhile (a daemon and a
    # `watch digest --send` at the same moment): otherwise roll back, never send them twice.
    item_ids, alert_ids = [i.id for i in items], [a.id for a in taken_alerts]
    taken = session.execute(update(DigestItem).where(DigestItem.id.in_(item_ids), DigestItem.digest_id.is_(None))
                            .values(digest_id=digest.id).execution_options(synchronize_session=False)).rowcount
    flagged = session.execute(update(AlertRow).where(AlertRow.id.in_(alert_ids), AlertRow.notified_at.is_(None))
                              .values(notified_at=now).execution_options(synchronize_session=False)).rowcount
    if taken != len(item_ids) or flagged != len(alert_ids):
        raise DigestRace("another process built the digest at the same time")
    return run


class DigestRace(Exception):
    """Two digest builds overlapped; the later one is rolled back."""


def send_daily_digest(settings, store: Store | None = None, *, now: datetime | None = None,
                      transport=None) -> DigestRun:
    """Build the daily staff digest into the outbox, then send what is due. The daemon runs this
    at notify.digest_time."""
    own = store is None
    store = store or Store(settings.store)
    try:
        try:
            with store.session() as s:
                run = build_digests(s, settings, now=now)
        except DigestRace:
            run = DigestRun()
        run.drained = drain(settings, store, transport=transport, now=now)
        return run
    finally:
        if own:
            store.close()


# ---------------------------------------------------------------------------------------------
# Command line (watch digest, watch outbox)


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
        with store.Session() as s:
            run = build_digests(s, settings, record=False)
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
