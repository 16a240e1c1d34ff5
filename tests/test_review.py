"""The review workflow: states, decisions and the routing's checklist; every step an append-only
audit event (who, when, what, note), on SQLite and PostgreSQL; the CLI (`watch changes`,
`watch review`, `watch audit`, `watch list`)."""

from __future__ import annotations

import json
import threading

import pytest
from reviewtools import record_change

from watcher.review import ReviewError, ReviewRequest, plan_review, record_review
from watcher.store import Store
from watcher.store.reviews import ReviewView


def only_change(store) -> int:
    [change], total = store.change_summaries()
    assert total == 1
    return change.id


def test_a_review_from_new_to_done_is_an_append_only_trail(tmp_path, store_url):
    settings, _ = record_change(tmp_path, store_url=store_url)
    store = Store(settings.store)
    try:
        change_id = only_change(store)
        [summary], _ = store.change_summaries(open_only=True)
        assert summary.review_state == "new" and summary.severity == "consent"
        assert summary.checklist[:2] == ["obtain_consent", "legal_review"]
        review = record_review(store, change_id, ReviewRequest(tick=["legal_review"], note="法務確認済み"), actor="alice")
        assert (review.state, review.actions) == ("in_review", ["legal_review"])
        with pytest.raises(ReviewError, match="needs the action obtain_consent"):
            record_review(store, change_id, ReviewRequest(decision="consent_obtained"), actor="bob")
        review = record_review(store, change_id, ReviewRequest(tick=["obtain_consent"], decision="consent_obtained"),
                               actor="bob")
        assert (review.state, review.decision) == ("done", "consent_obtained")
        assert review.actions == ["obtain_consent", "legal_review"]      # checklist order
        with pytest.raises(ReviewError, match="reopen it first"):
            record_review(store, change_id, ReviewRequest(untick=["legal_review"]), actor="bob")
        trail = store.audit_events(change_id)
        assert [(e.actor, e.action, e.value, e.state) for e in trail] == [
            ("alice", "start", None, "in_review"), ("alice", "tick", "legal_review", "in_review"),
            ("bob", "tick", "obtain_consent", "in_review"), ("bob", "decide", "consent_obtained", "done")]
        assert trail[1].note == "法務確認済み" and trail[0].policy == "enmono"
        # reopening appends: nothing recorded before changes
        record_review(store, change_id, ReviewRequest(reopen=True, untick=["legal_review"], note="再確認"), actor="carol")
        again = store.audit_events(change_id)
        assert [(e.id, e.action, e.value, e.note) for e in again[:4]] == [
            (e.id, e.action, e.value, e.note) for e in trail]
        assert [(e.action, e.state) for e in again[4:]] == [("reopen", "in_review"), ("untick", "in_review")]
        assert store.review(change_id).state == "in_review"
        assert store.change_summaries(open_only=True)[1] == 1
        # the review row is what the events add up to
        assert fold(store.audit_events(change_id)) == (store.review(change_id).state, store.review(change_id).actions)
    finally:
        store.close()


def fold(events):
    state, done = "new", []
    for e in events:
        state = e.state
        if e.action == "tick":
            done.append(e.value)
        elif e.action == "untick":
            done.remove(e.value)
    return state, sorted(done, key=["obtain_consent", "legal_review", "notify_users", "publish", "file_with_ppc"].index)


def test_plan_review_refuses_what_cannot_be_recorded():
    new = ReviewView(7)
    with pytest.raises(ReviewError, match="unknown action 'sign'"):
        plan_review(7, new, ["obtain_consent"], ReviewRequest(tick=["sign"]))
    with pytest.raises(ReviewError, match="unknown decision"):
        plan_review(7, new, [], ReviewRequest(decision="maybe"))
    with pytest.raises(ReviewError, match="nothing to record"):
        plan_review(7, new, [], ReviewRequest())
    with pytest.raises(ReviewError, match="nothing to reopen"):
        plan_review(7, new, [], ReviewRequest(reopen=True))
    planned = plan_review(7, new, [], ReviewRequest(note="見た"))
    assert [(e.action, e.note, e.state) for e in planned.entries] == [("start", "見た", "in_review")]
    # a known action not on the checklist may be recorded; decisions without a required action close it
    planned = plan_review(7, new, ["notify_users"], ReviewRequest(tick=["file_with_ppc"], decision="no_action"))
    assert (planned.state, planned.decision, planned.actions) == ("done", "no_action", ["file_with_ppc"])


def test_two_reviewers_at_once_both_land_on_fresh_state(tmp_path, store_url):
    settings, _ = record_change(tmp_path, store_url=store_url)
    store = Store(settings.store)
    try:
        change_id = only_change(store)
        errors, barrier = [], threading.Barrier(4)

        def review(who, action):
            barrier.wait()
            try:
                record_review(store, change_id, ReviewRequest(tick=[action]), actor=who)
            except Exception as exc:   # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=review, args=(f"r{i}", a)) for i, a in
                   enumerate(["obtain_consent", "legal_review", "notify_users", "publish"])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        review = store.review(change_id)
        assert sorted(review.actions) == ["legal_review", "notify_users", "obtain_consent", "publish"]
        events = store.audit_events(change_id)
        assert [e.action for e in events].count("start") == 1 and len(events) == 5
    finally:
        store.close()


def test_cli_changes_review_audit_list(tmp_path, watch):
    _, config = record_change(tmp_path, policies=2)
    result = watch("changes", "--open", "--json", "--config", config)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["total"] == 2 and {c["review"] for c in data["changes"]} == {"new"}
    # enmono's change (the two policies are checked concurrently: either may have the lower id)
    first = next(c["id"] for c in data["changes"] if c["policy"] == "enmono")
    result = watch("review", first, "--action", "obtain_consent", "--action", "legal_review", "--note", "同意画面を準備",
                   "--as", "alice", "--config", config)
    assert result.returncode == 0, result.stderr
    assert "in_review" in result.stdout and "obtain_consent" in result.stdout
    result = watch("review", first, "--decision", "consent_obtained", "--as", "alice", "--config", config)
    assert result.returncode == 0 and "done (consent_obtained)" in result.stdout
    bad = watch("review", first, "--action", "publish", "--config", config)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "reopen it first" in bad.stderr
    unknown = watch("review", first, "--reopen", "--action", "sign", "--config", config)
    assert unknown.returncode == 2 and "unknown action 'sign'" in unknown.stderr
    missing = watch("review", 999, "--note", "x", "--config", config)
    assert missing.returncode == 2 and "change #999 is not in the store" in missing.stderr
    result = watch("audit", first, "--json", "--config", config)
    events = json.loads(result.stdout)
    assert [(e["actor"], e["action"], e["value"]) for e in events] == [
        ("alice", "start", None), ("alice", "tick", "obtain_consent"), ("alice", "tick", "legal_review"),
        ("alice", "decide", "consent_obtained")]
    assert events[2]["note"] == "同意画面を準備"
    result = watch("audit", "--config", config)
    assert result.returncode == 0 and "decide" in result.stdout and "alice" in result.stdout
    result = watch("changes", "--open", "--json", "--config", config)
    assert json.loads(result.stdout)["total"] == 1
    listed = json.loads(watch("list", "--json", "--config", config).stdout)
    assert [(p["name"], p["status"], p["severity"], p["open_reviews"]) for p in listed] == [
        ("enmono", "changed", "consent", 0), ("enmono-1", "changed", "consent", 1)]
    text = watch("list", "--config", config)
    assert text.returncode == 0 and "enmono-1" in text.stdout
