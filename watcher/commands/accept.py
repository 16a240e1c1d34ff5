"""`watch accept NAME`: staff say the page as it is now is a real revision, although it lost most of
the previous version's text (a rewrite to a few short articles). The page is fetched now and stored
as a version, reported with its changes and mailed as any change would be."""

from __future__ import annotations

from rich.console import Console

from watcher.app import open_app
from watcher.commands import plain
from watcher.config import load_settings
from watcher.notify import drain


def run(args) -> int:
    settings = load_settings(args.config)
    policy = settings.policy(args.name)
    notify = not args.no_notify
    with open_app(settings, notify=notify) as app:
        outcome = app.checker.check_one(policy, accept_shrink=True)
    out = Console(highlight=False)
    if outcome.status == "failed":
        out.print(plain(f"{policy.name}: not accepted: {outcome.error}"))
        return 1
    if outcome.status == "changed":
        out.print(plain(f"{policy.name}: accepted as version {outcome.version} (change #{outcome.change_id}, "
                        f"severity {outcome.severity})"))
    else:
        out.print(plain(f"{policy.name}: {outcome.status}: nothing to accept"
                        + (f" (version {outcome.version})" if outcome.version else "")))
    if notify:
        sent = drain(settings)
        if sent.sent or sent.failed or sent.deferred:
            out.print(f"mail: {sent}")
    return 0
