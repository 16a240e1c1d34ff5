"""Revision clauses (改定条項): finding them, reading their promises, and routing a change."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.extract import extract, load_file
from watcher.judge.revision import find_revision_clause, parse_promises, weakened_promises
from watcher.judge.route import route
from watcher.models import Clause, ClauseChange, Promises
from watcher.segment import segment

SEEDS = Path(__file__).resolve().parent / "data" / "corpus" / "seeds"   # a copy of ../shared/corpus
needs_seeds = pytest.mark.skipif(not SEEDS.exists(), reason="shared corpus seeds not available")

# (language, clause text, notify_users, consent_when_required, channels, lead_time_days, deemed_consent)
WORDINGS = [
    pytest.param("ja", "本プライバシーポリシーは改定されることがあります。重要な変更にあたってはユーザーに対してわかりやすい方法にて"
                 "改定内容を告知いたします。", "material", False, ["unspecified"], None, False, id="seed000-material-unspecified"),
    pytest.param("ja", "弊社は、本サービスを定期的に見直し、改善を行います。それに伴い、プライバシーポリシーを変更する場合があります。"
                 "プライバシーポリシーに重要な変更がある場合には、本ウェブサイト上で告知します。また弊社の個人情報の取扱に関しての"
                 "お問合わせ・苦情等は本ウェブサイトのお問合せフォームよりご連絡ください。",
                 "material", False, ["website"], None, False, id="seed001-material-website"),
    pytest.param("ja", "当社は、必要に応じて、本ポリシーを変更します。但し、法令上ユーザーの同意が必要となるような本ポリシーの変更を行う"
                 "場合、変更後の本ポリシーは、当社所定の方法で変更に同意したユーザーに対してのみ適用されるものとします。なお、当社は、"
                 "本ポリシーを変更する場合には、変更後の本ポリシーの施行時期及び内容を当社のウェブサイト上での表示その他の適切な方法に"
                 "より周知し、またはユーザーに通知します。",
                 "all", True, ["website", "email", "unspecified"], None, False, id="seed002-consent-all"),
    pytest.param("ja", "1. 当社は、必要に応じて、本ポリシーを利用者の事前の同意を得ることなく変更することがあります。但し、法令上利用者の"
                 "同意が必要となるような内容の変更を行うときは、当社が定める方法により、利用者の同意を取得するものとします。\n"
                 "2. 本ポリシーを変更した場合には、当社のウェブサイト上又は本サービス上で告知を行います。\n"
                 "3. 変更後の本ポリシーについては、当社ウェブサイトでの告知時に、効力が発生するものとします。",
                 "all", True, ["website", "service"], None, False, id="seed003-consent-website-service"),
    pytest.param("ja", "当社は、法令等および事業上の理由から、随時本プライバシーポリシーを変更することがあります。変更等においては、当社が"
                 "別途定める場合を除き、当社ウェブサイト上で掲載いたします。", "all", False, ["website"], None, False,
                 id="seed004-website"),
    pytest.param("ja", "本ポリシーの内容は，法令その他本ポリシーに別段の定めのある事項を除いて，ユーザーに通知することなく，変更することが"
                 "できるものとします。当社が別途定める場合を除いて，変更後のプライバシーポリシーは，本ウェブサイトに掲載したときから"
                 "効力を生じるものとします。", "none", False, ["website"], None, False, id="template-no-notice"),
    pytest.param("ja", "重要な変更（個人情報の利用目的の変更、新たな第三者提供先の追加等）がある場合は、変更の効力発生日の少なくとも7日前"
                 "までにアプリ内通知またはメールにてお知らせし、必要に応じて改めて同意を取得します。",
                 "material", True, ["email", "app"], 7, False, id="app-email-7-days"),
    pytest.param("ja", "本ポリシーを変更した場合は、当サイトにてお知らせします。変更後に本サービスを使用された場合は、変更後の本ポリシーに"
                 "同意いただいたものとみなします。", "all", False, ["website"], None, True, id="deemed-consent"),
    pytest.param("ja", "法令上利用者の同意が必要となるような内容の変更を行うときは、別途当社が定める方法により個別に利用者の同意を取得します。",
                 "none", True, ["unspecified"], None, False, id="individual-consent-only"),
    pytest.param("ja", "当社は、登録ユーザーに通知することなく、本ポリシーを変更できるものとします。", "none", False, ["unspecified"], None,
                 False, id="zenn-no-notice"),
    pytest.param("ja", "重要な変更を行う場合は、効力発生日の2週間前までに、会員に電子メールで通知します。", "material", False, ["email"], 14,
                 False, id="two-weeks-email"),
    pytest.param("en", "If we make material changes to this notice, we will notify you by email at least 30 days before they take "
                 "effect. Where the law requires your consent, we will ask for it.", "material", True, ["email"], 30, False,
                 id="en-material-email-30"),
    pytest.param("en", "We may update this notice from time to time. When we do, we will post the updated notice on this page and "
                 "update the effective date. For significant changes, we will also notify you in the product or by email.",
                 "material", False, ["website", "service", "email"], None, False, id="en-post-and-email"),
    pytest.param("en", "We may change this policy at any time without notice. Your continued use of the Service after changes "
                 "constitutes your acceptance of the revised policy.", "none", False, ["unspecified"], None, True,
                 id="en-no-notice-deemed"),
    pytest.param("en", "We will provide notification to Users of material changes to this Privacy Statement through our Website at "
                 "least 30 days prior to the change taking effect by posting a notice on our home page or sending email to the "
                 "primary email address specified in your account.", "material", False, ["website", "email"], 30, False,
                 id="en-github-style"),
]


@pytest.mark.parametrize("language, text, notify, consent, channels, lead, deemed", WORDINGS)
def test_parse_promises(language, text, notify, consent, channels, lead, deemed):
    p = parse_promises(text, language)
    assert p.notify_users == notify
    assert p.consent_when_required is consent
    assert sorted(p.channels) == sorted(channels)
    assert p.lead_time_days == lead
    assert p.deemed_consent is deemed


# --------------------------------------------------------------------------- finding the clause

@needs_seeds
@pytest.mark.parametrize("seed, number, title", [
    ("000_e00ebf84e0ab835f.txt", "第9条", "本プライバシーポリシーの改定"),
    ("001_b5fad133b5170cf9.txt", "10", "プライバシーポリシーの変更・更新通知及び苦情について"),
    ("002_f0a82a2012552222.txt", "11.", "プライバシーポリシーの変更手続"),
    ("003_d71c19f622d62293.txt", "13.", "本ポリシーの変更"),     # not 4. (利用目的の変更)
    ("004_5f4b0d30e1db3437.txt", "第9条", "プライバシーポリシーの変更"),
])
def test_finds_the_seeds_revision_clauses(seed, number, title):
    clause = find_revision_clause(segment(load_file(SEEDS / seed)), "ja")
    assert clause is not None
    assert clause.number == number and clause.title == title


def test_finds_a_nested_revision_section_and_an_untitled_one():
    nested = segment(extract("1. 適用範囲\nこの通知は本アプリに適用されます。\n## 変更\n本通知を変更する場合はサイトに掲載します。\n"
                             "2. お問い合わせ\nメールでご連絡ください。", kind="markdown"))
    found = find_revision_clause(nested, "ja")
    assert found is not None and "掲載" in found.full_text()
    untitled = [Clause(number="第1条", title="利用目的", body=["サービスの提供のため"]),
                Clause(number="第2条", title="その他", body=["当社は、本ポリシーを変更することがあります。変更後はウェブサイトに掲載します。"])]
    assert find_revision_clause(untitled, "ja") is untitled[1]


def test_a_purpose_change_clause_is_not_the_revision_clause():
    clauses = [Clause(number="第4条", title="利用目的の変更", body=["利用目的を変更した場合はウェブサイトで告知します。"])]
    assert find_revision_clause(clauses, "ja") is None


def test_english_revision_clause():
    doc = extract("## 1. Data\nWe collect your email.\n## 2. Changes to This Notice\nWe will email you about material changes.\n"
                  "## 3. Contact\nWrite to us.", kind="markdown")
    clause = find_revision_clause(segment(doc), "en")
    assert clause is not None and clause.title == "Changes to This Notice"


# --------------------------------------------------------------------------- routing

REV_EMAIL = Clause(number="第12条", title="本ポリシーの変更",
                   body=["重要な変更を行う場合は、会員に電子メールで通知します。法令上会員の同意が必要となる変更を行う場合は、当社所定の方法により会員の同意を取得します。"])
REV_WEB = Clause(number="第9条", title="プライバシーポリシーの変更",
                 body=["変更後の本ポリシーは、当社ウェブサイトに掲載した時点から効力を生じるものとします。変更後に利用した場合は同意したものとみなします。"])
OTHER = Clause(number="第1条", title="利用目的", body=["サービスの提供のため"])


def change(severity: str, *categories: str) -> ClauseChange:
    return ClauseChange(type="modified", old=OTHER, new=OTHER, categories=list(categories), severity=severity)


def test_consent_with_a_consent_promise_emails_users():
    rc, notify = route([change("consent", "purpose_added")], [OTHER, REV_EMAIL], "ja")
    assert rc is not None and rc.number == "第12条" and rc.promises.consent_when_required
    assert notify.users and notify.staff
    assert notify.actions[:2] == ["obtain_consent", "legal_review"]
    assert "notify_users" in notify.actions and "publish" in notify.actions


def test_consent_with_a_website_only_clause_tells_staff_how_consent_is_missing():
    rc, notify = route([change("consent", "third_party_added")], [OTHER, REV_WEB], "ja")
    assert rc.promises.channels == ["website"] and rc.promises.deemed_consent
    assert not notify.users and notify.staff
    notes = " ".join(notify.notes)
    assert "does not say how consent is obtained" in notes
    assert "deemed consent" in notes


def test_notice_follows_the_channel_promise():
    assert route([change("notice", "data_added")], [OTHER, REV_EMAIL], "ja")[1].users
    assert not route([change("notice", "data_added")], [OTHER, REV_WEB], "ja")[1].users


def test_minor_and_none_never_email_users():
    _, minor = route([change("minor", "contact_changed")], [OTHER, REV_EMAIL], "ja")
    assert not minor.users and minor.staff and minor.actions == ["publish"]
    _, none = route([change("none", "renumbered")], [OTHER, REV_EMAIL], "ja")
    assert not none.users and not none.staff and none.actions == []


def test_no_revision_clause():
    rc, notify = route([change("consent", "purpose_added")], [OTHER], "ja")
    assert rc is None and not notify.users and notify.staff
    assert any("no revision clause" in n for n in notify.notes)


def test_opt_out_asks_for_a_ppc_filing():
    _, notify = route([change("notice", "third_party_added", "opt_out_added")], [OTHER, REV_EMAIL], "ja")
    assert "file_with_ppc" in notify.actions
    assert any("PPC" in n for n in notify.notes)


def test_weakened_promises():
    before = Promises(notify_users="material", consent_when_required=True, channels=["email"], lead_time_days=14)
    after = Promises(notify_users="none", consent_when_required=False, channels=["website"], deemed_consent=True)
    weaker = weakened_promises(before, after)
    assert len(weaker) == 4
    assert any("material → none" in w for w in weaker)
    assert weakened_promises(before, before) == []
    assert weakened_promises(after, before) == []
