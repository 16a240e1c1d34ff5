"""Open vocabulary (issue 9, item 4): organisations and countries by their shape (watcher.judge.entities)."""

from __future__ import annotations

import re

import pytest

from watcher.diff import diff_clauses
from watcher.extract import extract
from watcher.judge.builtins import BUILTINS
from watcher.judge.classify import classify
from watcher.judge.entities import COUNTRY, NAME, ORGANISATION, core_name, entities, party_names
from watcher.judge.meaning import sudachi_available
from watcher.judge.rules import RULES_DIR, load_rules, parse_rules
from watcher.segment import segment

JA, EN = load_rules("ja"), load_rules("en")
needs_sudachi = pytest.mark.skipif(not sudachi_available(), reason="SudachiPy's dictionary is not installed")


def found(sentence: str, rules=JA) -> list[tuple[str, str]]:
    return [(e.text, e.kind) for e in entities(sentence, rules)]


def test_legal_forms_name_organisations_in_japanese_and_english():
    assert ("株式会社ミナトデータ", ORGANISATION) in found("株式会社ミナトデータに委託します。")
    assert ("ヨコハマ広告株式会社", ORGANISATION) in found("利用履歴をヨコハマ広告株式会社及びグーグル社に提供します。")
    assert ("グーグル社", ORGANISATION) in found("利用履歴をヨコハマ広告株式会社及びグーグル社に提供します。")
    assert ("Acme Cloud Inc.", ORGANISATION) in found("ログはAcme Cloud Inc.のサーバーに保存されます。")
    assert found("We share it with Acme Cloud, Inc. and Foo Bar LLC.", EN) == [
        ("Acme Cloud, Inc.", ORGANISATION), ("Foo Bar LLC", ORGANISATION)]


def test_the_company_itself_and_generic_nouns_are_no_names():
    """当社 / 他社 / 各社 / 子会社 end in 社 but name no one; a bare legal form names no one either."""
    assert [k for _, k in found("当社、他社、各社、弊社、子会社及び関連会社は株式会社の形態をとります。") if k == ORGANISATION] == []


def test_a_legal_form_is_taken_off_to_find_the_same_company_named_without_it():
    (entity,) = [e for e in entities("ヨコハマ広告株式会社に提供します。", JA) if e.kind == ORGANISATION]
    assert core_name(entity) == "ヨコハマ広告"
    (latin,) = [e for e in entities("Data goes to Acme Cloud, Inc. only.", EN) if e.kind == ORGANISATION]
    assert core_name(latin) == "Acme Cloud"


@needs_sudachi
def test_countries_come_from_sudachipys_place_names_not_from_a_list():
    """ケニア, チリ and ペルー are in no lexicon of ja.toml; the dictionary tags them 地名,国."""
    text = "データはケニア、チリ及びペルーのサーバーに保存されます。"
    assert [t for t, k in found(text) if k == COUNTRY] == ["ケニア", "チリ", "ペルー"]
    assert not JA.search("foreign_places", "ケニア") and not JA.search("foreign_places", "ペルー")
    assert [k for _, k in found("東京都の本社で保管します。") if k == COUNTRY] == []


@needs_sudachi
def test_a_proper_noun_is_a_party_only_where_data_goes_to_it():
    """トヨタ自動車 / ソニー are proper nouns (名詞,固有名詞,一般): parties in 「…に提供」, with the names listed before."""
    text = "当社は利用履歴をトヨタ自動車、ソニーに提供します。"
    assert {(t, k) for t, k in found(text)} >= {("トヨタ自動車", NAME), ("ソニー", NAME)}
    assert [e.text for e in party_names(text, JA)] == ["トヨタ自動車", "ソニー"]
    assert party_names("本アプリはiOSとAndroidで動作します。", JA) == []


def test_english_parties_stand_after_the_verb_and_in_its_list():
    """"shared with Acme, Foo Analytics and Bar", "collected by Zeta Labs": parties; a product named as a subject is not."""
    names = [e.text for e in party_names("We share your email address with Acme, Foo Analytics and Bar to send newsletters.", EN)]
    assert names == ["Acme", "Foo Analytics", "Bar"]
    assert [e.text for e in party_names("Your data is collected by Zeta Labs when you sign in.", EN)] == ["Zeta Labs"]
    assert [e.text for e in party_names("We buy lists of names from DataBroker Inc. each year.", EN)] == ["DataBroker Inc."]
    assert party_names("If you use Firefox Focus, Firefox deletes your history when you close it.", EN) == []


def test_entities_are_cached_per_sentence():
    sentence = "株式会社ミナトデータに委託します。"
    assert entities(sentence, JA) is entities(sentence, JA)
    assert ("entities", sentence) in JA.meaning_cache


# --------------------------------------------------------------------------- the built-ins in rules

POLICY = """プライバシーポリシー

ミナト株式会社(以下「当社」といいます。)は、利用者の情報を次のとおり取り扱います。

第1条(取得する情報)
当社は、氏名、メールアドレス及びアプリの利用ログを取得します。

第2条(利用ログの解析)
当社は、利用ログを統計的に解析し、アプリの改善に役立てます。

第3条(保存)
当社は、取得した情報を日本国内のサーバーに保存します。
"""
ANALYSIS = "当社は、利用ログを統計的に解析し、アプリの改善に役立てます。"
STORED = "当社は、取得した情報を日本国内のサーバーに保存します。"
# A rule a rules file could have: placed first, so that nothing else answers before it.
OPEN_PARTY_RULE = """[[rule]]
id = "test-open-party"
topics = ["*"]
change = ["added", "gained", "clause_added"]
unit_any = ["{builtin}"]
category = "tracking_changed"
severity = "notice"
reason = "a party named outside the lexicons"

"""


def rules_with(builtin: str):
    text = (RULES_DIR / "ja.toml").read_text(encoding="utf-8")
    at = re.search(r"(?m)^\[\[rule\]\]", text).start()
    return parse_rules(text[:at] + OPEN_PARTY_RULE.format(builtin=builtin) + text[at:], "open-vocabulary.toml")


def verdicts(old: str, new: str, rules) -> list[tuple[str, list[str], list[str]]]:
    old_clauses, new_clauses = segment(extract(old, kind="text")), segment(extract(new, kind="text"))
    changes, _ = diff_clauses(old_clauses, new_clauses)
    return [(v.severity, v.categories, v.reasons) for v in classify(changes, old_clauses, new_clauses, "ja", rules=rules)
            if v.severity != "none"]


def test_both_built_ins_are_registered_for_the_rules():
    assert {"@names_new_party", "@names_new_country"} <= set(BUILTINS)
    assert BUILTINS["@names_new_party"].scope == BUILTINS["@names_new_country"].scope == "unit"


def test_names_new_party_a_company_named_outside_every_list_is_new():
    rules = rules_with("@names_new_party")
    new = POLICY.replace(ANALYSIS, "当社は、利用ログの解析をヨコハマ解析株式会社に委託します。")
    assert ("notice", ["tracking_changed"]) in [(s, c) for s, c, _ in verdicts(POLICY, new, rules)]
    # It is the built-in that finds it: the packaged rules read no new party there.
    assert all("tracking_changed" not in c for _, c, _ in verdicts(POLICY, new, load_rules("ja")))
    # Named in the old version already (without its legal form): no new party.
    old = POLICY.replace(ANALYSIS, ANALYSIS + "解析の手法はヨコハマ解析の論文によります。")
    named_before = old.replace(ANALYSIS, "当社は、利用ログの解析をヨコハマ解析株式会社に委託します。")
    assert all("tracking_changed" not in c for _, c, _ in verdicts(old, named_before, rules))
    # The company itself is no party.
    to_self = POLICY.replace(ANALYSIS, "当社は、利用ログの解析をミナト株式会社の本社で行います。")
    assert all("tracking_changed" not in c for _, c, _ in verdicts(POLICY, to_self, rules))


def test_names_new_party_looks_only_at_sentences_whose_meaning_changed():
    """A formatting-only edit of a sentence naming a company (digit width, a space) asks nothing of it."""
    rules = rules_with("@names_new_party")
    old = POLICY.replace(ANALYSIS, "当社は、利用ログの解析を2社のうちヨコハマ解析株式会社に委託します。")
    new = old.replace("2社", "２社").replace("、利用ログ", "、 利用ログ")
    assert all("tracking_changed" not in c for _, c, _ in verdicts(old, new, rules))


def test_names_new_party_a_place_code_or_a_role_is_no_party():
    """「UKのデータセンターに転送」 names a place, 「マーケティングパートナーと共有」 a role: neither is a new party."""
    rules = rules_with("@names_new_party")
    for sentence in ("当社は、利用ログをUKに転送します。", "当社は、利用ログをマーケティングパートナーと共有します。"):
        new = POLICY.replace(ANALYSIS, ANALYSIS + sentence)
        assert all("tracking_changed" not in c or r != ["a party named outside the lexicons"]
                   for _, c, r in verdicts(POLICY, new, rules)), sentence
    named = POLICY.replace(ANALYSIS, ANALYSIS + "当社は、利用ログをAcmeLogに転送します。")
    assert ("notice", ["tracking_changed"], ["a party named outside the lexicons"]) in verdicts(POLICY, named, rules)


def test_names_new_party_a_name_that_took_anothers_place_is_a_swap_not_a_new_party():
    """「AcmeLogに転送」 -> 「ZetaLogに転送」, word for word: a rename or a swap (judged as such); 「AcmeLogとZetaLogに」 adds one."""
    rules = rules_with("@names_new_party")
    old = POLICY.replace(ANALYSIS, ANALYSIS + "当社は、利用ログをAcmeLogに転送します。")
    swapped = old.replace("AcmeLogに", "ZetaLogに")
    added = old.replace("AcmeLogに", "AcmeLogとZetaLogに")
    mine = ["a party named outside the lexicons"]
    assert all(r != mine for _, _, r in verdicts(old, swapped, rules))
    assert ("notice", ["tracking_changed"], mine) in verdicts(old, added, rules)


@needs_sudachi
def test_names_new_country_a_country_in_no_lexicon_is_found_by_the_dictionary():
    rules = rules_with("@names_new_country")
    new = POLICY.replace(STORED, "当社は、取得した情報をケニアのサーバーに保存します。")
    assert ("notice", ["tracking_changed"]) in [(s, c) for s, c, _ in verdicts(POLICY, new, rules)]
    # The packaged rules alone (no open-vocabulary rule) do not see the new country as a foreign place.
    assert all("foreign_transfer_added" not in c and "tracking_changed" not in c
               for _, c, _ in verdicts(POLICY, new, load_rules("ja")))
    same = POLICY.replace(STORED, STORED + "ただし、ケニアの利用者の情報も同じく扱います。")
    again = same.replace(STORED, "当社は、取得した情報をケニアのサーバーに保存します。")
    assert all("tracking_changed" not in c for _, c, _ in verdicts(same, again, rules))
