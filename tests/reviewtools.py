"""Stores with recorded changes, for the review, web and webhook tests: a policy file checked
once, then its new version checked (the real checker, file fetcher, notify planner)."""

from __future__ import annotations

from pathlib import Path

from watcher.app import check_policies
from watcher.config import load_settings

CORPUS = Path(__file__).resolve().parent / "data" / "corpus" / "pairs"
CONSENT_PAIR = "d01-enmono-purpose-ad-targeting"      # a new purpose (targeting ads): consent


def write_config(tmp_path: Path, *, store_url: str | None = None, policies: int = 1, extra: str = "",
                 web: str = "") -> Path:
    url = store_url or f"sqlite:///{tmp_path / 'snapshots' / 'watch.db'}"
    blocks = []
    for i in range(policies):
        name = "enmono" if i == 0 else f"enmono-{i}"
        blocks.append(f'[[policy]]\nname = "{name}"\nurl = "{name}.txt"\nusers = ["user@example.net"]\n')
    text = (f'[store]\nurl = "{url}"\nbodies_dir = "snapshots/bodies"\n\n'
            f'[notify]\nstaff = ["legal@example.com"]\noutbox_dir = "outbox"\n\n{web}\n{extra}\n' + "\n".join(blocks))
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    return config


def record_change(tmp_path: Path, *, store_url: str | None = None, pair: str = CONSENT_PAIR, policies: int = 1,
                  extra: str = "", web: str = "", new_text: str | None = None, notify: bool = True):
    """Config + store with one change per policy (old -> new of a corpus pair): (settings, config path)."""
    config = write_config(tmp_path, store_url=store_url, policies=policies, extra=extra, web=web)
    old = (CORPUS / pair / "old.txt").read_text(encoding="utf-8")
    new = new_text if new_text is not None else (CORPUS / pair / "new.txt").read_text(encoding="utf-8")
    settings = load_settings(config)
    for p in settings.policies:
        (tmp_path / f"{p.name}.txt").write_text(old, encoding="utf-8")
    check_policies(settings, notify=notify)
    for p in settings.policies:
        (tmp_path / f"{p.name}.txt").write_text(new, encoding="utf-8")
    outcomes = check_policies(settings, notify=notify)
    assert all(o.status == "changed" for o in outcomes), outcomes
    return settings, config


# ---------------------------------------------------------------- a real `watch serve`

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """`python -m watcher serve --config CONFIG --port P` in its own process, ready when it answers."""

    def __init__(self, config: Path, *, env: dict | None = None, host: str = "127.0.0.1"):
        import os

        self.config, self.host, self.port = config, host, free_port()
        self.env = {**os.environ, **(env or {})}
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Served:
        import subprocess
        import sys
        import time
        import urllib.error
        import urllib.request

        self.proc = subprocess.Popen([sys.executable, "-m", "watcher", "serve", "--config", str(self.config),
                                      "--host", self.host, "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"watch serve exited {self.proc.returncode}: {self.proc.stderr.read()}")
            try:
                urllib.request.urlopen(self.url + "/static/app.css", timeout=1).close()
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("watch serve did not answer within 30 s")

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:   # noqa: BLE001
                self.proc.kill()
                self.proc.wait()
