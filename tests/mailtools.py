"""Test helpers for the mail tests: a real SMTP server (aiosmtpd in a thread), report dicts,
and a store with a recorded change. Used by test_mail.py, test_outbox.py, test_notify_e2e.py."""

from __future__ import annotations

import copy
import socket
import threading
import time
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from watcher.app import open_app
from watcher.config import load_settings
from watcher.events import ChangeRecorded
from watcher.store import ChangeRow, Delivery, PolicyRow, SnapshotRow, utcnow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Received:
    def __init__(self, mail_from: str, rcpt_tos: list[str], data: bytes):
        self.mail_from = mail_from
        self.rcpt_tos = rcpt_tos
        self.data = data
        self.msg = message_from_bytes(data, policy=email_policy.default)

    @property
    def message_id(self) -> str:
        return str(self.msg["Message-ID"])

    def part(self, subtype: str) -> str:
        body = self.msg.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return body.get_content()


class Sink:
    """Collects every mail the server accepts. `reply` makes it answer DATA with an error instead."""

    def __init__(self):
        self.received: list[Received] = []
        self.reply: str | None = None
        self.refuse: set[str] = set()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.reply:
            return self.reply
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                                          or envelope.content))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


class SmtpServer:
    """aiosmtpd on 127.0.0.1:port that can be stopped (an outage) and started again on the same port."""

    def __init__(self, port: int | None = None, **kwargs):
        self.port = port or free_port()
        self.sink = Sink()
        self.kwargs = kwargs
        self.controller: Controller | None = None

    def start(self):
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port, **self.kwargs)
        for _ in range(50):
            try:
                self.controller.start()
                return self
            except (RuntimeError, OSError):   # the port may linger for a moment after a stop
                time.sleep(0.1)
        raise RuntimeError(f"cannot start SMTP server on port {self.port}")

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[Received]:
        return self.sink.received


# Fetch retries without real waits: the default back-off (1 s, doubled per retry) made every check of a
# failing page sleep 3 s. The retries themselves still happen (retries keeps its default, 2).
FAST_FETCH = """
backoff = 0
retry_after_max = 0
"""


def write_config(tmp_path: Path, *, smtp_port: int | None = None, policies: str = "", notify: str = "",
                 extra: str = "", fetch: str = FAST_FETCH) -> Path:
    """config.toml in tmp_path. `fetch` is the body of [fetch] (default FAST_FETCH: no back-off waits);
    pass fetch="" for the real defaults. Do not put a [fetch] table in `extra` (TOML: defined twice)."""
    store = tmp_path / "store"
    smtp = ""
    if smtp_port is not None:
        smtp = f"""
[smtp]
host = "127.0.0.1"
port = {smtp_port}
from = "policy-watcher <watcher@example.org>"
timeout = 5
"""
    text = f"""
[store]
url = "sqlite:///{store}/watch.db"
bodies_dir = "{store}/bodies"
{smtp}
[fetch]
{fetch}
[notify]
staff = ["privacy@example.org"]
language = "ja"
outbox_dir = "{tmp_path}/outbox"
{notify}
{extra}
{policies}
"""
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def settings_for(tmp_path: Path, **kwargs):
    return load_settings(write_config(tmp_path, **kwargs))


POLICY = """
[[policy]]
name = "{name}"
url = "{url}"
users = {users}
{extra}
"""


def policy_block(name="enmono", url="https://example.com/privacy", users=("user@example.net",), extra="") -> str:
    users_toml = "[" + ", ".join(f'"{u}"' for u in users) + "]"
    return POLICY.format(name=name, url=url, users=users_toml, extra=extra)


# --- report dicts (schema policy-watcher/diff/v1) ------------------------------------------

OLD_PURPOSES = "当社は、取得した個人情報を以下の目的で利用いたします。\n1. 認証サービスのため\n2. 不正利用防止のため"
NEW_PURPOSES = OLD_PURPOSES + "\n3. ユーザーの閲覧履歴を分析し、ターゲティング広告を配信するため"

BASE_REPORT = {
    "schema": "policy-watcher/diff/v1",
    "old": {"source": "old", "clauses": 11},
    "new": {"source": "new", "clauses": 11},
    "severity": "consent",
    "material": True,
    "summary": {"added": 0, "removed": 0, "modified": 1, "moved": 0, "renumbered": 0, "unchanged": 10},
    "changes": [
        {
            "type": "modified",
            "old": {"number": "第2条", "title": "情報の利用目的", "text": OLD_PURPOSES},
            "new": {"number": "第2条", "title": "情報の利用目的", "text": NEW_PURPOSES},
            "categories": ["purpose_added"],
            "severity": "consent",
            "reasons": ["new purpose: behavioural ad targeting (red flag: 閲覧履歴, ターゲティング)"],
            "evidence": ["ユーザーの閲覧履歴を分析し、ターゲティング広告を配信するため"],
            "items": [{"op": "added", "number": "3.", "old_number": None,
                       "text": "ユーザーの閲覧履歴を分析し、ターゲティング広告を配信するため", "old_text": None,
                       "title": "情報の利用目的", "hunks": []}],
            "hunks": [{"op": "insert", "old": "", "new": "ユーザーの閲覧履歴を分析し、ターゲティング広告を配信するため"}],
        }
    ],
    "revision_clause": {"number": "第9条", "title": "本プライバシーポリシーの改定",
                        "promises": {"notify_users": "material", "consent_when_required": False,
                                     "channels": ["unspecified"], "lead_time_days": None,
                                     "deemed_consent": False}},
    "notify": {"users": True, "staff": True, "actions": ["obtain_consent", "notify_users", "legal_review"],
               "notes": []},
}


def report(severity="consent", users=True, categories=None, **changes) -> dict:
    r = copy.deepcopy(BASE_REPORT)
    r["severity"] = severity
    r["material"] = severity in ("notice", "consent")
    r["notify"]["users"] = users
    c = r["changes"][0]
    c["severity"] = severity
    if categories is not None:
        c["categories"] = categories
    c.update(changes)
    return r


def minor_report() -> dict:
    r = report("minor", users=False, categories=["contact_changed"])
    c = r["changes"][0]
    c.update({"old": {"number": "第11条", "title": "お問い合わせ"}, "new": {"number": "第11条", "title": "お問い合わせ"},
              "reasons": ["the contact address changed (APPI Art. 32)"], "evidence": ["privacy@enmono.jp"],
              "items": [{"op": "edited", "number": None, "old_number": None, "title": "",
                         "text": "以下のメールアドレスよりご連絡ください。 privacy@enmono.jp",
                         "old_text": "以下のメールアドレスよりご連絡ください。 support@enmono.jp", "hunks": []}],
              "hunks": [{"op": "replace", "old": "support", "new": "privacy"}]})
    r["notify"]["actions"] = ["publish"]
    return r


def record_change(store, settings, policy_name: str, report_dict: dict, *, fail_after_enqueue=False):
    """What the checker does when it records a change: policy, two snapshots and the change row, and
    ChangeRecorded published in the SAME unit of work (the planner, subscribed to it, writes the
    outbox rows there). Returns (change id, delivery ids)."""
    open_app(settings, store)      # the planner subscribed to the store's events, as watcher.app wires it
    policy = settings.policy(policy_name)
    with store.unit_of_work() as uow:
        s = uow.session     # test helper: rows the checker writes through Repository.record_versions
        prow = s.scalars(select(PolicyRow).where(PolicyRow.name == policy.name)).first()
        if prow is None:
            prow = PolicyRow(name=policy.name, url=policy.url, consecutive_failures=0, candidate_seen=0,
                             created_at=utcnow())
            s.add(prow)
            s.flush()
        version = s.scalar(select(func.max(SnapshotRow.version)).where(SnapshotRow.policy_id == prow.id)) or 0
        snaps = []
        for _ in range(2):
            version += 1
            snap = SnapshotRow(policy_id=prow.id, version=version, body_sha256="0" * 64, url=policy.url, text="x")
            s.add(snap)
            s.flush()
            snaps.append(snap)
        change = ChangeRow(policy_id=prow.id, old_snapshot_id=snaps[0].id, new_snapshot_id=snaps[1].id,
                           report=report_dict, severity=report_dict["severity"], material=report_dict["material"],
                           state="pending")
        s.add(change)
        s.flush()
        uow.publish(ChangeRecorded(policy=policy.name, policy_id=prow.id, change_id=change.id,
                                   old_snapshot_id=snaps[0].id, new_snapshot_id=snaps[1].id,
                                   severity=report_dict["severity"], material=report_dict["material"],
                                   notify=True, report=report_dict))
        ids = list(s.scalars(select(Delivery.id).where(Delivery.change_id == change.id).order_by(Delivery.id)))
        if fail_after_enqueue:
            raise RuntimeError("the check failed after queueing")
        return change.id, ids
