"""Crash safety: a process running checks is killed with SIGKILL at random points, again and
again, while the pages keep changing. Afterwards the store must open cleanly, every snapshot's
body must exist and decompress to its sha256, and no change may exist without its snapshots."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import select, text
from webserver import PageServer, policy_page, seed_texts

from watcher.app import check_policies
from watcher.config import parse_settings
from watcher.store import ChangeRow, CheckRow, SnapshotRow, Store, sha256

SEEDS = list(seed_texts().values())
ROUNDS = 6
POLICIES = 12

CHILD = textwrap.dedent("""
    import sys
    from watcher.app import check_policies
    from watcher.config import load_settings

    settings = load_settings(sys.argv[1])
    check_policies(settings)            # opens (creates) the store
    print("ready", flush=True)
    while True:
        check_policies(settings)
""")


def variant(seed: str, n: int) -> bytes:
    """The policy changes every other request (one of three wordings), with fresh noise every time."""
    k = (n // 2) % 3
    edited = seed.replace("個人情報", ["個人情報", "お客様の個人情報", "個人データ"][k], 1 + k)
    return policy_page(edited, nonce=f"n{n}", views=n)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_at_random_points_never_corrupts_the_store(tmp_path):
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    with PageServer() as server:
        for i in range(POLICIES):
            text_i = SEEDS[i % len(SEEDS)]
            server.set(f"/p{i}", dynamic=lambda n, s=text_i: variant(s, n))
        config = tmp_path / "config.toml"
        policies = "".join(f'[[policy]]\nname = "p{i}"\nurl = "{server.url(f"/p{i}")}"\n' for i in range(POLICIES))
        config.write_text('[store]\nurl = "sqlite:///db/watch.db"\nbodies_dir = "db/bodies"\n'
                          '[fetch]\nretries = 0\nconcurrency = 4\n'
                          '[notify]\nstaff = ["staff@example.com"]\noutbox_dir = "outbox"\n' + policies,
                          encoding="utf-8")
        script = tmp_path / "child.py"
        script.write_text(CHILD, encoding="utf-8")
        settings = parse_settings({"store": {"url": "sqlite:///db/watch.db", "bodies_dir": "db/bodies"},
                                   "notify": {"staff": ["staff@example.com"], "outbox_dir": "outbox"},
                                   "policy": [{"name": f"p{i}", "url": server.url(f"/p{i}")} for i in range(POLICIES)]},
                                  base_dir=tmp_path)
        delays = []
        counts = []
        for _ in range(ROUNDS):
            proc = subprocess.Popen([sys.executable, str(script), str(config)], cwd=tmp_path,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
                delay = rng.uniform(0.05, 1.2)
                delays.append(round(delay, 2))
                time.sleep(delay)
            finally:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
            assert proc.returncode == -signal.SIGKILL
            counts.append(verify(settings, f"seed {seed}, kills after {delays} s"))
        # the killed processes were busy writing versions and changes, not idling
        assert counts[-1][0] > counts[0][0] and counts[-1][1] > 0, counts

        # and the store keeps working after all that
        outcomes = check_policies(settings)
        assert all(o.status in ("unchanged", "changed") for o in outcomes), [o.error for o in outcomes]
        verify(settings, f"seed {seed}, after a final clean pass")


def verify(settings, context: str) -> tuple[int, int]:
    store = Store(settings.store)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok", context
            assert conn.execute(text("PRAGMA foreign_key_check")).fetchall() == [], context
        with store.Session() as session:
            snaps = session.scalars(select(SnapshotRow)).all()
            assert snaps, context
            by_policy: dict[int, list[int]] = {}
            for snap in snaps:
                body = store.get_body(snap.body_sha256)        # exists and decompresses
                assert sha256(body) == snap.body_sha256, context
                assert snap.text and snap.lines and snap.extractor_version, context
                by_policy.setdefault(snap.policy_id, []).append(snap.version)
            for versions in by_policy.values():
                assert sorted(versions) == list(range(1, len(versions) + 1)), context
            ids = {s.id for s in snaps}
            for change in session.scalars(select(ChangeRow)):
                assert change.old_snapshot_id in ids and change.new_snapshot_id in ids, context
                assert change.report["schema"] == "policy-watcher/diff/v1", context
            changed_checks = session.scalars(select(CheckRow).where(CheckRow.outcome.in_(("first", "changed"))))
            for check in changed_checks:
                assert check.snapshot_id in ids, context
            return len(snaps), len(session.scalars(select(ChangeRow.id)).all())
    finally:
        store.close()
