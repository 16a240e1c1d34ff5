"""PDF and Word versions of the corpus pairs give the verdicts the text pairs give.

The PDFs are made here by Chromium printing an HTML rendering of each tests/data/corpus/pairs text
(one browser for the module, Noto CJK fonts); the .docx files by python-docx from the same texts.
PDF extraction (pdfminer) costs about 0.4 s a file: the 28 files are read in two worker processes.
"""

from __future__ import annotations

import html
import multiprocessing
import subprocess
import sys
import tomllib
import zipfile
from concurrent.futures import ProcessPoolExecutor
from io import BytesIO
from pathlib import Path

import docx
import pytest
from test_corpus_verdicts import corpus_errors

from watcher.compare import compare
from watcher.derive import derive
from watcher.errors import InputError
from watcher.extract import extract, load_file
from watcher.report import report_to_dict

PAIRS = sorted(p for p in (Path(__file__).parent / "data" / "corpus" / "pairs").glob("d*") if p.is_dir())
CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at "
                                    "/usr/bin/chromium (.ci/run installs it with apt-get)")


def page_html(text: str) -> str:
    body = "\n".join(f"<p>{html.escape(line.strip())}</p>" for line in text.splitlines() if line.strip())
    return ("<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><style>body{font-family:'Noto Sans CJK JP',"
            "sans-serif;font-size:11pt} p{margin:0 0 .8em}</style></head><body>" + body + "</body></html>")


def docx_bytes(text: str) -> bytes:
    d = docx.Document()
    for line in text.splitlines():
        if line.strip():
            d.add_paragraph(line.strip())
    out = BytesIO()
    d.save(out)
    return out.getvalue()


def verdict(report) -> dict:
    out = report_to_dict(report)
    return {"severity": out["severity"], "material": out["material"], "notify": out["notify"],
            "categories": sorted({c for ch in out["changes"] for c in ch["categories"]}),
            "substantive": sum(1 for ch in out["changes"] if ch["severity"] != "none")}


def _extract_file(path: str):
    return load_file(path)


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> dict[tuple[str, str], object]:
    """(pair, stem) -> the Document extracted from Chromium's PDF of that text."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (.ci/run installs it with apt-get)")
    from playwright.sync_api import sync_playwright  # optional here: only this fixture prints PDFs

    from watcher.fetch.browser import LAUNCH_ARGS
    root = tmp_path_factory.mktemp("pdf")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=list(LAUNCH_ARGS))
        page = browser.new_page()
        for pair in PAIRS:
            for stem in ("old", "new"):
                page.set_content(page_html((pair / f"{stem}.txt").read_text(encoding="utf-8")))
                (root / f"{pair.name}-{stem}.pdf").write_bytes(page.pdf(format="A4"))
        browser.close()
    keys = [(pair.name, stem) for pair in PAIRS for stem in ("old", "new")]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        docs = pool.map(_extract_file, [str(root / f"{name}-{stem}.pdf") for name, stem in keys])
        return dict(zip(keys, docs, strict=True))


def test_corpus_pairs_are_there():
    assert len(PAIRS) == 14


@pytest.mark.slow      # 28 PDFs printed and read by pdfminer: about 10 s of CPU
@needs_chromium
@pytest.mark.parametrize("pair", PAIRS, ids=[p.name for p in PAIRS])
def test_pdf_pair_gives_the_text_verdict(pair, printed):
    old_txt, new_txt = load_file(pair / "old.txt"), load_file(pair / "new.txt")
    text_report, pdf_report = compare(old_txt, new_txt), compare(printed[(pair.name, "old")], printed[(pair.name, "new")])
    assert printed[(pair.name, "old")].content_type == "pdf"
    assert len(printed[(pair.name, "old")].lines) == len(old_txt.lines)      # page breaks joined, paragraphs kept
    assert verdict(pdf_report) == verdict(text_report)
    exp = tomllib.loads((pair / "expected.toml").read_text(encoding="utf-8"))
    assert corpus_errors(exp, report_to_dict(pdf_report)) == corpus_errors(exp, report_to_dict(text_report))


@pytest.mark.parametrize("pair", PAIRS, ids=[p.name for p in PAIRS])
def test_docx_pair_gives_the_text_verdict(pair):
    old_txt, new_txt = load_file(pair / "old.txt"), load_file(pair / "new.txt")
    old = extract(docx_bytes((pair / "old.txt").read_text(encoding="utf-8")), source="old.docx")
    new = extract(docx_bytes((pair / "new.txt").read_text(encoding="utf-8")), source="new.docx")
    assert old.content_type == "docx" and old.text == old_txt.text and new.text == new_txt.text
    assert verdict(compare(old, new)) == verdict(compare(old_txt, new_txt))


def test_docx_numbering_headings_and_tables():
    d = docx.Document()
    d.add_heading("プライバシーポリシー", level=1)
    d.add_paragraph("利用目的", style="List Number")
    d.add_paragraph("第三者提供", style="List Number")
    d.add_paragraph("項目", style="List Bullet")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "項目", "目的"
    table.cell(1, 0).text, table.cell(1, 1).text = "メールアドレス", "ご連絡"
    out = BytesIO()
    d.save(out)
    doc = extract(out.getvalue(), source="draft.docx")
    assert [(line.text, line.heading) for line in doc.lines] == [
        ("プライバシーポリシー", 1), ("1. 利用目的", 0), ("2. 第三者提供", 0), ("・項目", 0),
        ("項目 | 目的", 0), ("メールアドレス | ご連絡", 0)]


def test_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match=r"^x\.pdf: not a readable PDF \(") as e:
        extract(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", source="x.pdf")
    assert "\n" not in str(e.value)
    z = BytesIO()
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("word/document.xml", "<not-word/>")
    with pytest.raises(InputError, match=r"^x\.docx: not a readable \.docx"):
        extract(z.getvalue(), source="x.docx")


@needs_chromium
def test_a_pdf_without_text_is_a_scan_never_a_version(tmp_path):
    from playwright.sync_api import sync_playwright  # optional here: only this test prints a PDF
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox"])
        page = browser.new_page()
        page.set_content("<div style='width:300px;height:300px;background:#888'></div>")
        blank = page.pdf(format="A4")
        page.set_content("<p>1/3</p>")
        nearly = page.pdf(format="A4")
        browser.close()
    with pytest.raises(InputError, match=r"PDF has no text layer \(1 page, no text\): a scanned image\?$"):
        extract(blank, source="scan.pdf")
    derived = derive(nearly, source="scan.pdf", content_type="application/pdf", select=None, remove=[])
    assert derived.problem and "scanned PDF" in derived.problem and "a scanned image?" in derived.problem


def test_a_text_diff_does_not_load_the_heavy_libraries(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("第1条 利用目的\n当社はメールアドレスを取得します。\n", encoding="utf-8")
    b.write_text("第1条 利用目的\n当社はメールアドレスと住所を取得します。\n", encoding="utf-8")
    code = ("import sys; from watcher.cli import main; rc = main(['diff', sys.argv[1], sys.argv[2]]);"
            "heavy = [m for m in ('playwright', 'pdfminer', 'docx', 'watcher.fetch.chromium') if m in sys.modules];"
            "print('HEAVY', heavy, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, str(a), str(b)], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stderr, out.stderr
