"""`watch diff --format docx`: the 新旧対照表 as a Word file that python-docx opens, holding the HTML
table's rows (same cells, 傍線 as underlined runs), A4, header and footer; refused on a terminal."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import docx
from docx.shared import Mm

from watcher.compare import compare
from watcher.report import render, report_to_dict, table_sections
from watcher.report_docx import render_docx
from watcher.sources import load

ROOT = Path(__file__).resolve().parents[1]
VPN = ROOT / "tests" / "data" / "real-revisions" / "001-mozilla-firefox-pn-ja-2026-05-vpn"


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("⋯", ""))


def test_docx_holds_the_html_rows_with_underlined_changes():
    report = compare(load(str(VPN / "before.md")), load(str(VPN / "after.md")))
    data = render(report, "docx")
    assert isinstance(data, bytes) and data[:2] == b"PK"
    document = docx.Document(io.BytesIO(data))
    section = document.sections[0]
    assert abs(section.page_width - Mm(210)) < Mm(1) and abs(section.page_height - Mm(297)) < Mm(1)
    assert "001-mozilla" in section.header.paragraphs[0].text
    assert "PAGE" in section.footer._element.xml and "NUMPAGES" in section.footer._element.xml
    table = document.tables[-1]
    assert [c.text for c in table.rows[0].cells] == ["改定後", "改定前"]
    html_rows = [r for s in table_sections(report_to_dict(report, full_text=True)) for r in s["rows"]
                 if r["kind"] == "text"]
    cells = [(squash(row.cells[0].text), squash(row.cells[1].text)) for row in table.rows[1:]
             if row.cells[0]._tc is not row.cells[1]._tc]
    for r in html_rows:
        new = squash(re.sub(r"<[^>]+>", "", str(r["new_html"])).replace("&amp;", "&"))
        old = squash(re.sub(r"<[^>]+>", "", str(r["old_html"])).replace("&amp;", "&"))
        assert any((not new or new in n) and (not old or old in o) for n, o in cells), new[:40]
    underlined = [run.text for row in table.rows[1:] for cell in row.cells for p in cell.paragraphs
                  for run in p.runs if run.underline]
    assert any("Firefox VPN" in u for u in underlined)
    assert "傍線部分は改定部分" in "\n".join(p.text for p in document.paragraphs)


def test_docx_is_refused_on_a_terminal_and_written_with_output(tmp_path):
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text("第1条（利用目的）\n当社は、本サービスの提供のために利用します。\n", encoding="utf-8")
    new.write_text("第1条（利用目的）\n当社は、本サービスの提供及び広告配信のために利用します。\n", encoding="utf-8")
    out = tmp_path / "table.docx"
    done = subprocess.run([sys.executable, "-m", "watcher", "diff", str(old), str(new), "--format", "docx",
                           "-o", str(out)], capture_output=True, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    cells = docx.Document(str(out)).tables[-1].rows
    assert any("広告配信" in row.cells[0].text for row in cells)
    # a terminal: a pseudo-terminal as stdout
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-m", "watcher", "diff", str(old), str(new), "--format", "docx"])
    output = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 2
    text = output.decode("utf-8", "replace").strip()
    assert "--output FILE" in text and len(text.splitlines()) == 1 and "PK" not in text


def test_docx_module_is_loaded_only_for_docx(tmp_path):
    code = ("import sys; from watcher.report import render; from watcher.compare import compare; "
            "from watcher.models import Document, Line; d = Document('a', [Line('第1条 目的'), Line('本文')]); "
            "render(compare(d, d), 'html'); print('docx' in sys.modules, 'watcher.report_docx' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.split() == ["False", "False"], done.stderr
    assert render_docx  # the module itself imports fine
