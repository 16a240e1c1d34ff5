"""CLI habits (issue 10, item 6): --version, `watch` alone prints help, `-` reads standard input,
long text output on a terminal goes through $PAGER (and --no-pager / a pipe does not)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from watcher import __version__

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
