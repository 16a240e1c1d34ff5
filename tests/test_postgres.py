"""The same store on a real PostgreSQL (WATCH_TEST_PG_URL, e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/test). Each test gets its own schema, dropped after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, func, select, text
from webserver import PageServer, login_page, policy_page, seed_texts

from watcher.check import Checker, check_policies
from watcher.config import parse_settings
from watcher.store import BodyRow, ChangeRow, CheckRow, SnapshotRow, Store, sha256

PG_URL = os.environ.get("WATCH_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="WATCH_TEST_PG_URL not set")

TEXT = seed_texts()["004_5f4b0d30e1db3437"]
TEXT_NEW = TEXT.replace("個人情報", "個人データ", 1) + "\n第20条 (海外への移転)\n当社は、個人情報を米国の事業者に提供します。"


@pytest.fixture()
def pg_url():
    schema = f"watch_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def settings_for(tmp_path, url, policies):
    return parse_settings({"store": {"url": url}, "fetch": {"retries": 0, "timeout_read": 5},
                           "notify": {"staff": ["staff@example.com"], "outbox_dir": "outbox"},
                           "policy": policies}, base_dir=tmp_path)


def count(store, model, *where):
    with store.Session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_checks_on_postgres_keep_bodies_in_the_database(tmp_path, pg_url):
    with PageServer() as server:
        server.set("/p", policy_page(TEXT, nonce="n"))
        settings = settings_for(tmp_path, pg_url, [{"name": "p", "url": server.url("/p")}])
        store = Store(settings.store)
        assert check_policies(settings, store=store)[0].status == "first"
        assert not (tmp_path / "snapshots").exists(), "no body files with PostgreSQL"
        with store.Session() as session:
            snap = session.scalars(select(SnapshotRow)).one()
            assert session.get(BodyRow, snap.body_sha256) is not None
            assert store.get_body(session, snap.body_sha256, verify=True) == server.pages["/p"].body

        server.reset_counts()
        assert check_policies(settings, store=store)[0].status == "unchanged"
        assert server.statuses == {304: 1}

        server.set("/p", login_page())
        assert "login page" in check_policies(settings, store=store)[0].error

        server.set("/p", policy_page(TEXT_NEW, nonce="n"))
        [changed] = check_policies(settings, store=store)
        assert changed.status == "changed" and changed.severity in ("notice", "consent")
        with store.Session() as session:
            change = session.get(ChangeRow, changed.change_id)
            assert change.report["schema"] == "policy-watcher/diff/v1"
            assert change.new_snapshot.version == 2 and change.old_snapshot.version == 1
            assert store.resolve_ref(session, "p", "-1").version == 1
        assert count(store, CheckRow) == 4 and count(store, BodyRow) == 2
        store.close()


def test_two_checkers_racing_on_one_policy(tmp_path, pg_url):
    """Two checks of the same policy at once (daemon + `watch check`): one version, one change."""
    with PageServer() as server:
        server.set("/p", policy_page(TEXT, nonce="n"))
        settings = settings_for(tmp_path, pg_url, [{"name": "p", "url": server.url("/p")}])
        check_policies(settings)
        server.set("/p", policy_page(TEXT_NEW, nonce="n"), delay=0.3)
        outcomes = []
        barrier = threading.Barrier(2)

        def run():
            with Checker(settings, notify=False) as checker:
                barrier.wait()
                outcomes.append(checker.check(settings.policies[0]))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    # the loser finds the very version it was about to store: unchanged
    assert sorted(o.status for o in outcomes) == ["changed", "unchanged"], [(o.status, o.error) for o in outcomes]
    store = Store(settings.store)
    with store.Session() as session:
        versions = session.scalars(select(SnapshotRow.version).order_by(SnapshotRow.version)).all()
        assert versions == [1, 2]
        for snap in session.scalars(select(SnapshotRow)):
            assert sha256(store.get_body(session, snap.body_sha256)) == snap.body_sha256
    assert count(store, ChangeRow) == 1
    store.close()


def test_cli_on_postgres(tmp_path, pg_url):
    with PageServer() as server:
        server.set("/p", policy_page(TEXT, nonce="n"))
        (tmp_path / "config.toml").write_text(
            f'[store]\nurl = "{pg_url}"\n[fetch]\nretries = 0\n[[policy]]\nname = "p"\nurl = "{server.url("/p")}"\n',
            encoding="utf-8")

        def watch(*args):
            return subprocess.run([sys.executable, "-m", "watcher", *args], cwd=tmp_path, capture_output=True,
                                   text=True, timeout=120)

        assert json.loads(watch("check", "--json").stdout)[0]["status"] == "first"
        server.set("/p", policy_page(TEXT_NEW, nonce="n"))
        assert json.loads(watch("check", "--json", "--no-notify").stdout)[0]["status"] == "changed"
        r = watch("diff", "p@-1", "p@latest", "--format", "json")
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["material"] is True
    assert "第20条" in watch("show", "p").stdout
