"""`watch import FILE`: policies as data (TOML [[policy]] blocks, CSV or JSON lines) into the store."""

from __future__ import annotations

import sys
from pathlib import Path

from watcher.config import load_settings
from watcher.errors import ConfigError
from watcher.runners.specs import read_policies, spec_of
from watcher.store import open_store, safe_url


def run(args) -> int:
    return import_command(args.config, args.file, fmt=args.format, dry_run=args.dry_run)


def import_command(config: str, file: str, *, fmt: str | None = None, dry_run: bool = False) -> int:
    """Validate every policy of FILE, then write them all in one transaction (or none)."""
    settings = load_settings(config)
    policies = read_policies(Path(file), settings, fmt)
    for policy in policies:
        if settings.has_policy(policy.name):
            raise ConfigError(f"{file}: policy {policy.name!r} is defined in {settings.path.name if settings.path else config}; "
                              "edit it there (config policies are synced into the store by `watch scheduler`)")
    if dry_run:
        sys.stdout.write(f"{file}: {len(policies)} policies valid; nothing written (--dry-run)\n")
        return 0
    repo = open_store(settings.store)
    try:
        result = repo.put_policies([spec_of(p) for p in policies], source="import")
    finally:
        repo.close()
    sys.stdout.write(f"{file}: {len(policies)} policies imported into {safe_url(settings.store.url)} "
                     f"({result.added} new, {result.updated} updated, {result.unchanged} unchanged)\n")
    return 0
