"""`watch worker`: Dramatiq workers.

`run_worker` runs one dramatiq.Worker in this process (its threads consume the check, browser and
notify queues) until SIGTERM/SIGINT, then stops it: messages in flight finish (or, past the grace
time, are redelivered to another worker: nothing is acked before its task is done).

`supervise` keeps N such worker processes running (`watch worker --processes N`): Dramatiq's own
CLI stops every worker process when one dies; here a dead one is started again (after a short
pause that grows while it keeps dying at once) and the others go on.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import dramatiq

from watcher.config import Settings
from watcher.runners.tasks import QUEUES, Tasks

log = logging.getLogger("watcher.runners.worker")

STOP_GRACE = 30.0        # seconds a stopping worker waits for its tasks before leaving them to redelivery
RESTART_PAUSE = (0.5, 30.0)


def run_worker(settings: Settings, *, queues: list[str] | None = None, threads: int | None = None,
               stop: threading.Event | None = None) -> int:
    stop = stop or _stop_on_signals()
    tasks = Tasks(settings)
    names = {tasks.queues[q] for q in (queues or QUEUES)}
    worker = dramatiq.Worker(tasks.broker, queues=names, worker_threads=threads or settings.queue.threads,
                             worker_timeout=100)
    worker.start()
    log.info("worker %d: consuming %s with %d threads", os.getpid(), ", ".join(sorted(names)),
             threads or settings.queue.threads)
    try:
        stop.wait()
    finally:
        worker.stop(timeout=int(STOP_GRACE * 1000))
        tasks.close()
    return 0


def supervise(argv: list[str], processes: int, *, stop: threading.Event | None = None,
              on_start=None) -> int:
    """Keep `processes` children (`python -m watcher <argv>`) running until stopped; a child that
    dies is started again. `on_start(index, pid)` is told of every start (tests, logs)."""
    stop = stop or _stop_on_signals()
    children: list[subprocess.Popen | None] = [None] * processes
    pauses = [RESTART_PAUSE[0]] * processes
    started_at = [0.0] * processes
    restart_at = [0.0] * processes

    def start(i: int) -> None:
        child = subprocess.Popen([sys.executable, "-m", "watcher", *argv])
        children[i], started_at[i] = child, time.monotonic()
        log.info("worker process %d started (pid %d)", i, child.pid)
        if on_start:
            on_start(i, child.pid)

    try:
        for i in range(processes):
            start(i)
        while not stop.wait(0.2):
            for i, child in enumerate(children):
                if child is not None and child.poll() is None:
                    continue
                if child is not None:
                    log.warning("worker process %d (pid %d) exited with %s; starting another", i, child.pid,
                                child.returncode)
                    # one that dies straight after starting waits longer each time
                    lived = time.monotonic() - started_at[i]
                    pauses[i] = RESTART_PAUSE[0] if lived > 60 else min(pauses[i] * 2, RESTART_PAUSE[1])
                    restart_at[i] = time.monotonic() + (pauses[i] if lived < 5 else 0)
                    children[i] = None
                if time.monotonic() >= restart_at[i]:
                    start(i)
    finally:
        for child in children:
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE + 5
        for child in children:
            if child is None:
                continue
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop
