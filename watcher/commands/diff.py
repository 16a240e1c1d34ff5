"""`watch diff OLD NEW`: compare two versions (files, URLs, stored NAME@REF) clause by clause."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from watcher import compare, sources
from watcher.commands.output import write
from watcher.errors import InputError, WatchError
from watcher.report import RENDERERS, render


def run(args) -> int:
    binary = getattr(RENDERERS[args.format], "binary", False)
    if binary and not args.output and sys.stdout.isatty():
        raise InputError(f"--format {args.format} is a binary file: give --output FILE (or redirect stdout)")
    if args.old == "-" and args.new == "-":
        raise InputError("only one operand can be - (standard input)")
    old = sources.load(args.old, args.config)
    new = sources.load(args.new, args.config)
    report = compare.compare(old, new)
    color = args.color == "always" or (args.color == "auto" and not args.output and sys.stdout.isatty())
    out = render(report, args.format, color=color)
    if binary:
        _write_bytes(out, args.output)
    elif not args.output and not getattr(args, "no_pager", False) and sys.stdout.isatty():
        page(out)
    else:
        write(out, args.output)
    return 1 if report.substantive else 0


def _write_bytes(data: bytes, path: str | None) -> None:
    if not path:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        with open(path, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise WatchError(f"{path}: cannot write: {exc.strerror}") from exc


def page(text: str) -> None:
    """Long text on a terminal goes through a pager, as git does: $WATCH_PAGER, else $PAGER, else
    `less` (LESS=FRX unless set: it exits at once for a short text, keeps colours and the screen);
    an empty pager or `cat` writes directly, and so does a pager that cannot be started."""
    command = os.environ.get("WATCH_PAGER", os.environ.get("PAGER", "less")).strip()
    rows = shutil.get_terminal_size((80, 24)).lines
    if command in ("", "cat") or text.count("\n") < rows:
        write(text)
        return
    env = {**os.environ, "LESS": os.environ.get("LESS", "FRX"), "LV": os.environ.get("LV", "-c")}
    try:
        subprocess.run(command, shell=True, input=text.encode("utf-8"), env=env, check=False)
    except OSError:
        write(text)
