"""The 新旧対照表 v2 on real revisions: one row per changed paragraph beside its own old text,
（略） for unchanged ones, a summary first for a rewrite, mails under 100 KB, A4 print in Chromium."""

from __future__ import annotations

import html
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest
from pdfminer.pdfpage import PDFPage

from watcher.compare import compare
from watcher.notify import compose
from watcher.report import MAX_QUOTES, render_html, report_to_dict, table_sections
from watcher.sources import load

REAL = Path(__file__).resolve().parent / "data" / "real-revisions"   # copies of ../shared/real-revisions
VPN = REAL / "001-mozilla-firefox-pn-ja-2026-05-vpn"                 # 60 KB, Japanese, one clause rewritten
REWRITE = REAL / "079-line-pp-2023-09-ly-corporation"               # 54 KB, English, rewritten throughout
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
POLICY = {"name": "line", "url": "https://line.me/en/terms/policy/"}


@cache
def report(folder: Path) -> dict:
    return report_to_dict(compare(load(str(folder / "before.md")), load(str(folder / "after.md"))), full_text=True)


def plain(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", fragment.replace("<br>", "\n"))))


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_every_changed_paragraph_sits_beside_its_own_old_text():
    data = report(VPN)
    page = render_html(data)
    rows = [cells for cells in re.findall(r'<tr class="text">(.*?)</tr>', page, re.S)]
    cells = [[plain(c) for c in re.findall(r"<td>(.*?)</td>", row, re.S)] for row in rows]
    edited = [it for c in data["changes"] for it in c["items"] if it["op"] == "edited"]
    assert len(edited) >= 5
    for item in edited:
        new, old = squash(item["text"]), squash(item["old_text"])
        row = [pair for pair in cells if new in squash(pair[0])]
        assert row, f"no row holds {new[:40]!r}"
        assert old in squash(row[0][1]), f"the row of {new[:40]!r} does not hold its old text"
    # unchanged paragraphs and clauses are elided with a count, never printed
    assert "（略）" in page and "変更のない" in page and "段落" in page and "条項" in page
    shown = sum(len(r["new_plain"]) for s in table_sections(data) for r in s["rows"])
    assert shown < len((VPN / "after.md").read_text()) / 3


def test_japanese_table_labels_legend_and_print_setup():
    page = render_html(report(VPN))
    assert '<html lang="ja">' in page and "傍線部分は改定部分" in page
    assert "size: A4" in page and "counter(page)" in page and "overflow-wrap: anywhere" in page
    assert "break-all" not in page and "page-break-inside: avoid" not in page
    assert "利用目的の追加" in page                      # the category's name, not only its code
    for english in ("modified", "material:", "consent_when_required", "users=yes", "users=no", "actions:"):
        assert english not in page.replace("purpose_added", ""), english
    # the underline marks both columns
    assert 'class="ins"' in page and 'class="del"' in page and "text-decoration:underline" in page


def test_english_policy_gets_an_english_table():
    page = render_html(report(REWRITE))
    assert '<html lang="en">' in page and "Underlined text is what changed" in page
    assert not re.search(r"[改新旧略傍判定条項]", re.sub(r"<td>.*?</td>|<li>.*?</li>", "", page, flags=re.S)
                         .replace("前文", ""))


def test_a_rewrite_starts_with_a_summary_and_pairs_old_with_new_paragraphs():
    data = report(REWRITE)
    page = render_html(data)
    assert "Overview of the revision" in page and page.index("Overview") < page.index('class="cmp"')
    sections = table_sections(data)
    # every rewritten clause keeps its place: its new paragraphs are paired with their old versions
    paired = [r for s in sections for r in s["rows"] if r["kind"] == "text" and r["old_plain"] and r["new_plain"]]
    assert len(sections) > 4 and len(paired) > 20, "the rewritten paragraphs are paired with their old versions"
    assert all(s["verdicts"] for s in sections)
    # long evidence lists are cut in a section head (the rows underline the words)
    n, long = next((n, s) for n, s in enumerate(sections, 1)
                   if sum(len(v["evidence"]) for v in s["verdicts"]) > MAX_QUOTES)
    head = page.split(f'id="c{n}"', 1)[1].split("</tr>", 1)[0]
    evidence = sum(len(v["evidence"]) for v in long["verdicts"])
    assert head.count("Evidence:") == sum(min(len(v["evidence"]), MAX_QUOTES) for v in long["verdicts"]) < evidence


def test_mails_of_a_rewrite_stay_under_100_kb_and_say_where_the_rest_is():
    data = report(REWRITE)
    user = compose.user_mail(POLICY, data, "en")
    staff = compose.staff_mail(POLICY, data, "ja", {"change_id": 7, "show": "watch show line@2",
                                                    "diff": "watch diff line@1 line@2"}, users_notified=True)
    for mail in (user, staff):
        assert len(mail.html.encode()) < compose.MAIL_HTML_LIMIT
    assert "This comparison is long" in user.html and POLICY["url"] in user.html
    assert "この対照表は長いため" in staff.html and "watch diff line@1 line@2" in staff.html
    assert "/change/7" in staff.html and "この対照表は長いため" in staff.text
    # a short change is not cut
    small = compose.user_mail(POLICY, report(VPN), "ja")
    assert "長いため" not in small.html and "傍線部分は改定部分" in small.html


def pdf_pages(path: Path) -> tuple[int, tuple]:
    with open(path, "rb") as fh:
        pages = list(PDFPage.get_pages(fh))
    return len(pages), tuple(round(x) for x in pages[0].mediabox)


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is installed by .ci/run")
def test_the_rewrite_prints_on_a_third_of_the_pages_on_a4(tmp_path):
    page = tmp_path / "table.html"
    page.write_text(render_html(report(REWRITE), meta={"policy": "LINE", "url": POLICY["url"]}), encoding="utf-8")
    pdf = tmp_path / "table.pdf"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", page.as_uri()], capture_output=True, timeout=120, check=True)
    count, box = pdf_pages(pdf)
    assert box == (0, 0, 595, 842), f"not A4: {box}"
    assert count <= 65 // 3, f"{count} pages (the v1 table printed 65)"


# --- the reader's language ---------------------------------------------------------------------

CORPUS = Path(__file__).resolve().parent / "data" / "corpus" / "pairs"
REF = {"change_id": 3, "show": "watch show enmono@2", "diff": "watch diff enmono@1 enmono@2"}
# words allowed in Japanese output: names, citations, the product, a label of a link
ALLOWED = {"URL", "policy-watcher", "APPI GL", "APPI Art", "GL", "APPI"}


def corpus_reports(lang: str, limit: int = 8) -> list[dict]:
    out = []
    for pair in sorted(CORPUS.glob("d*")):
        data = report_to_dict(compare(load(str(pair / "old.txt")), load(str(pair / "new.txt"))), full_text=True)
        if data["language"] == lang and data["severity"] != "none":
            out.append(data)
        if len(out) == limit:
            break
    return out


def not_ours(page: str, data: dict, reasons: bool = False) -> str:
    """`page` as text without what is not the program's prose: evidence (with `reasons`, an English
    report's reason texts too: they quote Japanese legal terms, 委託, 個人関連情報), page
    text (clause texts, numbers and titles), codes, URLs, addresses, paths, the policy's name."""
    text = re.sub(r"<style.*?</style>|<code>.*?</code>|<span style=\"font-family:Menlo[^\"]*\">[^<]*</span>", " ",
                  page, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<br>|</(td|th|li|p|div|h\d|dd|dt)>", "\n", text)))
    pieces = set()
    for c in data["changes"]:
        pieces.update([*c["evidence"], *(c["reasons"] if reasons else [])])
        for side in (c["old"], c["new"]):
            if side:
                pieces.update([side.get("number") or "", side.get("title") or "", *(side.get("text") or "").split("\n")])
        for item in c["items"]:
            for t in (item.get("text"), item.get("old_text"), item.get("number"), item.get("old_number"),
                      item.get("title")):
                pieces.update((t or "").split("\n"))
    for piece in sorted((p.strip() for p in pieces if p and p.strip()), key=len, reverse=True):
        text = text.replace(piece, " ")
    return re.sub(r"(https?://|/)[\w./@:%-]+|[\w.-]+@[\w.-]+|\benmono\b|old\.txt|new\.txt", " ", text)


def test_no_english_prose_in_japanese_staff_mail_and_table():
    alerts = [{"when": "2026-05-01 09:00", "policy": "site", "kind": "check_failures", "failures": 3,
               "message": "site: 3 checks failed in a row; last error: HTTP 503", "url": ""}]
    for data in corpus_reports("ja"):
        pages = [render_html(data), compose.staff_mail({"name": "enmono", "url": "https://example.com/p"}, data, "ja",
                                                       REF, users_notified=False).html]
        for page in pages:
            left = {w for w in re.findall(r"[A-Za-z][A-Za-z'’\-]+(?:[ .][A-Za-z][A-Za-z'’\-]+)*",
                                          not_ours(page, data))} - ALLOWED
            left = {w for w in left if w.upper() != w and w not in ("Cookie",)}     # IP, OS: page text
            assert not left, f"English in Japanese output: {sorted(left)[:10]}"
    digest = compose.digest_mail([], alerts, "ja", __import__("datetime").datetime(2026, 5, 1, 9))
    assert "site: site:" not in digest.text and "3回続けて取得に失敗しました" in digest.html


def test_staff_mail_says_why_users_were_not_emailed():
    data = next(d for d in corpus_reports("ja", 20) if "notify_users" in d["notify"]["actions"])
    for told, expect in ((True, "利用者へ通知メールを送りました"), (False, "送っていません")):
        mail = compose.staff_mail({"name": "enmono", "url": ""}, data, "ja", REF, users_notified=told)
        assert expect in mail.text and expect in mail.html


def test_no_japanese_labels_in_english_output():
    for data in corpus_reports("en", 4) + [report(REWRITE)]:
        for page in (render_html(data), compose.staff_mail(POLICY, data, "en", REF).html,
                     compose.user_mail(POLICY, data, "en").html):
            left = re.findall(r"[\u3040-\u30ff\u4e00-\u9fff]+", not_ours(page, data, reasons=True))
            assert not left, f"Japanese in English output: {left[:10]}"
