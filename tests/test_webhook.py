"""The webhook channel through the outbox, against a real local HTTP receiver: one delivery row
per target, a signed JSON body (diff v1 report + change metadata), a receiver that is down and
then up gets each event exactly once with a valid signature; refusals and config mistakes."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from reviewtools import CONSENT_PAIR, CORPUS, free_port, record_change

from watcher.app import check_policies
from watcher.config import load_settings
from watcher.notify import drain
from watcher.store import Store, utcnow

SECRETS = {"T_HOOK_A": "secret-a", "T_HOOK_B": "secret-b"}


class Receiver:
    """A real HTTP server on 127.0.0.1:PORT recording every POST; `statuses` answers in turn."""

    def __init__(self, port: int, statuses: list[int] | None = None):
        self.port, self.statuses = port, list(statuses or [])
        self.received: list[tuple[str, dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((self.path, dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def hooks(port: int) -> str:
    return (f'[[webhook]]\nname = "hook-a"\nurl = "http://127.0.0.1:{port}/a"\nsecret_env = "T_HOOK_A"\n\n'
            f'[[webhook]]\nname = "hook-b"\nurl = "http://127.0.0.1:{port}/b"\nsecret_env = "T_HOOK_B"\n'
            'min_severity = "consent"\ntimeout = 5\n\n'
            f'[[webhook]]\nname = "hook-c"\nurl = "http://127.0.0.1:{port}/c"\nsecret_env = "T_HOOK_A"\n'
            'min_severity = "consent"\n')


def webhook_rows(settings):
    store = Store(settings.store)
    try:
        return [d for d in store.list_deliveries() if d.channel == "webhook"]
    finally:
        store.close()


def test_a_receiver_down_then_up_gets_each_event_exactly_once_signed(tmp_path, store_url, monkeypatch):
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    port = free_port()
    settings, _ = record_change(tmp_path, store_url=store_url, policies=2, extra=hooks(port))
    rows = webhook_rows(settings)
    assert sorted((d.recipient, d.change_id) for d in rows) == sorted(
        (hook, change) for hook in ("hook-a", "hook-b", "hook-c") for change in (1, 2))
    assert all(d.state == "pending" and d.kind == "webhook" for d in rows)

    down = drain(settings)                               # nobody listens: refused, retried later
    assert down.deferred == 6 and down.sent >= 1, down   # the mails (.eml files) went out meanwhile
    assert {d.state for d in webhook_rows(settings)} == {"pending"}
    assert all(d.attempts == 1 and "ConnectionError" in d.last_error for d in webhook_rows(settings))

    with Receiver(port, statuses=[204, 503]) as receiver:   # up; its second answer is a 503
        assert drain(settings).sent == 0                      # the backoff is not over yet
        first = drain(settings, now=utcnow() + timedelta(hours=2))
        assert (first.sent, first.deferred) == (5, 1), first
        again = drain(settings, now=utcnow() + timedelta(hours=4))
        assert again.sent == 1, again
        assert drain(settings, now=utcnow() + timedelta(hours=6)).sent == 0
    # each event once per target: the 503 answer was retried, everything else arrived once
    accepted = receiver.received[:1] + receiver.received[2:]
    assert len(receiver.received) == 7 and receiver.received[1][2] == receiver.received[-1][2]
    seen = sorted((path, json.loads(body)["change"]["id"]) for path, _, body in accepted)
    assert seen == sorted((p, c) for p in ("/a", "/b", "/c") for c in (1, 2))
    for path, headers, body in receiver.received:
        secret = SECRETS["T_HOOK_B" if path == "/b" else "T_HOOK_A"]
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Policy-Watcher-Signature"], expected)
        data = json.loads(body)
        assert data["schema"] == "policy-watcher/webhook/v1" and data["event"] == "change_recorded"
        assert data["report"]["schema"] == "policy-watcher/diff/v1" and data["change"]["severity"] == "consent"
        assert data["change"]["policy"] in ("enmono", "enmono-1") and data["change"]["old_version"] == 1
        assert headers["X-Policy-Watcher-Delivery"] == f"delivery-{data['delivery']['id']:08d}"
        assert "obtain_consent" in data["change"]["actions"]
    assert {d.state for d in webhook_rows(settings)} == {"sent"}


def test_refusals_and_config_mistakes(tmp_path, monkeypatch):
    monkeypatch.setenv("T_HOOK_A", "secret-a")           # T_HOOK_B is not set
    port = free_port()
    settings, config = record_change(tmp_path, extra=hooks(port))
    with Receiver(port, statuses=[410]):
        result = drain(settings)
    states = {d.recipient: (d.state, d.last_error) for d in webhook_rows(settings)}
    assert states["hook-b"][0] == "failed" and "T_HOOK_B" in states["hook-b"][1]
    assert states["hook-a"][0] == "failed" and "HTTP 410" in states["hook-a"][1]      # a 410 is permanent
    assert states["hook-c"][0] == "sent"
    assert result.failed == 2
    # a target removed from the config: its rows are never sent
    text = config.read_text().replace('name = "hook-a"', 'name = "hook-d"')
    config.write_text(text)
    store = Store(settings.store)
    try:
        store.requeue_deliveries(utcnow())
    finally:
        store.close()
    monkeypatch.setenv("T_HOOK_B", "secret-b")
    with Receiver(port):
        drain(load_settings(config))
    states = {d.recipient: d.state for d in webhook_rows(settings)}
    assert states["hook-b"] == "sent" and states["hook-a"] == "invalid"


@pytest.mark.parametrize("bad, message", [
    ('[[webhook]]\nname = "x"\nurl = "ftp://h/"\nsecret_env = "S"\n', "webhook[1].url: not an http(s) URL"),
    ('[[webhook]]\nname = "x"\nurl = "http://h/"\nsecret = "s"\n', "webhook[1].secret: secrets are not read"),
    ('[[webhook]]\nname = "x"\nurl = "http://h/"\n', "webhook[1].secret_env: missing"),
    ('[[webhook]]\nname = "x"\nurl = "http://h/"\nsecret_env = "S"\nretries = 3\n', "webhook[1].retries: unknown key"),
    ('[[webhook]]\nname = "x"\nurl = "http://h/"\nsecret_env = "S"\nmin_severity = "big"\n', "min_severity"),
])
def test_webhook_config_mistakes_are_one_line(tmp_path, bad, message, watch):
    (tmp_path / "config.toml").write_text(bad)
    result = watch("list", "--config", tmp_path / "config.toml")
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1


def test_a_change_told_only_by_webhook_stays_pending_until_the_webhook_is_sent(tmp_path, monkeypatch):
    monkeypatch.setenv("T_HOOK_A", SECRETS["T_HOOK_A"])
    port = free_port()
    old = (CORPUS / CONSENT_PAIR / "old.txt").read_text(encoding="utf-8")
    new = (CORPUS / CONSENT_PAIR / "new.txt").read_text(encoding="utf-8")
    (tmp_path / "config.toml").write_text(        # no staff, no users: the webhook is the only target
        f'[store]\nurl = "sqlite:///{tmp_path / "watch.db"}"\nbodies_dir = "bodies"\n\n'
        f'[notify]\noutbox_dir = "outbox"\n\n'
        f'[[webhook]]\nname = "hook-a"\nurl = "http://127.0.0.1:{port}/a"\nsecret_env = "T_HOOK_A"\n\n'
        '[[policy]]\nname = "p"\nurl = "p.txt"\n', encoding="utf-8")
    settings = load_settings(tmp_path / "config.toml")
    (tmp_path / "p.txt").write_text(old, encoding="utf-8")
    check_policies(settings)
    (tmp_path / "p.txt").write_text(new, encoding="utf-8")
    [outcome] = check_policies(settings)
    assert outcome.status == "changed" and outcome.change_id is not None

    def state():
        store = Store(settings.store)
        try:
            return store.change(outcome.change_id).state
        finally:
            store.close()

    assert drain(settings).deferred == 1 and state() == "pending"      # the receiver is down
    with Receiver(port) as receiver:
        assert drain(settings, now=utcnow() + timedelta(hours=2)).sent == 1
    assert len(receiver.received) == 1 and state() == "notified"
