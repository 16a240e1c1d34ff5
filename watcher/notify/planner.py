"""Notification planning: a subscriber to ChangeRecorded, run in the unit of work that records the
change (registered by the composition root, watcher.app), so a change and its mails are one commit.

Cadence
  consent / notice -> one message per recipient at once (outbox rows, sent by the next drain);
                      users are told of one content once (user_notices); more than FANOUT_INLINE
                      users: one fan-out row, expanded by the drain in batches (watcher.notify.outbox);
  minor            -> a digest item, collected into the daily staff digest (notify.digest_time);
  none             -> nothing; the change is "notified" at once, as when nobody is to be told.
A message that cannot be built (an unusable address) is an "invalid" row: its change stays pending,
an "undeliverable" alert tells staff in the next digest, and a MailUndeliverable event records it.
Changes recorded with --no-notify (event.notify False) are not planned at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from watcher import lazy
from watcher.config import LANGUAGES
from watcher.events import ChangeRecorded, MailUndeliverable
from watcher.store import Repository, utcnow

if TYPE_CHECKING:
    from watcher.notify.mail import Mail
    from watcher.notify.outbox import Queued

# The planning code loads with the first change planned: subscribe() needs none of it, and a check
# that records no change (or runs --no-notify) never loads the mails, the outbox or the channels.
compose = lazy.module("watcher.notify.compose")
outbox = lazy.module("watcher.notify.outbox")
recipients = lazy.module("watcher.notify.recipients")


def subscribe(repo: Repository, settings) -> None:
    """Plan the notifications of every change recorded through `repo`. Subscribing the same
    repository again replaces the planner (one per repository: never every mail twice)."""
    def on_change(uow, event: ChangeRecorded) -> None:
        plan_change(repo, uow, settings, event)

    repo.subscribe(ChangeRecorded.kind, on_change, name=__name__)


def plan_change(repo: Repository, uow, settings, event: ChangeRecorded) -> list[Queued]:
    """Queue what one recorded change calls for, in the unit of work that records it."""
    if not event.notify:
        return []
    report = event.report or {}
    severity = report.get("severity") or event.severity or "none"
    if severity == "none":
        _nothing_to_send(repo, uow, event)
        return []
    now = utcnow()
    policy = recipients.configured_policy(settings, event.policy)
    view = recipients.policy_view(policy, event.policy)
    staff = recipients.staff_recipients(settings, policy)
    channel = outbox.channel_for(settings, "email")
    queued: list[Queued] = []
    if not compose.is_material(severity):
        if staff:   # minor: waits for the daily digest
            repo.add_digest_item(uow, change_id=event.change_id, policy=view["name"], now=now,
                                 recipients=[[r.email, r.language] for r in staff])
        else:
            _nothing_to_send(repo, uow, event)
        return []

    def queue(kind: str, audience: str, recipient, mail: Mail) -> None:
        queued.append(outbox.enqueue(repo, uow, channel, kind=kind, audience=audience, recipient=recipient.email,
                                     language=recipient.language, mail=mail, policy=view["name"],
                                     change_id=event.change_id, now=now))

    mails: dict[str, Mail] = {}
    told_before = fanned_out = False
    wanted = recipients.users_wanted(policy, report)
    many = wanted and _many_users(policy)
    users = recipients.user_recipients(policy) if wanted and not many else []
    if many and channel.kind == "email":
        # Many users: one fan-out row now (the notice rendered once per language); the drain reads
        # the list and writes the deliveries in batches outside this transaction, each recipient once.
        templates = {lang: outbox.fanout_template(channel, compose.user_mail(view, report, lang), now) for lang in LANGUAGES}
        repo.add_fanout(uow, change_id=event.change_id, policy=view["name"], templates=templates, now=now,
                        content_key=repo.content_key(event.new_snapshot_id, uow=uow))
        fanned_out = True
    elif users:
        # One notice per person and content: a page flapping A->B->A->B (a stale CDN edge) records
        # a change each time, but a user already told of this text is not told again.
        keys = [recipients.recipient_key(r.email) for r in users]
        new = repo.claim_user_notices(uow, policy=view["name"], content_key=repo.content_key(event.new_snapshot_id, uow=uow),
                                      recipients=keys, change_id=event.change_id, now=now)
        told_before = len(new) < len(set(keys))
        for r, key in zip(users, keys, strict=True):
            if key not in new:
                continue
            if r.language not in mails:
                mails[r.language] = compose.user_mail(view, report, r.language)
            queue("notice", "users", r, mails[r.language])
    # What staff read under 利用者への通知 is what happened, not what the verdict wanted:
    # the per-policy override and an empty or unusable user list both leave users untold.
    users_told = fanned_out or told_before or any(q.state == "pending" for q in queued)
    versions = repo.snapshot_versions((event.old_snapshot_id, event.new_snapshot_id), uow=uow)
    ref = recipients.snapshot_ref(view["name"], event.change_id, versions.get(event.old_snapshot_id),
                                  versions.get(event.new_snapshot_id))
    mails = {}
    for r in staff:
        if r.language not in mails:
            mails[r.language] = compose.staff_mail(view, report, r.language, ref, users_notified=users_told)
        queue("alert", "staff", r, mails[r.language])
    if not queued and not fanned_out:
        _nothing_to_send(repo, uow, event)
    _report_invalid(repo, uow, event, view["name"], queued, now)
    return queued


def _many_users(policy) -> bool:
    """More than FANOUT_INLINE users, by a count of lines: reading and checking 100,000 addresses
    here would hold the store's write lock (this runs in the change's transaction) for seconds."""
    n = len(getattr(policy, "users", None) or [])
    if getattr(policy, "users_file", None) is not None:
        try:
            n += policy.users_file.read_bytes().count(b"\n")
        except OSError:
            pass        # user_recipients keeps the last good reading (and logs the problem)
    return n > outbox.FANOUT_INLINE


def _report_invalid(repo: Repository, uow, event: ChangeRecorded, name: str, queued: list[Queued], now) -> None:
    """A message that could not be built keeps its change pending; staff read why in the next daily
    digest's alerts (an alert of its own kind, taken once like a failed-fetch alert)."""
    for q in queued:
        if q.state != "invalid":
            continue
        message = (f"{name}: the {q.kind} mail to {q.recipient!r} (outbox #{q.id}) was not sent: {q.error}; "
                   f"change #{event.change_id} stays pending")
        alert_id = repo.add_alert(uow, policy_id=event.policy_id, kind="undeliverable", message=message, now=now)
        uow.publish(MailUndeliverable(policy=event.policy, policy_id=event.policy_id, delivery_id=q.id,
                                      change_id=event.change_id, recipient=q.recipient, error=q.error or "",
                                      alert_id=alert_id))


def _nothing_to_send(repo: Repository, uow, event: ChangeRecorded) -> None:
    # No mail to send (formatting only, or no mail recipients configured): the change is notified now,
    # unless a webhook or chat delivery of it waits (their planners run first: watcher.app).
    repo.settle_change(uow, event.change_id)
