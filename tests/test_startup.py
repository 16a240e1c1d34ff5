"""Start-up (issue 14): `watch --help` and a `watch diff` of two text files load no heavy library.

Each command runs in a new interpreter, as a user runs it; the test reads which top-level modules
it imported. No timing here (bench/startup.py prints the times): a module list cannot flake.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from watcher.errors import ConfigError
from watcher.judge.rules import RULES_DIR, LazyPattern, load_rules, parse_rules

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "tests" / "data" / "corpus" / "seeds" / "000_e00ebf84e0ab835f.txt"

# Run watcher.cli as `watch` does, then print the top-level names in sys.modules.
PROBE = """
import json, runpy, sys
sys.argv = ["watch"] + sys.argv[1:]
code = 0
try:
    runpy.run_module("watcher.cli", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules}),
                  "watcher": sorted(m for m in sys.modules if m.startswith("watcher"))}), file=sys.stderr)
"""

# The store, the fetchers, HTML parsing, the score matrix, the scheduler, the HTML templates.
HEAVY = {"sqlalchemy", "alembic", "psycopg", "numpy", "bs4", "soupsieve", "lxml", "requests", "urllib3",
         "apscheduler", "jinja2", "pdfminer", "docx", "dramatiq"}


def loaded(*args: str, cwd: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=60)
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_help_loads_no_command_body_and_no_renderer(tmp_path):
    seen = loaded("--help", cwd=tmp_path)
    assert seen["code"] == 0
    assert HEAVY & set(seen["modules"]) == set()
    assert {"rich", "rapidfuzz"} & set(seen["modules"]) == set()
    assert [m for m in seen["watcher"] if m.startswith(("watcher.report.", "watcher.commands"))] == []
    assert "watcher.report" not in seen["watcher"]


@pytest.mark.parametrize("fmt", ["text", "json", "md"])
def test_diff_of_two_files_loads_no_store_fetcher_or_parser(tmp_path, fmt):
    copy = tmp_path / "copy.txt"
    copy.write_bytes(SEED.read_bytes())
    seen = loaded("diff", str(SEED), str(copy), "--format", fmt, "--no-pager", cwd=tmp_path)
    assert seen["code"] == 0                          # no change
    assert HEAVY & set(seen["modules"]) == set()
    assert not any(m.startswith(("watcher.store", "watcher.fetch", "watcher.derive", "watcher.check"))
                   for m in seen["watcher"])


def test_the_probe_sees_what_a_diff_of_html_loads(tmp_path):
    """The same probe on an HTML pair does see lxml: the list above is not empty by accident."""
    page = tmp_path / "a.html"
    page.write_text("<html><body><main><h1>Privacy</h1><p>We collect your e-mail address.</p></main></body></html>",
                    encoding="utf-8")
    seen = loaded("diff", str(page), str(page), "--format", "html", "--no-pager", cwd=tmp_path)
    assert seen["code"] == 0
    assert {"lxml", "jinja2"} <= set(seen["modules"])
    assert "sqlalchemy" not in seen["modules"]


def test_a_stored_snapshot_operand_still_loads_the_store(tmp_path):
    """NAME@REF still needs the config (the store itself, loaded by name, is exercised in test_check.py)."""
    done = subprocess.run([sys.executable, "-m", "watcher.cli", "diff", "site@latest", str(SEED)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == ("watch: config.toml: config file not found (needed to find the snapshot store; "
                                   "use --config)")



def test_packaged_rule_files_compile_and_load_leaves_them_to_their_first_use():
    """load_rules leaves the expressions to their first use; each packaged file still compiles whole."""
    paths = sorted(RULES_DIR.glob("??.toml"))
    assert [p.stem for p in paths] == ["en", "ja"]
    for path in paths:
        text = path.read_text(encoding="utf-8")
        eager = parse_rules(text, str(path))                  # compile_now: a bad expression raises here
        assert all(isinstance(p, re.Pattern) for p in eager.lexicons.values())
        lazy = parse_rules(text, str(path), compile_now=False)
        assert all(isinstance(p, LazyPattern) and p._compiled is None for p in lazy.revision.values())
        name, pattern = next(iter(lazy.lexicons.items()))
        assert pattern.pattern == eager.lexicons[name].pattern
        assert pattern.compiled() is pattern.compiled() and pattern._compiled is not None
        assert isinstance(load_rules(path.stem).lexicons[name], LazyPattern)


def test_a_bad_expression_of_a_lazy_pattern_is_the_same_config_error():
    text = (RULES_DIR / "ja.toml").read_text(encoding="utf-8") + '\n[lexicon.broken_x]\npatterns = ["(unclosed"]\n'
    with pytest.raises(ConfigError, match=r"^x.toml: lexicon.broken_x: bad regular expression"):
        parse_rules(text, "x.toml")
    rules = parse_rules(text, "x.toml", compile_now=False)            # loads: the expression is not read yet
    with pytest.raises(ConfigError, match=r"^x.toml: lexicon.broken_x: bad regular expression"):
        rules.search("broken_x", "some text")


def test_the_derive_workers_inherit_the_html_extractor(tmp_path):
    """watcher.extract loads its HTML parser (lxml) by name; the checker loads it before it forks its
    workers, so that they share it instead of each importing it on its first page."""
    code = (
        "import sys, types\n"
        "from watcher.check import checker\n"
        "assert 'lxml.etree' not in sys.modules\n"
        "pool = checker.Checker._pool(types.SimpleNamespace(workers=2), checker.POOL_MIN_BODIES)\n"
        "try:\n"
        "    print('parent', 'lxml.etree' in sys.modules)\n"
        "    print('worker', pool.submit(eval, \"'lxml.etree' in __import__('sys').modules\").result(timeout=30))\n"
        "finally:\n"
        "    pool.shutdown()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["parent", "True", "worker", "True"]


def test_a_check_that_finds_nothing_new_loads_no_mail_templates_or_webhook_client(tmp_path, server):
    """A pass of 304s renders no mail and posts no webhook: jinja2 and requests stay unloaded."""
    server.set("/p", (SEED.read_text(encoding="utf-8")).replace("\n", "<br>\n").join(
        ["<html><body><main>", "</main></body></html>"]))
    (tmp_path / "config.toml").write_text(
        '[store]\nurl = "sqlite:///store/watch.db"\nbodies_dir = "store/bodies"\n\n'
        '[notify]\nstaff = ["privacy@example.com"]\noutbox_dir = "outbox"\n\n'
        f'[[policy]]\nname = "p"\nurl = "{server.url("/p")}"\nusers = ["user@example.com"]\n',
        encoding="utf-8")
    first = loaded("--config", "config.toml", "check", cwd=tmp_path)
    assert first["code"] == 0
    again = loaded("--config", "config.toml", "check", cwd=tmp_path)
    assert again["code"] == 0 and server.statuses[304] == 1
    assert {"jinja2", "requests"} & set(again["modules"]) == set()
    # nor the diff, the judge or the report's renderings: nothing was compared
    assert [m for m in again["watcher"] if m.startswith(("watcher.compare", "watcher.judge", "watcher.report."))
            or m == "watcher.report"] == []


def test_a_json_check_of_304s_loads_no_renderer_charset_detector_or_outbox(tmp_path, server):
    """`check --json --no-notify` (cron's and the peers' benchmark's form) that gets 304s prints no
    table, detects no charset and plans no mail: rich, charset_normalizer and the outbox stay unloaded."""
    server.set("/p", "<html><head><meta charset='utf-8'></head><body><main><h1>個人情報保護方針</h1>"
                     "<p>当社は個人情報を適切に取り扱います。</p></main></body></html>")
    (tmp_path / "config.toml").write_text(
        '[store]\nurl = "sqlite:///store/watch.db"\nbodies_dir = "store/bodies"\n\n'
        '[notify]\nstaff = ["privacy@example.com"]\noutbox_dir = "outbox"\n\n'
        f'[[policy]]\nname = "p"\nurl = "{server.url("/p")}"\nusers = ["user@example.com"]\n',
        encoding="utf-8")
    args = ("--config", "config.toml", "check", "--json", "--no-notify")
    assert loaded(*args, cwd=tmp_path)["code"] == 0
    again = loaded(*args, cwd=tmp_path)
    assert again["code"] == 0 and server.statuses[304] == 1
    assert {"rich", "charset_normalizer"} & set(again["modules"]) == set()
    assert [m for m in again["watcher"] if m.startswith("watcher.notify.")] == [
        "watcher.notify.chats", "watcher.notify.planner", "watcher.notify.webhooks"]


def test_a_lazy_pattern_compiles_at_its_first_use_and_takes_its_place(tmp_path):
    """watcher.lazy.pattern: nothing compiled at import; the first use puts the re.Pattern in the
    defining module's namespace (its functions then read a plain pattern); a reference held
    elsewhere still works."""
    code = (
        "import re, sys\n"
        "from watcher import lazy, normalize\n"
        "held = normalize._JA_RUN\n"
        "assert isinstance(held, lazy.pattern) and held._compiled is None\n"
        "assert normalize.language('当社は個人情報を適切に取り扱います。') == 'ja'\n"
        "assert isinstance(normalize._JA_RUN, re.Pattern) and normalize._JA_RUN is held.compiled()\n"
        "assert held.findall('ab当社cd') == ['当社'] and held.pattern == normalize._JA_RUN.pattern\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok"]


@pytest.mark.parametrize("tty", [False, True])
@pytest.mark.parametrize("force_color", [None, "", "1"])
@pytest.mark.parametrize("tty_compatible", [None, "0", "1"])
def test_check_asks_rich_whenever_rich_could_see_a_terminal(monkeypatch, tty, force_color, tty_compatible):
    """`watch check` skips rich's Console (and its import) only where rich would say "no terminal"."""
    from rich.console import Console

    from watcher.commands.check import _may_be_terminal

    for name, value in (("FORCE_COLOR", force_color), ("TTY_COMPATIBLE", tty_compatible)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)

    class Stream:
        def isatty(self):
            return tty

        def write(self, text):
            return len(text)

        def flush(self):
            pass

    stream = Stream()
    if Console(file=stream).is_terminal:
        assert _may_be_terminal(stream)
    assert _may_be_terminal(stream) == (tty or tty_compatible == "1" or bool(force_color))
