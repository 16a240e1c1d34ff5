"""The chat channel (apprise, `policy-watcher[chat]`) through the outbox, against a real local HTTP
receiver behind apprise's own `json://` target: one delivery row per [[chat]] target at or above
its min_severity, a short message in the target's language, a receiver that is down and then up
gets each message exactly once; config mistakes are one line."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from reviewtools import free_port, record_change
from test_webhook import Receiver

from watcher.config import load_settings
from watcher.errors import ConfigError
from watcher.notify import drain
from watcher.store import Store, utcnow

pytest.importorskip("apprise")


def chats(port: int) -> str:
    return ('[[chat]]\nname = "legal-room"\nurl_env = "T_CHAT_LEGAL"\nmin_severity = "minor"\n\n'
            '[[chat]]\nname = "en-room"\nurl_env = "T_CHAT_EN"\nlanguage = "en"\n\n'
            '[[chat]]\nname = "consent-only"\nurl_env = "T_CHAT_LEGAL"\nmin_severity = "consent"\n')


def chat_rows(settings):
    store = Store(settings.store)
    try:
        return [d for d in store.list_deliveries() if d.channel == "chat"]
    finally:
        store.close()


def test_a_chat_room_down_then_up_gets_each_message_exactly_once(tmp_path, monkeypatch):
    port = free_port()
    monkeypatch.setenv("T_CHAT_LEGAL", f"json://127.0.0.1:{port}/legal")
    monkeypatch.setenv("T_CHAT_EN", f"json://127.0.0.1:{port}/en")
    settings, _ = record_change(tmp_path, extra=chats(port))
    rows = chat_rows(settings)
    store = Store(settings.store)
    severity = store.history("enmono").changes[0].severity
    store.close()
    expected = {"legal-room", "en-room"} | ({"consent-only"} if severity == "consent" else set())
    assert {d.recipient for d in rows} == expected and all(d.state == "pending" for d in rows)

    down = drain(settings, now=utcnow())                 # nobody listens: every post deferred (mail goes out)
    assert down.deferred == len(expected)
    assert {(d.state, d.attempts) for d in chat_rows(settings)} == {("pending", 1)}

    with Receiver(port) as receiver:
        later = utcnow() + timedelta(hours=2)           # past every backoff
        up = drain(settings, now=later)
        assert up.sent == len(expected) and up.deferred == 0, up
        assert drain(settings, now=later + timedelta(hours=2)).sent == 0      # nothing goes twice
    by_path = {}
    for path, _headers, body in receiver.received:
        by_path.setdefault(path, []).append(json.loads(body))
    assert sorted(by_path) == sorted({"/legal", "/en"}) and len(receiver.received) == len(expected)
    legal = by_path["/legal"][0]
    assert "enmono" in legal["title"] and "プライバシーポリシー" in legal["title"]
    assert "watch diff enmono@1 enmono@2" in legal["message"]
    english = by_path["/en"][0]
    assert "privacy policy change" in english["title"] and "プライバシーポリシー" not in english["message"]
    assert {d.state for d in chat_rows(settings)} == {"sent"}


def test_chat_config_mistakes_are_one_line(tmp_path):
    for body, message in [
        ('[[chat]]\nname = "x"\nurl = "slack://token"\n', "chat[1].url: an apprise URL carries"),
        ('[[chat]]\nname = "x"\n', "chat[1].url_env: missing"),
        ('[[chat]]\nname = "x"\nurl_env = "lower case"\n', "chat[1].url_env: must be the NAME"),
        ('[[chat]]\nname = "x"\nurl_env = "A"\nlanguage = "fr"\n', "chat[1].language"),
        ('[[chat]]\nname = "x"\nurl_env = "A"\n[[chat]]\nname = "x"\nurl_env = "B"\n', "duplicate chat target"),
    ]:
        path = tmp_path / "config.toml"
        path.write_text(body, encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_settings(path)
        assert message in str(info.value) and "\n" not in str(info.value), str(info.value)
