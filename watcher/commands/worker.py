"""`watch worker`: Dramatiq workers (needs [queue]); --processes N under a supervisor that restarts
a dead one."""

from __future__ import annotations

import logging
import sys

from watcher.config import load_settings
from watcher.errors import ConfigError
from watcher.runners.tasks import QUEUES
from watcher.runners.worker import run_worker, supervise


def run(args) -> int:
    return worker_command(args.config, processes=args.processes, threads=args.threads, queues=args.queues,
                          in_process=args.in_process, log_level=args.log_level)


def worker_command(config: str, *, processes: int = 1, threads: int | None = None, queues: str | None = None,
                   in_process: bool = False, log_level: str = "INFO") -> int:
    settings = load_settings(config)
    if settings.queue is None:
        raise ConfigError(f"{config}: no [queue] section: `watch worker` consumes a broker's queues "
                          "(broker = \"amqp://...\"); without one, run `watch daemon`")
    names = [q.strip() for q in (queues or ",".join(QUEUES)).split(",") if q.strip()]
    unknown = [q for q in names if q not in QUEUES]
    if unknown or not names:
        raise ConfigError(f"--queues: unknown queue {unknown[0] if unknown else ''!r} (use {', '.join(QUEUES)})")
    if threads is not None and threads < 1:
        raise ConfigError("--threads: must be at least 1")
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(process)d %(name)s %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)
    if in_process:
        return run_worker(settings, queues=names, threads=threads)
    if processes < 1:
        raise ConfigError("--processes: must be at least 1")
    argv = ["--config", config, "worker", "--in-process", "--queues", ",".join(names), "--log-level", log_level]
    if threads is not None:
        argv += ["--threads", str(threads)]
    return supervise(argv, processes)
