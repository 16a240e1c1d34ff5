"""`watch scheduler [--once]`: claim due policies and enqueue their checks (needs [queue])."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from watcher.config import load_settings
from watcher.errors import ConfigError
from watcher.runners.scheduler import run_scheduler


def run(args) -> int:
    return scheduler_command(args.config, once=args.once, log_level=args.log_level)


def scheduler_command(config: str, *, once: bool = False, log_level: str = "INFO") -> int:
    settings = load_settings(config)
    if settings.queue is None:
        raise ConfigError(f"{config}: no [queue] section: `watch scheduler` enqueues checks for workers "
                          "(broker = \"amqp://...\"); without one, run `watch daemon`")
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)
    stop = threading.Event()
    if not once:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    total = run_scheduler(settings, once=once, stop=stop)
    if once:
        sys.stdout.write(f"{total} checks enqueued\n")
    return 0
