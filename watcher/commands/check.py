"""`watch check`: fetch now, store new versions, record changes, plan and send their mail."""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import sys
import threading
from collections import Counter
from contextlib import contextmanager

from watcher import lazy
from watcher.app import open_app
from watcher.check import select_policies
from watcher.commands import SEVERITY_STYLE, STATUS_STYLE, plain
from watcher.config import load_settings
from watcher.errors import ConfigError

# The outbox (and the mails and channels it sends through) only for a check that sends mail.
drain = lazy.function("watcher.notify:drain")

# rich when something is shown: the console when progress may be drawn (on a terminal, for more
# than one policy) or the summary printed; the progress bar and the table only then (~40 ms of
# imports that a `check --json` of one policy, as a cron job runs it, never uses).
console = lazy.module("rich.console")
progress_bar = lazy.module("rich.progress")
table = lazy.module("rich.table")


def run(args) -> int:
    return check_command(args.config, args.names, as_json=args.json, notify=not args.no_notify)


# `watch check` exits 3 when every check ran but some mail could not be delivered (deferred, failed,
# unsendable): it stays in the outbox (`watch outbox`, `--retry`). A failed check (1) wins.
MAIL_UNDELIVERED = 3


def check_command(config: str, names: list[str], *, as_json: bool = False, notify: bool = True) -> int:
    """Exit 0 when every check ran (whatever it found) and its mail went out, 1 when some check
    failed, 3 (MAIL_UNDELIVERED) when some mail could not be delivered."""
    settings = load_settings(config)
    policies = select_policies(settings, names)
    if not policies:
        raise ConfigError(f"{config}: no [[policy]] to check")
    # quiet: the summary says it all; the daemon is where per-check log lines go
    logger = logging.getLogger("watcher")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    stop = threading.Event()
    with _stopped_by_signals(stop) as caught, open_app(settings, notify=notify, stop=stop) as app:
        err = console.Console(stderr=True) if len(policies) > 1 and _may_be_terminal(sys.stderr) else None
        if err is not None and err.is_terminal:
            bar = progress_bar
            with bar.Progress(bar.TextColumn("checking"), bar.BarColumn(), bar.MofNCompleteColumn(),
                              bar.TextColumn("{task.description}"), bar.TimeElapsedColumn(), console=err,
                              transient=True) as progress:
                task = progress.add_task("", total=len(policies))

                def advance(outcome):
                    progress.update(task, advance=1, description=plain(f"{outcome.name}: {outcome.status}"))

                outcomes = app.checker.check_many(policies, advance)
        else:
            outcomes = app.checker.check_many(policies)
        unchecked = list(app.checker.interrupted)
    if caught:
        # Everything listed was written before the signal was acted on; nothing else was.
        if not as_json:
            _print_summary(outcomes)
        else:
            sys.stdout.write(json.dumps([o.to_dict() for o in outcomes], ensure_ascii=False, indent=2) + "\n")
        name = signal.Signals(caught[0]).name
        print(f"watch: stopped by {name}: {len(outcomes)} checks written, {len(unchecked)} not checked"
              + (f" ({', '.join(unchecked[:10])}{', ...' if len(unchecked) > 10 else ''})" if unchecked else "")
              + "; queued mail stays in the outbox", file=sys.stderr)
        return 128 + caught[0]
    sent = None
    if notify:
        # Mail queued by these checks goes out now (to SMTP, or as .eml files without [smtp]);
        # what cannot be sent stays in the outbox for the next drain (`watch outbox --retry`, the daemon).
        sent = drain(settings)
    if as_json:
        sys.stdout.write(json.dumps([_row(o, config) for o in outcomes], ensure_ascii=False, indent=2) + "\n")
    else:
        _print_summary(outcomes)
        if sent is not None and (sent.sent or sent.failed or sent.deferred or sent.invalid):
            console.Console(highlight=False, soft_wrap=True).print(plain(f"mail: {_mail_line(sent, settings)}"))
    if any(o.status == "failed" for o in outcomes):
        return 1
    return MAIL_UNDELIVERED if sent is not None and (sent.failed or sent.deferred or sent.invalid) else 0


def _may_be_terminal(stream) -> bool:
    """False when rich could not call `stream` a terminal: not a tty, and neither of rich's overrides
    (TTY_COMPATIBLE=1, a non-empty FORCE_COLOR) set. A check writing to a pipe or a file (cron, the
    peers' benchmark) then needs no rich (~30 ms of imports) to learn that it draws no progress bar;
    otherwise rich's Console.is_terminal decides, as before."""
    if os.environ.get("TTY_COMPATIBLE") == "1" or os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):        # no file, or a closed one: rich's answer
        return True


def _row(outcome, config: str) -> dict:
    """A --json row; its `watch diff` command names the config when it is not the default one."""
    row = outcome.to_dict()
    if row.get("diff_command") and config != "config.toml":
        row["diff_command"] += f" --config {shlex.quote(config)}"
    return row


def _mail_line(result, settings) -> str:
    """The drain in words: without [smtp] the mails were written as .eml files, not sent."""
    text = str(result)
    if settings.smtp is None:
        text = text.replace(f"{result.sent} sent", f"{result.sent} written to {settings.notify.outbox_dir} "
                                                    "(.eml files; no [smtp] configured)", 1)
    return text


@contextmanager
def _stopped_by_signals(stop: threading.Event):
    """SIGTERM / SIGINT set `stop`: the check writes what has finished, abandons what is in flight
    and the command reports it. A second signal acts as it would without this (exits at once)."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum, _frame):
        caught.append(signum)
        stop.set()
        for s, h in before.items():     # the next signal is not caught
            signal.signal(s, h)

    for s in before:
        signal.signal(s, handler)
    try:
        yield caught
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def _print_summary(outcomes) -> None:
    out = console.Console(highlight=False, soft_wrap=False)
    rows = table.Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("policy", "status", "severity", "detail"):
        rows.add_column(column, overflow="fold")
    for o in outcomes:
        if o.status == "failed":
            detail = o.error or ""
        elif o.held:
            detail = "change seen once; reported if seen again (confirm)"
        elif o.status in ("first", "changed"):
            detail = f"stored as version {o.version}"
        else:
            detail = "not modified (304)" if o.not_modified and o.http_status == 304 else (
                "same page" if o.not_modified else "same text")
        status = f"[{STATUS_STYLE[o.status]}]{o.status}[/]"
        severity = f"[{SEVERITY_STYLE.get(o.severity, '')}]{o.severity}[/]" if o.severity else ""
        rows.add_row(o.name, status, severity, plain(detail))
    out.print(rows)
    counts = Counter(o.status for o in outcomes)
    out.print(f"{len(outcomes)} checked: " + ", ".join(f"{counts[s]} {s}" for s in
                                                       ("first", "unchanged", "changed", "failed")))

