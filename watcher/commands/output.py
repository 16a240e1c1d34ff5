"""Writing a command's output: to a file (--output) or to stdout."""

from __future__ import annotations

import sys

from watcher.errors import WatchError


def write(text: str, path: str | None = None) -> None:
    if path:
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise WatchError(f"{path}: cannot write: {exc.strerror}") from exc
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
