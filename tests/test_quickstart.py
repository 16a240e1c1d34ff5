"""The README's quick start, end to end on the committed config.toml: embedded defaults
(SQLite in snapshots/, mails as .eml files in snapshots/outbox/ because there is no [smtp]).

The first `check` is a real `python -m watcher` process, as a reader of the README runs it; the rest
run in this process (`watch`, tests/conftest.py): same parser, same commands, no start-up cost."""

import email
import shutil
from email import policy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_start_detects_a_change_and_writes_the_mails(tmp_path, watch, watch_subprocess):
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    (tmp_path / "examples").mkdir()
    policy_file = tmp_path / "examples" / "demo-policy.txt"
    shutil.copy(ROOT / "examples" / "demo-policy.txt", policy_file)

    first = watch_subprocess("check", cwd=tmp_path)     # the real entry point, once
    assert first.returncode == 0, first.stderr
    assert "first" in first.stdout
    assert (tmp_path / "snapshots" / "watch.db").exists()

    text = policy_file.read_text(encoding="utf-8")
    anchor = "  14. その他本サービスに関する重要なお知らせ等、必要に応じた連絡を行うため"
    assert anchor in text
    policy_file.write_text(text.replace(anchor, anchor + "\n  15. ユーザーの閲覧履歴を分析し、提携先の広告を配信するため"),
                           encoding="utf-8")
    second = watch("check", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "changed" in second.stdout and "consent" in second.stdout
    assert "mail:" in second.stdout

    mails = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in sorted((tmp_path / "snapshots" / "outbox").glob("*.eml"))]
    recipients = sorted(m["To"] for m in mails)
    assert recipients == ["privacy-team@example.com", "user@example.com"]
    for mail in mails:
        body = mail.get_body(("plain",)).get_content()
        assert "閲覧履歴を分析" in body
        assert "demo" in mail["Subject"]

    outbox = watch("outbox", cwd=tmp_path)
    assert outbox.returncode == 0 and "sent" in outbox.stdout
