"""Resolve an operand of `watch diff` (a file path, for now) into a Document."""

from __future__ import annotations

from watcher import extract
from watcher.models import Document


def load(spec: str, config_path: str | None = None) -> Document:
    return extract.load_file(spec)
