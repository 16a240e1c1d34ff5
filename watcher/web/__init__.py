"""The web view (`watch serve`): Starlette + jinja2 (autoescaped) + uvicorn.

    app      the pages (overview, policy, change with its review form, version text / outline,
             diff of two versions, audit trail), security headers, the review POST (CSRF-checked)
    auth     accounts from the config (scrypt / PBKDF2 hashes, or passwords from the environment),
             roles viewer / reviewer, CSRF tokens, no non-loopback address without accounts
    feeds    Atom feeds, overall and per policy (tag: ids, ETag / Last-Modified, 304s)

Reads and writes only through the store's Repository and watcher.review.
"""

from __future__ import annotations

import uvicorn

from watcher.config import Settings
from watcher.web.app import create_app
from watcher.web.auth import check_bind, hash_password, verify_password


def serve(settings: Settings, host: str | None = None, port: int | None = None, *, log_level: str = "warning") -> None:
    """Serve until interrupted. Refuses (ConfigError) a non-loopback address without accounts."""
    host = host or settings.web.host
    port = settings.web.port if port is None else port
    check_bind(host, settings.web)
    app = create_app(settings)
    print(f"watch serve: http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, server_header=False)


__all__ = ["check_bind", "create_app", "hash_password", "serve", "verify_password"]
