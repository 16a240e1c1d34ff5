"""Screenshots of every page of `watch serve`, for a person to look at.

    python bench/web_screens.py [--out bench/out] [--width 1280]

Records real changes (two policies, a consent change each, through the checker), records a
review step, serves the store with a real `watch serve` on 127.0.0.1 and saves a full-page PNG of
each page through Playwright driving Debian's chromium (`apt-get install chromium
fonts-noto-cjk`; nothing is downloaded). Prints each page's load time and PNG size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from reviewtools import CHROMIUM, CHROMIUM_ARGS, Served, record_change  # noqa: E402

from watcher.review import ReviewRequest, record_review  # noqa: E402
from watcher.store import Store  # noqa: E402

PAGES = [
    ("overview", "/"),
    ("overview-en", "/?lang=en"),
    ("policy", "/policy/enmono?lang=ja"),
    ("change", "/change/1"),
    ("change-en", "/change/2?lang=en"),
    ("version-text", "/policy/enmono/v/2?lang=ja"),
    ("version-outline", "/policy/enmono/v/2?outline=1"),
    ("diff", "/policy/enmono/diff?old=1&new=2"),
    ("audit", "/audit"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings, config = record_change(Path(tmp), policies=2)
        store = Store(settings.store)
        try:
            record_review(store, 1, ReviewRequest(tick=["legal_review"], note="法務に確認を依頼"), actor="legal:sato")
        finally:
            store.close()
        with Served(config) as served, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": 900}, locale="ja-JP")
            for name, path in PAGES:
                t0 = time.perf_counter()
                page.goto(served.url + path)
                page.wait_for_load_state("networkidle")
                elapsed = time.perf_counter() - t0
                target = out / f"web-{name}.png"
                page.screenshot(path=str(target), full_page=True)
                print(f"{name:16} {elapsed * 1000:6.0f} ms  {target.stat().st_size // 1024:4} KiB  {target}")
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
