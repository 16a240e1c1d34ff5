"""The same store on a real PostgreSQL (WATCH_TEST_PG_URL, e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/test). Each test gets its own schema, dropped after."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import func, select
from webserver import PageServer, login_page, policy_page, seed_texts

from watcher.app import check_policies
from watcher.config import parse_settings
from watcher.store import BodyRow, ChangeRow, CheckRow, SnapshotRow, Store

PG_URL = os.environ.get("WATCH_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="WATCH_TEST_PG_URL not set")

TEXT = seed_texts()["004_5f4b0d30e1db3437"]
TEXT_NEW = TEXT.replace("個人情報", "個人データ", 1) + "\n第20条 (海外への移転)\n当社は、個人情報を米国の事業者に提供します。"


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
            assert store.get_body(snap.body_sha256, verify=True) == server.pages["/p"].body

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
        assert store.resolve_ref("p", "-1").version == 1
        assert count(store, CheckRow) == 4 and count(store, BodyRow) == 2
        store.close()


def test_cli_on_postgres(tmp_path, pg_url, watch):
    with PageServer() as server:
        server.set("/p", policy_page(TEXT, nonce="n"))
        (tmp_path / "config.toml").write_text(
            f'[store]\nurl = "{pg_url}"\n[fetch]\nretries = 0\n[[policy]]\nname = "p"\nurl = "{server.url("/p")}"\n',
            encoding="utf-8")

        assert json.loads(watch("check", "--json", cwd=tmp_path).stdout)[0]["status"] == "first"
        server.set("/p", policy_page(TEXT_NEW, nonce="n"))
        assert json.loads(watch("check", "--json", "--no-notify", cwd=tmp_path).stdout)[0]["status"] == "changed"
        r = watch("diff", "p@-1", "p@latest", "--format", "json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["material"] is True
    assert "第20条" in watch("show", "p", cwd=tmp_path).stdout
