"""`watch diff OLD NEW`: compare two versions (files, URLs, stored NAME@REF) clause by clause."""

from __future__ import annotations

import sys

from watcher import compare, sources
from watcher.commands.output import write
from watcher.report import render


def run(args) -> int:
    old = sources.load(args.old, args.config)
    new = sources.load(args.new, args.config)
    report = compare.compare(old, new)
    color = args.color == "always" or (args.color == "auto" and not args.output and sys.stdout.isatty())
    write(render(report, args.format, color=color), args.output)
    return 1 if report.substantive else 0
