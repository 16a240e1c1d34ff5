"""decide(): what one fetch means, as a pure function of plain data — no store, no network, no
clock. The checker (tests/test_check.py) does the I/O around it; here every branch is seen alone."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

from webserver import login_page, policy_page, seed_texts

from watcher.check import decide, triage
from watcher.check.decide import Previous, needs_previous
from watcher.config import parse_settings
from watcher.derive import EXTRACTOR_VERSION, derivation_version, derive, stored_document
from watcher.fetch import FetchResult
from watcher.store import PolicyState, sha256

TEXT = seed_texts()["000_e00ebf84e0ab835f"]
NEW = TEXT.replace("メールアドレス、パスワードを取得", "メールアドレス、パスワード、位置情報を取得")
WHEN = datetime(2026, 12, 1, 9, 0)


def policy(confirm: int = 1):
    return parse_settings({"policy": [{"name": "p", "url": "https://example.com/privacy", "confirm": confirm}]},
                          base_dir=Path(".")).policies[0]


def page(text: str, nonce: str = "n") -> FetchResult:
    body = policy_page(text, nonce=nonce)
    return FetchResult(url="https://example.com/privacy", status=200, final_url="https://example.com/privacy",
                       body=body, etag='"e2"', headers={"content-type": "text/html; charset=utf-8"})


def derived(result: FetchResult):
    return derive(result.body, source=result.url, content_type=result.content_type, select=None, remove=[])


def previous_of(text: str) -> Previous:
    d = derived(page(text, nonce="old"))
    return Previous(document=d.document, text_key=d.text_key, text_length=d.text_length, stored_clauses=d.clauses)


def stored(version: int = 1, **kw) -> PolicyState:
    return PolicyState(policy_id=1, latest_id=10, latest_version=version, etag='"e1"', body_sha256="0" * 64, **kw)


def test_what_needs_no_parsing_is_settled_by_triage():
    failed = triage(policy(), stored(), FetchResult(url="u", status=503, error="HTTP 503 Service Unavailable"), WHEN)
    assert (failed.kind, failed.outcome.error) == ("failed", "HTTP 503 Service Unavailable")
    not_modified = triage(policy(), stored(), FetchResult(url="u", status=304, etag='"e9"'), WHEN)
    assert not_modified.kind == "unchanged" and not_modified.outcome.not_modified
    assert not_modified.validators() == ('"e9"', None)           # a fresher ETag sent with the 304 is kept
    assert triage(policy(), PolicyState(policy_id=1), FetchResult(url="u", status=304), WHEN).kind == "failed"
    empty = triage(policy(), stored(), FetchResult(url="u", status=200, body=b"  \n"), WHEN)
    assert empty.outcome.error == "empty body (HTTP 200)"
    same = page(TEXT)
    state = stored()
    state.body_sha256 = sha256(same.body)
    assert triage(policy(), state, same, WHEN).kind == "unchanged"   # a server ignoring conditional GET
    assert triage(policy(), stored(), page(TEXT), WHEN).kind == "derive"


def test_a_first_version_a_suspect_page_and_page_noise():
    first = triage(policy(), PolicyState(policy_id=1), page(TEXT), WHEN)
    d = derived(first.result)
    assert not needs_previous(first, d)
    assert decide(first, d).kind == "first"

    login = triage(policy(), stored(), FetchResult(url="u", status=200, body=login_page(),
                                                    headers={"content-type": "text/html"}), WHEN)
    d = derived(login.result)
    assert not needs_previous(login, d)
    assert decide(login, d).kind == "failed" and "login page" in login.outcome.error

    broken = triage(policy(), stored(), page(TEXT), WHEN)
    assert decide(broken, "no policy text in the page").outcome.error == "no policy text in the page"

    noise = triage(policy(), stored(), page(TEXT, nonce="other"), WHEN)
    d = derived(noise.result)
    assert needs_previous(noise, d)
    assert decide(noise, d, previous_of(TEXT)).kind == "unchanged"   # same normalised text, other bytes


def test_a_change_is_judged_and_confirm_holds_it_once():
    changed = triage(policy(), stored(version=3), page(NEW), WHEN)
    d = decide(changed, derived(changed.result), previous_of(TEXT))
    assert d.kind == "changed" and d.outcome.severity in ("notice", "consent")
    assert d.report.new_source == "p@4" and d.report.changes

    held = triage(policy(confirm=2), stored(), page(NEW), WHEN)
    new = derived(held.result)
    assert decide(held, new, previous_of(TEXT)).kind == "hold" and held.outcome.held
    assert held.outcome.status == "unchanged" and held.candidate_seen == 1
    seen_once = stored(candidate_key=new.text_key, candidate_seen=1)
    again = triage(policy(confirm=2), seen_once, page(NEW), WHEN)
    assert decide(again, derived(again.result), previous_of(TEXT)).kind == "changed"


def test_a_rewrite_that_loses_most_of_the_text_is_not_a_version():
    cut = "\n".join(TEXT.splitlines()[:6])
    d = triage(policy(), stored(), page(cut), WHEN)
    assert decide(d, derived(d.result), previous_of(TEXT)).kind == "failed"
    assert d.outcome.error and "truncated" in d.outcome.error


def test_stored_documents_round_trip_through_derive():
    d = derived(page(TEXT))
    source, text, lines, title, charset, content_type, _ = d.stored()

    # the fields of a SnapshotView, as the store hands them out
    row = SimpleNamespace(url=source, text=text, lines=json.loads(lines), title=title, charset=charset,
                          content_type="text/html; charset=utf-8")
    assert stored_document(row).lines == d.document.lines and stored_document(row).content_type == "html"


def test_the_derivation_fingerprint_covers_every_module_that_shapes_what_is_stored():
    parts = dict(part.split("=", 1) for part in EXTRACTOR_VERSION.split(";"))
    assert set(parts) == {"extract", "css", "normalize", "dates", "segment", "derive", "rules"}


def test_page_noise_over_a_version_the_current_code_stored_needs_no_previous_version():
    key = derived(page(TEXT, nonce="old"))
    current = stored(latest_text_key=key.text_key, latest_derivation=derivation_version(policy()))
    noise = triage(policy(), current, page(TEXT, nonce="other"), WHEN)
    d = derived(noise.result)
    assert not needs_previous(noise, d)
    assert decide(noise, d).kind == "unchanged"
    # stored by other code (or another select): the version is loaded and derived again
    older = stored(latest_text_key=key.text_key, latest_derivation="extract=0")
    noise = triage(policy(), older, page(TEXT, nonce="other"), WHEN)
    assert needs_previous(noise, derived(noise.result))
    # a real change still needs it
    changed = triage(policy(), current, page(NEW), WHEN)
    assert needs_previous(changed, derived(changed.result))
