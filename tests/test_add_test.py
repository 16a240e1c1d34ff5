"""`watch test URL|FILE` (what a check would extract, storing nothing) and `watch add URL --name ...`
(a [[policy]] appended to config.toml, every other byte kept), through the real commands against the
real local HTTP server (tests/webserver.py)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from io import BytesIO
from pathlib import Path

import docx
import pytest
from test_fetch_browser import CHROMIUM, shell_page
from webserver import login_page, policy_page

from watcher.config import load_settings

PAIR = Path(__file__).parent / "data" / "corpus" / "pairs" / "d01-enmono-purpose-ad-targeting"
POLICY = (PAIR / "old.txt").read_text(encoding="utf-8")
EN_POLICY = """Privacy Policy
1. Information we collect
We collect your name, email address and the pages you visit on our service.
2. How we use it
We use it to provide the service, to answer your questions and to keep accounts secure.
3. Sharing
We do not sell personal information. We share it with processors acting on our behalf.
4. Contact
Write to privacy@example.com with any question about this policy."""
SUMMARY = re.compile(r"^kind (?P<kind>\S+), charset (?P<charset>\S+), (?P<chars>\d+) characters, "
                     r"(?P<clauses>\d+) clauses, fetcher (?P<fetcher>.+?), suspect: (?P<suspect>yes|no)")

CONFIG = """\
# policy-watcher configuration — a comment that must survive
[store]
url = "sqlite:///store/watch.db"   # trailing comment
bodies_dir = "store/bodies"

[fetch]
retries = 0          # tests: fail fast
timeout_read = 5

[[policy]]
name = "demo"
# a comment inside a policy block
url = "examples/demo.txt"
schedule   =   "every 6h"     # odd spacing kept

[web]
# a table after the policies: the new block must not move it
port = 8080

# the last comment of the file, no newline at the end"""


def summary_of(stdout: str) -> dict:
    lines = stdout.rstrip("\n").splitlines()
    assert lines[-2] == "--- summary ---", stdout[-500:]
    m = SUMMARY.match(lines[-1])
    assert m, lines[-1]
    return m.groupdict() | {"line": lines[-1]}


def sections(stdout: str) -> tuple[str, list[str]]:
    text, rest = stdout.split("--- outline ---\n", 1)
    assert text.startswith("--- text ---\n")
    return text[len("--- text ---\n"):], rest.split("--- summary ---\n", 1)[0].splitlines()


@pytest.fixture
def project(tmp_path) -> Path:
    """A directory with config.toml (comments, odd layout, a store that must never appear)."""
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "demo.txt").write_text(POLICY, encoding="utf-8")
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def no_store(project: Path) -> None:
    assert not (project / "store").exists(), "watch test / watch add created the store"
    assert sorted(p.name for p in project.iterdir()) == ["config.toml", "examples"], "files left behind"


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with a text layer (Helvetica, ASCII), offsets computed: what a printer makes."""
    stream = "BT /F1 11 Tf 50 780 Td 14 TL " + " ".join(
        "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        "/Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{obj}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def docx_file(text: str) -> bytes:
    d = docx.Document()
    d.add_heading(text.splitlines()[0], level=1)
    for line in text.splitlines()[1:]:
        d.add_paragraph(line)
    out = BytesIO()
    d.save(out)
    return out.getvalue()


# ---------------------------------------------------------------- watch test


def test_watch_test_a_url_prints_text_outline_and_summary_and_stores_nothing(watch, project, server):
    server.set("/privacy", policy_page(POLICY))
    r = watch("test", server.url("/privacy"), cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    text, outline = sections(r.stdout)
    assert "第1条" in text and "ホーム" not in text and "閲覧数" not in text      # chrome and noise dropped
    assert any(line.startswith("第1条") for line in outline) and any(line.startswith("  ") for line in outline)
    s = summary_of(r.stdout)
    assert (s["kind"], s["charset"], s["fetcher"], s["suspect"]) == ("html", "utf-8", "http", "no")
    assert int(s["chars"]) > 1000 and int(s["clauses"]) == sum(1 for line in outline if line.startswith("第"))
    assert server.hits["/privacy"] == 1
    no_store(project)


def test_watch_test_extracts_exactly_as_a_check_stores(watch, project, server, tmp_path_factory):
    """The text `watch test` prints is the text `watch check` stores for the same page and options."""
    server.set("/privacy", policy_page(POLICY))
    r = watch("test", server.url("/privacy"), "--remove", "h2", cwd=project)
    assert r.returncode == 0, r.stderr
    printed, _ = sections(r.stdout)
    other = tmp_path_factory.mktemp("check")
    (other / "config.toml").write_text(f"""[store]
url = "sqlite:///watch.db"
[notify]
outbox_dir = "outbox"
[[policy]]
name = "p"
url = "{server.url('/privacy')}"
remove = ["h2"]
""", encoding="utf-8")
    assert watch("check", "--no-notify", cwd=other).returncode == 0
    shown = watch("show", "p", cwd=other)
    assert shown.returncode == 0, shown.stderr
    assert printed == shown.stdout
    assert "第1条" not in printed         # the headings were removed, in both


def test_select_and_remove_change_what_is_extracted(watch, project, server):
    page = ("<html><body><nav>メニュー ホーム 会社概要 採用情報 お問い合わせ</nav><div id='policy'>"
            + "".join(f"<p>{line}</p>" for line in EN_POLICY.splitlines())
            + "<div class='x-note'>Editor's note: this paragraph is not part of the policy text</div></div>"
            "<aside>Related articles: how we build things and other stories</aside></body></html>")
    server.set("/p", page)
    r = watch("test", server.url("/p"), "--select", "#policy", "--remove", ".x-note", cwd=project)
    assert r.returncode == 0, r.stderr
    text, outline = sections(r.stdout)
    assert text.startswith("Privacy Policy\n1. Information we collect")
    assert "Editor's note" not in text and "Related articles" not in text and "メニュー" not in text
    assert [line for line in outline if line[0].isdigit()] == [
        "1. Information we collect", "2. How we use it", "3. Sharing", "4. Contact"]
    r = watch("test", server.url("/p"), "--select", "#policy", cwd=project)
    assert "Editor's note: this paragraph" in sections(r.stdout)[0]
    no_store(project)


def test_a_configured_policys_options_apply_unless_given(watch, project, server):
    page = ("<html><body><main><p>Intro text of the page that is long enough to be kept as a line.</p>"
            "<section id='p'>" + "".join(f"<p>{line}</p>" for line in EN_POLICY.splitlines())
            + "</section></main></body></html>")
    server.set("/p", page)
    config = project / "config.toml"
    config.write_text(CONFIG.replace('url = "examples/demo.txt"', f'url = "{server.url("/p")}"\nselect = "#p"'),
                      encoding="utf-8")
    text, _ = sections(watch("test", server.url("/p"), cwd=project).stdout)
    assert text.startswith("Privacy Policy") and "Intro text" not in text
    text, _ = sections(watch("test", server.url("/p"), "--select", "main", cwd=project).stdout)
    assert text.startswith("Intro text")


def test_a_login_page_is_shown_as_suspect_exit_1(watch, project, server):
    server.set("/privacy", login_page())
    r = watch("test", server.url("/privacy"), cwd=project)
    assert r.returncode == 1, r.stderr
    s = summary_of(r.stdout)
    assert s["suspect"] == "yes"
    assert "looks like a login page" in s["line"] and "a check would not store it" in s["line"]
    no_store(project)


def test_local_files_docx_and_pdf_go_through_the_same_kinds(watch, project, server):
    (project / "examples" / "draft.docx").write_bytes(docx_file(EN_POLICY))
    r = watch("test", "examples/draft.docx", cwd=project)
    assert r.returncode == 0, r.stderr
    text, outline = sections(r.stdout)
    assert text.splitlines() == EN_POLICY.splitlines()
    assert "  Privacy Policy" in outline and "3. Sharing" in outline
    s = summary_of(r.stdout)
    assert (s["kind"], s["charset"], s["fetcher"], s["clauses"]) == ("docx", "-", "file", "4")
    # the same document over HTTP, labelled as Word by the server
    server.set("/draft", docx_file(EN_POLICY),
               content_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    r = watch("test", server.url("/draft"), cwd=project)
    assert (summary_of(r.stdout)["kind"], summary_of(r.stdout)["fetcher"]) == ("docx", "http")
    # PDF: a text layer is extracted; the same page with no text is a scan (suspect)
    server.set("/policy.pdf", minimal_pdf(EN_POLICY.splitlines()), content_type="application/pdf")
    r = watch("test", server.url("/policy.pdf"), cwd=project)
    assert r.returncode == 0, r.stderr
    assert "2. How we use it" in sections(r.stdout)[0]
    assert summary_of(r.stdout)["kind"] == "pdf"
    server.set("/scan.pdf", minimal_pdf(["p. 1"]), content_type="application/pdf")
    r = watch("test", server.url("/scan.pdf"), cwd=project)
    assert r.returncode == 1 and "scanned PDF" in summary_of(r.stdout)["line"]
    (project / "examples" / "draft.docx").unlink()
    no_store(project)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")
def test_a_script_shell_goes_to_the_browser_as_in_a_check(watch, project, server):
    server.set("/spa", shell_page(EN_POLICY, delay_ms=100))
    r = watch("test", server.url("/spa"), "--fetch", "http", cwd=project)
    assert r.returncode == 2 and "no policy text" in r.stderr       # HTTP alone gets the empty shell
    r = watch("test", server.url("/spa"), cwd=project)              # fetch = "auto", the default
    assert r.returncode == 0, r.stderr
    assert sections(r.stdout)[0].splitlines() == EN_POLICY.splitlines()
    s = summary_of(r.stdout)
    assert s["fetcher"].startswith("browser (escalated from http: a script shell") and s["suspect"] == "no"
    no_store(project)


@pytest.mark.parametrize(("args", "message"), [
    (["--select", "div["], r"^watch: --select: not a CSS selector: 'div\['"),
    (["--remove", "a", "--remove", "p >"], r"^watch: --remove: not a CSS selector: 'p >'"),
    (["--fetch", "curl"], r"^watch: --fetch: must be one of 'http', 'browser', 'auto', not 'curl'"),
])
def test_bad_options_are_one_line_errors(watch, project, server, args, message):
    server.set("/p", policy_page(POLICY))
    r = watch("test", server.url("/p"), *args, cwd=project)
    assert r.returncode == 2 and r.stdout == ""
    assert re.match(message, r.stderr) and r.stderr.count("\n") == 1, r.stderr
    assert server.hits["/p"] == 0              # refused before fetching


def test_bad_targets_are_one_line_errors(watch, project, server):
    server.set("/gone", b"not here", status=404)
    server.set("/empty", b"   ")
    server.set("/nothing", "<html><body><script>var x = 1;</script></body></html>")
    for target, message in [
        (server.url("/gone"), r"^watch: http://127\.0\.0\.1:\d+/gone: .*404"),
        (server.url("/empty"), r"^watch: http://127\.0\.0\.1:\d+/empty: empty body \(HTTP 200\)"),
        ("missing.html", r"^watch: missing\.html: file not found: "),
        ("ftp://example.com/p", r"^watch: URL: unsupported URL scheme 'ftp'"),
    ]:
        r = watch("test", target, "--fetch", "http", cwd=project)
        assert r.returncode == 2 and r.stdout == "", (target, r.stdout)
        assert re.match(message, r.stderr) and r.stderr.count("\n") == 1, (target, r.stderr)
    r = watch("test", server.url("/nothing"), "--fetch", "http", cwd=project)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no policy text" in r.stderr, r.stderr
    no_store(project)


def test_watch_test_imports_no_store(project):
    """Storing nothing: the command never even loads the store package."""
    code = ("import sys; from watcher.cli import main; rc = main(['test', 'examples/demo.txt']); "
            "assert 'watcher.store' not in sys.modules, 'store loaded'; raise SystemExit(rc)")
    r = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert summary_of(r.stdout)["fetcher"] == "file"
    no_store(project)


# ---------------------------------------------------------------- watch add


def test_watch_add_appends_a_block_and_keeps_every_other_byte(watch, project, server):
    config = project / "config.toml"
    before = config.read_bytes()
    url = server.url("/privacy")
    r = watch("add", url, "--name", "vendor-x", "--select", "main", "--remove", ".cookie-banner",
              "--remove", 'a[href="/"]', "--schedule", "0 9 * * 1", "--fetch", "http", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "vendor-x" in r.stdout
    after = config.read_bytes()
    assert after.startswith(before), "the file before the new block changed"
    block = after[len(before):].decode("utf-8")
    assert block.startswith("\n\n[[policy]]\n") and block.endswith("\n")
    assert tomllib.loads(block) == {"policy": [{
        "name": "vendor-x", "url": url, "select": "main", "remove": [".cookie-banner", 'a[href="/"]'],
        "schedule": "0 9 * * 1", "fetch": "http"}]}
    settings = load_settings(config)
    assert [p.name for p in settings.policies] == ["demo", "vendor-x"]
    added = settings.policy("vendor-x")
    assert (added.select, added.remove, added.fetch) == ("main", [".cookie-banner", 'a[href="/"]'], "http")
    assert server.hits["/privacy"] == 0          # no --test: nothing fetched
    # a second one goes after it; the first addition's bytes are kept too
    r = watch("add", "examples/demo.txt", "--name", "local", cwd=project)
    assert r.returncode == 0, r.stderr
    final = config.read_bytes()
    assert final.startswith(after)
    assert final[len(after):] == b'\n[[policy]]\nname = "local"\nurl = "examples/demo.txt"\n'
    assert load_settings(config).policy("local").url == (project / "examples" / "demo.txt").as_uri()
    no_store(project)


@pytest.mark.parametrize(("args", "message"), [
    (["--name", "demo"], r"^watch: config\.toml: policy\[2\]\.name: duplicate policy name 'demo' \(first at policy\[1\]\)$"),
    (["--name", "bad name"], r"^watch: config\.toml: policy\[2\]\.name: 'bad name': use letters"),
    (["--name", "x", "--select", "div["], r"^watch: config\.toml: policy\[2\]\.select: not a CSS selector"),
    (["--name", "x", "--schedule", "every 10s"], r"^watch: config\.toml: policy\[2\]\.schedule: .*too frequent"),
    (["--name", "x", "--schedule", "sometimes"], r"^watch: config\.toml: policy\[2\]\.schedule: cannot parse"),
    (["--name", "x", "--fetch", "curl"], r"^watch: config\.toml: policy\[2\]\.fetch: must be one of"),
])
def test_watch_add_refuses_a_duplicate_or_invalid_value_and_writes_nothing(watch, project, server, args, message):
    config = project / "config.toml"
    before = config.read_bytes()
    r = watch("add", server.url("/privacy"), *args, cwd=project)
    assert r.returncode == 2 and r.stdout == ""
    assert re.match(message, r.stderr) and r.stderr.count("\n") == 1, r.stderr
    assert config.read_bytes() == before
    no_store(project)            # and no temporary file left behind


def test_watch_add_refuses_to_touch_a_broken_or_missing_config(watch, project):
    config = project / "config.toml"
    config.write_text(CONFIG.replace("retries = 0", "retries = zero"), encoding="utf-8")
    before = config.read_bytes()
    r = watch("add", "https://example.com/p", "--name", "x", cwd=project)
    assert r.returncode == 2 and r.stderr.startswith("watch: config.toml: invalid TOML") and r.stderr.count("\n") == 1
    assert config.read_bytes() == before
    r = watch("add", "https://example.com/p", "--name", "x", "--config", "other.toml", cwd=project)
    assert r.returncode == 2 and r.stderr == "watch: other.toml: config file not found (use --config PATH)\n"
    assert not (project / "other.toml").exists()


def test_watch_add_keeps_crlf_line_ends(watch, project):
    config = project / "config.toml"
    config.write_bytes(CONFIG.replace("\n", "\r\n").encode("utf-8") + b"\r\n")
    before = config.read_bytes()
    assert watch("add", "https://example.com/p", "--name", "x", cwd=project).returncode == 0
    assert config.read_bytes() == before + b'\r\n[[policy]]\r\nname = "x"\r\nurl = "https://example.com/p"\r\n'


def test_watch_add_test_runs_watch_test_first(watch, project, server):
    config = project / "config.toml"
    before = config.read_bytes()
    server.set("/login", login_page())
    r = watch("add", server.url("/login"), "--name", "walled", "--test", cwd=project)
    assert r.returncode == 1 and summary_of(r.stdout)["suspect"] == "yes"
    assert "not added" in r.stderr and "login page" in r.stderr
    server.set("/gone", b"", status=404)
    r = watch("add", server.url("/gone"), "--name", "gone", "--test", cwd=project)
    assert r.returncode == 2 and "404" in r.stderr and r.stderr.count("\n") == 1
    assert config.read_bytes() == before
    server.set("/privacy", policy_page(POLICY))
    r = watch("add", server.url("/privacy"), "--name", "good", "--remove", "footer", "--test", cwd=project)
    assert r.returncode == 0, r.stderr
    assert summary_of(r.stdout.rsplit("added policy", 1)[0])["suspect"] == "no"
    assert r.stdout.rstrip().splitlines()[-1].startswith("added policy 'good'")
    assert config.read_bytes().startswith(before) and load_settings(config).policy("good").remove == ["footer"]
    assert server.hits["/privacy"] == 1
    no_store(project)
