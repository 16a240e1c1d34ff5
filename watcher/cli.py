"""`watch` command line: parses arguments and calls the library. Nothing else lives here.

Each subcommand is `add_<name>(subparsers)`, declaring its arguments and the body that runs it (a
function in watcher.commands, loaded by name). Errors a user can act on (WatchError) print one line
on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
import threading
from collections.abc import Callable

from watcher import __version__
from watcher.errors import WatchError
from watcher.report_formats import FORMATS

# Each subcommand: `add_<name>(subparsers)` declares its arguments and names its body, a
# `run(args) -> int` (or another function) in a module of watcher.commands. The body's module is
# loaded by name when the command runs, not with this one: `watch diff` never loads the store or
# the scheduler; `watch --help` loads no command body and no renderer (the --format names come
# from watcher.report_formats).


def add_diff(sub) -> None:
    p = sub.add_parser("diff", help="compare two versions of a policy clause by clause")
    p.add_argument("old", help="file (.html/.htm/.txt/.md), URL, stored snapshot NAME@REF, or - (stdin)")
    p.add_argument("new", help="file (.html/.htm/.txt/.md), URL, stored snapshot NAME@REF, or - (stdin)")
    p.add_argument("--format", "-f", choices=FORMATS, default="text", help="output format (default: text)")
    p.add_argument("--output", "-o", help="write to this file instead of stdout")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the text output (default: auto, on a terminal)")
    p.add_argument("--no-pager", action="store_true",
                   help="never page long text output on a terminal (default: $PAGER, else less)")
    p.set_defaults(body="watcher.commands.diff:run")


def add_check(sub) -> None:
    p = sub.add_parser("check", help="fetch policies now, store new versions, record changes, queue notifications")
    p.add_argument("names", nargs="*", metavar="NAME", help="policies to check (default: all in the config)")
    p.add_argument("--json", action="store_true", help='print [{"name","status","severity","error"}, ...]')
    p.add_argument("--no-notify", action="store_true", help="record changes but queue no mail")
    p.set_defaults(body="watcher.commands.check:run")


def add_accept(sub) -> None:
    p = sub.add_parser("accept", help="record a page that lost most of its text as a real revision (staff)")
    p.add_argument("name", metavar="NAME", help="the policy whose shrunken page is a real revision")
    p.add_argument("--no-notify", action="store_true", help="record the change but queue no mail")
    p.set_defaults(body="watcher.commands.accept:run")


def add_history(sub) -> None:
    p = sub.add_parser("history", help="stored versions, changes and recent checks of one policy")
    p.add_argument("name", metavar="NAME", help="the policy (its name in the config)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(body="watcher.commands.history:run")


def add_show(sub) -> None:
    p = sub.add_parser("show", help="the extracted text (or clause outline) of a stored version")
    p.add_argument("spec", metavar="NAME[@REF]", help="REF: latest (default), -1, a version number, 2026-05-01")
    p.add_argument("--outline", action="store_true", help="print the clause tree instead of the text")
    p.set_defaults(body="watcher.commands.show:run")


def add_daemon(sub) -> None:
    p = sub.add_parser("daemon", help="run the scheduler: check every policy on its schedule, send digests")
    p.add_argument("--no-notify", action="store_true", help="record changes but queue and send no mail")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="least severe log lines written to stderr (default: INFO)")
    p.set_defaults(body="watcher.commands.daemon:run")


def add_digest(sub) -> None:
    p = sub.add_parser("digest", help="the pending daily staff digest: list it, print it (--dry-run) or send it")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--send", action="store_true", help="queue the digest mails in the outbox and send them now")
    mode.add_argument("--dry-run", action="store_true", help="print the digest mails in full; change nothing")
    p.set_defaults(body="watcher.commands.mail:digest")


def add_outbox(sub) -> None:
    p = sub.add_parser("outbox", help="list queued and sent mails (state, recipient, subject, attempts, error)")
    p.add_argument("--retry", action="store_true", help="send every unsent mail now (exit 1 if some still fail)")
    p.add_argument("--limit", type=int, default=50, help="show the last N mails (default 50)")
    p.add_argument("--show", type=int, metavar="ID", help="print one delivery: its headers and decoded text body")
    p.set_defaults(body="watcher.commands.mail:outbox")


def add_migrate(sub) -> None:
    p = sub.add_parser("migrate", help="upgrade the store to this release's schema (back it up first)")
    p.set_defaults(body="watcher.commands.migrate:run")


def add_changes(sub) -> None:
    p = sub.add_parser("changes", help="recorded changes with their verdict and review state")
    p.add_argument("--open", action="store_true", help="only changes that wait for a review decision")
    p.add_argument("--policy", metavar="NAME", help="only this policy's changes")
    p.add_argument("--severity", choices=("none", "minor", "notice", "consent"), help="only changes of this severity")
    p.add_argument("--state", choices=("new", "in_review", "done"), help="only changes in this review state")
    p.add_argument("--limit", type=int, default=100, help="show the newest N (default 100)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(body="watcher.commands.changes:run")


def add_review(sub) -> None:
    p = sub.add_parser("review", help="record a review step on a change (append-only audit events)")
    p.add_argument("change", type=int, metavar="CHANGE", help="the change id (watch changes)")
    p.add_argument("--action", action="append", metavar="ACTION", help="tick a checklist action (repeatable)")
    p.add_argument("--undo", action="append", metavar="ACTION", help="untick a checklist action (repeatable)")
    p.add_argument("--decision", choices=("not_material", "notice_sent", "consent_obtained", "no_action"),
                   help="decide, which closes the review (done)")
    p.add_argument("--reopen", action="store_true", help="reopen a review that is done")
    p.add_argument("--note", help="a note recorded with the step")
    p.add_argument("--as", dest="actor", metavar="NAME", help="who is reviewing (default: cli:<login name>)")
    p.set_defaults(body="watcher.commands.review:run")


def add_audit(sub) -> None:
    p = sub.add_parser("audit", help="the review audit trail: who did what when, with notes")
    p.add_argument("change", type=int, nargs="?", metavar="CHANGE", help="one change's trail (default: all)")
    p.add_argument("--limit", type=int, default=200, help="the last N events of all changes (default 200)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(body="watcher.commands.audit:run")


def add_import(sub) -> None:
    p = sub.add_parser("import", help="add or update policies as data in the store (TOML [[policy]], CSV, JSON lines)")
    p.add_argument("file", metavar="FILE", help="*.toml ([[policy]] blocks), *.csv (header row of keys) or *.jsonl")
    p.add_argument("--format", choices=("toml", "csv", "jsonl"), help="the file's format (default: from its name)")
    p.add_argument("--dry-run", action="store_true", help="validate every policy; write nothing")
    p.set_defaults(body="watcher.commands.import_:run")


def add_export(sub) -> None:
    p = sub.add_parser("export", help="the policies stored as data, as an import file")
    p.add_argument("--format", choices=("jsonl", "csv", "toml"), default="jsonl", help="output format (default: jsonl)")
    p.add_argument("--output", "-o", help="write to this file instead of stdout")
    p.add_argument("--source", choices=("config", "import"), help="only policies synced from the config, or imported")
    p.set_defaults(body="watcher.commands.export:run")


def add_scheduler(sub) -> None:
    p = sub.add_parser("scheduler", help="claim due policies and enqueue their checks for `watch worker` ([queue])")
    p.add_argument("--once", action="store_true", help="claim and enqueue what is due now, then exit (cron, tests)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="least severe log lines written to stderr (default: INFO)")
    p.set_defaults(body="watcher.commands.scheduler:run")


def add_worker(sub) -> None:
    p = sub.add_parser("worker", help="Dramatiq workers: check policies and drain the outbox from the queues ([queue])")
    p.add_argument("--processes", type=int, default=1, help="worker processes, restarted when one dies (default 1)")
    p.add_argument("--threads", type=int, help="threads per process (default: [queue] threads)")
    p.add_argument("--queues", help="comma-separated: check,browser,notify (default: all three)")
    p.add_argument("--in-process", action="store_true", help="run one worker in this process, unsupervised")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="least severe log lines written to stderr (default: INFO)")
    p.set_defaults(body="watcher.commands.worker:run")


def add_list(sub) -> None:
    p = sub.add_parser("list", help="every policy at a glance from the store (no fetch)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(body="watcher.commands.list:run")


def add_serve(sub) -> None:
    p = sub.add_parser("serve", help="the web view: policies, changes, reviews, feeds (127.0.0.1 by default)")
    p.add_argument("--host", help="address to listen on (default: [web] host, 127.0.0.1); another than loopback "
                                  "needs [[web.account]]s")
    p.add_argument("--port", type=int, help="port (default: [web] port, 8080)")
    p.add_argument("--hash-password", action="store_true", help="read a password on stdin, print its hash "
                                                                "for [[web.account]] password_hash")
    p.add_argument("--method", choices=("scrypt", "pbkdf2"), default="scrypt", help="with --hash-password")
    p.set_defaults(body="watcher.commands.serve:run")


def add_test(sub) -> None:
    p = sub.add_parser("test", help="what a check would extract from a page or file: text, clause outline, "
                                    "summary; stores nothing")
    p.add_argument("target", metavar="URL|FILE", help="http(s)://, file:// or a local file (.html/.txt/.md/.pdf/.docx)")
    p.add_argument("--select", metavar="CSS", help="CSS selector of the policy body (default: main-content detection)")
    p.add_argument("--remove", metavar="CSS", action="append", help="CSS selector of parts to drop (repeatable)")
    p.add_argument("--fetch", metavar="MODE", help="http, browser or auto (default: auto, or a configured policy's)")
    p.set_defaults(body="watcher.commands.test:run")


def add_add(sub) -> None:
    p = sub.add_parser("add", help="append a [[policy]] to the config file, keeping its comments and layout")
    p.add_argument("url", metavar="URL|FILE", help="the page to watch (a local path is written relative to the config)")
    p.add_argument("--name", required=True, help="the policy's name (letters, digits, '_', '-', '.')")
    p.add_argument("--select", metavar="CSS", help="CSS selector of the policy body")
    p.add_argument("--remove", metavar="CSS", action="append", help="CSS selector of parts to drop (repeatable)")
    p.add_argument("--schedule", help='"every 6h" (default), "every 30m", or a cron expression "0 9 * * 1"')
    p.add_argument("--fetch", metavar="MODE", help="http, browser or auto (default auto)")
    p.add_argument("--test", action="store_true", help="run `watch test` first; add only a page a check would store")
    p.set_defaults(body="watcher.commands.add:run")


COMMANDS = [add_diff, add_check, add_accept, add_history, add_show, add_daemon, add_digest, add_outbox, add_migrate,
            add_changes, add_review, add_audit, add_list, add_import, add_export, add_scheduler,
            add_worker, add_serve, add_test, add_add]


def command_body(spec: str) -> Callable[[argparse.Namespace], int]:
    """`module:function` -> the function (its module imported now)."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


class _Subcommands:
    """Gives every subcommand the global options too, so `watch diff A B --config X` works."""

    def __init__(self, sub, common):
        self._sub, self._common = sub, common

    def add_parser(self, name, **kwargs):
        kwargs.setdefault("description", kwargs.get("help"))     # `watch NAME --help` says what it does
        return self._sub.add_parser(name, parents=[self._common], **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="watch", description="Watch privacy policies and report material changes.")
    parser.add_argument("--config", default="config.toml", help="configuration file (default: ./config.toml)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    parser.add_argument("--version", action="version", version=f"watch (policy-watcher) {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="configuration file (default: ./config.toml)")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an internal error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    wrapped = _Subcommands(sub, common)
    for add in COMMANDS:
        add(wrapped)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        parser.print_help()          # `watch` alone: the commands, as git does
        return 0
    args = parser.parse_args(argv)
    try:
        return command_body(args.body)(args)
    except WatchError as exc:
        print(f"watch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("watch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:   # a bug, not bad input: still one line and exit 2 (1 would mean "changes")
        if getattr(args, "debug", False):
            raise
        print(f"watch: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())


def run() -> None:
    """The `watch` console script and `python -m watcher`: main(), then an exit that does not free
    the interpreter's objects one by one.

    By the time main() returns, its own `finally` blocks have closed every store, written every mail
    and ended every worker. What the interpreter would still do is tear its modules down and free
    what they hold (lxml trees, SQLAlchemy's registries, the caches): ~0.15 s of CPU after a check of
    1,000 policies, for nothing. The exit handlers still run (logging's flush, multiprocessing's,
    concurrent.futures'), stdout and stderr are flushed, and then the process ends. While another
    (non-daemon) thread still runs, the interpreter's own exit waits for it as always."""
    code = main()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.current_thread()):
        raise SystemExit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe (`watch diff ... | head`): nothing more to say
            pass
    os._exit(code)

