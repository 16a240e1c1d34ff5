"""`watch diff OLD NEW`: compare two versions (files, URLs, stored NAME@REF) clause by clause."""

from __future__ import annotations

import sys

from watcher import compare, sources
from watcher.commands.output import write
from watcher.errors import InputError, WatchError
from watcher.report import RENDERERS, render


def run(args) -> int:
    binary = getattr(RENDERERS[args.format], "binary", False)
    if binary and not args.output and sys.stdout.isatty():
        raise InputError(f"--format {args.format} is a binary file: give --output FILE (or redirect stdout)")
    old = sources.load(args.old, args.config)
    new = sources.load(args.new, args.config)
    report = compare.compare(old, new)
    color = args.color == "always" or (args.color == "auto" and not args.output and sys.stdout.isatty())
    out = render(report, args.format, color=color)
    if binary:
        _write_bytes(out, args.output)
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
