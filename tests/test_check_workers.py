"""When `watch check` starts derive worker processes (issue 14): at once for a pass of many first
versions, never for a pass of 304s and few changes, late (through a fork server) when most pages
of a pass changed. Real pages from a local server, a real store."""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import sys

import pytest
from test_check import make_settings
from webserver import policy_page, seed_texts

from watcher.app import open_app
from watcher.check import checker

SEEDS = list(seed_texts().values())
POLICIES = checker.POOL_MIN_BODIES + 4

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
                                reason="derive workers run on Linux with 2 CPUs or more")


def serve_all(server, generation: int, delay: float = 0.0):
    for i in range(POLICIES):
        text = SEEDS[i % len(SEEDS)] + f"\n本ポリシーは第{i}号事業所に適用されます。"
        if generation:
            text += f"\n第{generation}版: 当社は、取得した位置情報を広告の配信に利用します。"
        server.set(f"/p{i}", policy_page(text, nonce="fixed", views=1, stamp="2026-05-01"), delay=delay)


def check_pass(app, settings):
    """The outcomes, and the most worker processes seen alive while the pass wrote its batches."""
    seen = []
    outcomes = app.checker.check_many(list(settings.policies),
                                      progress=lambda _o: seen.append(len(multiprocessing.active_children())))
    return outcomes, max(seen)


def test_workers_start_for_first_versions_and_not_for_a_pass_of_304s(tmp_path, server):
    serve_all(server, 0)
    settings = make_settings(tmp_path, [{"name": f"p{i}", "url": server.url(f"/p{i}")} for i in range(POLICIES)])
    with open_app(settings, notify=False) as app:
        app.checker.workers = 2
        outcomes, workers = check_pass(app, settings)
        assert {o.status for o in outcomes} == {"first"} and workers == 2
        outcomes, workers = check_pass(app, settings)
        assert {o.status for o in outcomes} == {"unchanged"} and all(o.not_modified for o in outcomes)
        assert workers == 0


def test_a_pass_where_most_pages_changed_starts_its_workers_late(tmp_path, server, monkeypatch):
    monkeypatch.setattr(checker, "LAZY_POOL_AFTER", 4)
    serve_all(server, 0)
    settings = make_settings(tmp_path, [{"name": f"p{i}", "url": server.url(f"/p{i}")} for i in range(POLICIES)])
    with open_app(settings, notify=False) as app:
        app.checker.workers = 2
        check_pass(app, settings)
        serve_all(server, 1, delay=0.3)     # slow answers: the workers are up before the pass ends
        outcomes, workers = check_pass(app, settings)
        assert {o.status for o in outcomes} == {"changed"}, [o.error for o in outcomes if o.status == "failed"]
        assert workers == 2
    # the fork server is ended and reaped with the pass: no process is left behind
    assert getattr(multiprocessing.forkserver._forkserver, "_forkserver_pid", None) is None
    assert multiprocessing.active_children() == []


def test_a_worker_killed_in_a_pass_loses_no_page(tmp_path, server):
    """A derive worker killed (the OOM killer, an operator) breaks the pool: the pages it held and the
    ones still to come are derived in the checking process, and every policy gets its first version."""
    serve_all(server, 0, delay=0.15)     # slow answers: the pass is still fetching when the worker dies
    settings = make_settings(tmp_path, [{"name": f"p{i}", "url": server.url(f"/p{i}")} for i in range(POLICIES)])
    killed = []

    def kill_a_worker(_outcome):
        if not killed and multiprocessing.active_children():
            victim = multiprocessing.active_children()[0]
            os.kill(victim.pid, 9)
            killed.append(victim.pid)

    with open_app(settings, notify=False) as app:
        app.checker.workers = 2
        outcomes = app.checker.check_many(list(settings.policies), progress=kill_a_worker)
        assert killed, "a worker was alive to be killed"
        assert [o.status for o in outcomes] == ["first"] * POLICIES, [o.error for o in outcomes]
        assert app.checker.interrupted == []
    assert multiprocessing.active_children() == []
