"""Shared fixtures for the whole suite.

    watch(*args, cwd=None)             `watch ...` run IN THIS PROCESS (watcher.cli.main): the real parser and
                                       commands without the ~0.5 s interpreter start-up per call. Returns a
                                       subprocess.CompletedProcess (.returncode, .stdout, .stderr), so code written
                                       for subprocess.run(..., capture_output=True, text=True) keeps its assertions.
    watch_subprocess(*args, cwd=None)  the same through a real `python -m watcher` process. Use it only where the
                                       process boundary is the point (the entry point, the exit status, signals).
    server                             a started tests/webserver.PageServer on 127.0.0.1, stopped afterwards.
    smtp                               a started tests/mailtools.SmtpServer (aiosmtpd), stopped afterwards.

run_watch(*args, cwd=None) is the plain function behind `watch`, for module- or session-scoped helpers.

What `watch` isolates, so that one in-process run cannot leak into the next test:
  * stdout/stderr: sys.stdout and sys.stderr are swapped for StringIO objects for the call. Everything the
    commands print goes there: sys.stdout.write, print(file=sys.stderr), and rich Console() output (rich looks
    sys.stdout/sys.stderr up when it writes, and the commands build their Consoles inside the call).
    StringIO is not a terminal, as a pipe is not: no colour, no progress bar, rich's 80 columns.
  * logging: for the call the root logger looks like a fresh interpreter's (no handlers, level WARNING), so
    `logging.basicConfig(stream=sys.stderr)` in `watch daemon` writes into the captured stderr as it would in
    a process; afterwards every logger's handlers, level and propagate flag are put back, and handlers added
    during the call are closed and removed (e.g. the NullHandler `watch check` adds to "watcher").
  * signal handlers (SIGTERM, SIGINT, SIGHUP) are restored; the current directory is restored (`cwd`).
  * exit status like a process: SystemExit (argparse errors) gives its code; an exception escaping main()
    (only with --debug) prints its traceback on stderr and gives 1, as `python -m watcher` would.

Markers: `slow` (registered in pyproject.toml) marks tests that take seconds because they need real
processes, kills or real schedules. They run by default; `pytest -m "not slow"` is the quick loop.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

# Tests that need seconds of real time whatever we do (real processes killed, real schedules).
# Marked here because their files are being converted by someone else; an inline
# @pytest.mark.slow in the test file does the same (a test marked both ways is marked once).
SLOW_TESTS = {
    "test_kill.py::test_sigkill_at_random_points_never_corrupts_the_store",
    "test_daemon.py::test_daemon_checks_on_schedule_and_records_changes",
    "test_daemon.py::test_sigterm_stops_cleanly_with_a_check_in_flight",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        where = f"{Path(item.path).name}::{item.originalname or item.name}"
        if where in SLOW_TESTS and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)


# ---------------------------------------------------------------- the command line, in process


_SIGNALS = [s for s in (getattr(signal, n, None) for n in ("SIGTERM", "SIGINT", "SIGHUP")) if s is not None]


@contextlib.contextmanager
def _process_state():
    """Logging configuration and signal handlers as they are now, put back on exit."""
    manager = logging.Logger.manager
    root = logging.getLogger()
    before = {name: (lg.handlers[:], lg.level, lg.propagate, lg.disabled)
              for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    root_before = (root.handlers[:], root.level)
    main_thread = threading.current_thread() is threading.main_thread()
    signals = {s: signal.getsignal(s) for s in _SIGNALS} if main_thread else {}
    root.handlers[:] = []             # a fresh interpreter: basicConfig() configures, lastResort prints
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, lg in list(manager.loggerDict.items()):
            if not isinstance(lg, logging.Logger):
                continue
            handlers, level, propagate, disabled = before.get(name, ([], logging.NOTSET, True, False))
            _drop_new_handlers(lg, handlers)
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled
        _drop_new_handlers(root, root_before[0])
        root.handlers[:] = root_before[0]
        root.setLevel(root_before[1])
        for s, handler in signals.items():
            if handler is not None:
                signal.signal(s, handler)


def _drop_new_handlers(logger: logging.Logger, keep: list) -> None:
    for handler in logger.handlers:
        if handler not in keep:
            with contextlib.suppress(Exception):
                handler.close()


def _exit_status(code) -> tuple[int, str]:
    """What the interpreter does with SystemExit(code): (status, text for stderr)."""
    if code is None:
        return 0, ""
    if isinstance(code, int):
        return code, ""
    return 1, f"{code}\n"


def run_watch(*args, cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """`watch ARGS...` in this process, as subprocess.run(..., capture_output=True, text=True, cwd=cwd) would
    report it. Arguments are str()-ed (Paths welcome); cwd=None stays in the current directory."""
    from watcher.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(_process_state())
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            code = main(argv)
        except SystemExit as exc:       # argparse: usage errors exit 2, --help exits 0
            code, text = _exit_status(exc.code)
            err.write(text)
        except Exception:               # only with --debug: the interpreter would print it and exit 1
            traceback.print_exc()
            code = 1
        if code is None:
            code = 0
    return subprocess.CompletedProcess(["watch", *argv], code, out.getvalue(), err.getvalue())


@pytest.fixture
def watch():
    """In-process `watch`: watch("check", "--json", cwd=tmp_path) -> CompletedProcess(returncode, stdout, stderr)."""
    return run_watch


def _watch_subprocess(*args, cwd: str | os.PathLike | None = None, timeout: float = 180,
                      env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "watcher", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture
def watch_subprocess():
    """A real `python -m watcher ARGS...` process: watch_subprocess("check", cwd=tmp_path, timeout=180, env=None)."""
    return _watch_subprocess


# ---------------------------------------------------------------- servers


@pytest.fixture
def server():
    """A real threaded HTTP server (tests/webserver.py): server.set(path, body, ...), server.url(path)."""
    from webserver import PageServer

    with PageServer() as s:
        yield s


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd, tests/mailtools.py): smtp.port, smtp.received, smtp.sink."""
    from mailtools import SmtpServer

    s = SmtpServer().start()
    try:
        yield s
    finally:
        s.stop()


# ---------------------------------------------------------------- stores: SQLite and PostgreSQL

PG_URL = os.environ.get("WATCH_TEST_PG_URL")


def _pg_schema_url():
    """A fresh PostgreSQL schema on WATCH_TEST_PG_URL (the store's tables live there), dropped after."""
    import uuid
    from urllib.parse import quote

    from sqlalchemy import create_engine, text

    schema = f"watch_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_url():
    """The URL of a fresh PostgreSQL schema (skips when WATCH_TEST_PG_URL is not set)."""
    if not PG_URL:
        pytest.skip("WATCH_TEST_PG_URL not set")
    yield from _pg_schema_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A store URL, once on SQLite (tmp_path/snapshots/watch.db) and once on a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'snapshots' / 'watch.db'}"
        return
    if not PG_URL:
        pytest.skip("WATCH_TEST_PG_URL not set")
    yield from _pg_schema_url()
