"""`watch diff` end to end through the real command: JSON v1, formats, exit codes, errors."""

import json
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"   # a copy of ../shared/corpus
PAIRS = sorted((CORPUS / "pairs").glob("d*")) if CORPUS.exists() else []
HTML_PAIRS = sorted((CORPUS / "html-pairs").glob("d*")) if CORPUS.exists() else []
needs_corpus = pytest.mark.skipif(not PAIRS, reason="shared corpus not available")

CHANGE_KEYS = {"type", "old", "new", "categories", "severity", "reasons", "evidence", "items", "hunks", "reason_details"}
SEVERITIES = {"none", "minor", "notice", "consent"}


# `watch` (tests/conftest.py) runs the real parser and commands in this process; the exit status and the
# one-line stderr of a real `python -m watcher` process are tested once, in test_config.py.


def diff_json(watch, old, new):
    r = watch("diff", old, new, "--format", "json")
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def check_v1(out: dict) -> None:
    assert out["schema"] == "policy-watcher/diff/v1"
    assert set(out) >= {"schema", "old", "new", "severity", "material", "summary", "changes", "revision_clause", "notify"}
    assert set(out["old"]) == {"source", "clauses"} and set(out["new"]) == {"source", "clauses"}
    assert set(out["summary"]) == {"added", "removed", "modified", "moved", "renumbered", "unchanged"}
    assert out["severity"] in SEVERITIES
    assert out["material"] == (out["severity"] in ("notice", "consent"))
    assert set(out["notify"]) >= {"users", "staff", "actions"}
    for ch in out["changes"]:
        assert set(ch) == CHANGE_KEYS
        assert ch["type"] in {"added", "removed", "modified", "moved", "renumbered"}
        assert ch["severity"] in SEVERITIES
        # each reason also as {code, text, evidence}: the same texts in order, evidence from the change's
        assert [d["text"] for d in ch["reason_details"]] == ch["reasons"]
        for d in ch["reason_details"]:
            assert set(d) == {"code", "text", "evidence"} and d["code"]
            assert set(d["evidence"]) <= set(ch["evidence"])
        for side in ("old", "new"):
            assert ch[side] is None or set(ch[side]) == {"number", "title"}
        for it in ch["items"]:
            assert it["op"] in {"added", "removed", "edited"}
        for h in ch["hunks"]:
            assert h["op"] in {"insert", "delete", "replace"}
    sev_rank = ["none", "minor", "notice", "consent"]
    top = max((sev_rank.index(c["severity"]) for c in out["changes"]), default=0)
    assert out["severity"] == sev_rank[top]


def src(d: Path, stem: str) -> Path:
    return next(d / f"{stem}.{ext}" for ext in ("html", "txt", "md") if (d / f"{stem}.{ext}").exists())


@needs_corpus
@pytest.mark.parametrize("pair", PAIRS + HTML_PAIRS, ids=lambda p: p.name)
def test_every_pair_gives_valid_v1_and_exit_code(pair, watch):
    code, out = diff_json(watch, src(pair, "old"), src(pair, "new"))
    check_v1(out)
    substantive = any(c["severity"] != "none" for c in out["changes"])
    assert code == (1 if substantive else 0)


@needs_corpus
@pytest.mark.parametrize("name", ["d02-enmono-reflow-width", "d14-infox-identical",
                                  "d02-enmono-reflow-width.wix", "d14-infox-identical.wp"])
def test_formatting_only_pairs_report_none(name, watch):
    d = (CORPUS / "pairs" / name) if (CORPUS / "pairs" / name).exists() else (CORPUS / "html-pairs" / name)
    code, out = diff_json(watch, src(d, "old"), src(d, "new"))
    assert out["severity"] == "none" and code == 0
    assert all(c["severity"] == "none" for c in out["changes"])


@needs_corpus
def test_d03_one_added_eight_renumbered(watch):
    d = CORPUS / "pairs" / "d03-enmono-foreign-transfer-renumber"
    _, out = diff_json(watch, d / "old.txt", d / "new.txt")
    types = [c["type"] for c in out["changes"]]
    assert types.count("added") == 1 and types.count("renumbered") == 8
    assert "modified" not in types and "removed" not in types
    assert out["summary"]["added"] == 1 and out["summary"]["renumbered"] == 8
    added = next(c for c in out["changes"] if c["type"] == "added")
    assert added["new"] == {"number": "第4条", "title": "外国にある第三者への提供"}


def _shape(out):
    return [(c["type"], (c["new"] or c["old"])["number"], (c["new"] or c["old"])["title"],
             sorted(c["categories"]), c["severity"]) for c in out["changes"] if c["severity"] != "none"]


@needs_corpus
@pytest.mark.parametrize("html_pair", HTML_PAIRS, ids=lambda p: p.name)
def test_web_pages_give_the_same_clause_changes_as_text(html_pair, watch):
    text_pair = CORPUS / "pairs" / html_pair.name.rsplit(".", 1)[0]
    _, from_html = diff_json(watch, html_pair / "old.html", html_pair / "new.html")
    _, from_text = diff_json(watch, text_pair / "old.txt", text_pair / "new.txt")
    assert _shape(from_html) == _shape(from_text)


@needs_corpus
@pytest.mark.parametrize("fmt,marker", [("text", "第2条"), ("md", "## modified"), ("html", "<table")])
def test_other_formats(fmt, marker, tmp_path, watch):
    d = CORPUS / "pairs" / "d01-enmono-purpose-ad-targeting"
    out_file = tmp_path / f"out.{fmt}"
    r = watch("diff", d / "old.txt", d / "new.txt", "--format", fmt, "--output", out_file)
    assert r.returncode == 1 and r.stdout == ""
    body = out_file.read_text(encoding="utf-8")
    assert marker in body and "ターゲティング広告" in body
    if fmt == "html":
        assert "改定後" in body and "改定前" in body and 'class="ins"' in body
        assert "<link" not in body and "<script" not in body   # self-contained


def test_markdown_and_html_renderings_of_one_policy_agree(tmp_path, watch):
    old_md = "# プライバシーポリシー\n\n## 第1条（利用目的）\n\n1. 本サービスの提供のため\n2. お問い合わせ対応のため\n\n## 第2条（お問い合わせ）\n\nprivacy@example.com\n"
    new_html = ("<html><body><main><h1>プライバシーポリシー</h1><h2>第1条（利用目的）</h2>"
                "<ol><li>本サービスの提供のため</li><li>お問い合わせ対応のため</li></ol>"
                "<h2>第2条（お問い合わせ）</h2><p>privacy@example.com</p></main></body></html>")
    (tmp_path / "old.md").write_text(old_md, encoding="utf-8")
    (tmp_path / "new.html").write_text(new_html, encoding="utf-8")
    code, out = diff_json(watch, tmp_path / "old.md", tmp_path / "new.html")
    assert code == 0 and out["severity"] == "none", out["changes"]


def test_euc_jp_page_against_utf8_text(tmp_path, watch):
    text = "第1条（利用目的）\n当社は、本サービスの提供のために個人情報を利用します。\n第2条（第三者提供）\n当社は、第三者に提供しません。\n"
    html = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=EUC-JP"></head><body>'
            + "".join(f"<p>{ln}</p>" for ln in text.splitlines()) + "</body></html>")
    (tmp_path / "old.txt").write_text(text, encoding="utf-8")
    (tmp_path / "new.html").write_bytes(html.encode("euc_jp"))
    code, out = diff_json(watch, tmp_path / "old.txt", tmp_path / "new.html")
    assert code == 0 and out["changes"] == []


@pytest.mark.parametrize("case", ["missing", "directory", "binary", "empty", "undecodable", "no_text"])
def test_bad_inputs_one_line_exit_2(case, tmp_path, watch):
    good = tmp_path / "good.txt"
    good.write_text("第1条（目的）\n当社は個人情報を適切に扱います。\n", encoding="utf-8")
    bad = tmp_path / "bad.html"
    if case == "missing":
        bad = tmp_path / "nope.txt"
    elif case == "directory":
        bad = tmp_path
    elif case == "binary":
        bad = tmp_path / "bad.pdf"
        bad.write_bytes(b"%PDF-1.7\n\x00\x01\x02binary\x00" * 50)
    elif case == "empty":
        bad = tmp_path / "bad.txt"
        bad.write_bytes(b"")
    elif case == "undecodable":
        bad = tmp_path / "bad.txt"
        bad.write_bytes(bytes(range(128, 256)) * 40)
    elif case == "no_text":
        bad.write_text("<html><head><script>var a=1;</script></head><body><nav>menu</nav></body></html>")
    r = watch("diff", good, bad)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("watch: ") and "Traceback" not in r.stderr


def test_internal_error_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    # A bug (not bad input) must not look like "changes found" (exit 1) or dump a traceback.
    from watcher import cli, compare

    def broken(old, new):
        raise RuntimeError("boom")

    monkeypatch.setattr(compare, "compare", broken)
    a = tmp_path / "a.txt"
    a.write_text("第1条（目的）\n当社は個人情報を適切に扱います。\n", encoding="utf-8")
    assert cli.main(["diff", str(a), str(a)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["watch: internal error: RuntimeError: boom (run with --debug for the traceback)"]
