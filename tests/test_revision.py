"""The revision-clause reader (judge/revision.py): lead times in their common forms, materiality
synonyms, and which channels reach a user personally (a notice on the website is no e-mail)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_classify import load_case, run

from watcher.judge.revision import days_in, english_number, kanji_number, parse_promises
from watcher.judge.rules import load_routing
from watcher.report import note_text

CASES = Path(__file__).parent / "cases"


@pytest.mark.parametrize("text, value", [("三十", 30), ("十四", 14), ("七", 7), ("百二十", 120), ("二〇", 20), ("十", 10),
                                         ("一定", None)])
def test_kanji_numbers(text, value):
    assert kanji_number(text) == value


@pytest.mark.parametrize("text, value", [("thirty", 30), ("forty-five", 45), ("Fourteen", 14), ("14", 14),
                                         ("least", None), ("twenty one", 21)])
def test_english_numbers(text, value):
    assert english_number(text) == value


@pytest.mark.parametrize("phrase, days", [("効力発生日の三十日前", 30), ("二週間前", 14), ("1か月前", 30),
                                         ("thirty (30) days before", 30), ("at least two weeks", 14)])
def test_days_in_a_phrase(phrase, days):
    assert days_in(phrase) == days


# (language, clause, notify_users, channels, lead_time_days)
FORMS = [
    ("ja", "重要な変更を行う場合は、効力発生日の30日前までに会員にメールで通知します。", "material", ["email"], 30),
    ("ja", "本ポリシーを変更する場合、施行日の１４日前までにその旨を会員に電子メールでお知らせします。", "all", ["email"], 14),
    ("ja", "実質的な変更がある場合は、三十日前までに個別に通知します。", "material", ["email"], 30),
    ("ja", "重大な変更は当社ウェブサイトに掲載し、掲載後十日を経過した日から効力を生じます。", "material", ["website"], 10),
    ("ja", "改定後のポリシーは当社サイトに掲載し、掲載から7日後に効力を生じます。", "all", ["website"], 7),
    ("ja", "本ポリシーを変更した場合は、サイト上で告知します。", "all", ["website"], None),
    ("ja", "重要な変更がある場合には、当社ウェブサイト上でユーザーに通知します。", "material", ["website"], None),
    ("ja", "変更内容は、当社ウェブサイトに掲載することによりお客様に通知します。", "all", ["website"], None),
    ("ja", "重要な変更の場合は、当社ウェブサイトに掲載するとともに、会員に通知します。", "material", ["website", "email"], None),
    ("ja", "重要な変更を行うことがあります。その場合は、登録されたメールアドレスへご連絡します。", "material", ["email"], None),
    ("ja", "利用者の権利に影響の大きい変更を行うときは、施行日の二週間前までにユーザーに通知します。", "material", ["email"], 14),
    ("en", "If we make material changes, we will post a prominent notice on our website at least thirty days before they take effect.",
     "material", ["website"], 30),
    ("en", "If we make significant changes, we will notify you by email 14 days before the effective date.", "material", ["email"], 14),
    ("en", "Substantial changes take effect 30 days after posting.", "material", ["website"], 30),
    ("en", "Changes become effective thirty (30) days after we post them.", "all", ["website"], 30),
    ("en", "We will notify you of substantial changes by posting a notice on our homepage.", "material", ["website"], None),
    ("en", "We will post the new policy on this page and notify you of any material change.", "material", ["website", "email"], None),
    ("en", "We may make material changes. In that case, we will email you at least fourteen days in advance.", "material", ["email"], 14),
    ("en", "When this notice changes in a material way, we will notify you through the Service.", "material", ["service"], None),
]


@pytest.mark.parametrize("language, text, notify, channels, lead", FORMS, ids=[f"{f[0]}{n}" for n, f in enumerate(FORMS)])
def test_revision_clause_forms(language, text, notify, channels, lead):
    p = parse_promises(text, language)
    assert (p.notify_users, sorted(p.channels), p.lead_time_days) == (notify, sorted(channels), lead)


def test_a_website_notice_is_no_personal_notice_but_an_email_is():
    routing = load_routing()
    website = parse_promises("重要な変更がある場合、当社ウェブサイト上でお客様に告知いたします。", "ja")
    email = parse_promises("重要な変更がある場合、会員にメールで告知いたします。", "ja")
    assert not set(website.channels) - routing.public_channels
    assert set(email.channels) - routing.public_channels == {"email"}


def test_the_lead_time_reaches_the_report_json():
    case, old, new, suffix = load_case(CASES / "ja100-lead-time-kanji-email.toml")
    out = run(old, new, suffix)
    assert out["revision_clause"]["promises"]["lead_time_days"] == 30
    assert out["notify"]["users"] is True
    note = next(n for n in out["notify"]["notes"] if "30 days' notice" in n)
    assert "30日前" in note_text(note, "ja")
    # a website-only clause with a lead time: users are not mailed, so no note on the mail's timing
    case, old, new, suffix = load_case(CASES / "ja103-posting-lead-time-site.toml")
    out = run(old, new, suffix)
    assert out["revision_clause"]["promises"]["lead_time_days"] == 14 and out["notify"]["users"] is False
    assert not any("days' notice" in n for n in out["notify"]["notes"])
