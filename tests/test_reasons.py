"""rules/reasons.toml: every reason code the rules can produce has its text in Japanese and English,
and reports, mails and tables show each reason in the reader's language."""

from __future__ import annotations

import re
import tomllib
from html import unescape
from pathlib import Path

from watcher import reasons
from watcher.compare import compare
from watcher.extract import extract
from watcher.judge.rules import REVISION_CHANGES, load_routing, parse_rules
from watcher.notify import compose
from watcher.report import render_html, report_to_dict
from watcher.sources import load

RULES = Path(reasons.__file__).parent / "rules"
CORPUS = Path(__file__).resolve().parent / "data" / "corpus" / "pairs"
CASES = Path(__file__).resolve().parent / "cases"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# The fixed codes of the summary (judge/classify.py) and of the diff stage (watcher/diff.py).
FIXED = ("rearranged", "wording-only", "reordered", "moved-between-clauses", "fallback.editorial",
         "diff.moved", "diff.moved.split", "diff.moved.merged", "diff.renumbered", "diff.formatting",
         "diff.effective_date_changed", "revision.weaker.notify_users", "revision.weaker.consent",
         "revision.weaker.personal_notice", "revision.weaker.lead_time", "revision.weaker.deemed_consent",
         "promise.notify_users.all", "promise.notify_users.material", "promise.notify_users.none",
         "promise.lead_time.none")


def rule_codes() -> set[str]:
    """Every code the packaged rule files give: rule ids, their adjusts, topic fallbacks, revision cases."""
    codes = {f"revision_change.{case}" for case in REVISION_CHANGES}
    for path in sorted(RULES.glob("*.toml")):
        if path.stem not in ("ja", "en"):
            continue
        rules = parse_rules(path.read_text(encoding="utf-8"), str(path), compile_now=False)
        for rule in rules.rules:
            codes.add(rule.id)
            codes.update(f"{rule.id}.adjust.{n}" for n, a in enumerate(rule.adjusts) if a.reason)
        codes.update(f"topic.{name}.fallback" for name, t in rules.topics.items() if t.fallback)
    return codes


def test_every_reason_code_has_japanese_and_english():
    texts = reasons.texts()
    missing = sorted(c for c in rule_codes() | set(FIXED) if c not in texts)
    assert not missing, f"no [code] ja/en in watcher/rules/reasons.toml for: {missing}"
    for code, entry in texts.items():
        assert entry["ja"] and entry["en"], code
        # a Japanese text is Japanese; an English one has no Japanese prose beyond quoted legal terms
        if not code.startswith("promise."):
            assert JAPANESE.search(entry["ja"]), code
        assert len(JAPANESE.findall(entry["en"])) < len(entry["en"]) / 4, code
        # the same {fields} in both languages
        assert set(re.findall(r"\{(\w+)\}", entry["ja"])) == set(re.findall(r"\{(\w+)\}", entry["en"])), code


def test_a_rule_added_without_its_texts_is_found(tmp_path):
    text = (RULES / "ja.toml").read_text(encoding="utf-8")
    extra = text + '\n[[rule]]\nid = "brand-new-rule"\ntopics = ["*"]\nchange = ["added"]\ncategory = "editorial"\n' \
                   'severity = "minor"\nreason = "a new rule"\n'
    rules = parse_rules(extra, "ja.toml", compile_now=False)
    assert "brand-new-rule" in {r.id for r in rules.rules} and not reasons.has("brand-new-rule")


def test_rule_texts_in_english_match_the_rule_files():
    """reasons.toml's English is the rule files' English (one of them, where ja.toml and en.toml differ),
    so a stored English reason is found again by its code."""
    english = {}
    for lang in ("ja", "en"):
        path = RULES / f"{lang}.toml"
        for rule in parse_rules(path.read_text(encoding="utf-8"), str(path), compile_now=False).rules:
            english.setdefault(rule.id, set()).add(rule.reason)
    stale = sorted(c for c, texts in english.items() if reasons.has(c) and reasons.texts()[c]["en"] not in texts)
    assert not stale, f"English of reasons.toml differs from the rule files for: {stale}"
    for case, v in load_routing().revision_change.items():
        assert reasons.texts()[f"revision_change.{case}"]["en"] == v.reason, case


def test_translate_finds_a_composed_reason_in_either_language():
    adjusted = reasons.render("purpose-added", "en", "x", "purpose-added.adjust.3", " [郵送]")
    assert adjusted.endswith("a lawyer should confirm the relatedness. [郵送]")
    ja = reasons.translate("purpose-added", adjusted, "ja")
    assert ja == reasons.render("purpose-added", "ja", "x", "purpose-added.adjust.3", " [郵送]") and "関連性" in ja
    assert reasons.translate("purpose-added", ja, "en") == adjusted
    weaker = [("revision.weaker.notify_users", {"before": [("promise.notify_users.all", {})],
                                                "after": [("promise.notify_users.none", {})]}),
              ("revision.weaker.consent", {})]
    en = reasons.render("revision_change.weakened", "en", "x", fields={"weaker": weaker})
    assert "notify_users all → none; no longer promises" in en
    assert reasons.translate("revision_change.weakened", en, "ja") == \
        reasons.render("revision_change.weakened", "ja", "x", fields={"weaker": weaker})
    assert "すべての改定 → なし" in reasons.translate("revision_change.weakened", en, "ja")
    # an unknown code or shape stays as it was
    assert reasons.translate("no-such-code", "some text", "ja") == "some text"
    assert reasons.translate("purpose-added", "something else", "ja") == "something else"


def pair_reports(lang: str) -> list[dict]:
    """The corpus's Japanese pairs; for English, the English judgement cases (tests/cases/en*.toml)."""
    out = []
    for pair in sorted(CORPUS.glob("d*")):
        data = report_to_dict(compare(load(str(pair / "old.txt")), load(str(pair / "new.txt"))), full_text=True)
        if data["language"] == lang:
            out.append(data)
    for path in sorted(CASES.glob(f"{lang}*.toml")):
        case = tomllib.loads(path.read_text(encoding="utf-8"))
        old = (CASES / "bases" / case["base"]).read_text(encoding="utf-8")
        new = old
        for edit in case.get("edits", []):
            new = new.replace(edit["find"], edit["replace"])
        suffix = Path(case["base"]).suffix
        kind = "markdown" if suffix == ".md" else "text"
        data = report_to_dict(compare(extract(old, source="old" + suffix, kind=kind),
                                      extract(new, source="new" + suffix, kind=kind)), full_text=True)
        if data["language"] == lang:
            out.append(data)
    return out


def test_reports_give_reasons_in_their_language_and_readers_get_theirs():
    ja, en = pair_reports("ja"), pair_reports("en")
    assert ja and en
    for data in ja:
        for c in data["changes"]:
            assert c["reasons"] and all(JAPANESE.search(r) for r in c["reasons"]), c["reasons"]
            assert [d["text"] for d in c["reason_details"]] == c["reasons"]
            assert all(set(d) == {"code", "text", "evidence"} and reasons.has(d["code"]) for d in c["reason_details"])
    for data in en:
        for c in data["changes"]:
            assert c["reasons"], c
            for d in c["reason_details"]:
                # English prose (legal terms such as 要配慮個人情報 quoted in it), not a Japanese text
                assert reasons.translate(d["code"], d["text"], "en") == d["text"] != reasons.texts()[d["code"]]["ja"]
                assert len(JAPANESE.findall(d["text"])) < len(d["text"]) / 4, d["text"]
    # a Japanese staff member reading an English policy's change gets Japanese reasons, and the other way round
    policy = {"name": "p", "url": "https://example.com/p"}
    ref = {"change_id": 1, "show": "watch show p@2", "diff": "watch diff p@1 p@2"}
    for data, lang in ((next(d for d in en if d["severity"] != "none"), "ja"),
                       (next(d for d in ja if d["severity"] != "none"), "en")):
        mail = compose.staff_mail(policy, data, lang, ref)
        table = render_html(data, lang)
        for c in data["changes"]:
            for d in c["reason_details"]:
                wanted = reasons.translate(d["code"], d["text"], lang)
                assert wanted != d["text"] or not reasons.has(d["code"])
                assert wanted in mail.text, (wanted, lang)
                assert wanted in unescape(table), (wanted, lang)
