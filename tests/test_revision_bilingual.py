"""Bilingual policies (judge/bilingual.py): the Japanese and the English text of one policy must agree;
a revision that changes them differently is reported (JSON `bilingual`, a reason on the change, legal review)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_classify import load_case, run

from watcher.errors import ConfigError
from watcher.judge.bilingual import Half, compare_halves, is_bilingual, line_language
from watcher.judge.rules import parse_routing
from watcher.models import Document, Line

CASES = Path(__file__).parent / "cases"
ROUTING = Path(__file__).resolve().parents[1] / "watcher" / "rules" / "routing.toml"


def test_line_language():
    assert line_language("当社は、次の情報を取得します。") == "ja"
    assert line_language("We collect the following information:") == "en"
    assert line_language("Google Analyticsを利用しています。") == "ja"
    assert line_language("2024年4月1日") == "ja" and line_language("1. 2. 3.") == ""


def test_a_japanese_policy_quoting_english_names_is_not_bilingual():
    doc = Document("x", [Line("プライバシーポリシー"), Line("当社は次のサービスを利用します。"), Line("- Google Analytics"),
                         Line("- Firebase Crashlytics"), Line("送信される情報は端末の種類及び操作履歴です。"),
                         Line("お問い合わせは窓口までご連絡ください。")])
    assert not is_bilingual(doc)
    assert is_bilingual(Document("y", doc.lines + [Line("We use the following services to count visits."),
                                                   Line("The information sent is your device type and what you tap."),
                                                   Line("Please contact our desk with any question.")]))


@pytest.mark.parametrize("name, changed", [("ja105-bilingual-japanese-half-only.toml", "ja"),
                                           ("en64-bilingual-english-half-only.toml", "en")])
def test_a_revision_of_one_half_only_is_reported(name, changed):
    case, old, new, suffix = load_case(CASES / name)
    out = run(old, new, suffix)
    b = out["bilingual"]
    assert b["agree"] is False and b["code"] == "bilingual.one_half" and b["changed"] == changed
    assert b["halves"][changed]["severity"] in ("notice", "consent")
    assert b["halves"]["en" if changed == "ja" else "ja"]["severity"] == "none"
    assert "legal_review" in out["notify"]["actions"]
    codes = [d["code"] for ch in out["changes"] for d in ch["reason_details"]]
    assert "bilingual.one_half" in codes
    json.dumps(out, ensure_ascii=False)


def test_halves_revised_alike_agree():
    case, old, new, suffix = load_case(CASES / "ja106-bilingual-halves-agree.toml")
    out = run(old, new, suffix)
    assert out["bilingual"]["agree"] is True and out["bilingual"]["code"] is None
    assert "legal_review" not in out["notify"]["actions"]
    assert not any("bilingual" in d["code"] for ch in out["changes"] for d in ch["reason_details"])
    assert not any("revised differently" in n for n in out["notify"]["notes"])


def test_a_policy_in_one_language_has_no_bilingual_entry():
    case, old, new, suffix = load_case(CASES / "ja08-data-added-location.toml")
    assert run(old, new, suffix)["bilingual"] is None


@pytest.mark.parametrize("ja, en, code", [
    (("notice", ["data_added"]), ("none", []), "bilingual.one_half"),
    (("minor", ["contact_changed"]), ("consent", ["third_party_added"]), "bilingual.severity"),
    (("consent", ["purpose_added"]), ("notice", ["purpose_modified"]), "bilingual.severity"),
    (("notice", ["data_added"]), ("notice", ["tracking_changed"]), "bilingual.facts"),
    (("notice", ["data_added", "tracking_changed"]), ("notice", ["tracking_changed"]), ""),
    (("minor", ["contact_changed"]), ("none", []), ""),          # no material change: nothing to disagree on
    (("none", []), ("none", []), ""),
])
def test_how_two_verdicts_disagree(ja, en, code):
    def half(lang, verdict):
        severity, cats = verdict
        return Half(lang, severity, cats, cats if severity in ("notice", "consent") else [])
    found = compare_halves({"ja": half("ja", ja), "en": half("en", en)})
    assert found.code == code and found.agree is (code == "")


def test_routing_condition_bilingual_mismatch_must_be_a_flag():
    text = ROUTING.read_text(encoding="utf-8").replace("when = { bilingual_mismatch = true }",
                                                         'when = { bilingual_mismatch = "yes" }', 1)
    with pytest.raises(ConfigError, match="bilingual_mismatch: must be true / false"):
        parse_routing(text, "routing.toml")
