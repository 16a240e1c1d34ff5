"""Segmenter: numbering conventions, preamble, metadata, nesting, and the normalizer's keys."""

from pathlib import Path

import pytest

from watcher.models import Document, Line
from watcher.normalize import join_wrapped, key, language
from watcher.segment import is_date_line, parse_marker, parse_number, segment

SEEDS = Path(__file__).resolve().parent / "data" / "corpus" / "seeds"   # a copy of ../shared/corpus


def doc(text: str, headings: dict[int, int] | None = None) -> Document:
    lines = [ln for ln in text.strip("\n").splitlines() if ln.strip()]
    headings = headings or {}
    return Document("t", [Line(ln, headings.get(i, 0)) for i, ln in enumerate(lines)])


def labels(clauses):
    return [c.label for c in clauses]


# --- normalize ---------------------------------------------------------------------------
def test_key_folds_width_spaces_and_wraps():
    assert key("第１条　（目的）") == key("第1条(目的)")
    assert key("個人情報を\n取得します。") == key("個人情報を取得します。")
    assert key("ユーザー の 情報") == key("ユーザーの情報")
    assert key("we  collect\n your data") == "we collect your data"
    assert key("当社は，情報を取得します．") == key("当社は、情報を取得します。")
    assert key("**重要**な変更") == key("重要な変更")


def test_key_keeps_real_differences():
    assert key("1,000円") != key("3,000円")
    assert key("提供します") != key("提供しません")


def test_join_wrapped_no_space_between_japanese():
    assert join_wrapped("個人情報を", "取得します") == "個人情報を取得します"
    assert join_wrapped("we collect", "data") == "we collect data"


def test_language_detection():
    assert language("当社は個人情報を適切に取り扱います。") == "ja"
    assert language("We collect your personal information.") == "en"


# --- markers -----------------------------------------------------------------------------
@pytest.mark.parametrize("text,style,number,ordinal", [
    ("第1条 取得する情報", "article", "第1条", 1),
    ("第１２条（改定）", "article", "第１２条", 12),
    ("第十二条 目的", "article", "第十二条", 12),
    ("第3条の2 追加", "article", "第3条の2", 3),
    ("1. 認証サービスのため", "dot", "1.", 1),
    ("1.個人情報の定義", "dotnospace", "1.", 1),
    ("3. (利用目的)", "dotparen", "3.", 3),
    ("2 サービス利用情報", "spacenum", "2", 2),
    ("4-1. 以下の利用者情報", "hyphen", "4-1.", 4),
    ("(2) 当社が取得する情報", "paren", "(2)", 2),
    ("（３）連絡先", "paren", "（３）", 3),
    ("③機器情報", "circled", "③", 3),
    ("ロ　氏名", "kana", "ロ", 2),
    ("ア. 住所", "kana", "ア.", 1),
    ("(ア) 電話番号", "parenkana", "(ア)", None),
    ("・会員に適した", "bullet", "・", None),
    ("• 位置情報", "bullet", "•", None),
    ("- (1)「利用者」とは", "paren", "(1)", 1),
])
def test_parse_marker(text, style, number, ordinal):
    m = parse_marker(text)
    assert m is not None and m.style == style and m.number == number
    if ordinal is not None:
        assert m.ordinal == ordinal


@pytest.mark.parametrize("text", ["イベント情報を配信します", "2022年7月29日 制定", "1.5倍の料金", "100%の保証"])
def test_not_markers(text):
    m = parse_marker(text)
    assert m is None or m.style not in ("kana", "spacenum", "dot", "dotnospace")


def test_parse_number_forms():
    assert parse_number("第二十三条") == 23
    assert parse_number("⑫") == 12
    assert parse_number("（１０）") == 10


@pytest.mark.parametrize("line,expected", [
    ("2018年11月21日 作成", True), ("【2022年4月1日制定】", True), ("制定日：令和4年4月1日", True),
    ("Last updated: May 1, 2025", True), ("2024年4月1日より、手数料を変更します。詳細は以下の通りです。", False),
])
def test_date_lines(line, expected):
    assert is_date_line(line) is expected


# --- clause trees ------------------------------------------------------------------------
def test_articles_with_items_preamble_and_dates():
    clauses = segment(doc("""
プライバシーポリシー
株式会社サンプル(以下「当社」)は、以下のとおり定めます。
第1条（利用目的）
当社は、次の目的で利用します。
1. サービスの提供のため
2. お問い合わせ対応のため
第2条（第三者提供）
当社は、法令に基づく場合を除き、第三者に提供しません。
第3条（改定）
当社は本ポリシーを改定することがあります。
2024年4月1日 制定
2025年1月1日 改定
"""))
    assert [c.kind for c in clauses] == ["preamble", "clause", "clause", "clause", "metadata"]
    art1 = clauses[1]
    assert art1.number == "第1条" and art1.title == "利用目的" and art1.ordinal == 1
    assert [c.number for c in art1.children] == ["1.", "2."]
    assert len(clauses[-1].children) == 2


def test_dot_sections_with_dot_items_of_another_spacing():
    # seed 002's convention: "1.title" sections, "1. text" items inside them
    clauses = segment(doc("""
1.個人情報の定義
本ポリシーにおける個人情報とは、生存する個人に関する情報をいいます。
2.利用目的
1. 本サービスの提供のため
2. 広告の配信のため
3. お問い合わせ対応のため
3.第三者提供
当社は、第三者に提供しません。
"""))
    assert labels(clauses) == ["1. 個人情報の定義", "2. 利用目的", "3. 第三者提供"]
    assert len(clauses[1].children) == 3


def test_same_style_sections_and_items_restart():
    # the same "1. " marker for sections and for the items inside them
    clauses = segment(doc("""
1. 取得する情報
1. 氏名、住所、電話番号を取得します。
2. メールアドレスを取得します。
2. 利用目的
1. 本サービスの提供に利用します。
3. 第三者提供
第三者には提供しません。
"""))
    assert labels(clauses) == ["1. 取得する情報", "2. 利用目的", "3. 第三者提供"]
    assert [c.number for c in clauses[0].children] == ["1.", "2."]


def test_paren_title_sections_circled_and_kana_items():
    clauses = segment(doc("""
1. (取得する情報)
当社は以下の情報を取得します。
(1) 登録情報
①氏名
②住所
(2) 利用情報
イ　閲覧履歴
ロ　端末情報
2. (お問い合わせ)
窓口までご連絡ください。
"""))
    assert labels(clauses) == ["1. 取得する情報", "2. お問い合わせ"]
    first = clauses[0]
    assert [c.number for c in first.children] == ["(1)", "(2)"]
    assert [c.number for c in first.children[0].children] == ["①", "②"]
    assert [c.number for c in first.children[1].children] == ["イ", "ロ"]


def test_markdown_headings_without_numbers():
    d = doc("""
Firefox プライバシー通知
はじめに
この通知はデータの扱いを説明します。
収集するデータ
- 技術データ
- 操作データ
データの共有
パートナーと共有します。
""", headings={0: 1, 1: 2, 3: 2, 6: 2})
    clauses = segment(d)
    assert labels(clauses) == ["前文", "はじめに", "収集するデータ", "データの共有"]
    assert [c.number for c in clauses[2].children] == ["-", "-"]


def test_html_headings_do_not_override_numbering():
    # a site builder puts both 第1条 and "1 ご提供いただく情報" in <h2>
    d = doc("""
第1条 取得する情報
1 ご提供いただく情報
①アカウント名
2 サービス利用情報
第2条 利用目的
当社は以下の目的で利用します。
""", headings={0: 2, 1: 2, 3: 2, 4: 2})
    clauses = segment(d)
    assert labels(clauses) == ["第1条 取得する情報", "第2条 利用目的"]
    assert [c.number for c in clauses[0].children] == ["1", "2"]


@pytest.mark.skipif(not SEEDS.exists(), reason="shared corpus not available")
@pytest.mark.parametrize("seed,top", [
    ("000_e00ebf84e0ab835f.txt", 11), ("001_b5fad133b5170cf9.txt", 10), ("002_f0a82a2012552222.txt", 11),
    ("003_d71c19f622d62293.txt", 14), ("004_5f4b0d30e1db3437.txt", 9),
])
def test_seed_top_level_clause_counts(seed, top):
    text = (SEEDS / seed).read_text(encoding="utf-8")
    clauses = segment(doc(text))
    numbered = [c for c in clauses if c.kind == "clause"]
    assert len(numbered) == top
    assert [c.ordinal for c in numbered] == list(range(1, top + 1))


def test_bracketed_date_lines_are_never_the_section_style():
    clauses = segment(doc("""
【2026年6月1日改定】
1.個人情報の定義
個人情報とは、生存する個人に関する情報をいいます。
2.利用目的
当社は、本サービスの提供のために利用します。
【2022年4月1日制定】
"""))
    assert labels(clauses) == ["1. 個人情報の定義", "2. 利用目的", "制定・改定日"]
    assert len(clauses[-1].children) == 2


def test_bold_only_markdown_paragraphs_are_low_headings():
    from watcher.extract import extract
    md = ("# Privacy Policy\n\nIntro text.\n\n**Information We Collect**\n\nWe collect your email address.\n\n"
          "**How We Share Information**\n\nWe share data with processors.\n\n**Contact**\n\nprivacy@example.com\n")
    clauses = segment(extract(md, source="p.md", kind="markdown"))
    assert labels(clauses) == ["前文", "Information We Collect", "How We Share Information", "Contact"]


def test_bold_subheadings_stay_inside_numbered_sections():
    from watcher.extract import extract
    md = ("**1. INFORMATION WE COLLECT.**\n\nWe collect data.\n\n**2. YOUR RIGHTS.**\n\nText.\n\n"
          "**Right to Delete**\n\nYou may ask us to delete.\n\n**Right to Correct**\n\nYou may ask us to correct.\n\n"
          "**3. CONTACT US.**\n\nprivacy@example.com\n")
    clauses = segment(extract(md, source="p.md", kind="markdown"))
    assert labels(clauses) == ["1. INFORMATION WE COLLECT.", "2. YOUR RIGHTS.", "3. CONTACT US."]
    assert [c.title for c in clauses[1].children] == ["Right to Delete", "Right to Correct"]


def test_bold_section_titles_over_a_list_each():
    from watcher.extract import extract
    page = ("<html><body><main><h1>プライバシーポリシー</h1>"
            "<p><strong>取得する情報</strong></p><ol><li>氏名</li><li>メールアドレス</li></ol>"
            "<p><strong>利用目的</strong></p><ol><li>本サービスの提供のため</li><li>お問い合わせ対応のため</li>"
            "<li>不正利用防止のため</li></ol>"
            "<p><strong>第三者提供</strong></p><ol><li>法令に基づく場合</li><li>本人の同意がある場合</li></ol>"
            "</main></body></html>")
    clauses = segment(extract(page, source="p.html", kind="html"))
    assert labels(clauses) == ["前文", "取得する情報", "利用目的", "第三者提供"]
    assert [c.number for c in clauses[2].children] == ["1.", "2.", "3."]


# --- structure recovery: the top level from headings, continuity and position --------------------
def test_roman_numeral_sections_full_width_and_ascii():
    clauses = segment(doc("""
個人情報の取扱いについて
Ⅰ．取得する情報
当社は次の情報を取得します。
１．氏名
２．住所
Ⅱ．利用目的
当社は次の目的で利用します。
１．サービスの提供
Ⅲ．お問い合わせ
窓口までご連絡ください。
"""))
    assert labels(clauses) == ["前文", "Ⅰ． 取得する情報", "Ⅱ． 利用目的", "Ⅲ． お問い合わせ"]
    assert [c.ordinal for c in clauses[1:]] == [1, 2, 3]
    assert [c.number for c in clauses[1].children] == ["１．", "２．"]
    english = segment(doc("""
I. Introduction
We respect your privacy.
II. Data We Collect
We collect:
i. your name
ii. your email address
III. Contact
Write to us.
"""))
    assert labels(english) == ["I. Introduction", "II. Data We Collect", "III. Contact"]
    assert [c.number for c in english[1].children] == ["i.", "ii."]


@pytest.mark.parametrize("text,style,ordinal", [
    ("Ⅳ．開示等の請求", "roman", 4), ("IX. Changes", "roman", 9), ("ⅲ 端末情報", "lroman", 3),
    ("(ii) your email", "parenroman", 2), ("一　法令に基づく場合", "kanji", 1), ("（三）その他", "parenkanji", 3),
    ("十二、外国にある第三者", "kanji", 12), ("3.a.ii.Information", "dotted3", 2), ("1.2 適用範囲", "dotted2", 2),
])
def test_roman_kanji_and_sub_number_markers(text, style, ordinal):
    m = parse_marker(text)
    assert m is not None and m.style == style and m.ordinal == ordinal


@pytest.mark.parametrize("text", ["I agree to the terms.", "一部の情報は匿名化します。", "VIVID. colours", "1.5倍の料金"])
def test_words_that_only_look_like_roman_or_kanji_numbers(text):
    m = parse_marker(text)
    assert m is None or m.style not in ("roman", "lroman", "kanji", "dotted2")


def test_letter_i_after_h_is_a_letter():
    clauses = segment(doc("""
1. Data
G. name
H. email
I. phone
2. Use
We use it.
"""))
    assert labels(clauses) == ["1. Data", "2. Use"]
    assert [c.ordinal for c in clauses[0].children] == [7, 8, 9]


def test_square_sub_list_in_every_numbered_section_stays_inside():
    # 「■」 repeats more often than the numbers and used to outrank them: every section then
    # became a line inside the ■ entry before it.
    clauses = segment(doc("""
1. 取得する情報
■登録情報
氏名、住所を取得します。
■利用情報
閲覧履歴を取得します。
2. 利用目的
■サービスの提供
本サービスの提供に利用します。
■広告
広告配信に利用します。
3. お問い合わせ
■窓口
privacy@example.com
"""))
    assert labels(clauses) == ["1. 取得する情報", "2. 利用目的", "3. お問い合わせ"]
    assert [c.title for c in clauses[1].children] == ["サービスの提供", "広告"]


def test_square_sections_with_numbered_lists_restarting_inside():
    clauses = segment(doc("""
■取得する情報
1. 氏名
2. 住所
■利用目的
1. サービスの提供のため
2. お問い合わせ対応のため
3. 広告配信のため
■お問い合わせ
窓口までご連絡ください。
"""))
    assert labels(clauses) == ["■ 取得する情報", "■ 利用目的", "■ お問い合わせ"]
    assert len(clauses[1].children) == 3


def test_numbered_list_inside_one_heading_section_is_not_the_top_level():
    d = doc("""
はじめに
この通知はデータの扱いを説明します。
収集するデータ
1. 氏名
2. メールアドレス
3. 端末情報
データの共有
パートナーと共有します。
お問い合わせ
窓口までご連絡ください。
""", headings={0: 2, 2: 2, 6: 2, 8: 2})
    assert labels(segment(d)) == ["はじめに", "収集するデータ", "データの共有", "お問い合わせ"]


def test_kanji_go_items_and_full_width_kou_numbers_in_an_article():
    clauses = segment(doc("""
第3条（第三者提供）
当社は、次の場合を除き、個人情報を第三者に提供しません。
一　法令に基づく場合
二　人の生命の保護のために必要な場合
２　前項の規定にかかわらず、当社は委託先に個人情報を預けることがあります。
３　当社は、委託先を監督します。
第4条（開示）
ご本人は開示を請求できます。
"""))
    assert labels(clauses) == ["第3条 第三者提供", "第4条 開示"]
    assert [c.number for c in clauses[0].children] == ["一", "二", "２", "３"]


def test_sub_numbered_headings_nest_by_their_parts():
    clauses = segment(doc("""
1.Introduction
This policy explains what we do.
2.Personal Data to be collected
● Information that you provide to us
● Information about your use
2.a.Personal Data provided by you
2.a.i.Information registered with an account
2.a.ii.Information for purchases
2.b.Personal Data from third parties
3.Contact
Write to us.
"""))
    assert labels(clauses) == ["1. Introduction", "2. Personal Data to be collected", "3. Contact"]
    section = clauses[1]
    assert [c.number for c in section.children] == ["●", "●", "2.a.", "2.b."]
    assert [c.number for c in section.children[2].children] == ["2.a.i.", "2.a.ii."]


def test_table_of_contents_of_a_numbering_that_is_not_the_top_level_yet():
    d = doc("""
Summary
We collect what you give us.
Your Choices
You may opt out.
1. INFORMATION WE COLLECT.
2. HOW WE USE INFORMATION.
3. CONTACT US.
1. INFORMATION WE COLLECT.
We collect your name.
2. HOW WE USE INFORMATION.
We use it to serve you.
3. CONTACT US.
Write to us.
""", headings={0: 6, 2: 6, 7: 6, 9: 6, 11: 6})
    clauses = segment(d)
    assert labels(clauses) == ["前文", "1. INFORMATION WE COLLECT.", "2. HOW WE USE INFORMATION.", "3. CONTACT US."]


def test_split_host_is_judged_only_on_what_left_it():
    # 第2条's third purpose becomes 第2条の2: the host must not read the split-off clause's heading
    # (「通知」) as an item it gained; what left it is in the split clause.
    from watcher.diff import diff_clauses
    base = """
第1条（取得する情報）
当社は、氏名及びメールアドレスを取得します。
第2条（利用目的）
当社は、次の目的で利用します。
1. 本サービスの提供のため
2. お問い合わせへの対応のため
3. 利用規約の変更を通知するため
第3条（第三者提供）
当社は、第三者に提供しません。
"""
    new = base.replace("3. 利用規約の変更を通知するため\n", "").replace(
        "第3条（第三者提供）", "第2条の2（通知）\n3. 利用規約の変更を通知するため\n第3条（第三者提供）")
    changes, _ = diff_clauses(segment(doc(base)), segment(doc(new)))
    host = next(c for c in changes if c.new is not None and c.new.number == "第2条")
    assert host.items == []
    assert any(c.type == "moved" and c.new.number == "第2条の2" for c in changes)


# --- nested list depth (Line.depth, from the extractors) ----------------------------------
def _tree(clauses, depth=0):
    out = []
    for c in clauses:
        out.append("  " * depth + " ".join(p for p in (c.number, c.title or (c.body[0] if c.body else "")) if p))
        out.extend(_tree(c.children, depth + 1))
    return out


def test_sub_bullets_are_children_of_their_bullet():
    lines = [Line("1. 取得する情報", 2), Line("当社は次の情報を取得します。"), Line("・会員情報"),
             Line("・氏名", 0, 1), Line("・住所", 0, 1), Line("1. 郵便番号", 0, 2), Line("・閲覧情報"),
             Line("・閲覧履歴", 0, 1), Line("以上です。"), Line("2. 利用目的", 2), Line("・サービスの提供")]
    clauses = segment(Document("t", lines))
    assert _tree(clauses) == [
        "1. 取得する情報", "  ・ 会員情報", "    ・ 氏名", "    ・ 住所", "      1. 郵便番号", "  ・ 閲覧情報",
        "    ・ 閲覧履歴", "2. 利用目的", "  ・ サービスの提供"]
    assert clauses[0].body == ["当社は次の情報を取得します。", "以上です。"]


def test_numbered_sub_list_like_the_sections_stays_in_its_item():
    # A nested "1. 2." list numbered like the sections is not the next sections.
    lines = [Line("1. 提供先"), Line("・広告事業者"), Line("2. 提供する情報", 0, 1), Line("3. 方法", 0, 1),
             Line("2. 安全管理"), Line("当社は安全管理措置を講じます。")]
    assert [c.label for c in segment(Document("t", lines))] == ["1. 提供先", "2. 安全管理"]


def test_flat_list_without_depth_is_unchanged():
    lines = [Line("1. 取得する情報"), Line("・氏名"), Line("・住所"), Line("2. 利用目的"), Line("・提供のため")]
    assert _tree(segment(Document("t", lines))) == [
        "1. 取得する情報", "  ・ 氏名", "  ・ 住所", "2. 利用目的", "  ・ 提供のため"]


# --- plain heading lines of text documents ------------------------------------------------
PLAIN_HEADINGS = """
個人情報の取扱いについて
当社は、お客様の個人情報を次のとおり取り扱います。
取得する個人情報
当社は、氏名及び電話番号を取得します。
個人情報の利用目的
当社は、取得した個人情報を次の目的で利用します。
(1) 商品の発送のため
(2) お問い合わせへの回答のため
お問い合わせ窓口
お問い合わせは、店舗の窓口でお受けします。
"""


def test_plain_heading_lines_are_the_sections():
    clauses = segment(doc(PLAIN_HEADINGS))
    assert labels(clauses) == ["前文", "取得する個人情報", "個人情報の利用目的", "お問い合わせ窓口"]
    assert [c.label for c in clauses[2].children] == ["(1) 商品の発送のため", "(2) お問い合わせへの回答のため"]
    assert clauses[0].children[0].body == ["個人情報の取扱いについて"]    # the first line is the title


def test_plain_english_heading_lines_are_the_sections():
    text = """
Privacy Notice
This notice explains how we handle your information.
Information We Collect
We collect your name and email address when you sign up.
Sharing
We share it with our hosting provider only.
"""
    assert labels(segment(doc(text))) == ["前文", "Information We Collect", "Sharing"]


def test_wrapped_paragraph_fragments_are_not_headings():
    # A hard-wrapped paragraph: its short lines end mid-sentence (a particle, an open clause).
    text = """
当社は、お客様からお預かりした個人情報を
適切に管理し、法令に基づく場合を除き
第三者に提供することはありません。
また当社は、お客様の個人情報を
安全に保管するための措置を講じます。
"""
    assert labels(segment(doc(text))) == ["前文"]


def test_numbered_sections_keep_the_top_level_over_plain_lines():
    # Numbered sections holding unmarked sub-headings: the numbering is the top level.
    text = """
プライバシーポリシー
はじめに
当社は、個人情報を大切に扱います。
基本方針
当社は、法令を遵守します。
1. 取得する情報
当社は、氏名を取得します。
2. 利用目的
当社は、サービスの提供のために利用します。
3. 第三者提供
当社は、第三者に提供しません。
4. お問い合わせ
窓口までご連絡ください。
"""
    assert labels(segment(doc(text)))[1:] == ["1. 取得する情報", "2. 利用目的", "3. 第三者提供", "4. お問い合わせ"]


# --- single-section and preamble-only notices ---------------------------------------------
def test_single_section_notice_is_read_paragraph_by_paragraph():
    # One heading over everything: the lone heading stays with the intro (no clause takes its
    # topic); each paragraph with the list under it is a section of its own.
    lines = [Line("アプリの情報の取扱い", 1), Line("株式会社ハレ工房は、次のとおりお知らせします。"), Line("留意事項", 2),
             Line("本アプリは、日記を端末内にのみ保存します。"), Line("- バックアップ: 暗号化して保存します。"),
             Line("本アプリは、次の情報収集モジュールを利用します。"), Line("- クラッシュの記録: Google LLC に送信されます。"),
             Line("当社は、利用者の情報を第三者に提供しません。")]
    clauses = segment(Document("t", lines))
    assert [c.kind for c in clauses] == ["preamble", "clause", "clause", "clause"]
    assert [ch.body[0] for ch in clauses[0].children] == [
        "アプリの情報の取扱い", "株式会社ハレ工房は、次のとおりお知らせします。", "留意事項"]
    assert [c.title for c in clauses[1:]] == ["", "", ""]
    assert [len(c.children) for c in clauses[1:]] == [1, 1, 0]


def test_short_unstructured_text_stays_one_preamble():
    text = """
お知らせ
当社は、個人情報を適切に取り扱います。
詳しくは窓口までお問い合わせください。
"""
    assert labels(segment(doc(text))) == ["前文"]


def test_title_drawn_at_the_section_level_is_the_preamble():
    # "## Firefox Privacy Notice" over nothing but the effective date, then the "##" sections.
    lines = [Line("ブラウザのプライバシーに関する通知", 2), Line("有効日 2024年5月13日"), Line("取得するデータ", 2),
             Line("当社は、操作の記録を取得します。"), Line("データの共有", 2), Line("当社は、データを販売しません。"),
             Line("お問い合わせ", 2), Line("窓口までご連絡ください。")]
    clauses = segment(Document("t", lines))
    assert labels(clauses) == ["前文", "取得するデータ", "データの共有", "お問い合わせ", "制定・改定日"]
    assert clauses[0].children[0].body == ["ブラウザのプライバシーに関する通知"]


def test_first_section_with_a_body_stays_a_section():
    lines = [Line("Introduction", 2), Line("This notice explains what we do."), Line("What we collect", 2),
             Line("We collect your name."), Line("Sharing", 2), Line("We share nothing.")]
    assert labels(segment(Document("t", lines))) == ["Introduction", "What we collect", "Sharing"]


def test_a_sub_heading_of_a_single_section_notice_holds_what_follows_it():
    lines = [Line("アプリの情報の取扱い", 1), Line("当社は、次のとおりお知らせします。"), Line("留意事項", 2),
             Line("本アプリは、日記を端末内にのみ保存します。"), Line("- バックアップ: 暗号化して保存します。"),
             Line("利用状況の分析", 3), Line("本アプリは、分析ツールを利用します。"), Line("- 分析: 画面の表示回数を送信します。"),
             Line("当社は、利用者の情報を第三者に提供しません。")]
    clauses = segment(Document("t", lines))
    assert [c.title for c in clauses[1:]] == ["", "利用状況の分析", ""]
    assert clauses[2].body == ["本アプリは、分析ツールを利用します。"]
    assert [ch.body for ch in clauses[2].children] == [["分析: 画面の表示回数を送信します。"]]
