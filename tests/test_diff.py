"""Align and diff: renumbering, moves, splits, merges, items, inline hunks."""

from watcher.align import Unit, align
from watcher.diff import diff_clauses, inline_hunks, inline_ops, paragraphs
from watcher.models import Document, Line
from watcher.segment import segment


def clauses(text: str):
    return segment(Document("t", [Line(ln) for ln in text.strip().splitlines() if ln.strip()]))


def run(old: str, new: str):
    return diff_clauses(clauses(old), clauses(new))


BASE = """
第1条（取得する情報）
当社は、氏名、メールアドレス及び電話番号を取得します。
第2条（利用目的）
当社は、次の目的で利用します。
1. 本サービスの提供のため
2. お問い合わせへの対応のため
3. 利用規約の変更を通知するため
第3条（第三者提供）
当社は、法令に基づく場合を除き、あらかじめ本人の同意を得ないで第三者に提供しません。
第4条（安全管理）
当社は、個人情報の漏えい、滅失又は毀損の防止のため、必要かつ適切な措置を講じます。
第5条（お問い合わせ）
お問い合わせは privacy@example.com までお願いします。
"""


def test_identical_is_no_change():
    changes, summary = run(BASE, BASE)
    assert changes == [] and summary["unchanged"] == 5


def test_inserted_article_renumbers_the_rest():
    new = BASE.replace("第3条（第三者提供）", "第3条（外国にある第三者への提供）\n当社は、米国の事業者に個人データを提供することがあります。\n第4条（第三者提供）")
    new = new.replace("第4条（安全管理）", "第5条（安全管理）").replace("第5条（お問い合わせ）", "第6条（お問い合わせ）")
    changes, summary = run(BASE, new)
    assert summary == {"added": 1, "removed": 0, "modified": 0, "moved": 0, "renumbered": 3, "unchanged": 2}
    added = [c for c in changes if c.type == "added"]
    assert added[0].new.number == "第3条" and "米国" in added[0].hunks[0].new
    assert {c.categories[0] for c in changes if c.type == "renumbered"} == {"renumbered"}


def test_removed_article():
    new = BASE.replace("第4条（安全管理）\n当社は、個人情報の漏えい、滅失又は毀損の防止のため、必要かつ適切な措置を講じます。\n", "")
    changes, summary = run(BASE, new)
    assert summary["removed"] == 1
    assert changes[0].type == "removed" and changes[0].old.title == "安全管理"


def test_item_added_edited_removed():
    new = BASE.replace("2. お問い合わせへの対応のため", "2. お問い合わせ及びご相談への対応のため")
    new = new.replace("3. 利用規約の変更を通知するため", "3. 新サービスのご案内のため")
    new = new.replace("1. 本サービスの提供のため\n", "")
    changes, _ = run(BASE, new)
    assert len(changes) == 1 and changes[0].type == "modified"
    ops = sorted((it.op, it.text or it.old_text) for it in changes[0].items)
    assert ("removed", "本サービスの提供のため") in ops
    assert ("edited", "お問い合わせ及びご相談への対応のため") in ops
    # "利用規約の変更を通知" -> "新サービスのご案内" shares almost nothing: a removal and an addition
    assert ("added", "新サービスのご案内のため") in ops and ("removed", "利用規約の変更を通知するため") in ops


def test_moved_article_keeps_its_number_is_moved():
    parts = BASE.strip().split("\n第")
    reordered = "\n第".join([parts[0], parts[2], parts[1], *parts[3:]])
    changes, summary = run(BASE, reordered)
    assert summary["moved"] == 1
    assert all(c.severity == "none" for c in changes)


def test_split_article_is_not_an_addition():
    new = BASE.replace(
        "当社は、次の目的で利用します。\n1. 本サービスの提供のため\n2. お問い合わせへの対応のため\n3. 利用規約の変更を通知するため",
        "当社は、次の目的で利用します。\n1. 本サービスの提供のため\n2. お問い合わせへの対応のため").replace(
        "第3条（第三者提供）", "第2条の2（通知）\n3. 利用規約の変更を通知するため\n第3条（第三者提供）")
    changes, summary = run(BASE, new)
    assert summary["added"] == 0
    moved = [c for c in changes if c.type == "moved"]
    assert moved and moved[0].new.number == "第2条の2" and "第2条" in moved[0].related[0]


def test_reflow_and_width_are_formatting_only():
    new = BASE.replace("第1条（取得する情報）", "第１条（取得する情報）").replace(
        "当社は、氏名、メールアドレス及び電話番号を取得します。", "当社は、氏名、メールアドレス及び\n電話番号を取得します。")
    changes, _ = run(BASE, new)
    assert [c.categories for c in changes] == [["formatting"]]
    assert changes[0].severity == "none"


def test_metadata_dates_changed():
    old = BASE + "\n2023年4月1日 制定\n"
    new = BASE + "\n2023年4月1日 制定\n2025年6月1日 改定\n"
    changes, _ = run(old, new)
    assert [c.categories for c in changes] == [["effective_date_changed"]]


def test_paragraphs_join_mid_sentence_wraps_only():
    assert paragraphs(["当社は、氏名、メールアドレス、電話番号、住所、生年月日等の", "情報を取得します。", "Google"]) == [
        "当社は、氏名、メールアドレス、電話番号、住所、生年月日等の\n情報を取得します。", "Google"]


def test_inline_hunks_character_level_for_japanese_word_level_for_english():
    hunks = inline_hunks("手数料1,000円を頂戴します", "手数料3,000円を頂戴します")
    assert [(h.op, h.old, h.new) for h in hunks] == [("replace", "1,000", "3,000")]
    hunks = inline_hunks("We share data with partners.", "We sell data to partners.")
    assert ("replace", "share", "sell") in [(h.op, h.old.strip(), h.new.strip()) for h in hunks]
    ops = inline_ops("トラフィック測定及び行動測定のため", "トラフィック測定、行動測定及び改善のため")
    assert "".join(o for op, o, n in ops if op != "insert") == "トラフィック測定及び行動測定のため"
    assert "".join(n for op, o, n in ops if op != "delete") == "トラフィック測定、行動測定及び改善のため"


def test_align_prefers_content_over_position():
    old = [Unit("aaaa bbbb cccc dddd"), Unit("eeee ffff gggg hhhh"), Unit("iiii jjjj kkkk llll")]
    new = [Unit("iiii jjjj kkkk llll"), Unit("aaaa bbbb cccc dddX"), Unit("zzzz yyyy xxxx wwww")]
    result = align(old, new)
    assert (0, 1) in result.pairs and (2, 0) in result.pairs
    assert result.removed == [1] and result.added == [2]
