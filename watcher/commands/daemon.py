"""`watch daemon`: the single-process scheduler (watcher.daemon) until SIGTERM."""

from __future__ import annotations

import logging
import sys

from watcher import daemon
from watcher.config import load_settings
from watcher.errors import ConfigError


def run(args) -> int:
    return daemon_command(args.config, notify=not args.no_notify, log_level=args.log_level)


def daemon_command(config: str, *, notify: bool = True, log_level: str = "INFO") -> int:
    settings = load_settings(config)
    if not settings.policies:
        raise ConfigError(f"{config}: no [[policy]] to watch")
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)   # one line per check is ours to write
    return daemon.run(settings, notify=notify)
