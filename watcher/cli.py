"""`watch` command line: parses arguments and calls the library. Nothing else lives here.

Each subcommand is a pair: `add_<name>(subparsers)` declaring its arguments, and
`cmd_<name>(args) -> int` doing the work. Errors a user can act on (WatchError) print
one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import sys

from watcher.errors import WatchError
from watcher.report import RENDERERS, render


# --- diff -------------------------------------------------------------------------------
def add_diff(sub) -> None:
    p = sub.add_parser("diff", help="compare two versions of a policy clause by clause")
    p.add_argument("old", help="file (.html/.htm/.txt/.md), URL, or stored snapshot NAME@REF")
    p.add_argument("new", help="file (.html/.htm/.txt/.md), URL, or stored snapshot NAME@REF")
    p.add_argument("--format", "-f", choices=tuple(RENDERERS), default="text")
    p.add_argument("--output", "-o", help="write to this file instead of stdout")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.set_defaults(func=cmd_diff)


def cmd_diff(args) -> int:
    # Loaded here, not at the top: operands and comparison bring in the extractors (bs4, lxml),
    # requests and the rules, ~200 ms that the other commands do not need.
    from watcher import sources
    from watcher.compare import compare

    old = sources.load(args.old, args.config)
    new = sources.load(args.new, args.config)
    report = compare(old, new)
    color = args.color == "always" or (args.color == "auto" and not args.output and sys.stdout.isatty())
    out = render(report, args.format, color=color)
    _write(out, args.output)
    return 1 if report.substantive else 0


def _write(text: str, path: str | None) -> None:
    if path:
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise WatchError(f"{path}: cannot write: {exc.strerror}") from exc
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


# --- digest / outbox (watcher.notify) ----------------------------------------------------
def add_digest(sub) -> None:
    p = sub.add_parser("digest", help="the pending daily staff digest: list it, print it (--dry-run) or send it")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--send", action="store_true", help="queue the digest mails in the outbox and send them now")
    mode.add_argument("--dry-run", action="store_true", help="print the digest mails in full; change nothing")
    p.set_defaults(func=cmd_digest)


def cmd_digest(args) -> int:
    from watcher.config import load_settings
    from watcher.notify import digest_command

    _write(digest_command(load_settings(args.config), send=args.send, dry_run=args.dry_run), None)
    return 0


def add_outbox(sub) -> None:
    p = sub.add_parser("outbox", help="list queued and sent mails (state, recipient, subject, attempts, error)")
    p.add_argument("--retry", action="store_true", help="send every unsent mail now (exit 1 if some still fail)")
    p.add_argument("--limit", type=int, default=50, help="show the last N mails (default 50)")
    p.set_defaults(func=cmd_outbox)


def cmd_outbox(args) -> int:
    from watcher.config import load_settings
    from watcher.notify import outbox_command

    text, status = outbox_command(load_settings(args.config), retry=args.retry, limit=args.limit)
    _write(text, None)
    return status


# --- check / history / show / daemon (watcher.commands) ----------------------------------
def add_check(sub) -> None:
    p = sub.add_parser("check", help="fetch policies now, store new versions, record changes, queue notifications")
    p.add_argument("names", nargs="*", metavar="NAME", help="policies to check (default: all in the config)")
    p.add_argument("--json", action="store_true", help='print [{"name","status","severity","error"}, ...]')
    p.add_argument("--no-notify", action="store_true", help="record changes but queue no mail")
    p.set_defaults(func=cmd_check)


def cmd_check(args) -> int:
    from watcher.commands import check_command

    return check_command(args.config, args.names, as_json=args.json, notify=not args.no_notify)


def add_history(sub) -> None:
    p = sub.add_parser("history", help="stored versions, changes and recent checks of one policy")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_history)


def cmd_history(args) -> int:
    from watcher.commands import history_command

    return history_command(args.config, args.name, as_json=args.json)


def add_show(sub) -> None:
    p = sub.add_parser("show", help="the extracted text (or clause outline) of a stored version")
    p.add_argument("spec", metavar="NAME[@REF]", help="REF: latest (default), -1, a version number, 2026-05-01")
    p.add_argument("--outline", action="store_true", help="print the clause tree instead of the text")
    p.set_defaults(func=cmd_show)


def cmd_show(args) -> int:
    from watcher.commands import show_command

    return show_command(args.config, args.spec, outline=args.outline)


def add_daemon(sub) -> None:
    p = sub.add_parser("daemon", help="run the scheduler: check every policy on its schedule, send digests")
    p.add_argument("--no-notify", action="store_true", help="record changes but queue and send no mail")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.set_defaults(func=cmd_daemon)


def cmd_daemon(args) -> int:
    from watcher.commands import daemon_command

    return daemon_command(args.config, notify=not args.no_notify, log_level=args.log_level)


# --- registration ---------------------------------------------------------------------
COMMANDS = [add_diff, add_check, add_history, add_show, add_daemon, add_digest, add_outbox]


class _Subcommands:
    """Gives every subcommand the global options too, so `watch diff A B --config X` works."""

    def __init__(self, sub, common):
        self._sub, self._common = sub, common

    def add_parser(self, name, **kwargs):
        return self._sub.add_parser(name, parents=[self._common], **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="watch", description="Watch privacy policies and report material changes.")
    parser.add_argument("--config", default="config.toml", help="configuration file (default: ./config.toml)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
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
    args = parser.parse_args(argv)
    try:
        return args.func(args)
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
