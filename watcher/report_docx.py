"""The 新旧対照表 as a Word document (python-docx), for legal teams who edit and file it.

    render_docx(report) -> bytes

The rows are those of the HTML table (watcher.report.table_view, the same sections and cells):
a two-column table (改定後 | 改定前, the header row repeated on every page), one merged row per
clause with its verdict, 傍線 as underlined runs, （略） rows; A4 with margins, a header with the
policy, URL, dates and effective date, and page numbers in the footer. Loaded by name by the
`docx` renderer kind (watcher.report.RENDERERS), so nothing else imports python-docx.
"""

from __future__ import annotations

import io
from html.parser import HTMLParser

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor

from watcher.models import Report
from watcher.report import table_view

FONT_LATIN = "Times New Roman"
FONT_EAST_ASIA = "MS Mincho"
BODY_PT = 9
GREY = RGBColor(0x66, 0x66, 0x66)


class _Cell(HTMLParser):
    """A cell's HTML (our own markup: text, <br>, spans marking changes or a label) as runs:
    (text, underlined, bold) with "\\n" for a line break."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.runs: list[tuple[str, bool, bool]] = []
        self.stack: list[tuple[bool, bool]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.runs.append(("\n", False, False))
            return
        a = dict(attrs)
        marked = a.get("class") in ("ins", "del")
        bold = "font-weight:bold" in (a.get("style") or "")
        self.stack.append((marked, bold))

    def handle_endtag(self, tag):
        if tag != "br" and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        under = any(m for m, _ in self.stack)
        bold = any(b for _, b in self.stack)
        self.runs.append((data, under, bold))


def _runs(markup) -> list[tuple[str, bool, bool]]:
    parser = _Cell()
    parser.feed(str(markup))
    parser.close()
    return parser.runs


def _fill(paragraph, markup) -> None:
    for text, under, bold in _runs(markup):
        if text == "\n":
            paragraph.add_run().add_break()
            continue
        run = paragraph.add_run(text)
        run.underline = under or None
        run.bold = bold or None


def _label(cell, text: str) -> None:
    if text:
        run = cell.paragraphs[0].add_run(text)
        run.bold = True
        run.font.size = Pt(BODY_PT - 1)
        cell.paragraphs[0].add_run().add_break()


def _muted(paragraph, text: str) -> None:
    run = paragraph.add_run(text)
    run.font.color.rgb = GREY


def _repeat_header(row) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    tr_pr.append(flag)


def _shade(cell, fill: str) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    tc_pr.append(shd)


def _field(paragraph, instruction: str) -> None:
    """A Word field (PAGE, NUMPAGES) that Word and LibreOffice fill in."""
    run = paragraph.add_run()
    for kind, text in (("begin", None), (None, instruction), ("separate", None), (None, "1"), ("end", None)):
        if kind:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
        else:
            el = OxmlElement("w:instrText" if text == instruction else "w:t")
            el.set(qn("xml:space"), "preserve")
            el.text = text
        run._r.append(el)


def _fonts(document) -> None:
    style = document.styles["Normal"]
    style.font.name = FONT_LATIN
    style.font.size = Pt(BODY_PT)
    r_pr = style.element.get_or_add_rPr()
    fonts = r_pr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        r_pr.append(fonts)
    fonts.set(qn("w:eastAsia"), FONT_EAST_ASIA)
    style.paragraph_format.space_after = Pt(0)


def _page(document, view: dict) -> None:
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin = section.right_margin = Mm(15)
    section.top_margin, section.bottom_margin = Mm(20), Mm(18)
    section.header_distance = section.footer_distance = Mm(8)
    t = view["t"]
    head = section.header.paragraphs[0]
    parts = [view["policy"], view["url"]]
    if view["old_date"] or view["new_date"]:
        parts.append(f"{t['col_old']} {view['old_date'] or '—'} → {t['col_new']} {view['new_date'] or '—'}")
    if view["effective_date"]:
        parts.append(f"{t['effective']} {view['effective_date']}")
    run = head.add_run("  ".join(p for p in parts if p))
    run.font.size = Pt(7.5)
    run.font.color.rgb = GREY
    foot = section.footer.paragraphs[0]
    foot.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _field(foot, "PAGE")
    foot.add_run(" / ")
    _field(foot, "NUMPAGES")


def render_docx(report: Report | dict, lang: str | None = None, meta: dict | None = None) -> bytes:
    view = table_view(report, lang, meta)
    t = view["t"]
    document = Document()
    _fonts(document)
    _page(document, view)
    title = document.add_heading(t["table_title"] + (f" — {view['policy']}" if view["policy"] else ""), level=1)
    title.runs[0].font.size = Pt(14)
    for name, value in ((t["old_version"], view["old_source"] + (f"（{view['old_date']}）" if view["old_date"] else "")),
                        (t["new_version"], view["new_source"] + (f"（{view['new_date']}）" if view["new_date"] else "")),
                        (t["effective"], view["effective_date"]),
                        (t["verdict_heading"], view["severity_label"] + (f"  {t['material_label']}" if view["material"]
                                                                         else ""))):
        if value:
            p = document.add_paragraph()
            p.add_run(f"{name}: ").bold = True
            p.add_run(value)
    if view["sections"]:
        legend = document.add_paragraph()
        legend.add_run(t["legend"]).underline = True
    if view["big"] and view["sections"]:
        document.add_heading(t["overview"], level=2)
        table = document.add_table(rows=1, cols=4)
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, (t["clause_heading"], t["type_heading"], t["severity_heading"],
                                                    t["categories"]), strict=True):
            cell.paragraphs[0].add_run(text).bold = True
        _repeat_header(table.rows[0])
        for s in view["sections"]:
            for v in s["verdicts"]:
                cells = table.add_row().cells
                cells[0].text, cells[1].text, cells[2].text = v["label"] or "—", v["type_label"], v["severity_label"]
                cells[3].text = "、".join(c["name"] for c in v["category_names"]) if view["lang"] == "ja" else \
                    ", ".join(c["name"] for c in v["category_names"])
        document.add_heading(t["table_title"], level=2)
    if not view["sections"]:
        document.add_paragraph(t["no_changes"])
    else:
        _comparison(document, view)
    _routing(document, view)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _comparison(document, view: dict) -> None:
    t = view["t"]
    table = document.add_table(rows=1, cols=2)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    width = Mm(90)
    for cell, text in zip(table.rows[0].cells, (t["col_new"], t["col_old"]), strict=True):
        cell.width = width
        cell.paragraphs[0].add_run(text).bold = True
        _shade(cell, "EEF1F5")
    _repeat_header(table.rows[0])

    def omitted(text: str) -> None:
        new, old = table.add_row().cells
        for cell in (new, old):
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
        _muted(new.paragraphs[0], f"{t['omitted']} {text}")
        _muted(old.paragraphs[0], t["omitted"])

    for s in view["sections"]:
        if s["gap"]:
            omitted(t["omitted_clauses"].format(count=s["gap"]))
        head = table.add_row().cells
        merged = head[0].merge(head[1])
        _shade(merged, "F5F6F8")
        first = True
        for v in s["verdicts"]:
            p = merged.paragraphs[0] if first else merged.add_paragraph()
            first = False
            p.add_run(v["label"] or "—").bold = True
            p.add_run(f"（{v['type_label']}）{v['severity_label']}")
            names = [c["name"] for c in v["category_names"]]
            if names:
                p.add_run(f"  [{'、'.join(names) if view['lang'] == 'ja' else ', '.join(names)}]")
            for r in v["reasons"]:
                merged.add_paragraph(f"{t['reasons']}: {r}").runs[0].font.size = Pt(BODY_PT - 1)
            for e in v["evidence"][:3]:
                quote = e if len(e) <= 120 else e[:120].rstrip() + "…"
                merged.add_paragraph(f"{t['evidence']}: 「{quote}」").runs[0].font.size = Pt(BODY_PT - 1)
        for r in s["rows"]:
            if r["kind"] == "omitted":
                omitted(t["omitted_paragraphs"].format(count=r["count"]))
                continue
            new, old = table.add_row().cells
            new.width = old.width = width
            _label(new, r["new_label"])
            _label(old, r["old_label"])
            if r["kind"] == "same":
                _muted(new.paragraphs[0], t["same_text"])
                _muted(old.paragraphs[0], t["same_text"])
                continue
            if r["removed"]:
                _muted(new.paragraphs[0], t["removed_text"])
            else:
                _fill(new.paragraphs[0], r["new_html"])
            if r["added"]:
                _muted(old.paragraphs[0], t["added_text"])
            else:
                _fill(old.paragraphs[0], r["old_html"])


def _routing(document, view: dict) -> None:
    t = view["t"]
    document.add_heading(t["routing_heading"], level=2)
    document.add_paragraph(f"{t['revision_promise']}: {view['promise'] or t['revision_missing']}")
    document.add_paragraph(f"{t['users_told']}: {t['yes'] if view['users'] else t['no']}")
    document.add_paragraph(f"{t['staff_told']}: {t['yes'] if view['staff'] else t['no']}")
    for a in view["actions"]:
        document.add_paragraph(f"☐ {a['label']} ({a['key']})")
    for n in view["notes"]:
        document.add_paragraph(f"※ {n}")
