"""The composition root: settings -> the store, its event subscribers, the checker.

Everything that wires one part to another lives here, so the parts stay unaware of each other:
the checker publishes events, the notification planner (watcher.notify.planner) subscribes to
them, and the CLI, the daemon and (later) queue workers all start from `open_app()`.
"""

from __future__ import annotations

import threading

from watcher.check import Checker, CheckOutcome, select_policies
from watcher.check.checker import ProgressFn
from watcher.config import Settings
from watcher.notify import chats, planner, webhooks
from watcher.store import Repository, open_store


class App:
    def __init__(self, settings: Settings, repo: Repository | None = None, *, notify: bool = True,
                 stop: threading.Event | None = None):
        self.settings = settings
        self.own_repo = repo is None
        self.repo = repo or open_store(settings.store)
        # Webhooks and chats first: the mail planner settles a change with no mail to send, which
        # must see their deliveries (a change with only webhook targets stays pending until sent).
        webhooks.subscribe(self.repo, settings)
        chats.subscribe(self.repo, settings)
        planner.subscribe(self.repo, settings)
        self.notify = notify
        self.stop = stop or threading.Event()
        self._checker: Checker | None = None

    @property
    def checker(self) -> Checker:
        if self._checker is None:
            self._checker = Checker(self.settings, self.repo, notify=self.notify, stop=self.stop)
        return self._checker

    def close(self):
        if self._checker is not None:
            self._checker.close()
        if self.own_repo:
            self.repo.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_app(settings: Settings, repo: Repository | None = None, **kwargs) -> App:
    return App(settings, repo, **kwargs)


def check_policies(settings: Settings, names: list[str] | None = None, *, notify: bool = True,
                   progress: ProgressFn | None = None, store: Repository | None = None,
                   stop: threading.Event | None = None) -> list[CheckOutcome]:
    """Check the named policies (all when none), record what changed and plan its notifications."""
    policies = select_policies(settings, names)
    with App(settings, store, notify=notify, stop=stop) as app:
        return app.checker.check_many(policies, progress)
