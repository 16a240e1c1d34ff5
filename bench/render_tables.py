"""The 新旧対照表 v2 on real revisions, for a person to look at and for the issue 10 figures.

    python bench/render_tables.py [--out bench/out/tables] [REVISION ...]   (default: 001 079)

For each revision of ../shared/real-revisions (copies of 001 and 079 are in tests/data): the HTML
table (watch diff --format html) printed to A4 PDF by headless Debian chromium (pages counted with
pdfminer), screenshots of the table and of the user and staff mails at 1280 and 400 px, the .docx
(watch diff --format docx) and, where LibreOffice is installed, its PDF rendering. Prints the
render times, sizes and page counts. Shared 2-core machine: times vary between runs.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pdfminer.pdfpage import PDFPage  # noqa: E402

from watcher.compare import compare  # noqa: E402
from watcher.notify import compose  # noqa: E402
from watcher.report import render_html, report_to_dict  # noqa: E402
from watcher.report_docx import render_docx  # noqa: E402
from watcher.sources import load  # noqa: E402

SHARED = ROOT.parent / "shared" / "real-revisions"
LOCAL = ROOT / "tests" / "data" / "real-revisions"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def folder(prefix: str) -> Path:
    for base in (SHARED, LOCAL):
        found = sorted(base.glob(f"{prefix}*")) if base.is_dir() else []
        if found:
            return found[0]
    raise SystemExit(f"no revision {prefix} in {SHARED} or {LOCAL}")


def chromium(*args: str) -> None:
    with tempfile.TemporaryDirectory(prefix="pw-chromium-") as profile:
        subprocess.run(["chromium", *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, timeout=180)


def pages(pdf: Path) -> int:
    with open(pdf, "rb") as fh:
        return sum(1 for _ in PDFPage.get_pages(fh))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "tables"))
    ap.add_argument("revisions", nargs="*", default=["001", "079"])
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    have_chromium = shutil.which("chromium") is not None
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    for prefix in args.revisions:
        d = folder(prefix)
        before, after = next(d.glob("before.*")), next(d.glob("after.*"))
        t0 = time.perf_counter()
        data = report_to_dict(compare(load(str(before)), load(str(after))), full_text=True)
        t1 = time.perf_counter()
        policy = {"name": d.name[4:], "url": "https://example.com/privacy"}
        table = render_html(data, meta={"policy": d.name[4:]})
        t2 = time.perf_counter()
        docx = render_docx(data, meta={"policy": d.name[4:]})
        t3 = time.perf_counter()
        user = compose.user_mail(policy, data, data["language"]).html
        staff = compose.staff_mail(policy, data, data["language"], {"change_id": 1, "show": "watch show p@2",
                                                                    "diff": "watch diff p@1 p@2"}).html
        files = {"table": table, "user": user, "staff": staff}
        for name, text in files.items():
            (out / f"{prefix}-{name}.html").write_text(text, encoding="utf-8")
        (out / f"{prefix}-table.docx").write_bytes(docx)
        line = (f"{prefix} ({data['language']}, {len(data['changes'])} changes): compare {t1 - t0:.2f} s, "
                f"html {t2 - t1:.2f} s {len(table.encode()) // 1024} KB, docx {t3 - t2:.2f} s {len(docx) // 1024} KB, "
                f"user mail {len(user.encode()) // 1024} KB, staff mail {len(staff.encode()) // 1024} KB")
        if have_chromium:
            pdf = out / f"{prefix}-table.pdf"
            chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf}", (out / f"{prefix}-table.html").as_uri())
            line += f", printed {pages(pdf)} A4 pages"
            for name in files:
                for width in (1280, 400):
                    chromium(f"--window-size={width},2000", f"--screenshot={out / f'{prefix}-{name}-{width}.png'}",
                             (out / f"{prefix}-{name}.html").as_uri())
        if soffice:
            subprocess.run([soffice, "--headless", "--convert-to", "pdf", "--outdir", str(out / "docx"),
                            str(out / f"{prefix}-table.docx")], capture_output=True, timeout=300)
            converted = out / "docx" / f"{prefix}-table.pdf"
            line += f", docx via LibreOffice {pages(converted)} pages" if converted.exists() else ""
        print(line)
    print(f"files in {out}" + ("" if soffice else " (LibreOffice not installed: no rendering of the .docx)"))


if __name__ == "__main__":
    main()
