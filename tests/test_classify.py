"""Classification under APPI: the rules files, the engine, and the cases in tests/cases/*.toml.

Each case is a small complete policy (tests/cases/bases/) with an edit, run through the
whole pipeline (extract -> compare -> report_to_dict) and checked against its expected
severity, categories, forbidden categories and routing.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from watcher.compare import compare
from watcher.diff import diff_clauses
from watcher.errors import ConfigError
from watcher.extract import extract
from watcher.judge.classify import classify
from watcher.judge.rules import CATEGORIES, RULES_DIR, load_rules, parse_rules
from watcher.models import Clause, ClauseChange
from watcher.report import report_to_dict
from watcher.segment import segment

# --------------------------------------------------------------------------- reading the cases

# A case names a base policy in tests/cases/bases/, optional `base_edits` applied to both
# versions (to set up a variant of the base), and `edits` applied to the new version only.
# Each edit's `find` must occur exactly once, so a case cannot silently stop testing anything.

CASE_DIR = Path(__file__).parent / "cases"


def case_files() -> list[Path]:
    return sorted(CASE_DIR.glob("*.toml"))


def apply_edits(text: str, edits: list[dict], where: str) -> str:
    for edit in edits:
        count = text.count(edit["find"])
        if count != 1:
            raise AssertionError(f"{where}: edit text found {count} times, expected once: {edit['find'][:40]!r}")
        text = text.replace(edit["find"], edit["replace"])
    return text


def load_case(path: Path) -> tuple[dict, str, str, str]:
    """(expectation, old text, new text, base file suffix)."""
    case = tomllib.loads(path.read_text(encoding="utf-8"))
    base = CASE_DIR / "bases" / case["base"]
    old = apply_edits(base.read_text(encoding="utf-8"), case.get("base_edits", []), path.name)
    new = apply_edits(old, case.get("edits", []), path.name)
    if old == new:
        raise AssertionError(f"{path.name}: the edits change nothing")
    return case, old, new, base.suffix


def check_report(case: dict, out: dict) -> list[str]:
    """Mismatches between a case's expectation and a report dict (report_to_dict)."""
    errs = []
    want = case["severity"]
    accepted = [want] if isinstance(want, str) else want
    if out["severity"] not in accepted:
        errs.append(f"severity {out['severity']} not in {accepted}")
    cats = {c for ch in out["changes"] for c in ch["categories"]}
    for need in case.get("categories", []):
        if not any(alt in cats for alt in need.split("|")):
            errs.append(f"missing category {need} (got {sorted(cats)})")
    for bad in case.get("forbid", []):
        if bad in cats:
            errs.append(f"forbidden category {bad}")
    subst = sum(1 for ch in out["changes"] if ch["severity"] != "none")
    if subst > case.get("max_substantive", 99):
        errs.append(f"{subst} substantive changes > {case['max_substantive']}")
    if "users" in case and out["notify"]["users"] != case["users"]:
        errs.append(f"notify.users {out['notify']['users']} != {case['users']}")
    for action in case.get("actions", []):
        if action not in out["notify"]["actions"]:
            errs.append(f"missing action {action} (got {out['notify']['actions']})")
    notes = " ".join(out["notify"]["notes"])
    for note in case.get("notes", []):
        if note not in notes:
            errs.append(f"no note containing {note!r} (got {out['notify']['notes']})")
    for ch in out["changes"]:
        if ch["severity"] != "none":
            if not ch["reasons"]:
                errs.append(f"change {ch['new'] or ch['old']} has no reason")
    return errs


CASES = case_files()


def run(old: str, new: str, suffix: str = ".txt") -> dict:
    kind = "markdown" if suffix == ".md" else "text"
    report = compare(extract(old, source="old" + suffix, kind=kind), extract(new, source="new" + suffix, kind=kind))
    return report_to_dict(report)


def changed(out: dict) -> list[dict]:
    return [ch for ch in out["changes"] if ch["severity"] != "none"]


# --------------------------------------------------------------------------- the cases

def test_there_are_enough_cases():
    assert len(CASES) >= 25


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path):
    case, old, new, suffix = load_case(path)
    for name in case.get("categories", []) + case.get("forbid", []):
        assert all(alt in CATEGORIES for alt in name.split("|")), f"{path.name}: {name} is not a TAXONOMY category"
    out = run(old, new, suffix)
    assert check_report(case, out) == []
    for ch in changed(out):
        assert ch["evidence"], f"{ch['categories']} without evidence"


# --------------------------------------------------------------------------- the rules files

@pytest.mark.parametrize("language", ["ja", "en"])
def test_rules_files_load_and_use_only_taxonomy_categories(language):
    rules = load_rules(language)
    assert rules.language == language
    assert len(rules.rules) >= 30
    for rule in rules.rules:
        assert rule.category in CATEGORIES and rule.reason, rule.id
    for topic in rules.topics.values():
        if topic.fallback:
            assert topic.fallback["category"] in CATEGORIES


def test_both_languages_have_the_same_rules_and_lexicons():
    ja, en = load_rules("ja"), load_rules("en")
    assert [r.id for r in ja.rules] == [r.id for r in en.rules]
    assert set(ja.lexicons) == set(en.lexicons)
    assert set(ja.topics) == set(en.topics)
    assert set(ja.revision) == set(en.revision)


def test_rules_are_loaded_once():
    assert load_rules("ja") is load_rules("ja")


def test_unknown_language_falls_back_to_japanese():
    assert load_rules("xx").language == "ja"


def _rules_text() -> str:
    return (RULES_DIR / "ja.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("broken, message", [
    ('category = "purpose_added"\nseverity = "consent"', "unknown category 'purpose_invented'"),
    ('any = ["sale"]', "unknown lexicon 'salez'"),
    ('change = ["added", "gained", "clause_added"]\nany = ["sale"]', "unknown change kind 'appended'"),
])
def test_a_mistake_in_a_rules_file_names_the_rule(broken, message):
    text = _rules_text()
    if "purpose_invented" in message:
        bad = text.replace('category = "purpose_added"\nseverity = "consent"',
                           'category = "purpose_invented"\nseverity = "consent"', 1)
    elif "salez" in message:
        bad = text.replace('any = ["sale"]', 'any = ["salez"]', 1)
    else:
        bad = text.replace('change = ["added", "gained", "clause_added"]\nany = ["sale"]',
                           'change = ["appended", "gained", "clause_added"]\nany = ["sale"]', 1)
    assert bad != text
    with pytest.raises(ConfigError) as err:
        parse_rules(bad, "ja.toml")
    assert message in str(err.value) and "ja.toml" in str(err.value)


def test_a_bad_regex_names_the_lexicon():
    with pytest.raises(ConfigError, match=r"lexicon\.broken: bad regular expression"):
        parse_rules('[lexicon.broken]\npatterns = ["(unclosed"]\n', "x.toml")


def test_a_lawyer_can_extend_a_lexicon_without_code():
    """A tracker the shipped list does not know is missed; adding it to the TOML is enough."""
    base = (Path(__file__).parent / "cases" / "bases" / "fitness_ja.txt").read_text(encoding="utf-8")
    line = "・Firebase Analytics(提供者:Google LLC)"
    new = base.replace(line, line + "\n・ズームトラック(提供者:合同会社ズーム計測)")
    old_clauses = segment(extract(base, kind="text"))
    new_clauses = segment(extract(new, kind="text"))

    def verdict(rules):
        changes, _ = diff_clauses(old_clauses, new_clauses)
        verdicts = classify(changes, old_clauses, new_clauses, "ja", rules=rules)
        return {c for v in verdicts for c in v.categories}, [e for v in verdicts for e in v.evidence]

    shipped, _ = verdict(None)
    assert "tracking_changed" not in shipped
    extended = _rules_text().replace('terms = ["Google Analytics",', 'terms = ["ズームトラック", "Google Analytics",', 1)
    cats, evidence = verdict(parse_rules(extended, "extended.toml"))
    assert "tracking_changed" in cats
    assert any("ズームトラック" in e for e in evidence)


# --------------------------------------------------------------------------- engine behaviour

def test_structural_verdicts_of_the_diff_stage_are_kept():
    clause = Clause(number="第3条", title="第三者への提供", body=["第三者に提供します。"])
    moved = dataclasses.replace(clause, number="第4条")
    change = ClauseChange(type="renumbered", old=clause, new=moved, categories=["renumbered"],
                          reasons=["same text"])
    [verdict] = classify([change], [clause], [moved], "ja")
    assert verdict.categories == ["renumbered"] and verdict.severity == "none"


def test_several_categories_in_one_clause_take_the_highest_severity():
    base = (Path(__file__).parent / "cases" / "bases" / "fitness_ja.txt").read_text(encoding="utf-8")
    new = base.replace("4. 商品カタログを郵送するため\n", "").replace(
        "7. 本サービスの品質向上のための統計資料の作成のため",
        "7. 本サービスの品質向上のための統計資料の作成のため\n8. 会員の行動履歴を分析し、提携先の商品の広告を配信するため")
    out = run(base, new)
    [ch] = changed(out)
    assert {"purpose_added", "purpose_removed"} <= set(ch["categories"])
    assert ch["severity"] == "consent"
    assert ch["categories"][0] == "purpose_added"     # ordered by severity
    assert any("行動履歴" in e for e in ch["evidence"])
    assert any("商品カタログ" in e for e in ch["evidence"])
    assert any("危険信号" in r for r in ch["reasons"])


def test_relatedness_is_explained_in_the_reason():
    base = (Path(__file__).parent / "cases" / "bases" / "fitness_ja.txt").read_text(encoding="utf-8")
    new = base.replace("4. 商品カタログを郵送するため", "4. 商品カタログを郵送するため\n5. 商品カタログを電子メールで送付するため")
    [ch] = changed(run(base, new))
    assert ch["severity"] == "notice"
    reason = " ".join(ch["reasons"])
    assert "既存の利用目的とよく似ており" in reason and "商品カタログを郵送" in reason


def test_a_negated_sentence_is_not_a_provision():
    base = (Path(__file__).parent / "cases" / "bases" / "fitness_ja.txt").read_text(encoding="utf-8")
    for sentence in ("当社は、会員の個人情報を広告主に提供することはありません。", "当社は、会員の個人情報を提携先に販売いたしません。"):
        new = base.replace("この場合、当社は委託先に対し必要かつ適切な監督を行います。",
                           "この場合、当社は委託先に対し必要かつ適切な監督を行います。" + sentence)
        cats = {c for ch in run(base, new)["changes"] for c in ch["categories"]}
        assert "third_party_added" not in cats, sentence
