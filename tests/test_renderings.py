"""Every labelled text pair rendered in other ways gives the same clause changes and verdicts:
as Markdown, as an EUC-JP page in another site layout, and as a CP932 page declared Shift_JIS."""

import html
from pathlib import Path

import pytest

from watcher.compare import compare
from watcher.extract import extract
from watcher.report import report_to_dict

PAIRS = sorted((Path(__file__).resolve().parent / "data" / "corpus" / "pairs").glob("d*"))


def as_markdown(text: str) -> bytes:
    # One paragraph per line, like a CMS export; Markdown list markers must stay as written.
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return ("\n\n".join(ln.replace("*", "\\*") for ln in lines) + "\n").encode("utf-8")


def as_page(text: str, charset: str, codec: str) -> bytes:
    paragraphs = "\n".join(f"<p>{html.escape(ln.strip())}</p>" for ln in text.splitlines() if ln.strip())
    page = f"""<!DOCTYPE html><html lang="ja"><head>
<meta http-equiv="Content-Type" content="text/html; charset={charset}"><title>個人情報保護方針</title>
<script>var t = {len(text)};</script></head>
<body><div id="header"><ul class="menu"><li><a href="/">ホーム</a></li><li><a href="/company">会社案内</a></li></ul></div>
<div id="cookie-consent">当サイトはCookieを使用します。<button>同意する</button></div>
<div id="wrapper"><div id="sidebar"><h3>新着情報</h3><ul><li>2026年6月 サービス開始</li></ul></div>
<div id="content">{paragraphs}</div></div>
<div id="footer">Copyright © Example Inc. All rights reserved.</div></body></html>"""
    return page.encode(codec, errors="xmlcharrefreplace")   # as legacy pages write ①, ©, • they cannot encode


RENDERINGS = {
    "markdown": lambda t: (as_markdown(t), "markdown"),
    "euc-jp page": lambda t: (as_page(t, "EUC-JP", "euc_jp"), "html"),
    "shift_jis page": lambda t: (as_page(t, "Shift_JIS", "cp932"), "html"),
}


def shape(old: bytes | str, new: bytes | str, kind: str) -> list:
    out = report_to_dict(compare(extract(old, source="old", kind=kind), extract(new, source="new", kind=kind)))
    changes = [(c["type"], (c["new"] or c["old"])["number"], sorted(c["categories"]), c["severity"])
               for c in out["changes"] if c["severity"] != "none"]
    return [out["severity"], out["notify"]["users"], changes]


@pytest.mark.parametrize("rendering", RENDERINGS)
@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p.name)
def test_rendering_gives_the_text_pairs_verdict(pair, rendering):
    old_text = (pair / "old.txt").read_text(encoding="utf-8")
    new_text = (pair / "new.txt").read_text(encoding="utf-8")
    expected = shape(old_text, new_text, "text")
    render = RENDERINGS[rendering]
    (old_bytes, kind), (new_bytes, _) = render(old_text), render(new_text)
    assert shape(old_bytes, new_bytes, kind) == expected
