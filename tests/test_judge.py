"""The judge package: rules-file validation, the built-in registry (@to_self), routing and
revision-clause verdicts read from rules/routing.toml, verdicts returned instead of set."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import watcher.judge
from watcher.diff import diff_clauses
from watcher.errors import ConfigError
from watcher.extract import extract
from watcher.judge.builtins import BUILTINS, SCOPES
from watcher.judge.classify import classify
from watcher.judge.route import route
from watcher.judge.rules import (
    ENGINE_LEXICONS,
    ENGINE_TOPICS,
    REVISION_PATTERNS,
    ROUTING_FILE,
    RULES_DIR,
    load_routing,
    load_rules,
    parse_routing,
    parse_rules,
    required_lexicons,
)
from watcher.models import Clause, ClauseChange
from watcher.segment import segment

JUDGE_DIR = Path(watcher.judge.__file__).parent
_HEADER = re.compile(r"^\s*\[\[?([A-Za-z0-9_.\-]+)\]\]?\s*(#.*)?$")


def rules_text(language: str = "ja") -> str:
    return (RULES_DIR / f"{language}.toml").read_text(encoding="utf-8")


def routing_text() -> str:
    return ROUTING_FILE.read_text(encoding="utf-8")


def without_table(text: str, name: str) -> str:
    """The TOML text without the table `name` and its sub-tables."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        m = _HEADER.match(line)
        if m:
            skipping = m.group(1) == name or m.group(1).startswith(name + ".")
        if not skipping:
            out.append(line)
    stripped = "".join(out)
    assert stripped != text, f"no table {name}"
    return stripped


def verdicts(old: str, new: str, language: str = "ja", **kw) -> list[tuple[str, list[str]]]:
    """(severity, categories) of the substantive changes between two small text policies."""
    old_clauses, new_clauses = segment(extract(old, kind="text")), segment(extract(new, kind="text"))
    changes, _ = diff_clauses(old_clauses, new_clauses)
    return [(v.severity, v.categories) for v in classify(changes, old_clauses, new_clauses, language, **kw)
            if v.severity != "none"]


# A small policy whose preamble defines the company's name: 「ミナト株式会社(以下「当社」…)」.
POLICY = """プライバシーポリシー

本ポリシーは、ミナト株式会社(以下「当社」といいます。)が提供するアプリ「ミナトノート」における利用者の情報の取扱いを定めます。

第1条(取得する情報)
当社は、氏名、メールアドレス及びアプリの利用ログを取得します。

第2条(利用目的)
当社は、取得した情報をアプリの提供及びお問い合わせへの回答のために利用します。

第3条(第三者への提供)
当社は、法令に基づく場合を除き、あらかじめ利用者の同意を得ないで個人情報を第三者に提供しません。

第4条(お問い合わせ)
お問い合わせはアプリ内のフォームからご連絡ください。
"""
NO_THIRD_PARTY = "個人情報を第三者に提供しません。"
COLLECTED = "アプリの利用ログを取得します。"


# --------------------------------------------------------------------------- rules validation

@pytest.mark.parametrize("language", ["ja", "en"])
def test_shipped_rules_have_everything_the_engine_uses(language):
    rules = load_rules(language)
    assert set(required_lexicons()) <= set(rules.lexicons)
    assert set(ENGINE_TOPICS) <= set(rules.topics)


@pytest.mark.parametrize("lexicon, user", [
    ("negation", "the engine"),
    ("purpose_shape", "the engine"),
    ("self_reference", "the built-in @to_self"),
    ("company_names", "the built-in @rename_only"),
    ("purpose_red_flags", "the built-in @names_old_service"),
])
def test_a_rules_file_without_a_lexicon_the_engine_uses_is_refused(lexicon, user):
    with pytest.raises(ConfigError) as err:
        parse_rules(without_table(rules_text(), f"lexicon.{lexicon}"), "ja.toml")
    message = str(err.value)
    assert message == f"ja.toml: no [lexicon.{lexicon}]: {user} uses it"
    assert "\n" not in message


@pytest.mark.parametrize("topic", ENGINE_TOPICS)
def test_a_rules_file_without_a_topic_the_engine_uses_is_refused(topic):
    with pytest.raises(ConfigError, match=rf"^en\.toml: no \[topic\.{topic}\]: the engine uses it$"):
        parse_rules(without_table(rules_text("en"), f"topic.{topic}"), "en.toml")


def test_a_rules_file_without_a_revision_pattern_is_refused():
    text = re.sub(r"(?m)^lead_time = .*$", "", rules_text())
    with pytest.raises(ConfigError, match=r"^ja\.toml: no revision\.lead_time: the revision clause reader uses it"):
        parse_rules(text, "ja.toml")
    typo = rules_text().replace("\nnot_titles = [", "\nnot_title = []\nnot_titles = [", 1)
    with pytest.raises(ConfigError, match=r"revision\.not_title: unknown entry"):
        parse_rules(typo, "ja.toml")


def test_a_rule_naming_an_unknown_topic_is_refused():
    text = rules_text().replace('topics = ["third_party", "purposes", "cookies", "data_collected", "disclaimer", "preamble"]',
                                'topics = ["third_party", "purpose", "cookies", "data_collected", "disclaimer", "preamble"]', 1)
    assert text != rules_text()
    with pytest.raises(ConfigError, match=r"^ja\.toml: rule third-party-added: unknown topic 'purpose'$"):
        parse_rules(text, "ja.toml")


def test_a_built_in_in_the_wrong_place_or_misspelt_is_refused():
    wrong_scope = rules_text().replace('unit_any = ["@rename_only"]', 'unit_any = ["@to_self"]', 1)
    assert wrong_scope != rules_text()
    with pytest.raises(ConfigError, match=r"the built-in '@to_self' cannot be used here \(a match built-in\)"):
        parse_rules(wrong_scope, "ja.toml")
    misspelt = rules_text().replace('unit_any = ["@rename_only"]', 'unit_any = ["@rename_onyl"]', 1)
    with pytest.raises(ConfigError, match=r"unknown built-in '@rename_onyl'"):
        parse_rules(misspelt, "ja.toml")


def test_every_lexicon_the_code_names_is_required():
    """A lexicon named in the judge code (rules.search("x", ...)) is one a rules file must have."""
    named = set()
    for path in JUDGE_DIR.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        named |= set(re.findall(r"""(?:search|finditer|fullmatch|_gained_matches)\(\s*["']([a-z_]+)["']""", source))
        named |= set(re.findall(r"""lexicons\[\s*["']([a-z_]+)["']\s*\]""", source))
        named |= set(re.findall(r"""unless=\[\s*["']([a-z_]+)["']""", source))
    assert named, "the pattern no longer finds the lexicon names in the code"
    assert named <= set(required_lexicons()), named - set(required_lexicons())
    assert set(ENGINE_LEXICONS) <= named


# --------------------------------------------------------------------------- built-ins

def test_every_built_in_is_registered_and_documented():
    assert set(BUILTINS) >= {"@item", "@top_item", "@similar_old", "@rename_only", "@to_self", "@names_old_service",
                             "@same_places", "@known_transfer", "@named_in_list", "@list_grew", "@known_party",
                             "@not_sent_abroad", "@name_swapped", "@default_widened", "@default_narrowed",
                             "@states_purpose"}
    for name, fn in BUILTINS.items():
        assert fn.builtin_name == name and name.startswith("@") and fn.scope in SCOPES
        doc = (fn.__doc__ or "").strip()
        assert len(doc) > 30, f"{name} has no docstring"
        assert doc.splitlines()[0].endswith("."), f"{name}: the docstring's first line is no one-line summary"
    used = set(re.findall(r'"(@[a-z_]+)"', rules_text() + rules_text("en")))
    assert used <= set(BUILTINS)


def test_to_self_a_provision_to_the_company_itself_is_no_third_party():
    """「ミナト株式会社に提供」, where ミナト株式会社 defines itself as 当社, gives the data to no one else."""
    to_self = POLICY.replace(NO_THIRD_PARTY, NO_THIRD_PARTY + "ただし、利用者の購買履歴をミナト株式会社に提供します。")
    to_other = POLICY.replace(NO_THIRD_PARTY, NO_THIRD_PARTY + "ただし、利用者の購買履歴をヨコハマ広告株式会社に提供します。")
    assert verdicts(POLICY, to_other) == [("consent", ["third_party_added"])]
    assert verdicts(POLICY, to_self) == [("minor", ["editorial"])]
    # It is the built-in that decides: the same rules without "@to_self" read a new third party.
    text = re.sub(r', "@to_self"|"@to_self", ', "", rules_text())
    assert not re.search(r"(?m)^unless = .*@to_self", text)
    assert verdicts(POLICY, to_self, rules=parse_rules(text, "no-to-self.toml")) == [("consent", ["third_party_added"])]


def test_to_self_a_match_that_names_the_company_is_no_outside_recipient():
    """「Minatoのサーバーに送信」: the match itself names the company (here defined as 当社 by its Latin name)."""
    old = POLICY.replace("ミナト株式会社(以下", "Minato(以下")
    to_self = old.replace(COLLECTED, COLLECTED + "利用ログはMinatoのサーバーに送信されます。")
    to_other = old.replace(COLLECTED, COLLECTED + "利用ログはAcmeのサーバーに送信されます。")
    assert verdicts(old, to_other) == [("notice", ["tracking_changed"])]
    assert verdicts(old, to_self) == [("minor", ["editorial"])]
    text = rules_text().replace('"@to_self", "statistics"]', '"statistics"]')
    assert verdicts(old, to_self, rules=parse_rules(text, "x.toml")) == [("notice", ["tracking_changed"])]


def test_当社_itself_is_excluded_by_the_provision_lexicon():
    """「当社に提供」 is no provision whatever the built-in does: the lexicon's patterns exclude it."""
    new = POLICY.replace(NO_THIRD_PARTY, NO_THIRD_PARTY + "ただし、利用者の購買履歴を当社に提供します。")
    assert verdicts(POLICY, new) == [("minor", ["editorial"])]


# --------------------------------------------------------------------------- classify returns verdicts

def test_classify_returns_verdicts_and_leaves_the_changes_alone():
    new = POLICY.replace(NO_THIRD_PARTY, NO_THIRD_PARTY + "ただし、利用者の購買履歴をヨコハマ広告株式会社に提供します。")
    old_clauses, new_clauses = segment(extract(POLICY, kind="text")), segment(extract(new, kind="text"))
    changes, _ = diff_clauses(old_clauses, new_clauses)
    before = [(c.categories[:], c.severity, c.reasons[:], c.evidence[:]) for c in changes]
    result = classify(changes, old_clauses, new_clauses, "ja")
    assert len(result) == len(changes)
    assert [(c.categories, c.severity, c.reasons, c.evidence) for c in changes] == before
    [judged] = [v for v in result if v.severity != "none"]
    assert judged.categories == ["third_party_added"] and judged.reasons and judged.evidence


# --------------------------------------------------------------------------- routing from TOML

REV_EMAIL = Clause(number="第12条", title="本ポリシーの変更",
                   body=["重要な変更を行う場合は、会員に電子メールで通知します。法令上会員の同意が必要となる変更を行う場合は、当社所定の方法により会員の同意を取得します。"])
REV_WEB = Clause(number="第9条", title="プライバシーポリシーの変更",
                 body=["変更後の本ポリシーは、当社ウェブサイトに掲載した時点から効力を生じるものとします。変更後に利用した場合は同意したものとみなします。"])
OTHER = Clause(number="第1条", title="利用目的", body=["サービスの提供のため"])


def change(severity: str, *categories: str) -> ClauseChange:
    return ClauseChange(type="modified", old=OTHER, new=OTHER, categories=list(categories), severity=severity)


def test_the_shipped_routing_file_loads():
    routing = load_routing()
    assert routing is load_routing()
    assert [a.name for a in routing.actions][:2] == ["obtain_consent", "legal_review"]
    assert {n.citation for n in routing.notes} >= {"APPI GL 2-16", "APPI Art. 27(2)(3), 規則14条", "APPI Art. 28(3)"}
    assert set(routing.revision_change) == {"removed_with_promises", "removed", "added", "weakened", "changed"}


def test_notes_end_with_their_citation():
    _, notify = route([change("notice", "third_party_added", "opt_out_added", "foreign_transfer_added")],
                      [OTHER, REV_EMAIL], "ja")
    assert ("opt-out provision: file the items with the PPC and publish them before providing "
            "(APPI Art. 27(2)(3), 規則14条)") in notify.notes
    assert ("provision abroad without consent: give the information on the recipient's measures on request "
            "(APPI Art. 28(3))") in notify.notes
    _, consent = route([change("consent", "purpose_added")], [OTHER, REV_WEB], "ja")
    assert consent.notes[0] == ("users are not emailed: the revision clause promises no personal notice for this "
                                "change (notify_users=all, channels=website)")
    assert any(n.endswith("is not consent under APPI (GL 2-16)") for n in consent.notes)


def test_an_edited_routing_file_changes_an_action():
    edited = routing_text().replace('name = "publish"', 'name = "post_on_website"', 1)
    assert edited != routing_text()
    _, shipped = route([change("minor", "contact_changed")], [OTHER, REV_EMAIL], "ja")
    _, changed = route([change("minor", "contact_changed")], [OTHER, REV_EMAIL], "ja",
                       routing=parse_routing(edited, "edited.toml"))
    assert shipped.actions == ["publish"] and changed.actions == ["post_on_website"]
    # A condition too: an opt-out provision that no longer calls for a PPC filing.
    no_filing = routing_text().replace('name = "file_with_ppc"\nwhen = { any_category = ["opt_out_added"] }',
                                       'name = "file_with_ppc"\nwhen = { any_category = ["fee_changed"] }', 1)
    assert no_filing != routing_text()
    _, notify = route([change("notice", "opt_out_added")], [OTHER, REV_EMAIL], "ja",
                      routing=parse_routing(no_filing, "x.toml"))
    assert "file_with_ppc" not in notify.actions


def test_an_edited_routing_file_changes_who_is_told():
    website_is_enough = routing_text().replace(
        'promise = { notify_users = ["material", "all"], personal_notice = true }',
        'promise = { notify_users = ["material", "all"] }', 1)
    assert website_is_enough != routing_text()
    assert not route([change("notice", "data_added")], [OTHER, REV_WEB], "ja")[1].users
    assert route([change("notice", "data_added")], [OTHER, REV_WEB], "ja",
                 routing=parse_routing(website_is_enough, "x.toml"))[1].users


@pytest.mark.parametrize("find, replace, message", [
    ('promise = { consent_when_required = true }', 'promise = { consent_when_requird = true }',
     "unknown key 'consent_when_requird'"),
    ('any_category = ["opt_out_added"]', 'any_category = ["opt_out"]', "unknown value 'opt_out'"),
    ('severity_at_least = "minor"', 'severity_at_least = "major"', "unknown severity 'major'"),
    ('(notify_users={notify_users},', '(notify_users={notify},', "unknown field {notify}"),
    ('reason = "the revision clause was removed"', 'reason = ""', "revision_change.removed: no reason"),
])
def test_a_mistake_in_the_routing_file_is_one_line(find, replace, message):
    text = routing_text().replace(find, replace, 1)
    assert text != routing_text()
    with pytest.raises(ConfigError) as err:
        parse_routing(text, "routing.toml")
    assert message in str(err.value) and str(err.value).startswith("routing.toml: ")
    assert "\n" not in str(err.value)


def test_a_routing_file_without_a_revision_change_verdict_is_refused():
    with pytest.raises(ConfigError, match=r"^routing\.toml: no \[revision_change\.weakened\]: the classifier uses it$"):
        parse_routing(without_table(routing_text(), "revision_change.weakened"), "routing.toml")


def test_revision_clause_verdicts_come_from_the_routing_file():
    new = POLICY + "\n第5条(本ポリシーの変更)\n当社は、本ポリシーを変更する場合、アプリ内でお知らせします。\n"
    assert ("minor", ["revision_clause_changed"]) in verdicts(POLICY, new)
    stricter = routing_text().replace(
        'severity = "minor"\nreason = "a revision clause was added; its promises apply from the next change on"',
        'severity = "notice"\nreason = "a revision clause was added; its promises apply from the next change on"', 1)
    assert stricter != routing_text()
    assert ("notice", ["revision_clause_changed"]) in verdicts(POLICY, new, routing=parse_routing(stricter, "x.toml"))


def test_revision_patterns_are_the_readers():
    for language in ("ja", "en"):
        assert set(load_rules(language).revision) == set(REVISION_PATTERNS)
