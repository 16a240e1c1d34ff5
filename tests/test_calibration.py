"""Calibration of the judge: strong and weak cues (rules `strength`, adjust `min_cues`) and the routing
condition `weak_cue`; a single weak cue gives notice with legal review, never consent."""

from __future__ import annotations

import pytest

from watcher.errors import ConfigError
from watcher.judge.route import route
from watcher.judge.rules import (
    RULES_DIR,
    WEAK_CUE_FIELD,
    Condition,
    Situation,
    load_routing,
    parse_routing,
    parse_rules,
)
from watcher.models import ClauseChange, Promises, Reason

PURPOSE_RULE = '''
[[rule]]
id = "purpose-x"
topics = ["purposes"]
change = ["added"]
category = "purpose_added"
severity = "consent"
reason = "x"
  [[rule.adjust]]
  if_new = ["sale"]
  {extra}
  severity = "{severity}"
  reason = "y"
'''


def _rules_with(extra: str, severity: str = "notice"):
    text = (RULES_DIR / "ja.toml").read_text(encoding="utf-8")
    return parse_rules(text + PURPOSE_RULE.format(extra=extra, severity=severity), "ja+test", compile_now=False)


def test_a_weak_adjust_is_read():
    rules = _rules_with('strength = "weak"')
    adjust = rules.rules[-1].adjusts[0]
    assert adjust.strength == "weak" and adjust.min_cues == 1


@pytest.mark.parametrize("extra, severity, message", [
    ('strength = "weak"', "consent", "weak cue cannot give consent"),
    ('strength = "faint"', "notice", "strength must be one of"),
    ("min_cues = 2", "notice", "min_cues"),          # two cues asked of one lexicon
    ("min_cues = 0", "notice", "min_cues"),
])
def test_bad_strength_or_min_cues_is_refused(extra, severity, message):
    with pytest.raises(ConfigError, match=message):
        _rules_with(extra, severity)


def test_the_packaged_purpose_rules_never_give_consent_on_one_weak_cue():
    for language in ("ja", "en"):
        text = (RULES_DIR / f"{language}.toml").read_text(encoding="utf-8")
        rules = parse_rules(text, language, compile_now=False)
        weak = [a for r in rules.rules for a in r.adjusts if a.strength == "weak"]
        assert weak, language
        assert all(a.severity != "consent" for a in weak)
        # two weak cues together are consent, before the single-cue adjust
        purpose = next(r for r in rules.rules if r.id == "purpose-added")
        kinds = [(a.min_cues, a.strength) for a in purpose.adjusts]
        assert kinds.index((2, "strong")) < kinds.index((1, "weak"))


def _situation(severity: str, weak: bool) -> Situation:
    return Situation(severity=severity, categories=frozenset({"tracking_changed"}), revision_clause=True,
                     promises=Promises(), public_channels=frozenset(), weak_cue=weak)


def test_weak_cue_condition():
    routing = parse_routing((RULES_DIR / "routing.toml").read_text(encoding="utf-8"))
    assert Condition(weak_cue=True).holds(_situation("notice", True))
    assert not Condition(weak_cue=True).holds(_situation("notice", False))
    review = [a for a in routing.actions if a.name == "legal_review" and any(c.weak_cue for c in a.when)]
    assert review, "routing.toml sends a weak cue to legal review"
    with pytest.raises(ConfigError, match="weak_cue"):
        parse_routing((RULES_DIR / "routing.toml").read_text(encoding="utf-8")
                      + '\n[[action]]\nname = "x"\nwhen = { weak_cue = "yes" }\n')


def _change(severity: str, fields: dict) -> ClauseChange:
    return ClauseChange(type="modified", old=None, new=None, categories=["tracking_changed"], severity=severity,
                        reasons=["r"], details=[Reason("cookie-use-widened", "r", [], fields=fields)])


def test_route_gives_legal_review_for_a_weak_notice_only():
    routing = load_routing()
    _, weak = route([_change("notice", {WEAK_CUE_FIELD: "weak"})], [], "ja", routing)
    _, strong = route([_change("notice", {})], [], "ja", routing)
    assert "legal_review" in weak.actions and any("weak cue" in n for n in weak.notes)
    assert "legal_review" not in strong.actions and not any("weak cue" in n for n in strong.notes)


# --------------------------------------------------------------------------- what makes a unit a topic's fact

def test_a_topic_fallback_if_names_lexicons():
    text = (RULES_DIR / "ja.toml").read_text(encoding="utf-8")
    rules = parse_rules(text, "ja", compile_now=False)
    assert "controller_terms" in rules.topics["controller"].fallback_if
    bad = text.replace('if = ["controller_terms", ', 'if = ["no_such_lexicon", ', 1)
    with pytest.raises(ConfigError, match="fallback.if: unknown lexicon 'no_such_lexicon'"):
        parse_rules(bad, "ja", compile_now=False)


@pytest.mark.parametrize("language, title, purpose", [
    ("ja", "レビューチェッカーを提供するため(スポンサー付きコンテンツの提供を含む)", True),
    ("ja", "統計資料の作成のため", True),
    ("ja", "レビューチェッカー(スポンサー付きコンテンツ)", False),
])
def test_a_purpose_heading_with_a_note_is_a_purpose(language, title, purpose):
    rules = parse_rules((RULES_DIR / f"{language}.toml").read_text(encoding="utf-8"), language, compile_now=False)
    assert bool(rules.search("purpose_shape", title)) is purpose
