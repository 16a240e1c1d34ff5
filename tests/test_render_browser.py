"""What people read, as a browser shows it (issue 10): the user and staff mails and the HTML
新旧対照表 rendered in headless Chromium (Debian's, via Playwright) at 1280 and 400 px — nothing
wider than the window, the legend and the verdict visible — and the table printed to PDF on A4."""

from __future__ import annotations

from pathlib import Path

import pytest
from pdfminer.pdfpage import PDFPage

from watcher.compare import compare
from watcher.notify import compose
from watcher.report import render_html, report_to_dict
from watcher.sources import load

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
DATA = Path(__file__).resolve().parent / "data"
PAIRS = {
    "ja": (DATA / "corpus" / "pairs" / "d01-enmono-purpose-ad-targeting", "old.txt", "new.txt"),
    "en-rewrite": (DATA / "real-revisions" / "079-line-pp-2023-09-ly-corporation", "before.md", "after.md"),
}
POLICY = {"name": "example", "url": "https://example.com/privacy"}
REF = {"change_id": 7, "show": "watch show example@2", "diff": "watch diff example@1 example@2"}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is installed by .ci/run")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def pages(case: str) -> dict[str, str]:
    folder, old, new = PAIRS[case]
    data = report_to_dict(compare(load(str(folder / old)), load(str(folder / new))), full_text=True)
    lang = data["language"]
    return {"table": render_html(data, meta={"policy": POLICY["name"], "url": POLICY["url"]}),
            "user mail": compose.user_mail(POLICY, data, lang).html,
            "staff mail": compose.staff_mail(POLICY, data, lang, REF).html}


@pytest.mark.parametrize("case", sorted(PAIRS))
def test_mails_and_table_fit_a_phone_and_a_desktop(browser, case, tmp_path):
    rendered = pages(case)
    for width in (1280, 400):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        try:
            for name, html in rendered.items():
                page.set_content(html)
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= width, f"{case} {name} at {width} px is {wide} px wide"
                text = page.inner_text("body")
                if name == "table" and case == "ja":
                    assert "傍線部分は改定部分" in text
                assert POLICY["name"] in text or name == "table", f"{case} {name}: the policy is not named"
                shot = tmp_path / f"{name.replace(' ', '-')}-{width}.png"
                page.screenshot(path=str(shot), full_page=False)
                assert shot.stat().st_size > 2000
        finally:
            context.close()


def test_the_table_prints_on_a4(browser, tmp_path):
    context = browser.new_context()
    page = context.new_page()
    try:
        page.set_content(pages("ja")["table"])
        pdf = tmp_path / "table.pdf"
        page.pdf(path=str(pdf), prefer_css_page_size=True)
    finally:
        context.close()
    with open(pdf, "rb") as fh:
        boxes = [tuple(round(v) for v in p.mediabox) for p in PDFPage.get_pages(fh)]
    assert boxes and all(box == (0, 0, 595, 842) for box in boxes), boxes
