"""`watch migrate`: upgrade the store to this release's schema."""

from __future__ import annotations

import sys

from watcher.config import load_settings
from watcher.store import migrate, safe_url


def run(args) -> int:
    return migrate_command(args.config)


def migrate_command(config: str) -> int:
    """Upgrade the store to this release's schema (back it up first); a current store is left alone."""
    settings = load_settings(config)
    before, after = migrate.migrate(settings.store)
    where = safe_url(settings.store.url)
    if before == after:
        sys.stdout.write(f"{where}: already at revision {after}; nothing to do\n")
    elif before is None:
        sys.stdout.write(f"{where}: new store created at revision {after}\n")
    else:
        label = "a release before migrations (0001)" if before == "legacy" else f"revision {before}"
        sys.stdout.write(f"{where}: upgraded from {label} to revision {after}\n")
    return 0
