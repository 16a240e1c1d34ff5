"""Meaning first (judge/meaning.py, align.py): near-equal sentences, the revision's rewording, re-export letters,
reordered rewrites and renamed headings in the alignment."""

from __future__ import annotations

import tomllib
from dataclasses import replace

from watcher.align import Unit, align
from watcher.judge.meaning import MeaningIndex, analyse, changed_sentences, parse_meaning, same_meaning
from watcher.judge.rules import RULES_DIR, load_rules

# The [meaning] data these tests rely on, whatever the packaged files say today.
_MEANING = {"pair_threshold": 70, "content_drop_pos": ["連体詞"], "rewording_min_pairs": 3,
            "rewording_kept_share": 0.5, "rewording_protected": ["recipients", "company_names"]}


def _rules(language: str, **meaning):
    """The packaged rules with this test's [meaning] data (a fresh meaning cache)."""
    rules = load_rules(language)
    table = tomllib.loads((RULES_DIR / f"{language}.toml").read_text(encoding="utf-8"))["meaning"]
    table = {**table, **_MEANING, **meaning}
    return replace(rules, meaning=parse_meaning("test", table), meaning_cache={})


def test_a_reordered_sentence_says_the_same_but_a_negation_or_a_new_word_does_not():
    ja = load_rules("ja")
    old = analyse("当社は、退会後1年を経過した会員の個人情報を消去します。", ja)
    assert same_meaning(old, analyse("退会後1年を経過した会員の個人情報は、当社が消去します。", ja))
    assert not same_meaning(old, analyse("当社は、退会後1年を経過した会員の個人情報を消去しません。", ja))
    assert not same_meaning(old, analyse("当社は、退会後1年を経過した会員の個人情報及び決済情報を消去します。", ja))


def test_a_word_said_once_more_is_a_change_even_when_the_sentence_already_had_it():
    en = load_rules("en")
    old = analyse("Campaign data includes the Google advertising ID and the IP address.", en)
    new = analyse("Google is included, and campaign data includes the Google advertising ID and the IP address.", en)
    assert not same_meaning(old, new)


def test_a_compound_counts_as_its_parts():
    ja = _rules("ja", synonyms=[["機密", "極秘"], ["データ", "情報"]])
    assert same_meaning(analyse("このファイルには、極秘であるデータが含まれます。", ja),
                        analyse("このファイルには、機密情報であるデータが含まれます。", ja))


def test_spaces_lost_by_a_re_export_keep_the_meaning():
    en = load_rules("en")
    assert same_meaning(analyse("We use cookies to remember your basket.", en),
                        analyse("We use cookies to remember yourbasket.", en))


def _index(lines: list[str], rules) -> MeaningIndex:
    return MeaningIndex("\n".join(lines), rules)


def test_a_recurring_swap_is_the_revisions_wording_but_never_for_a_recipient_or_a_number():
    ja = _rules("ja")
    old = ["弊社は、アプリの操作履歴を分析ベンダーに送信します。", "弊社は、端末の種類を確認します。",
           "弊社は、問い合わせの内容を記録します。", "弊社は、提携先に氏名を提供します。",
           "会員の情報は1年間保存します。", "退会した会員の情報は1年後に消去します。", "予約の記録は1年間保存します。"]
    new = ["Minatoは、アプリの操作履歴を分析ベンダーに送信します。", "Minatoは、端末の種類を確認します。",
           "Minatoは、問い合わせの内容を記録します。", "Minatoは、第三者に氏名を提供します。",
           "会員の情報は3年間保存します。", "退会した会員の情報は3年後に消去します。", "予約の記録は3年間保存します。"]
    table = _index(old, ja).rewording(_index(new, ja))
    assert table.get("当社") == "minato"
    assert "提携先" not in table and "1" not in table
    # Within an edited unit the swap is no change; a recipient swapped in the same way is.
    diff = changed_sentences(old[1], new[1], ja, _index(old, ja), _index(new, ja))
    assert (diff.gained, diff.lost) == ([], [])


def test_a_rewrite_in_another_word_order_pairs_as_an_edit_and_heading_heads_pair():
    old = [Unit("データの共有方法"), Unit("アプリの品質向上のため、firebaseを使用しクラッシュ情報を収集していますが、"
                                     "個人を特定できる情報の収集は行っていません。"), Unit("広告配信のため")]
    new = [Unit("あなたの個人データをどのように共有するか"),
           Unit("firebaseを使用しアプリの品質を高めるためにクラッシュやパフォーマンスなどの情報送信を行っております。"
                "それに伴い、利用者の情報が収集される場合があります。"), Unit("お問い合わせへの回答のため")]
    result = align(old, new)
    assert (0, 0) in result.pairs and (1, 1) in result.pairs
    # Two short items of another meaning stay a removal and an addition.
    assert result.removed == [2] and result.added == [2]


def test_an_owner_qualifier_says_whose_the_noun_is_not_what_it_is():
    ja = _rules("ja", owner_qualifiers=["お使い", "ご利用"])
    old = analyse("アプリの操作履歴及び端末の種類を送信します。", ja)
    assert same_meaning(old, analyse("アプリの操作履歴及びお使いの機器の種類を送信します。", ja))
    assert same_meaning(old, analyse("アプリの操作履歴及びご利用の端末の種類を送信します。", ja))
    # before a noun of time it is the use itself: 「ご利用の際」 keeps its word
    plain = _rules("ja", owner_qualifiers=[])
    timed = "サービスのご利用の際に位置情報を取得します。"
    assert analyse(timed, ja).key == analyse(timed, plain).key and "ご利用" in analyse(timed, ja).key
    # and a new data item next to it is still a new word
    assert not same_meaning(old, analyse("アプリの操作履歴、位置情報及びお使いの機器の種類を送信します。", ja))
