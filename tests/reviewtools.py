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
