"""`watch add URL --name NAME [--select CSS] [--remove CSS ...] [--schedule S] [--fetch MODE] [--test]`:
append a [[policy]] block to the config file.

The block is rendered with tomlkit (quoting and escaping as TOML wants them) and appended to the
end of the file as text: every byte of the file outside the new block stays as it was (comments,
layout, key order; tomlkit's own document model would move a table that follows a [[policy]]
block). The resulting file is validated as a whole by watcher.config before anything is written —
a duplicate name, a bad selector, schedule or fetch mode is the validator's one-line error and the
file is untouched — then written atomically (a temporary file in the same directory, fsync,
os.replace), and only if nobody changed it meanwhile. `--test` runs `watch test` on the new
policy first and adds it only if a check would store its page as a version.
"""

from __future__ import annotations

import os
import sys
import tempfile
import tomllib
from pathlib import Path

import tomlkit
from tomlkit.exceptions import ParseError

from watcher.commands.test import render, try_page
from watcher.config import load_settings, parse_settings
from watcher.errors import ConfigError
from watcher.fetch import is_url


def run(args) -> int:
    return add_policy(Path(args.config), args.url, name=args.name, select=args.select, remove=args.remove,
                      schedule=args.schedule, fetch=args.fetch, test=args.test)


def add_policy(config: Path, url: str, *, name: str, select: str | None = None, remove: list[str] | None = None,
               schedule: str | None = None, fetch: str | None = None, test: bool = False) -> int:
    if not config.is_file():
        raise ConfigError(f"{config}: config file not found (use --config PATH)")
    original = config.read_bytes()
    load_settings(config)        # the file as it is must be valid: its own error names its own key
    text = original.decode("utf-8")
    newline = "\r\n" if "\r\n" in text else "\n"
    block = policy_block(name=name, url=_url_for(config, url), select=select, remove=remove, schedule=schedule,
                         fetch=fetch, newline=newline)
    updated = _appended(text, block, newline)
    settings = _validated(config, updated)
    policy = settings.policy(name)
    if test:
        outcome = try_page(settings, policy, label=url)
        sys.stdout.write(render(outcome))
        if outcome.problem:
            print(f"watch add: not added: a check would not store this page ({outcome.problem})", file=sys.stderr)
            return 1
    _replace(config, original, updated.encode("utf-8"))
    print(f"added policy {name!r} ({policy.url}) to {config}")
    return 0


def policy_block(*, name: str, url: str, select: str | None, remove: list[str] | None, schedule: str | None,
                 fetch: str | None, newline: str = "\n") -> str:
    """`[[policy]]` and the given keys, rendered by tomlkit."""
    table = tomlkit.table()
    table["name"] = name
    table["url"] = url
    for key, value in (("select", select), ("remove", remove), ("schedule", schedule), ("fetch", fetch)):
        if value is not None:
            table[key] = value
    document = tomlkit.document()
    policies = tomlkit.aot()
    policies.append(table)
    document.append("policy", policies)
    return tomlkit.dumps(document).strip("\n").replace("\n", newline) + newline


def _url_for(config: Path, url: str) -> str:
    """A local path as the config file reads it (relative to the config's directory); URLs as given."""
    if is_url(url) or not url.strip():
        return url
    target = Path(url).expanduser().resolve()
    try:
        return os.path.relpath(target, config.resolve().parent)
    except ValueError:          # another drive (Windows): no relative path
        return str(target)


def _appended(text: str, block: str, newline: str) -> str:
    """The file with the block at its end, after one blank line."""
    if not text.strip():
        return text + block
    if text.endswith(newline * 2):
        return text + block
    if text.endswith("\n"):
        return text + newline + block
    return text + newline * 2 + block


def _validated(config: Path, text: str):
    label = str(config)
    try:
        tomlkit.parse(text)
        raw = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ParseError) as e:
        raise ConfigError(f"{label}: cannot append a [[policy]] block: {str(e).splitlines()[0]}") from None
    return parse_settings(raw, base_dir=config.resolve().parent, label=label, path=config.resolve())


def _replace(config: Path, original: bytes, data: bytes) -> None:
    """Write `data` over the config atomically, unless someone changed the file since we read it."""
    directory = config.resolve().parent
    try:
        mode = config.stat().st_mode & 0o7777
        fd, tmp = tempfile.mkstemp(prefix=f".{config.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise ConfigError(f"{config}: cannot write: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if config.read_bytes() != original:
            raise ConfigError(f"{config}: changed by someone else while the policy was being added; "
                              "nothing written, run the command again")
        os.replace(tmp, config)
    except OSError as e:
        raise ConfigError(f"{config}: cannot write: {e.strerror}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
