"""Issue 15: the defects an adversarial run found, one test (or more) per defect, named by its number
(test_d01_..., test_d02_...). Against real servers: tests/webserver.PageServer, a raw-socket server
that trickles one byte at a time, aiosmtpd (tests/mailtools.py), a store whose body file is removed."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mailtools import policy_block, write_config
from sqlalchemy import func, select
from webserver import PageServer, policy_page, seed_texts

from watcher.addresses import parse_address
from watcher.app import open_app
from watcher.config import StoreSettings, load_settings, parse_settings, read_users_file
from watcher.errors import ConfigError
from watcher.notify import drain
from watcher.notify.outbox import FANOUT_INLINE, expand_fanouts
from watcher.store import (
    AlertRow,
    BodyRow,
    ChangeRow,
    Delivery,
    DigestItem,
    SnapshotRow,
    Store,
    StoreError,
)
from watcher.store.schema import Fanout

SEEDS = seed_texts()
ENMONO = SEEDS["000_e00ebf84e0ab835f"]
ENMONO_NEW = ENMONO.replace("メールアドレス、パスワードを取得", "メールアドレス、パスワード、位置情報を取得")
OTHER = list(SEEDS.values())[1]
ROOT = Path(__file__).resolve().parent.parent


def make_settings(tmp_path: Path, policies: list[dict], *, fetch: dict | None = None, notify: dict | None = None):
    raw = {
        "store": {"url": "sqlite:///store/watch.db", "bodies_dir": "store/bodies"},
        "fetch": {"timeout_connect": 2, "timeout_read": 3, "retries": 0, "backoff": 0, **(fetch or {})},
        "notify": {"staff": ["staff@example.com"], "outbox_dir": "outbox", **(notify or {})},
        "policy": policies,
    }
    return parse_settings(raw, base_dir=tmp_path)


def count(store: Store, model, *where) -> int:
    with store.Session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def page(text: str) -> bytes:
    return policy_page(text, nonce="fixed", views=1, stamp="2026-05-01")


def wait_for(predicate, timeout: float = 3.0, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# ---------------------------------------------------------------- 1. durability while a fetch is slow; SIGTERM


def _two_policies(tmp_path, server):
    server.set("/fast", page(ENMONO))
    server.set("/slow", page(OTHER))
    settings = make_settings(tmp_path, [{"name": "fast", "url": server.url("/fast")},
                                        {"name": "slow", "url": server.url("/slow")}],
                             fetch={"timeout_read": 30})
    with open_app(settings, notify=False) as app:
        assert {o.status for o in app.checker.check_many(list(settings.policies))} == {"first"}
    server.set("/fast", page(ENMONO_NEW))
    server.set("/slow", page(OTHER), delay=20)       # a slow site holds the pass
    return settings


def test_d01_a_finished_change_is_written_while_a_slow_fetch_holds_the_pass(tmp_path, server):
    settings = _two_policies(tmp_path, server)
    stop = threading.Event()
    with open_app(settings, notify=False, stop=stop) as app:
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("o", app.checker.check_many(list(settings.policies))))
        t.start()
        # the change is in the store while the slow fetch is still in flight
        assert wait_for(lambda: count(app.repo, ChangeRow) == 1, timeout=2.0)
        assert t.is_alive()
        began = time.monotonic()
        stop.set()
        t.join(3)
        assert not t.is_alive() and time.monotonic() - began < 1.5, "stop must not wait for the slow fetch"
        assert [(o.name, o.status) for o in out["o"]] == [("fast", "changed")]
        assert app.checker.interrupted == ["slow"]
        assert count(app.repo, SnapshotRow) == 3


def test_d01_sigterm_writes_what_finished_and_reports_it(tmp_path, server):
    settings = _two_policies(tmp_path, server)
    (tmp_path / "config.toml").write_text(f"""
[store]
url = "sqlite:///store/watch.db"
bodies_dir = "store/bodies"
[fetch]
timeout_read = 30
retries = 0
[notify]
outbox_dir = "outbox"
[[policy]]
name = "fast"
url = "{server.url('/fast')}"
[[policy]]
name = "slow"
url = "{server.url('/slow')}"
""", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "watcher", "check"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    store = Store(settings.store)
    try:
        assert wait_for(lambda: count(store, ChangeRow) == 1, timeout=10)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
        store.close()
    assert time.monotonic() - began < 2.0
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM: 1 checks written, 1 not checked (slow)" in err
    assert "fast" in out and "changed" in out


# ---------------------------------------------------------------- 2. a real policy that shrinks by more than half

SHORT = """プライバシーポリシー
第1条（取得する情報）
当社は、氏名及びメールアドレスを取得します。
第2条（利用目的）
当社は、取得した情報を本サービスの提供のために利用します。
第3条（第三者提供）
当社は、取得した個人情報を提携先の広告事業者に提供します。
"""


def _shrunk(tmp_path, server):
    server.set("/p", page(ENMONO))
    path = write_config(tmp_path, policies=policy_block(name="short", url=server.url("/p"), users=()))
    settings = load_settings(path)
    with open_app(settings, notify=False) as app:
        assert app.checker.check_one(settings.policy("short")).status == "first"
    server.set("/p", page(SHORT))
    return path, settings


def test_d02_the_same_shrunken_text_on_n_checks_becomes_a_version_and_staff_hear_at_once(tmp_path, server):
    path, settings = _shrunk(tmp_path, server)
    with open_app(settings, notify=False) as app:
        one = app.checker.check_one(settings.policy("short"))
        assert one.status == "failed" and "seen 1 of 3" in one.error and "watch accept short" in one.error
        with app.repo.Session() as s:
            [alert] = s.scalars(select(AlertRow)).all()
        assert alert.kind == "shrink" and "watch accept short" in alert.message
        assert app.checker.check_one(settings.policy("short")).error.count("seen 2 of 3") == 1
        three = app.checker.check_one(settings.policy("short"))
        assert three.status == "changed" and three.version == 2, three.error
        change = app.repo.change(three.change_id)
        assert "第三者" in str(change.report) or "広告事業者" in str(change.report)
        assert count(app.repo, AlertRow) == 1      # one alert, at the first sighting


def test_d02_watch_accept_records_the_shrunken_page_now(tmp_path, server, watch):
    path, settings = _shrunk(tmp_path, server)
    assert watch("check", "--config", path).returncode == 1
    r = watch("accept", "short", "--config", path, "--no-notify")
    assert r.returncode == 0, r.stderr
    assert "accepted as version 2" in r.stdout
    with open_app(settings, notify=False) as app:
        assert app.checker.check_one(settings.policy("short")).status == "unchanged"
        assert count(app.repo, ChangeRow) == 1


# ---------------------------------------------------------------- 3. a lost or damaged body


def _stored_once(tmp_path, server):
    server.set("/p", page(ENMONO), validators=False)     # the same bytes every time, no 304
    settings = make_settings(tmp_path, [{"name": "a", "url": server.url("/p")}])
    app = open_app(settings, notify=False)
    assert app.checker.check_one(settings.policy("a")).status == "first"
    with app.repo.session() as s:
        snap = s.scalars(select(SnapshotRow)).one()
        snap.extractor_version = "an older release"      # the next check re-derives from the raw body
        digest = snap.body_sha256
    return settings, app, digest


def _damage(app, digest: str, how: str) -> None:
    with app.repo.session() as s:
        row = s.get(BodyRow, digest)
        if how == "removed":
            s.delete(row)
        else:
            row.data = b"\x28\xb5\x2f\xfd not zstd at all"


@pytest.mark.parametrize("damage", ["removed", "corrupt"])
def test_d03_the_same_bytes_coming_back_write_a_lost_body_again(tmp_path, server, damage):
    settings, app, digest = _stored_once(tmp_path, server)
    with app:
        _damage(app, digest, damage)
        with pytest.raises(StoreError):
            app.repo.get_body(digest)
        assert app.checker.check_one(settings.policy("a")).status == "unchanged"
        assert app.repo.get_body(digest) == page(ENMONO)         # verified on read (sha256)
        server.set("/p", page(ENMONO_NEW), validators=False)
        assert app.checker.check_one(settings.policy("a")).status == "changed"


def test_d03_a_lost_body_never_fails_every_later_check(tmp_path, server):
    settings, app, digest = _stored_once(tmp_path, server)
    with app:
        _damage(app, digest, "removed")
        server.set("/p", page(ENMONO_NEW), validators=False)     # and the page changed meanwhile
        o = app.checker.check_one(settings.policy("a"))
        assert o.status == "changed", o.error                   # compared with the stored text
        assert app.checker.check_one(settings.policy("a")).status == "unchanged"


def test_d03_a_damaged_body_is_rewritten_when_a_version_stores_the_same_bytes(tmp_path):
    store = Store(StoreSettings(url=f"sqlite:///{tmp_path}/watch.db", bodies_dir=tmp_path / "bodies"))
    with store.session() as s:
        digest = store.put_body(s, b"hello")
        s.get(BodyRow, digest).data = b"junk"
    with store.session() as s:
        assert not store.bodies.valid(digest, s)
        store.put_body(s, b"hello", digest)
        assert store.bodies.get(s, digest) == b"hello"
    store.close()


# ---------------------------------------------------------------- 4. one address per entry; CSV read as CSV

@pytest.mark.parametrize("entry", [
    "Bob: evil@attacker.example <bob@example.com>",      # a group: parseaddr says evil@...
    "Bob: evil@attacker.example;",
    "bob@example.com, evil@attacker.example",            # a list
    "Bob <bob@example.com> evil@attacker.example",
    "evil@attacker.example <bob@example.com>",
    "bob@example.com (comment)",
])
def test_d04_groups_and_lists_are_refused_in_staff_and_users(tmp_path, entry):
    for where in ("notify", "policy"):
        raw = {"notify": {"staff": [entry] if where == "notify" else []},
               "policy": [{"name": "a", "url": "https://example.com/p", "users": [entry] if where == "policy" else []}]}
        with pytest.raises(ConfigError) as e:
            parse_settings(raw, base_dir=tmp_path)
        assert "not an email address" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="one address per entry"):
        parse_address(entry, "staff")


def test_d04_a_quoted_display_name_is_one_address():
    a = parse_address('"Smith, Bob" <bob@example.com>', "users")
    assert a.addr_spec == "bob@example.com" and a.display_name == "Smith, Bob"


def test_d04_users_file_is_read_as_csv_a_quoted_line_break_is_refused(tmp_path):
    bad = tmp_path / "users.csv"
    bad.write_bytes(b'email,language\n"dave@example.com\r\nX",en\n')
    with pytest.raises(ConfigError) as e:
        read_users_file(bad, "ja")
    assert "line 2: not an email address: 'dave@example.com\\nX'" in str(e.value)
    good = tmp_path / "good.csv"
    good.write_text('email,language\n"""Smith, Bob"" <bob@example.com>",en\ncarol@example.com\n', encoding="utf-8")
    assert [(u.email, u.language) for u in read_users_file(good, "ja")] == [
        ('"Smith, Bob" <bob@example.com>', "en"), ("carol@example.com", "ja")]


# ---------------------------------------------------------------- 5. a whole-request deadline


class Trickle:
    """A raw socket server that answers every request one byte at a time (`every` seconds apart):
    the headers too when `headers_too`, else the headers at once and then the body, forever."""

    def __init__(self, every: float = 0.25, headers_too: bool = False):
        self.every, self.headers_too = every, headers_too
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, path="/p"):
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self):
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        try:
            conn.recv(65536)
            if not self.headers_too:
                conn.sendall(head)
                head = b""
            for byte in itertools.cycle(head + b"<p>" + "個人情報".encode() * 1000):
                if self.closed.wait(self.every):
                    break
                conn.sendall(bytes([byte]))
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.closed.set()
        self.sock.close()


@pytest.mark.parametrize("headers_too", [False, True])
def test_d05_a_trickling_server_is_cut_off_at_the_deadline(tmp_path, headers_too):
    trickle = Trickle(headers_too=headers_too)
    settings = make_settings(tmp_path, [{"name": "t", "url": trickle.url()}],
                             fetch={"timeout_read": 2, "deadline": 1, "retries": 2})
    try:
        began = time.monotonic()
        with open_app(settings, notify=False) as app:
            [o] = app.checker.check_many(list(settings.policies))
        assert o.status == "failed" and "deadline exceeded" in o.error, o.error
        assert time.monotonic() - began < 1.8
    finally:
        trickle.close()


def test_d05_watch_diff_url_ends_at_the_deadline(tmp_path, watch):
    trickle = Trickle()
    path = write_config(tmp_path, fetch="deadline = 0.8\ntimeout_read = 2\nretries = 0\n")
    (tmp_path / "a.txt").write_text(ENMONO, encoding="utf-8")
    try:
        began = time.monotonic()
        r = watch("diff", tmp_path / "a.txt", trickle.url(), "--config", path)
        assert r.returncode == 2 and "deadline exceeded" in r.stderr, r.stderr
        assert time.monotonic() - began < 1.8
    finally:
        trickle.close()


def test_d05_stop_cuts_a_fetch_in_flight_short(tmp_path):
    trickle = Trickle()
    settings = make_settings(tmp_path, [{"name": "t", "url": trickle.url()}], fetch={"timeout_read": 2})
    stop = threading.Event()
    try:
        with open_app(settings, notify=False, stop=stop) as app:
            threading.Timer(0.3, stop.set).start()
            began = time.monotonic()
            app.checker.fetcher.fetch(trickle.url())
            assert time.monotonic() - began < 1.8        # the daemon's SIGTERM does not wait for the deadline
    finally:
        trickle.close()


# ---------------------------------------------------------------- 9. terminal escapes from the server


class RawReply:
    """A raw socket server answering every request with the same bytes (a hostile reason phrase)."""

    def __init__(self, reply: bytes):
        self.reply = reply
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def test_d09_a_reason_phrase_never_reaches_the_terminal_raw(tmp_path, watch):
    evil = RawReply(b"HTTP/1.1 503 \x1b]52;c;ZXZpbA==\x07\x1b]0;pwned\x07Busy\x9b31m\r\n"
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    try:
        path = write_config(tmp_path, fetch="retries = 0\n",
                            policies=policy_block(name="evil", url=f"http://127.0.0.1:{evil.port}/p", users=()))
        check = watch("check", "--config", path)
        history = watch("history", "evil", "--config", path)
    finally:
        evil.close()
    assert check.returncode == 1 and "HTTP 503" in check.stdout
    for out in (check.stdout + check.stderr, history.stdout + history.stderr):
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "Busy" in history.stdout


def test_d09_plain_drops_control_characters():
    from watcher.commands import plain
    assert plain("a\x1b]0;x\x07b\u202e[red]") == "a\ufffd]0;x\ufffdb\ufffd\\[red]"


# ---------------------------------------------------------------- 13, 14. config limits match the store


@pytest.mark.parametrize(("name", "why"), [("a" * 201, "at most 200"), ("policy\n", "use letters")])
def test_d13_d14_policy_names_the_store_cannot_hold_are_refused(tmp_path, name, why):
    with pytest.raises(ConfigError, match=why) as e:
        parse_settings({"policy": [{"name": name, "url": "https://example.com/p"}]}, base_dir=tmp_path)
    assert "\n" not in str(e.value).replace(repr(name), "")


def test_d13_a_sender_domain_longer_than_the_message_id_column_is_refused(tmp_path):
    domain = ".".join(["d" * 60] * 4) + ".example"
    with pytest.raises(ConfigError, match="smtp.from: the domain is longer than 200"):
        parse_settings({"smtp": {"from": f"watcher@{domain}"}}, base_dir=tmp_path)


# ---------------------------------------------------------------- 15. out-of-range refs


@pytest.mark.parametrize("ref", ["99999999999999999999", "-99999999999999999999", "4294967296"])
def test_d15_an_out_of_range_ref_is_a_one_line_error(tmp_path, server, watch, ref):
    server.set("/p", page(ENMONO))
    path = write_config(tmp_path, policies=policy_block(name="a", url=server.url("/p"), users=()))
    assert watch("check", "--config", path, "--no-notify").returncode == 0
    r = watch("show", f"a@{ref}", "--config", path)
    assert r.returncode == 2 and "no such version" in r.stderr and "internal error" not in r.stderr, r.stderr


# ---------------------------------------------------------------- 8. a flip-flopping page


def test_d08_a_flapping_page_never_mails_the_same_notice_twice_to_one_person(tmp_path, server, smtp, watch):
    # A stale CDN edge: every other request answers the old text (no validators: no 304 hides it).
    server.set("/p", validators=False, dynamic=lambda n: page(ENMONO if n % 2 else ENMONO_NEW))
    users = ("alice@example.net", "Bob <BOB@example.net>")
    path = write_config(tmp_path, smtp_port=smtp.port, policies=policy_block(
        name="flap", url=server.url("/p"), users=users, extra='notify_users = "always"'))
    outcomes = []
    for _ in range(7):                     # A, B, A, B, A, B, A: six changes with confirm = 1 (the default)
        r = watch("check", "--config", path)
        assert r.returncode in (0, 1), r.stderr
        outcomes.append(r.stdout)
    settings = load_settings(path)
    store = Store(settings.store)
    try:
        assert count(store, ChangeRow) == 6                  # staff still see every change
        material = count(store, ChangeRow, ChangeRow.material.is_(True))
        minor = count(store, DigestItem)
    finally:
        store.close()
    notices = [m for m in smtp.received if m.msg["X-Policy-Watcher"].startswith("notice")]
    alerts = [m for m in smtp.received if m.msg["X-Policy-Watcher"].startswith("alert")]
    assert material == 3 and len(alerts) == 3 and minor == 3  # A->B mailed to staff at once, B->A in the digest
    for user in ("alice@example.net", "bob@example.net"):
        mine = [m for m in notices if [r.lower() for r in m.rcpt_tos] == [user]]
        assert len(mine) == 1, [m.msg["Subject"] for m in mine]   # not 3: the same notice is never sent twice
    assert len(notices) == 2, [(m.rcpt_tos, m.msg["X-Policy-Watcher"]) for m in smtp.received]


# ---------------------------------------------------------------- 10. watch diff: size cap and file types first


def _diff_of(tmp_path, watch_subprocess, operand, fetch="max_bytes = 100000\n"):
    path = write_config(tmp_path, fetch=fetch)
    (tmp_path / "a.txt").write_text(ENMONO, encoding="utf-8")
    began = time.monotonic()
    r = watch_subprocess("diff", tmp_path / "a.txt", operand, "--config", path, cwd=tmp_path, timeout=20)
    return r, time.monotonic() - began


@pytest.mark.parametrize(("make", "why"), [
    ("fifo", "is a FIFO (named pipe), not a regular file"),
    ("zero", "is a device, not a regular file"),
    ("dir", "is a directory, not a file"),
    ("big", "200001 bytes, larger than fetch.max_bytes (100000 bytes)"),
])
def test_d10_watch_diff_refuses_what_it_must_not_read_before_reading(tmp_path, watch_subprocess, make, why):
    if make == "fifo":
        operand = tmp_path / "pipe.txt"
        os.mkfifo(operand)                       # nobody writes: reading it would block forever
    elif make == "zero":
        operand = Path("/dev/zero")              # reading it whole grew to 8 GB in 12 s
    elif make == "dir":
        operand = tmp_path / "folder.txt"
        operand.mkdir()
    else:
        operand = tmp_path / "big.txt"
        operand.write_text("あ" * 66667, encoding="utf-8")   # 200,001 bytes, over the cap of 100,000
    r, took = _diff_of(tmp_path, watch_subprocess, operand)
    assert r.returncode == 2, (r.stdout[-300:], r.stderr)
    assert why in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert took < 10


def test_d10_a_file_at_the_cap_is_still_read_and_the_cap_follows_the_config(tmp_path, watch_subprocess):
    operand = tmp_path / "new.txt"
    operand.write_text(ENMONO_NEW, encoding="utf-8")
    size = operand.stat().st_size
    r, _ = _diff_of(tmp_path, watch_subprocess, operand, fetch=f"max_bytes = {size}\n")
    assert r.returncode == 1, r.stderr                       # a change: read and compared
    r, _ = _diff_of(tmp_path, watch_subprocess, operand, fetch=f"max_bytes = {size - 1}\n")
    assert r.returncode == 2 and "larger than fetch.max_bytes" in r.stderr


# ---------------------------------------------------------------- 11. derive workers die with their parent


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (a /proc scan, no psutil)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_d11_kill_9_of_watch_check_leaves_no_derive_worker_behind(tmp_path, server):
    body = page(ENMONO * 8)
    blocks = []
    for i in range(40):                  # more than POOL_MIN_BODIES: the derive pool is used
        server.set(f"/p{i}", body, delay=0.2)
        blocks.append(policy_block(name=f"p{i}", url=server.url(f"/p{i}"), users=()))
    path = write_config(tmp_path, policies="".join(blocks), fetch="retries = 0\nper_host = 2\n")
    proc = subprocess.Popen([sys.executable, "-m", "watcher", "check", "--config", str(path), "--no-notify"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: len(_children(proc.pid)) >= 1, timeout=20), "no worker process started"
        workers = _children(proc.pid)
        assert wait_for(lambda: sum(server.hits.values()) >= 4, timeout=20)   # in the middle of the pass
        assert proc.poll() is None, "the pass ended before the kill"
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        left = [pid for pid in workers if wait_for(lambda pid=pid: not _alive(pid), timeout=3) is False]
    finally:
        if proc.poll() is None:
            proc.kill()
    for pid in left:                         # do not leave them to the next test either
        os.kill(pid, signal.SIGKILL)
    assert not left, f"orphaned workers still running: {left}"


# ---------------------------------------------------------------- 12. https -> http redirects


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


@pytest.fixture
def https_server(tls_cert, monkeypatch):
    """tests/webserver.PageServer behind TLS on 127.0.0.1, trusted through REQUESTS_CA_BUNDLE."""
    cert, key = tls_cert
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    s = PageServer()
    s.httpd.socket = ctx.wrap_socket(s.httpd.socket, server_side=True)
    with s:
        yield s


def _redirected(tmp_path, https_server, server, **policy):
    server.set("/p", page(ENMONO))
    https_server.set("/p", redirect=server.url("/p"))
    https_server.set("/q", redirect=https_server.url("/r").replace("http:", "https:"))
    https_server.set("/r", page(ENMONO))
    url = https_server.url("/p").replace("http:", "https:")
    settings = make_settings(tmp_path, [{"name": "down", "url": url, **policy},
                                        {"name": "tls", "url": https_server.url("/q").replace("http:", "https:")}])
    with open_app(settings, notify=False) as app:
        return {p.name: app.checker.check_one(p) for p in settings.policies}


def test_d12_an_https_to_http_redirect_is_refused(tmp_path, https_server, server):
    out = _redirected(tmp_path, https_server, server)
    assert out["down"].status == "failed"
    assert out["down"].error.startswith("refused an https -> http redirect (301 to http://127.0.0.1:")
    assert "allow_insecure_redirect = true" in out["down"].error and "\n" not in out["down"].error
    assert server.hits["/p"] == 0                       # the plain-http request was never sent
    assert out["tls"].status == "first"                 # https -> https is followed as before


def test_d12_a_policy_may_allow_the_downgrade(tmp_path, https_server, server):
    out = _redirected(tmp_path, https_server, server, allow_insecure_redirect=True)
    assert out["down"].status == "first", out["down"].error
    assert server.hits["/p"] == 1


def test_d12_allow_insecure_redirect_is_validated(tmp_path):
    with pytest.raises(ConfigError, match=r"policy\[1\]\.allow_insecure_redirect"):
        parse_settings({"policy": [{"name": "a", "url": "https://example.com/p", "allow_insecure_redirect": "yes"}]},
                       base_dir=tmp_path)


# ---------------------------------------------------------------- 7. mail to many users


def test_d07_many_users_are_queued_in_batches_outside_the_change_and_mailed_exactly_once(
        tmp_path, server, smtp, monkeypatch, store_url):
    n = FANOUT_INLINE + 50
    users = tmp_path / "users.csv"
    users.write_text("email,language\n" + "".join(f"u{i:04d}@example.net,{'en' if i % 7 == 0 else 'ja'}\n"
                                                  for i in range(n)) + '"Carol C" <carol@example.net>,ja\n',
                     encoding="utf-8")
    server.set("/p", page(ENMONO), validators=False)
    path = write_config(tmp_path, smtp_port=smtp.port, policies=policy_block(
        name="big", url=server.url("/p"), users=(),
        extra=f'users_file = "{users}"\nnotify_users = "always"'))
    text = path.read_text(encoding="utf-8")        # SQLite and PostgreSQL
    path.write_text(text.replace(f'url = "sqlite:///{tmp_path}/store/watch.db"', f'url = "{store_url}"', 1),
                    encoding="utf-8")
    settings = load_settings(path)
    assert settings.store.url == store_url
    with open_app(settings) as app:
        assert app.checker.check_one(settings.policy("big")).status == "first"
        server.set("/p", page(ENMONO_NEW), validators=False)
        assert app.checker.check_one(settings.policy("big")).status == "changed"
        # the change's transaction wrote one fan-out row and the staff alert, not a row per user
        assert count(app.repo, Delivery, Delivery.audience == "users") == 0
        assert count(app.repo, Fanout, Fanout.state == "pending") == 1
        # a drain that dies after two batches of 60: those stay written, the rest is written once later
        real, calls = app.repo.add_template_deliveries, []

        def dies_at_the_third(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise OSError("killed")
            return real(*args, **kwargs)

        monkeypatch.setattr(app.repo, "add_template_deliveries", dies_at_the_third)
        with pytest.raises(OSError):
            expand_fanouts(settings, app.repo, batch=60)
        assert count(app.repo, Delivery, Delivery.audience == "users") == 120
        monkeypatch.setattr(app.repo, "add_template_deliveries", real)
        assert expand_fanouts(settings, app.repo, batch=60) == n + 1 - 120
        assert expand_fanouts(settings, app.repo, batch=60) == 0
        assert count(app.repo, Delivery, Delivery.audience == "users") == n + 1
        result = drain(settings, app.repo)
        assert result.sent == n + 2 and not result.errors, str(result)
        assert drain(settings, app.repo).sent == 0
        with app.repo.Session() as s:
            [change] = s.scalars(select(ChangeRow)).all()
            assert change.state == "notified"
    notices = [m for m in smtp.received if m.msg["X-Policy-Watcher"].startswith("notice")]
    assert sorted(r for m in notices for r in m.rcpt_tos) == sorted(
        [f"u{i:04d}@example.net" for i in range(n)] + ["carol@example.net"])     # each exactly once
    assert len({m.message_id for m in notices}) == len(notices)
    one = next(m for m in notices if m.rcpt_tos == ["u0001@example.net"])
    assert str(one.msg["To"]) == "u0001@example.net" and "placeholder" not in one.data.decode()
    assert one.msg["X-Policy-Watcher"] != "notice 0" and "位置情報" in one.part("plain")
    carol = next(m for m in notices if m.rcpt_tos == ["carol@example.net"])
    assert "Carol C" in str(carol.msg["To"])
    en = next(m for m in notices if m.rcpt_tos == ["u0007@example.net"])
    assert en.msg["Subject"] != one.msg["Subject"]                  # each in its own language
