"""The daemon lives on: the per-line key cache of the derive and compare stages (normalize.key)
stays bounded however many distinct pages it checks (issue 14: daemon RSS with 10,000 policies)."""

from __future__ import annotations

from test_daemon import TEXT, settings_for
from webserver import policy_page

from watcher import daemon, normalize


def test_the_line_key_cache_stays_bounded_over_many_distinct_pages(tmp_path, server, monkeypatch):
    policies = []
    for i in range(8):          # each page has lines of its own: every check adds keys
        lines = "\n".join(f"第{i}号事業所の規定{j}: 当社は窓口{i}-{j}で個人情報を管理します。" for j in range(20))
        server.set(f"/p{i}", policy_page(TEXT + "\n" + lines))
        policies.append({"name": f"p{i}", "url": server.url(f"/p{i}")})
    settings = settings_for(tmp_path, policies)
    normalize.key.cache_clear()
    d = daemon.Daemon(settings, notify=False)
    try:
        first, *rest = settings.policies
        assert d._check(first).status == "first"
        one_page = normalize.key.cache_info().currsize
        assert one_page > 20
        monkeypatch.setattr(daemon, "KEY_CACHE_LINES", 2 * one_page)
        sizes = []
        for policy in rest:     # 7 more pages: unbounded, the cache would hold 8 pages' lines
            assert d._check(policy).status == "first"
            sizes.append(normalize.key.cache_info().currsize)
        assert max(sizes) <= 2 * one_page and min(sizes) < max(sizes)
    finally:
        d.app.close()
