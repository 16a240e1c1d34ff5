"""`watch export`: the policies stored as data, as an import file (JSON lines, CSV or TOML)."""

from __future__ import annotations

import sys
from pathlib import Path

from watcher.config import load_settings
from watcher.errors import InputError
from watcher.runners.specs import write_policies
from watcher.store import open_store


def run(args) -> int:
    return export_command(args.config, fmt=args.format, output=args.output, source=args.source)


def export_command(config: str, *, fmt: str = "jsonl", output: str | None = None, source: str | None = None) -> int:
    settings = load_settings(config)
    repo = open_store(settings.store)
    try:
        specs = [p.spec for p in repo.policy_specs(source=source)]
    finally:
        repo.close()
    text = write_policies(specs, fmt)
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as e:
            raise InputError(f"{output}: cannot write: {e.strerror}") from None
        sys.stderr.write(f"{output}: {len(specs)} policies\n")
    else:
        sys.stdout.write(text)
    return 0
