"""Policies as data: import files <-> policy tables, and a stored table -> PolicySettings.

An import file is one of
  *.toml            [[policy]] blocks, exactly as in config.toml;
  *.csv             a header row naming the keys (name,url,schedule,users,...), one policy a row;
                    list cells (users, staff, remove) hold several values separated by ";";
  *.jsonl / *.ndjson  one JSON object a line, the keys of [[policy]].
Every policy is validated as config.toml's are; the first bad one fails the whole import with one
line naming the file, the row or line and the key, and nothing is written. Relative paths (a
local file URL, users_file) are resolved against the import file's folder and stored absolute.

The stored table is canonical (spec_of): every key the policy sets, lists as lists, the jitter in
seconds, so that `watch export` writes what `watch import` reads back to the same policies.
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from pathlib import Path

from watcher.config import PolicySettings, Settings, parse_policy
from watcher.errors import ConfigError

FORMATS = ("toml", "csv", "jsonl")
LIST_KEYS = ("remove", "users", "staff")
INT_KEYS = ("confirm", "jitter")
_SUFFIXES = {".toml": "toml", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


def spec_of(policy: PolicySettings) -> dict:
    """A policy's table, canonical: what parse_policy reads back to the same settings."""
    spec: dict = {"name": policy.name, "url": policy.url, "schedule": policy.schedule.text,
                  "language": policy.language}
    if policy.select is not None:
        spec["select"] = policy.select
    for key in LIST_KEYS:
        if getattr(policy, key):
            spec[key] = list(getattr(policy, key))
    if policy.jitter:
        spec["jitter"] = policy.jitter
    if policy.confirm != 1:
        spec["confirm"] = policy.confirm
    if policy.users_file is not None:
        spec["users_file"] = str(policy.users_file)
    if policy.notify_users != "auto":
        spec["notify_users"] = policy.notify_users
    if getattr(policy, "fetch", "auto") != "auto":
        spec["fetch"] = policy.fetch
    return spec


def settings_of(spec: dict, settings: Settings) -> PolicySettings:
    """A stored table -> PolicySettings (ConfigError, one line, if it no longer validates here)."""
    base = settings.path.parent if settings.path else Path.cwd()
    return parse_policy(spec, base_dir=base, label=f"stored policy {spec.get('name', '?')!r}",
                        notify=settings.notify)


def format_of(path: Path, given: str | None = None) -> str:
    if given:
        if given not in FORMATS:
            raise ConfigError(f"{path}: unknown format {given!r} (use {', '.join(FORMATS)})")
        return given
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{path}: cannot tell the format from the name (use .toml, .csv or .jsonl, or --format)")
    return fmt


def read_policies(path: Path, settings: Settings, fmt: str | None = None) -> list[PolicySettings]:
    """Read and validate an import file -> policies (ConfigError, one line, on the first problem)."""
    path = Path(path)
    fmt = format_of(path, fmt)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    tables = {"toml": _toml_tables, "csv": _csv_tables, "jsonl": _jsonl_tables}[fmt](path, text)
    base = path.resolve().parent
    policies: list[PolicySettings] = []
    first: dict[str, str] = {}
    for key, table in tables:
        policy = parse_policy(table, base_dir=base, label=str(path), key=key, notify=settings.notify)
        if policy.name in first:
            raise ConfigError(f"{path}: {key}.name: duplicate policy name {policy.name!r} (first at {first[policy.name]})")
        first[policy.name] = key
        policies.append(policy)
    return policies


def _toml_tables(path: Path, text: str) -> list[tuple[str, dict]]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    extra = sorted(set(raw) - {"policy"})
    if extra:
        raise ConfigError(f"{path}: {extra[0]}: unknown key (an import file holds [[policy]] blocks only)")
    blocks = raw.get("policy", [])
    if not isinstance(blocks, list):
        raise ConfigError(f"{path}: policy: must be an array of tables ([[policy]])")
    return [(f"policy[{i}]", block) for i, block in enumerate(blocks, start=1)]


def _csv_tables(path: Path, text: str) -> list[tuple[str, dict]]:
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if not header or not any(c.strip() for c in header):
        raise ConfigError(f"{path}: line 1: missing the header row (e.g. name,url,schedule)")
    keys = [c.strip() for c in header]
    out = []
    for lineno, row in enumerate(rows, start=2):
        if not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        if len(row) > len(keys):
            raise ConfigError(f"{path}: line {lineno}: {len(row)} cells but the header names {len(keys)} keys")
        table: dict = {}
        for key, cell in zip(keys, row, strict=False):
            cell = cell.strip()
            if not cell:
                continue
            if key in LIST_KEYS:
                table[key] = [v.strip() for v in cell.split(";") if v.strip()]
            elif key in INT_KEYS and cell.isdigit():
                table[key] = int(cell)
            else:
                table[key] = cell
        out.append((f"line {lineno}", table))
    return out


def _jsonl_tables(path: Path, text: str) -> list[tuple[str, dict]]:
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            table = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: line {lineno}: invalid JSON: {e.msg} (column {e.colno})") from None
        out.append((f"line {lineno}", table))
    return out


def write_policies(specs: list[dict], fmt: str) -> str:
    """Specs -> the text of an import file in `fmt` (what `watch export` prints)."""
    if fmt == "jsonl":
        return "".join(json.dumps(s, ensure_ascii=False, separators=(",", ":")) + "\n" for s in specs)
    if fmt == "csv":
        keys = ["name", "url", "schedule"]
        for spec in specs:
            keys.extend(k for k in spec if k not in keys)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(keys)
        for spec in specs:
            writer.writerow([";".join(spec[k]) if isinstance(spec.get(k), list) else spec.get(k, "") for k in keys])
        return buf.getvalue()
    if fmt == "toml":
        return "\n".join("[[policy]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in spec.items())
                         for spec in specs)
    raise ConfigError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)   # a JSON string is a TOML basic string
