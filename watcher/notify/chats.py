"""Chat planning: a subscriber to ChangeRecorded beside the mail and webhook planners (watcher.app
wires them), queueing one `chat` delivery per [[chat]] target at or above its min_severity, in the
unit of work that records the change. The message is short — the policy, the verdict in the
target's language, the categories, the actions — and says where the full 新旧対照表 is."""

from __future__ import annotations

from watcher import lazy
from watcher.events import ChangeRecorded
from watcher.models import SEVERITY_RANK

# With the first change planned (subscribe() needs none of them; see watcher.notify.planner).
ChatChannel = lazy.function("watcher.notify.channels.chat:ChatChannel")
Mail = lazy.function("watcher.notify.mail:Mail")
enqueue = lazy.function("watcher.notify.outbox:enqueue")
category_name = lazy.function("watcher.report:category_name")
words = lazy.function("watcher.report:words")


def subscribe(repo, settings) -> None:
    """Queue a chat delivery per configured target for every change recorded through `repo`."""
    def on_change(uow, event: ChangeRecorded) -> None:
        plan_chats(repo, uow, settings, event)

    repo.subscribe(ChangeRecorded.kind, on_change, name=__name__)


def chat_message(event: ChangeRecorded, severity: str, versions: dict, lang: str) -> Mail:
    report = event.report or {}
    t = words(lang)
    label = t.get("severity", {}).get(severity, severity)
    categories = sorted({c for ch in report.get("changes", []) if ch.get("severity") != "none"
                         for c in ch.get("categories", [])})
    names = ("、" if lang == "ja" else ", ").join(category_name(c, lang) for c in categories)
    old, new = versions.get(event.old_snapshot_id), versions.get(event.new_snapshot_id)
    lines = [f"{event.policy}: {label}" + (f"（{names}）" if names and lang == "ja" else f" ({names})" if names else "")]
    actions = (report.get("notify") or {}).get("actions") or []
    action_words = t.get("action", {})
    if actions:
        lines.append(("対応: " if lang == "ja" else "To do: ")
                     + ("、" if lang == "ja" else ", ").join(action_words.get(a, a) for a in actions))
    if old and new:
        lines.append(f"watch diff {event.policy}@{old} {event.policy}@{new}")
    title = (f"[{label}] {event.policy} プライバシーポリシーの変更" if lang == "ja"
             else f"[{label}] {event.policy} privacy policy change")
    return Mail(subject=title, text="\n".join(lines))


def plan_chats(repo, uow, settings, event: ChangeRecorded) -> list:
    if not event.notify or not settings.chats:
        return []
    severity = (event.report or {}).get("severity") or event.severity or "none"
    versions = repo.snapshot_versions((event.old_snapshot_id, event.new_snapshot_id), uow=uow)
    channel = ChatChannel(settings)
    queued, messages = [], {}
    for chat in settings.chats:
        if SEVERITY_RANK.get(severity, 0) < SEVERITY_RANK.get(chat.min_severity, 0):
            continue
        if chat.language not in messages:
            messages[chat.language] = chat_message(event, severity, versions, chat.language)
        queued.append(enqueue(repo, uow, channel, kind="chat", audience="staff", recipient=chat.name,
                              language=chat.language, mail=messages[chat.language], policy=event.policy,
                              change_id=event.change_id))
    return queued
