"""Cost of the fetch v2 kinds: one browser fetch (a local page whose policy a script writes after
500 ms; cold = chromium started, warm = the same browser again), and extracting a PDF and a .docx
of about 60 KB of policy text (the corpus pairs' texts, repeated). Figures vary on a shared 2-core
machine: run it a few times.

    .venv/bin/python bench/fetch_kinds.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from playwright.sync_api import sync_playwright  # noqa: E402
from test_fetch_browser import shell_page  # noqa: E402
from test_pdf_docx import docx_bytes, page_html  # noqa: E402
from webserver import PageServer  # noqa: E402

from watcher import suspect  # noqa: E402
from watcher.config import FetchSettings  # noqa: E402
from watcher.extract import extract  # noqa: E402
from watcher.fetch import Fetcher  # noqa: E402
from watcher.fetch.browser import LAUNCH_ARGS  # noqa: E402

PAIRS = Path(__file__).resolve().parents[1] / "tests" / "data" / "corpus" / "pairs"


def text_of(chars: int) -> str:
    texts = [p.read_text(encoding="utf-8") for p in sorted(PAIRS.glob("d*/old.txt"))]
    out, i = "", 0
    while len(out) < chars:
        out += texts[i % len(texts)] + "\n"
        i += 1
    return out[:chars].rsplit("\n", 1)[0]


def main() -> None:
    policy = text_of(8000)
    with PageServer() as server:
        server.set("/spa", shell_page(policy, delay_ms=500))
        fetcher = Fetcher(FetchSettings(retries=0), needs_browser=suspect.needs_browser)
        try:
            for label in ("cold (chromium started)", "warm", "warm"):
                t = time.perf_counter()
                result = fetcher.fetch(server.url("/spa"), mode="auto")
                assert result.ok and result.fetcher == "browser", result.error
                print(f"browser fetch, auto escalation, {label}: {time.perf_counter() - t:.2f} s "
                      f"(of which the page's own script delay: 0.50 s)")
        finally:
            fetcher.close()

    text = text_of(60_000)
    print(f"policy text: {len(text)} characters")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=list(LAUNCH_ARGS))
        page = browser.new_page()
        page.set_content(page_html(text))
        pdf = page.pdf(format="A4")
        browser.close()
    for label, data in (("PDF", pdf), (".docx", docx_bytes(text))):
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            doc = extract(data, source=label)
            best = min(best, time.perf_counter() - t)
        print(f"extract {label}: {len(data) / 1024:.0f} KB file, {len(doc.lines)} lines, "
              f"{sum(len(line.text) for line in doc.lines)} characters: {best:.2f} s (best of 3)")


if __name__ == "__main__":
    main()
