"""`watch migrate`: bring a store made by an earlier release up to this release's schema (Alembic).

A store from before migrations existed (tables, no `alembic_version`) is the first revision,
0001: it is stamped so, then upgraded. Alembic is imported only here (a command, not every run).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from watcher.config import StoreSettings
from watcher.store import engine as engines
from watcher.store.bodies import StoreError
from watcher.store.repository import Repository, one_line

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def migrate(settings: StoreSettings) -> tuple[str | None, str]:
    """Upgrade the store to head; returns (revision before, revision after). Any failure rolls the
    whole upgrade back (one transaction) and is one line: StoreError."""
    repo = Repository(settings, create=False)
    try:
        return _migrate(repo)
    except (SQLAlchemyError, CommandError, ValueError) as e:
        raise StoreError(f"cannot migrate the store at {repo.label()}: {one_line(e)} (nothing was changed)") from None
    finally:
        repo.close()


def _migrate(repo: Repository) -> tuple[str | None, str]:
    before = engines.revision(repo.engine)
    config = alembic_config()
    with repo.engine.connect() as conn:
        if repo.is_sqlite:
            # SQLite rebuilds a table to change a column: with foreign keys enforced, dropping the
            # old copy would fail on the rows that reference it. (Outside a transaction, or ignored.)
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        with conn.begin():
            config.attributes["connection"] = conn
            if before == "legacy":
                command.stamp(config, "0001")
            command.upgrade(config, "head")
    return before, engines.revision(repo.engine)
