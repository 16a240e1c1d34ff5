"""Resolve an operand of `watch diff` into a Document.

An operand is, in this order:
- `-`: standard input;
- a URL (http://, https://, file://): fetched now, with the select/remove/fetch of a configured
  policy whose URL it is (else fetch = "auto": a script shell goes to the browser);
- an existing file (.html/.htm/.txt/.md/.pdf/.docx);
- a stored snapshot `NAME@REF` (REF: latest, -1, -N, a version number, 2026-05-01,
  2026-05-01T12:00) or a bare policy NAME (its latest snapshot): needs the config file for the
  store's location. A snapshot stored by older extraction code is re-derived from its raw body,
  so a diff never shows a difference that only the code made.
Without a config file, files and URLs still work. The store (SQLAlchemy), the fetchers (urllib3)
and the page classifier are loaded by name when an operand needs them: a diff of two files never
imports them (tests/test_startup.py).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

from watcher import extract, lazy
from watcher.config import Settings, default_settings, load_settings
from watcher.errors import ConfigError, InputError
from watcher.models import Document

# Loaded on first use (watcher.lazy), by the operand kinds that need them.
suspect = lazy.module("watcher.suspect")
current_document = lazy.function("watcher.derive:current_document")
fetch_once = lazy.function("watcher.fetch:fetch_once")
_is_url = lazy.function("watcher.fetch:is_url")
open_store = lazy.function("watcher.store:open_store")

_REF = re.compile(r"^(latest|head|[+-]?\d+|\d{4}-\d{2}-\d{2}([T ][0-9:.]+([+-]\d{2}:?\d{2}|Z)?)?)$", re.I)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def split_ref(spec: str) -> tuple[str, str] | None:
    """`name@ref` -> (name, ref) when it reads as a snapshot reference, else None."""
    name, sep, ref = spec.rpartition("@")
    if sep and _NAME.match(name) and _REF.match(ref):
        return name, ref.lower() if ref.lower() in ("latest", "head") else ref
    return None


def is_url(spec: str) -> bool:
    """watcher.fetch.is_url, without loading the fetchers for an operand with no scheme (a path)."""
    return len(urlsplit(spec).scheme) > 1 and _is_url(spec)


def load(spec: str, config_path: str | None = None) -> Document:
    if spec == "-":
        return load_stdin()
    if is_url(spec):
        return load_url(spec, config_path)
    path = Path(spec)
    if path.exists() or path.is_symlink():
        return extract.load_file(path, _max_bytes(config_path))
    named = split_ref(spec)
    if named is None and _NAME.match(spec) and not Path(spec).suffix:
        settings = _settings(config_path, required=False)
        if settings is not None and settings.has_policy(spec):
            named = (spec, "latest")
    if named is not None:
        return load_snapshot(named[0], named[1], config_path, label=spec)
    return extract.load_file(path)    # raises the "no such file" InputError


def _max_bytes(config_path: str | None) -> int:
    """fetch.max_bytes of the config (the default without one): a file operand is capped like a page."""
    try:
        settings = _settings(config_path, required=False)
    except ConfigError:
        if config_path:
            raise
        settings = None     # a broken ./config.toml does not stop a diff of two files
    return (settings or default_settings()).fetch.max_bytes


def load_stdin() -> Document:
    """`-`: the document on standard input (any kind extract recognises: HTML, text, PDF, .docx)."""
    data = sys.stdin.buffer.read()
    if not data.strip():
        raise InputError("-: standard input is empty")
    return extract.extract(data, source="-")


def _settings(config_path: str | None, *, required: bool) -> Settings | None:
    given = config_path or "config.toml"
    if not Path(given).is_file():
        if required:
            raise ConfigError(f"{given}: config file not found (needed to find the snapshot store; use --config)")
        return None
    return load_settings(given)


def load_url(url: str, config_path: str | None = None) -> Document:
    settings = _settings(config_path, required=False) or default_settings()
    policy = next((p for p in settings.policies if p.url == url), None)
    # a configured policy's `fetch` mode, else "auto": a script shell is rendered by the browser
    result = fetch_once(url, settings.fetch, mode=policy.fetch if policy else "auto",
                        select=policy.select if policy else None, needs_browser=suspect.needs_browser)
    if result.body is None or not result.body.strip():
        raise InputError(f"{url}: empty body (HTTP {result.status})")
    return extract.extract(result.body, source=url, content_type=result.content_type or None,
                           select=policy.select if policy else None, remove=policy.remove if policy else ())


def load_snapshot(name: str, ref: str, config_path: str | None = None, *, label: str | None = None) -> Document:
    settings = _settings(config_path, required=True)
    policy = next((p for p in settings.policies if p.name == name), None)
    store = open_store(settings.store)
    try:
        snapshot = store.resolve_ref(name, ref)
        doc, _ = current_document(snapshot, policy, store.get_body, source=label or f"{name}@{ref}")
    finally:
        store.close()
    meta = {"policy": snapshot.policy, "version": snapshot.version, "snapshot": snapshot.id,
            "fetched_at": snapshot.fetched_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "sha256": snapshot.body_sha256,
            "url": snapshot.url}
    return dataclasses.replace(doc, source=label or f"{name}@{ref}", meta=meta)
