"""`watch serve`: the web view (watcher.web); `--hash-password` prints a hash for [[web.account]]."""

from __future__ import annotations

import getpass
import sys

from watcher.config import load_settings
from watcher.errors import InputError
from watcher.web import hash_password, serve


def run(args) -> int:
    if args.hash_password:
        password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass("password: ")
        if len(password) < 8:
            raise InputError("a password needs at least 8 characters")
        print(hash_password(password, method=args.method))
        return 0
    serve(load_settings(args.config), args.host, args.port)
    return 0
