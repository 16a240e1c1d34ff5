"""Renderings of a Report: the HTML 新旧対照表 (marks, elision, compact rows, escaping), Markdown, text."""

from watcher.compare import compare
from watcher.judge.rules import load_rules
from watcher.models import Document, Line
from watcher.report import ELIDE_OVER_LINES, marked_pair, render, report_to_dict


def doc(text: str, source: str = "t") -> Document:
    return Document(source, [Line(ln) for ln in text.strip().splitlines() if ln.strip()])


BASE = "第1条（利用目的）\n当社は、本サービスの提供のために利用します。\n第2条（お問い合わせ）\nprivacy@example.com までご連絡ください。\n"


def test_marked_pair_marks_both_sides():
    old, new = marked_pair("手数料は1,000円です。", "手数料は3,000円です。")
    assert 'class="del"' in old and ">1,000<" in old
    assert 'class="ins"' in new and ">3,000<" in new


def test_long_clause_keeps_changed_lines_and_neighbours_only():
    lines = [f"{k}行目の説明文です。" for k in range(40)]
    changed = list(lines)
    changed[20] = "20行目の説明文を変更しました。"
    old, new = marked_pair("\n".join(lines), "\n".join(changed))
    assert "変更しました" in new and "19行目" in new and "21行目" in new
    assert "5行目" not in new and "⋯" in new
    assert "5行目" not in old and "20行目" in old
    short_old, _ = marked_pair("\n".join(lines[:ELIDE_OVER_LINES]), "\n".join(lines[:ELIDE_OVER_LINES]) + "追加")
    assert "⋯" not in short_old


def test_renumbered_clause_is_one_compact_row():
    new = BASE.replace("第2条（お問い合わせ）", "第2条（第三者提供）\n当社は第三者に提供しません。\n第3条（お問い合わせ）")
    html = render(compare(doc(BASE), doc(new)), "html")
    assert '<span class="cell-label">第3条 お問い合わせ</span>（本文変更なし）' in html
    assert html.count("privacy@example.com") == 0     # unchanged text is not printed twice


def test_html_escapes_page_text():
    new = BASE.replace("（お問い合わせ）", "（<script>alert(1)</script>窓口）")
    html = render(compare(doc(BASE), doc(new)), "html")
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_json_full_text_option_adds_clause_text():
    new = BASE.replace("本サービスの提供", "本サービスの提供及び改善")
    report = compare(doc(BASE), doc(new))
    plain, full = report_to_dict(report), report_to_dict(report, full_text=True)
    assert set(plain["changes"][0]["new"]) == {"number", "title"}
    assert "改善" in full["changes"][0]["new"]["text"]


def test_markdown_and_text_show_the_edit():
    new = BASE.replace("本サービスの提供", "本サービスの提供及び改善")
    report = compare(doc(BASE, "old.txt"), doc(new, "new.txt"))
    md, text = render(report, "md"), render(report, "text")
    assert "## modified: 第1条 利用目的" in md and "```diff" in md
    assert "{+及び改善+}" in text and "old.txt → new.txt" in text


def test_text_output_never_reads_page_text_as_markup():
    new = BASE.replace("本サービスの提供", "[/b][bold red]本サービスの提供[/x]")
    text = render(compare(doc(BASE), doc(new)), "text", color=True)
    assert "[/b][bold red]" in text


def test_markdown_escapes_page_html():
    new = BASE.replace("（お問い合わせ）", "（<img src=x onerror=alert(1)>窓口）")
    md = render(compare(doc(BASE), doc(new)), "md")
    heading = next(line for line in md.splitlines() if line.startswith("## "))
    assert "<img" not in heading and "&lt;img" in heading


def test_hunks_show_the_text_as_written_but_ignore_width():
    from watcher.diff import inline_hunks
    hunks = inline_hunks("手数料は１，０００円です。", "手数料は3,000円です。")
    assert [(h.old, h.new) for h in hunks] == [("１，０００", "3,000")]
    assert inline_hunks("第１条　目的", "第1条 目的") == []


def test_json_reasons_as_objects_carry_the_rule_id_and_their_own_evidence():
    new = BASE.replace("本サービスの提供のために利用します。",
                       "本サービスの提供のために利用します。\n当社は、広告配信のため、位置情報を広告事業者に提供します。")
    data = report_to_dict(compare(doc(BASE), doc(new)))
    [change] = data["changes"]
    ids = {r.id for r in load_rules("ja").rules}
    details = change["reason_details"]
    assert [d["text"] for d in details] == change["reasons"] and details
    assert any(d["code"] in ids for d in details), details      # the rule that gave the reason
    for d in details:
        assert d["evidence"] and all(e in change["evidence"] for e in d["evidence"])
    # a verdict of the diff stage (same text, another number) has a code too
    moved = BASE.replace("第2条（お問い合わせ）", "第3条（お問い合わせ）")
    [renumbered] = report_to_dict(compare(doc(BASE), doc(moved)))["changes"]
    assert renumbered["reason_details"] == [{"code": "diff.renumbered", "text": renumbered["reasons"][0],
                                             "evidence": []}]
    # a file operand's old/new keep the two v1 fields only
    assert set(data["old"]) == {"source", "clauses"}


def test_markdown_diff_block_pairs_minus_old_and_plus_new_lines():
    new = BASE.replace("本サービスの提供", "本サービスの提供及び改善")
    md = render(compare(doc(BASE), doc(new)), "md")
    block = md.split("```diff\n", 1)[1].split("```", 1)[0].splitlines()
    assert block == ["- 当社は、本サービスの提供のために利用します。", "+ 当社は、本サービスの提供及び改善のために利用します。"]
    assert not any(line.startswith("~") for line in md.splitlines())
    added = BASE + "第3条（安全管理）\n当社は安全管理措置を講じます。\n"
    md = render(compare(doc(BASE), doc(added)), "md")
    block = md.split("```diff\n", 1)[1].split("```", 1)[0].splitlines()
    assert block and all(line.startswith("+ ") for line in block)
