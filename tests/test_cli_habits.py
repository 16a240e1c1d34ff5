"""CLI habits (issue 10, item 6): --version, `watch` alone prints help, `-` reads standard input,
long text output on a terminal goes through $PAGER (and --no-pager / a pipe does not)."""

from __future__ import annotations

import argparse
import os
import pty
import socket
import subprocess
import sys

from webserver import policy_page

from watcher import __version__
from watcher.cli import build_parser

OLD = "第1条（利用目的）\n当社は、本サービスの提供のために利用します。\n"
NEW = "第1条（利用目的）\n当社は、本サービスの提供及び広告配信のために利用します。\n"


def watch(*args: str, stdin: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "watcher", *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd)


def test_version_and_bare_watch_prints_help(tmp_path):
    done = watch("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"watch (policy-watcher) {__version__}"
    done = watch(cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("usage: watch") and "diff" in done.stdout
    assert done.stderr == ""


def test_dash_reads_standard_input(tmp_path):
    (tmp_path / "old.txt").write_text(OLD, encoding="utf-8")
    done = watch("diff", "old.txt", "-", "--format", "json", stdin=NEW, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "広告配信" in done.stdout and '"source": "-"' in done.stdout
    done = watch("diff", "-", "-", stdin=NEW, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "standard input" in done.stderr
    done = watch("diff", "old.txt", "-", stdin="", cwd=tmp_path)
    assert done.returncode == 2 and "standard input is empty" in done.stderr


def on_terminal(args: list[str], env: dict, cwd) -> str:
    """Run `watch ARGS` with a pseudo-terminal as stdout; what it wrote there."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "watcher", *args], env)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out.decode("utf-8", "replace")


def test_long_output_on_a_terminal_goes_through_the_pager(tmp_path):
    many = "".join(f"第{i}条（項目{i}）\n項目{i}の説明です。\n" for i in range(1, 80))
    (tmp_path / "old.txt").write_text(many, encoding="utf-8")
    (tmp_path / "new.txt").write_text(many.replace("説明です", "説明を改めました"), encoding="utf-8")
    paged = tmp_path / "paged.txt"
    env = {**os.environ, "PAGER": f"cat > {paged}", "COLUMNS": "100", "LINES": "30"}
    env.pop("WATCH_PAGER", None)
    shown = on_terminal(["diff", "old.txt", "new.txt"], env, tmp_path)
    assert paged.exists() and "説明を改めました" in paged.read_text(encoding="utf-8")
    assert "説明を改めました" not in shown
    paged.unlink()
    shown = on_terminal(["diff", "old.txt", "new.txt", "--no-pager"], env, tmp_path)
    assert not paged.exists() and "説明を改めました" in shown
    done = subprocess.run([sys.executable, "-m", "watcher", "diff", "old.txt", "new.txt"], env=env, cwd=tmp_path,
                          capture_output=True, text=True)     # a pipe: never paged
    assert not paged.exists() and "説明を改めました" in done.stdout


def _mail_config(tmp_path, url: str, smtp: str = "") -> None:
    (tmp_path / "config.toml").write_text(f"""
[store]
url = "sqlite:///snaps/watch.db"
bodies_dir = "snaps/bodies"
[fetch]
retries = 0
[notify]
staff = ["staff@example.com"]
outbox_dir = "outbox"
{smtp}
[[policy]]
name = "p"
url = "{url}"
""", encoding="utf-8")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]       # nothing listens on it once closed


def test_check_says_mail_was_written_without_smtp_and_exits_3_when_mail_is_undelivered(tmp_path, server, watch):
    server.set("/p", policy_page(OLD + "第2条（第三者提供）\n提供しません。\n", nonce="n"))
    _mail_config(tmp_path, server.url("/p"))
    assert watch("check", cwd=tmp_path).returncode == 0
    server.set("/p", policy_page(NEW + "第2条（第三者提供）\n位置情報を広告事業者に提供します。\n", nonce="n"))
    done = watch("check", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    mail_line = next(line for line in done.stdout.splitlines() if line.startswith("mail:"))
    assert "written to" in mail_line and "outbox" in mail_line and ".eml files; no [smtp] configured" in mail_line and " sent" not in mail_line, mail_line
    [eml] = list((tmp_path / "outbox").glob("*.eml"))
    assert "広告事業者" in eml.read_bytes().decode("utf-8")          # `cat` shows the text part (8-bit UTF-8)

    # watch outbox --show ID: one delivery, its headers decoded and its text body
    listed = watch("outbox", cwd=tmp_path).stdout
    delivery_id = next(line.split()[0] for line in listed.splitlines()[1:] if "staff@example.com" in line)
    shown = watch("outbox", "--show", delivery_id, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    head, _, body = shown.stdout.partition("\n\n")
    assert f"delivery {delivery_id}: sent" in head and "To: staff@example.com" in head and "Message-ID: <pw-" in head
    assert "Subject: " in head and "=?utf-8?" not in head and "広告事業者" in body and "<html" not in body
    missing = watch("outbox", "--show", "99999", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no delivery 99999" in missing.stderr

    # an SMTP server that is down: the mail stays queued, the summary says deferred, exit 3 (README)
    other = tmp_path / "smtp"
    other.mkdir()
    _mail_config(other, server.url("/p"), f'[smtp]\nhost = "127.0.0.1"\nport = {_closed_port()}\n')
    server.set("/p", policy_page(OLD + "第2条（第三者提供）\n提供しません。\n", nonce="n"))
    assert watch("check", cwd=other).returncode == 0       # the first version mails nobody
    server.set("/p", policy_page(NEW + "第2条（第三者提供）\n位置情報を広告事業者に提供します。\n", nonce="n"))
    done = watch("check", cwd=other)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "0 sent" in done.stdout and "deferred" in done.stdout and "written" not in done.stdout


def test_every_subcommand_and_option_has_a_one_line_description():
    parser = build_parser()
    assert parser.description
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    listed = {a.dest: a.help for a in sub._choices_actions}
    missing = []
    for name, command in sub.choices.items():
        if not (listed.get(name) and command.description) or "\n" in command.description:
            missing.append(f"{name}: no one-line description")
        for action in command._actions:
            if not action.help or action.help == argparse.SUPPRESS or "\n" in action.help:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}: no help")
    for action in parser._actions:
        if not action.help and action is not sub:       # the subcommands: each has its own, above
            missing.append(f"watch {'/'.join(action.option_strings) or action.dest}: no help")
    assert not missing, missing
    done = watch("diff", "--help")
    assert done.returncode == 0 and "compare two versions" in done.stdout.split("positional arguments")[0]


def _run_with(tmp_path, prelude: str, *args: str) -> subprocess.CompletedProcess:
    """`watch ARGS` through cli.run, as the console script calls it, after `prelude`."""
    code = f"import sys\n{prelude}\nsys.argv = ['watch', *{list(args)!r}]\nfrom watcher.cli import run\nrun()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)


def test_the_quick_exit_keeps_the_exit_code_the_output_and_the_exit_handlers(tmp_path):
    """cli.run ends the process without freeing the interpreter's objects: the exit code and all the
    output stay, and the exit handlers (logging's, multiprocessing's, a library's) still run."""
    (tmp_path / "old.txt").write_text(OLD, encoding="utf-8")
    (tmp_path / "new.txt").write_text(NEW * 200, encoding="utf-8")     # output longer than one buffer
    handler = "import atexit\natexit.register(lambda: sys.stderr.write('handler ran\\n'))"
    done = _run_with(tmp_path, handler, "diff", "old.txt", "new.txt", "--format", "json")
    assert done.returncode == 1 and "handler ran" in done.stderr
    report = __import__("json").loads(done.stdout)        # the whole report, not a cut buffer
    assert report["changes"] and "広告配信" in done.stdout
    done = _run_with(tmp_path, handler, "diff", "old.txt", "old.txt")
    assert done.returncode == 0 and "handler ran" in done.stderr


def test_the_quick_exit_waits_for_a_thread_that_still_runs(tmp_path):
    """A non-daemon thread still working when main() returns is waited for, as the interpreter does."""
    (tmp_path / "old.txt").write_text(OLD, encoding="utf-8")
    late = tmp_path / "late.txt"
    prelude = ("import threading, time, pathlib\n"
               f"threading.Thread(target=lambda: (time.sleep(1.0), pathlib.Path({str(late)!r}).write_text('done'))).start()")
    done = _run_with(tmp_path, prelude, "diff", "old.txt", "old.txt")
    assert done.returncode == 0, done.stderr
    assert late.read_text() == "done"
