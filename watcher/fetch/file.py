"""The "file" fetcher kind: `file://` URLs and local paths, read from disk.

Same result type as HTTP; an mtime/size validator plays the ETag, so an untouched file is a
304 and costs no parsing.
"""

from __future__ import annotations

import email.utils
import mimetypes
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from watcher.config import FetchSettings
from watcher.fetch.base import FetchRequest, FetchResult, register


@register
class FileFetcher:
    """Local files (`file://` URLs and plain paths), with an mtime/size validator for 304s."""

    kind = "file"
    schemes = ("file", "")
    remote = False

    def __init__(self, settings: FetchSettings, *, stop: threading.Event):
        self.settings = settings

    def fetch(self, request: FetchRequest) -> FetchResult:
        return fetch_file(request.url, etag=request.etag, last_modified=request.last_modified,
                          max_bytes=self.settings.max_bytes)

    def close(self):
        pass


def file_path(url: str) -> Path:
    """`file:///a/b.html` or a plain path -> Path."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        return Path(url2pathname(unquote(parts.path)))
    return Path(url)


def fetch_file(url: str, *, etag: str | None = None, last_modified: str | None = None,
               max_bytes: int = FetchSettings.max_bytes) -> FetchResult:
    start = time.monotonic()
    path = file_path(url)
    result = FetchResult(url=url, final_url=url, attempts=1)
    try:
        st = path.stat()
    except FileNotFoundError:
        result.error = f"file not found: {path}"
        return result
    except OSError as e:
        result.error = f"cannot read {path}: {e.strerror}"
        return result
    if not path.is_file():
        result.error = f"not a file: {path}"
        return result
    # validators like a web server's, so an untouched file is a 304 and costs no parsing
    result.etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
    result.last_modified = email.utils.formatdate(st.st_mtime, usegmt=True)
    ctype = mimetypes.guess_type(path.name)[0] or ""
    if path.suffix.lower() in (".md", ".markdown"):
        ctype = "text/markdown"
    result.headers = {"content-type": ctype} if ctype else {}
    if etag and etag == result.etag:
        result.status = 304
        result.elapsed = time.monotonic() - start
        return result
    if st.st_size > max_bytes:
        result.error = f"body too large: {st.st_size} bytes (max_bytes = {max_bytes})"
        return result
    try:
        result.body = path.read_bytes()
    except OSError as e:
        result.error = f"cannot read {path}: {e.strerror}"
        return result
    result.status = 200
    result.elapsed = time.monotonic() - start
    return result
