"""Extract: pages and files in, policy lines out (real files and bytes, no mocks)."""

from __future__ import annotations

import html
import re
import unicodedata
from pathlib import Path

import pytest

from watcher.derive import decode_lines, encode_lines
from watcher.errors import ConfigError, InputError
from watcher.extract import decode, extract, load_file, looks_like_html
from watcher.models import Document, Line

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "extract"
CORPUS = HERE / "data" / "corpus"   # a copy of ../shared/corpus
SEEDS = CORPUS / "seeds"
HTML_PAIRS = CORPUS / "html-pairs"
TEXT_PAIRS = CORPUS / "pairs"

needs_corpus = pytest.mark.skipif(not SEEDS.exists(), reason="shared corpus not available")
SEED_FILES = sorted(SEEDS.glob("*.txt")) if SEEDS.exists() else []
HTML_PAIR_DIRS = sorted(HTML_PAIRS.iterdir()) if HTML_PAIRS.exists() else []


# --------------------------------------------------------------------------- helpers

def texts(doc: Document) -> list[str]:
    return [line.text for line in doc.lines]


def squash(text: str) -> str:
    """Text with width and whitespace differences folded away."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


DEBRIS = {"top of page", "bottom of page"}
_OL_ITEM = re.compile(r"(\d+)\.\s+(.*)")
_BULLET = re.compile(r"[・•]\s*(.*)")
_HEADING = re.compile(r"(第\d+条|\d+ \S|\d+\.\s*[(（]|\d+\.\S)")


def seed_blocks(seed: Path) -> list[tuple[str, str, int | None]]:
    """A seed policy as blocks: (kind, text, number) with kind heading / ol / ul / p."""
    blocks = []
    for raw in seed.read_text(encoding="utf-8").splitlines():
        line = raw.replace("\u00a0", " ").strip()
        if not line:
            continue
        if m := _OL_ITEM.fullmatch(line):
            blocks.append(("ol", m.group(2), int(m.group(1))))
        elif m := _BULLET.fullmatch(line):
            blocks.append(("ul", m.group(1), None))
        elif _HEADING.match(line) and len(line) <= 40:
            blocks.append(("heading", line, None))
        else:
            blocks.append(("p", line, None))
    return blocks


def seed_html(blocks) -> str:
    """The blocks as a CMS would render them: list numbers and bullets are drawn by the browser."""
    out: list[str] = []
    open_list = None
    expected_next = None
    for kind, text, number in blocks:
        if kind != open_list and open_list:
            out.append(f"</{open_list}>")
            open_list = None
        esc = html.escape(text)
        if kind in ("ol", "ul"):
            if open_list is None:
                start = f' start="{number}"' if kind == "ol" and number != 1 else ""
                out.append(f"<{kind}{start}>")
                open_list, expected_next = kind, number
            value = f' value="{number}"' if kind == "ol" and number != expected_next else ""
            out.append(f"  <li{value}>{esc}</li>")
            expected_next = (number or 0) + 1
        elif kind == "heading":
            out.append(f"<h2>{esc}</h2>")
        else:
            out.append(f"<p>{esc}</p>")
    if open_list:
        out.append(f"</{open_list}>")
    return "\n".join(out)


def seed_expected(blocks) -> list[Line]:
    """What a reader sees: ol numbers "N. ", ul bullets "・", headings at level 2, debris gone."""
    lines = []
    for kind, text, number in blocks:
        if text in DEBRIS:
            continue
        if kind == "ol":
            lines.append(Line(f"{number}. {text}", 0))
        elif kind == "ul":
            lines.append(Line(f"・{text}", 0))
        else:
            lines.append(Line(text, 2 if kind == "heading" else 0))
    return lines


def page_from_template(template: str, policy_html: str, charset: str) -> str:
    return (FIXTURES / template).read_text(encoding="utf-8").replace("__POLICY__", policy_html) \
        .replace("__CHARSET__", charset)


# --------------------------------------------------------------------------- the corpus pages

@needs_corpus
@pytest.mark.parametrize("pair", HTML_PAIR_DIRS, ids=lambda p: p.name)
def test_corpus_page_matches_its_text_version(pair: Path):
    """Every policy line of the text pair is extracted from the page, and nothing else but the page title."""
    text_pair = TEXT_PAIRS / pair.name.rsplit(".", 1)[0]
    for side in ("old", "new"):
        doc = load_file(pair / f"{side}.html")
        assert doc.content_type == "html" and doc.charset == "utf-8"
        page = [squash(t) for t in texts(doc)]
        txt = [squash(line.text) for line in load_file(text_pair / f"{side}.txt").lines]
        # the text versions carry "- " / "• " bullets written by their own extractor
        txt = [re.sub(r"^-?・", "・", t.replace("•", "・")) for t in txt]
        missing = [t for t in txt if t not in page and t not in {squash(d) for d in DEBRIS}]
        extra = [p for p in page if p not in txt and p != squash(doc.title.split("|")[0])]
        # One line of d08 is an <ol> item in the page, so the browser numbers it "7." where the text says "4."
        assert len(missing) <= 1 and len(extra) <= 1, (missing, extra)
        for m, e in zip(missing, extra, strict=True):
            assert re.sub(r"^\d+\.", "", m) == re.sub(r"^\d+\.", "", e)


@needs_corpus
@pytest.mark.parametrize("pair", HTML_PAIR_DIRS, ids=lambda p: p.name)
def test_corpus_page_noise_never_reaches_the_text(pair: Path):
    for side in ("old", "new"):
        raw = (pair / f"{side}.html").read_text(encoding="utf-8")
        lines = texts(load_file(pair / f"{side}.html"))
        text = "\n".join(lines)
        noise = re.findall(r'class="banner">([^<]+)<', raw) + re.findall(r"閲覧数 \d+", raw) \
            + re.findall(r'<a href="/news/\d+">([^<]+)</a>', raw)
        for piece in noise + ["top of page", "bottom of page", "All rights reserved", "最近の投稿",
                              "HOME", "requestId", "dateModified", "_wpnonce", "site.css"]:
            assert piece not in text, piece
        for line in ("送信", "会社概要", "トップ", "CONTACT"):      # menu and button labels, as whole lines
            assert line not in lines


@needs_corpus
@pytest.mark.parametrize("name", ["d02-enmono-reflow-width.wix", "d14-infox-identical.wp"])
def test_noise_only_pages_extract_to_the_same_text(name: str):
    old = load_file(HTML_PAIRS / name / "old.html")
    new = load_file(HTML_PAIRS / name / "new.html")
    assert (HTML_PAIRS / name / "old.html").read_bytes() != (HTML_PAIRS / name / "new.html").read_bytes()
    assert squash(old.text) == squash(new.text)
    if name.startswith("d14"):
        assert old.lines == new.lines


@needs_corpus
def test_browser_drawn_ol_numbers_are_written_and_typed_ones_are_not_doubled():
    wp = load_file(HTML_PAIRS / "d11-infox-ad-partner-provision.wp" / "old.html")   # <ol> with bare items
    assert "1. 氏名、生年月日、性別、その他の特定の個人を識別することができる情報" in texts(wp)
    assert "17. その他サービス等において個別に定める目的のため" in texts(wp)
    wix = load_file(HTML_PAIRS / "d01-enmono-purpose-ad-targeting.wix" / "old.html")   # "1. " typed into <li>
    assert "1. 認証サービスのため" in texts(wix)
    assert not any(re.match(r"\d+\. \d+\.", t) for t in texts(wix))


# --------------------------------------------------------------------------- pages built from the seeds

@needs_corpus
@pytest.mark.parametrize("seed", SEED_FILES, ids=lambda p: p.name[:3])
def test_static_site_with_sidebar_cookie_bar_and_footer(seed: Path):
    blocks = seed_blocks(seed)
    page = page_from_template("static-site.html", seed_html(blocks), "UTF-8")
    doc = extract(page.encode("utf-8"), source="static.html")
    assert doc.lines == [Line("個人情報保護方針", 1), *seed_expected(blocks)]
    assert doc.title == "個人情報保護方針 | サンプル商事株式会社"
    text = doc.text
    for noise in ("クッキーを使用", "会社案内", "ホームページをリニューアル", "カテゴリー", "ツイート",
                  "ページの先頭へ", "サイトマップ", "丸の内", "Copyright", "メールマガジン登録", "読み込み中",
                  "JavaScript", "▲", "0120-000-000", "春のキャンペーン"):
        assert noise not in text, noise


@needs_corpus
def test_old_table_layout_site_in_shift_jis():
    seed = SEEDS / "003_d71c19f622d62293.txt"
    blocks = seed_blocks(seed)
    page = page_from_template("table-layout.html", seed_html(blocks), "Shift_JIS")
    doc = extract(page.encode("cp932"), source="old-site.html")
    assert doc.charset == "cp932"
    assert doc.lines == [Line("プライバシーポリシー", 2), *seed_expected(blocks)]
    assert "トップページ" not in doc.text and "Copyright" not in doc.text


@needs_corpus
def test_policy_beside_a_contact_form_is_kept():
    blocks = seed_blocks(SEEDS / "001_b5fad133b5170cf9.txt")
    page = f"""<html><body><main>
      <section class="contact"><h2>お問い合わせ</h2>
        <form action="/send" method="post"><label>お名前<input name="name"></label>
        <label>ご相談内容<textarea name="body"></textarea></label><button>送信する</button></form></section>
      <section class="policy">{seed_html(blocks)}</section></main></body></html>"""
    doc = extract(page, source="contact.html")
    assert doc.lines == [Line("お問い合わせ", 2), *seed_expected(blocks)]


def test_policy_inside_a_page_wide_form_is_kept():
    # ASP.NET WebForms wrap the whole page in one <form>: it is the page, not a contact form.
    para = "当社は、お客様の個人情報を適切に取り扱います。" * 5
    page = f"""<html><body><form id="form1" runat="server"><div id="wrap"><h1>個人情報保護方針</h1>
      <p>{para}</p><p>第三者に提供することはありません。</p></div></form></body></html>"""
    assert texts(extract(page)) == ["個人情報保護方針", para, "第三者に提供することはありません。"]


def test_main_content_is_the_candidate_holding_most_text():
    policy = "".join(f"<p>第{i}条 当社は個人情報を適切に管理します。</p>" for i in range(1, 6))
    page = f"""<html><body><article class="teaser"><p>お知らせ</p></article>
      <div class="entry-content">{policy}</div><div>サイドの文章</div></body></html>"""
    assert texts(extract(page)) == [f"第{i}条 当社は個人情報を適切に管理します。" for i in range(1, 6)]


def test_falls_back_to_body_when_no_candidate_holds_most_text():
    page = """<html><body><main><p>短い</p></main>
      <div class="x"><p>当社は、取得した個人情報を利用目的の範囲内で利用し、第三者に提供しません。</p></div></body></html>"""
    assert texts(extract(page)) == ["短い", "当社は、取得した個人情報を利用目的の範囲内で利用し、第三者に提供しません。"]


@needs_corpus
def test_seed_rendered_as_markdown():
    seed = SEEDS / "000_e00ebf84e0ab835f.txt"
    blocks = seed_blocks(seed)
    md: list[str] = ["---", "title: プライバシーポリシー", "---", ""]
    for kind, text, number in blocks:
        if kind == "heading":
            md += [f"## {text}", ""]
        elif kind == "ol":
            md += [f"{number}. {text}"]
        elif kind == "ul":
            md += [f"・{text}"]
        else:
            md += ["", *wrap_japanese(text), ""]
    md += ["", "最後に[お問い合わせ窓口](https://example.com/contact)まで**ご連絡**", "ください。"]
    doc = extract("\n".join(md), kind="markdown", source="seed.md")
    assert doc.content_type == "markdown" and doc.title == "プライバシーポリシー"
    assert doc.lines == [*seed_expected(blocks), Line("最後にお問い合わせ窓口までご連絡ください。", 0)]
    assert sum(1 for line in md if line and not line.startswith(("#", "・")) and not _OL_ITEM.match(line)) \
        > len([b for b in blocks if b[0] == "p"]) + 5      # the paragraphs really were wrapped


def wrap_japanese(text: str, width: int = 25) -> list[str]:
    """Hard-wrap at places where both neighbours are kanji/kana (as an editor would in Japanese)."""
    out, start = [], 0
    for i in range(width, len(text) - 1):
        if i - start >= width and all(re.match(r"[\u3041-\u30ff\u4e00-\u9fff]", c) for c in text[i - 1:i + 1]) \
                and text[i] not in "・ー":
            out.append(text[start:i])
            start = i
    out.append(text[start:])
    return out


# --------------------------------------------------------------------------- charsets

@needs_corpus
@pytest.mark.parametrize("declare", [True, False], ids=["meta", "undeclared"])
@pytest.mark.parametrize("seed", ["000_e00ebf84e0ab835f.txt", "001_b5fad133b5170cf9.txt"])
def test_euc_jp_page(seed: str, declare: bool):
    blocks = seed_blocks(SEEDS / seed)
    page = page_from_template("static-site.html", seed_html(blocks), "EUC-JP")
    if not declare:
        page = page.replace('<meta http-equiv="Content-Type" content="text/html; charset=EUC-JP">', "")
    # ① and friends are NEC row 13 in real EUC-JP pages: the same bytes as JIS X 0213's.
    doc = extract(page.encode("euc_jis_2004"), source="euc.html")
    assert doc.charset in ("euc_jp", "euc_jis_2004")
    assert doc.lines[1:] == seed_expected(blocks)


@needs_corpus
@pytest.mark.parametrize("label", ["Shift_JIS", "sjis", "x-sjis", "windows-31j", "SHIFT-JIS"])
def test_cp932_page_declared_shift_jis_keeps_windows_characters(label: str):
    blocks = seed_blocks(SEEDS / "000_e00ebf84e0ab835f.txt")     # has ①..⑤, which Shift_JIS proper lacks
    page = page_from_template("static-site.html", seed_html(blocks), label)
    body = page.encode("cp932", errors="xmlcharrefreplace")
    doc = extract(body, source="sjis.html")
    assert doc.charset == "cp932"
    assert doc.lines[1:] == seed_expected(blocks)
    assert "①アカウント名、メールアドレス、パスワード" in texts(doc)
    # the same bytes, declared only in the HTTP header
    bare = body.replace(f"charset={label}".encode(), b"")
    assert extract(bare, content_type=f"text/html; charset={label}").lines == doc.lines


@needs_corpus
@pytest.mark.parametrize("encoding", ["utf-8", "cp932", "euc_jis_2004"])
def test_page_without_any_charset_is_detected(encoding: str):
    blocks = seed_blocks(SEEDS / "004_5f4b0d30e1db3437.txt")
    page = f"<html><head><title>個人情報保護方針</title></head><body>{seed_html(blocks)}</body></html>"
    doc = extract(page.encode(encoding, errors="xmlcharrefreplace"), source="bare.html")
    assert doc.lines == seed_expected(blocks)
    assert doc.title == "個人情報保護方針"


JA = "当社は、お客様の個人情報を適切に管理し、法令に基づく場合を除き第三者に提供いたしません。"


@pytest.mark.parametrize("declared, body_encoding", [
    ("iso-8859-1", "utf-8"),        # latin-1 declared on UTF-8 bytes
    ("us-ascii", "utf-8"),
    ("Shift_JIS", "utf-8"),         # a stale declaration after the site moved to UTF-8
    ("utf-8", "cp932"),             # strict decoding fails
    ("Shift_JIS", "euc_jp"),        # decodes, but into half-width-kana mojibake
    ("EUC-JP", "cp932"),
    ("iso-8859-1", "cp932"),
    ("iso-8859-1", "euc_jp"),       # every byte is valid latin-1: "¸Ä¿Í¾ðÊó"
    ("no-such-charset", "euc_jp"),
])
def test_wrong_declared_charset_falls_back_to_detection(declared: str, body_encoding: str):
    page = f"<html><head><meta charset='{declared}'><title>方針</title></head><body><p>{JA}</p></body></html>"
    doc = extract(page.encode(body_encoding), source="wrong.html")
    assert texts(doc) == [JA]
    # declared in the Content-Type header instead
    bare = page.replace(f"<meta charset='{declared}'>", "").encode(body_encoding)
    assert texts(extract(bare, content_type=f"text/html; charset={declared}")) == [JA]


def test_decode_order_and_reported_charset():
    assert decode(JA.encode("cp932"), "Shift_JIS") == (JA, "cp932")
    assert decode(JA.encode("euc_jp"), "text/html; charset=EUC-JP") == (JA, "euc_jp")
    assert decode(JA.encode("utf-8")) == (JA, "utf-8")
    assert decode(b"plain ascii") == ("plain ascii", "ascii")
    assert decode(b"caf\xe9 au lait, cr\xe8me br\xfbl\xe9e", "iso-8859-1") == ("café au lait, crème brûlée", "cp1252")
    # UTF-8 declared latin-1 reads as "cafÃ©": valid multi-byte UTF-8 wins over any declaration
    assert decode("café crème".encode(), "iso-8859-1") == ("café crème", "utf-8")
    # a BOM is never accidental: it beats a declaration
    assert decode(codecs_bom_utf8() + JA.encode("utf-8"), "Shift_JIS") == (JA, "utf-8-sig")
    assert decode("\ufeff".encode("utf-16-le") + JA.encode("utf-16-le")) == (JA, "utf-16")
    # <meta> when the header says nothing
    html_page = f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=euc-jp"></head>{JA}'
    assert decode(html_page.encode("euc_jp")) == (html_page, "euc_jp")
    # ISO-2022-JP (7-bit, escape sequences)
    assert decode(JA.encode("iso2022_jp")) == (JA, "iso2022_jp")


@pytest.mark.parametrize("encoding", ["utf-8", "cp932", "euc_jp"])
def test_a_few_stray_bytes_do_not_lose_the_page(encoding: str):
    body = "".join(f"<p>{JA}</p>" for _ in range(20))
    data = f"<html><body>{body}".encode(encoding) + b"<p>\xff</p></body></html>"
    doc = extract(data, source="stray.html")
    # UTF-8 / EUC-JP: U+FFFD; CP932 maps 0xFF to a private-use character
    assert texts(doc)[:20] == [JA] * 20 and texts(doc)[20] in ("\ufffd", "\uf8f3")


def codecs_bom_utf8() -> bytes:
    return b"\xef\xbb\xbf"


# --------------------------------------------------------------------------- blocks to lines

def test_br_joins_japanese_without_space_and_latin_with_one():
    page = """<html><body><div class="entry-content">
      <p>当社は、<br>お客様の個人情報を<br/>
         適切に管理します。</p>
      <p>We collect<br>your e-mail address<br>
         and name.</p>
      <p>お問い合わせは<br>privacy@example.com<br>まで</p>
      <p>当社は、
         お客様の同意なく提供しません。</p>
      <p>第1条　目的　\u3000</p>
      <p>\u00a0</p><p>\u3000</p><p>  a\u00a0\u00a0 b  </p>
      <div>第2条（取得する情報）<br>当社は、次の情報を<br>取得します。<br>・氏名<br>・住所<br>
        (1) 会員登録時<br>① 任意の<br>項目<br><br>以上の情報は<br>適切に管理します。<br></div>
    </div></body></html>"""
    assert texts(extract(page)) == [
        "当社は、お客様の個人情報を適切に管理します。",
        "We collect your e-mail address and name.",
        "お問い合わせはprivacy@example.comまで",
        "当社は、お客様の同意なく提供しません。",
        "第1条　目的",
        "a b",
        # a line after <br> that starts with a marker is a new line; <br><br> is a paragraph break
        "第2条（取得する情報）当社は、次の情報を取得します。", "・氏名", "・住所", "(1) 会員登録時",
        "① 任意の項目", "以上の情報は適切に管理します。",
    ]


def test_nested_ordered_lists_with_start_value_and_type():
    page = """<html><body><main>
      <ol start="3">
        <li>三番目<ol><li>入れ子の一</li><li>入れ子の二</li></ol></li>
        <li value="7">七番目</li>
        <li>八番目
          <ol type="a"><li>アルファ</li><li>ベータ</li></ol>
          <ol type="i" start="4"><li>ローマ四</li></ol>
          <ol type="A"><li>大文字</li></ol>
        </li>
      </ol>
      <ol reversed><li>逆三</li><li>逆二</li><li>逆一</li></ol>
      <ol style="list-style-type: katakana-iroha"><li>いろは</li><li>ろ</li></ol>
      <ol style="list-style: none"><li>番号なし</li></ol>
      <ul><li>箇条</li><li>・既に中黒</li><li>(1) 番号つき</li></ul>
      <ol><li><p>段落の中の項目</p><p>二段落目</p></li><li>2. 手書きの番号</li></ol>
    </main></body></html>"""
    assert texts(extract(page)) == [
        "3. 三番目", "1. 入れ子の一", "2. 入れ子の二", "7. 七番目", "8. 八番目", "a. アルファ", "b. ベータ",
        "iv. ローマ四", "A. 大文字", "3. 逆三", "2. 逆二", "1. 逆一", "イ、いろは", "ロ、ろ", "番号なし",
        "・箇条", "・既に中黒", "(1) 番号つき", "1. 段落の中の項目", "二段落目", "2. 手書きの番号",
    ]


def test_headings_tables_definition_lists_and_pre():
    page = """<html><body><article>
      <h1>プライバシーポリシー</h1><h3>第2条（利用目的）</h3>
      <table><caption>共同利用</caption>
        <thead><tr><th>項目</th><th>内容</th></tr></thead>
        <tbody><tr><td>共同利用者</td><td>株式会社A<br>株式会社B</td></tr>
        <tr><td>利用目的</td><td><ul><li>広告配信</li><li>分析</li></ul></td></tr></tbody></table>
      <dl><dt>責任者</dt><dd>個人情報保護管理者</dd></dl>
      <blockquote><p>引用された文</p></blockquote>
      <pre>住所: 東京都
  電話: 03-0000-0000</pre>
      <div>直接の文<span>と続き</span><div>内側のブロック</div>後ろの文</div>
      <h6>小見出し</h6>
    </article></body></html>"""
    assert extract(page).lines == [
        Line("プライバシーポリシー", 1), Line("第2条（利用目的）", 3), Line("共同利用", 0),
        Line("項目 | 内容", 0), Line("共同利用者 | 株式会社A株式会社B", 0), Line("利用目的 | ・広告配信 ・分析", 0),
        Line("責任者", 0), Line("個人情報保護管理者", 0), Line("引用された文", 0),
        Line("住所: 東京都", 0), Line("電話: 03-0000-0000", 0),
        Line("直接の文と続き", 0), Line("内側のブロック", 0), Line("後ろの文", 0), Line("小見出し", 6),
    ]


def test_hidden_and_boilerplate_elements_are_dropped():
    page = """<html><body><main>
      <p>本文一</p>
      <p hidden>隠し一</p><p aria-hidden="true">隠し二</p><div style="color:red; display : none">隠し三</div>
      <div style="visibility:hidden">隠し四</div>
      <div class="cookie-consent">クッキー同意</div><div id="onetrust-banner-sdk">同意管理</div>
      <nav class="breadcrumbs">パンくず</nav><div class="topicpath">ホーム &gt; 方針</div>
      <div class="sns-share">シェア</div><div class="social-links">フォロー</div>
      <div class="entry-meta">投稿日 2024-01-01</div>
      <aside>関連記事</aside><iframe src="x"></iframe><svg><text>図</text></svg>
      <ruby>個人<rt>こじん</rt></ruby>
      <p>本文二</p>
    </main></body></html>"""
    assert texts(extract(page)) == ["本文一", "個人", "本文二"]


def test_article_header_is_content_and_site_header_is_not():
    page = """<html><body><header class="site-header"><p>サイト名</p></header>
      <main><article><header class="entry-header"><h1>プライバシーポリシー</h1><p>最終更新日 2024年4月1日</p></header>
      <p>当社は個人情報を適切に取り扱います。</p><footer class="entry-footer">カテゴリー: 規約</footer></article></main>
      <footer><p>会社情報</p></footer></body></html>"""
    assert extract(page).lines == [Line("プライバシーポリシー", 1), Line("最終更新日 2024年4月1日", 0),
                                   Line("当社は個人情報を適切に取り扱います。", 0)]


def test_scripts_comments_and_raw_text_elements_never_eat_content():
    page = """<html><head><style>p::before { content: "<p>" }</style></head><body><main>
      <script>var s = "<!--"; if (a < b) { document.write("<p>書き込み</p>"); }</script>
      <p>本文一</p>
      <!-- <script> コメントの中 </script> <p>コメントアウトされた段落</p> -->
      <p>本文二</p><textarea>入力欄の既定値</textarea><script-widget>独自要素の文</script-widget>
      <svg viewBox="0 0 1 1"><text>図の文字</text></svg><noscript><p>無効時の文</p></noscript>
      <p>本文三</p></main></body></html>"""
    assert texts(extract(page)) == ["本文一", "本文二", "独自要素の文", "本文三"]


def test_deeply_nested_page():
    page = "<html><body>" + "<div>" * 3000 + "<p>深い場所の本文です。</p>" + "</div>" * 3000 + "</body></html>"
    assert texts(extract(page)) == ["深い場所の本文です。"]


def test_select_and_remove():
    page = """<html><body><main><p>ヘッダーの文</p>
      <div id="policy"><h2>個人情報保護方針</h2><p>当社は適切に管理します。</p>
        <p class="note">※このページは印刷できます</p><nav>目次</nav></div>
      <div id="policy-en"><p>We manage it properly.</p></div></main></body></html>"""
    assert texts(extract(page, select="#policy")) == ["個人情報保護方針", "当社は適切に管理します。", "※このページは印刷できます"]
    assert texts(extract(page, select="#policy", remove=[".note"])) == ["個人情報保護方針", "当社は適切に管理します。"]
    assert texts(extract(page, select="#policy, #policy-en", remove=[".note", "h2"])) == [
        "当社は適切に管理します。", "We manage it properly."]
    with pytest.raises(InputError, match=r"^p\.html: the CSS selector '#nothing' \(select\) matches nothing"):
        extract(page, source="p.html", select="#nothing")
    with pytest.raises(ConfigError, match=r"^p\.html: invalid CSS selector 'div\[' in select"):
        extract(page, source="p.html", select="div[")
    with pytest.raises(ConfigError, match=r"invalid CSS selector '>>' in remove"):
        extract(page, source="p.html", remove=[">>"])


# --------------------------------------------------------------------------- Markdown and text

def test_markdown_blocks():
    md = """\ufeff# プライバシーポリシー {: #top }

株式会社サンプル（以下「当社」）は、
お客様の個人情報を
適切に取り扱います。
We respect
your privacy.

## 第1条（取得する情報）
当社は以下の情報を取得します。
1. 氏名
2. メールアドレス
   （任意）
(1) 括弧の番号
・中黒の項目
① 丸数字の項目
- ハイフンの項目
* 星の項目
第2条 本文中の条

詳しくは[こちら](https://example.com/a_(b))をご覧ください。__重要__ と **太字** と *斜体*、snake_case_name、`code`。
<div class="note">HTMLの<b>注記</b></div>

| 項目 | 内容 |
|------|:----:|
| 氏名 | 必須 |
| 住所 | 任意 \\| 郵送時 |

Setext 見出し
-------------

> 引用の文
> 続き

---
```
整形済み
```
<!-- コメント -->
最後の行<br>改行後
"""
    doc = extract(md, kind="markdown")
    assert doc.title == "プライバシーポリシー"
    assert doc.lines == [
        Line("プライバシーポリシー", 1),
        Line("株式会社サンプル（以下「当社」）は、お客様の個人情報を適切に取り扱います。We respect your privacy.", 0),
        Line("第1条（取得する情報）", 2),
        Line("当社は以下の情報を取得します。", 0),
        Line("1. 氏名", 0), Line("2. メールアドレス（任意）", 0), Line("(1) 括弧の番号", 0), Line("・中黒の項目", 0),
        Line("① 丸数字の項目", 0), Line("- ハイフンの項目", 0), Line("* 星の項目", 0), Line("第2条 本文中の条", 0),
        Line("詳しくはこちらをご覧ください。重要 と 太字 と 斜体、snake_case_name、code。", 0),
        Line("HTMLの注記", 0),
        Line("項目 | 内容", 0), Line("氏名 | 必須", 0), Line("住所 | 任意 \\| 郵送時".replace("\\|", "|"), 0),
        Line("Setext 見出し", 2),
        Line("引用の文続き", 0),
        Line("整形済み", 0),
        Line("最後の行改行後", 0),
    ]


def test_markdown_html_table_block_becomes_rows():
    md = """## 法的根拠

<table>
    <thead>
        <tr><th>目的</th><th>データ</th></tr>
    </thead>
    <tbody>
        <tr>
            <td><a id="x"></a>提供するため</td>
            <td>
                <ul>
                    <li>技術データ</li>
                    <li>位置情報</li>
                </ul>
            </td>
        </tr>
    </tbody>
</table>

後の段落
"""
    assert texts(extract(md, kind="markdown")) == ["法的根拠", "目的 | データ", "提供するため | ・技術データ ・位置情報", "後の段落"]


def test_plain_text_one_line_per_non_blank_line():
    text = "第1条（目的）\r\n  当社は、\r\n\u00a0\u00a0\n\u3000\n個人情報を  適切に\t管理します。 \n\n\n(1) 項目\n"
    doc = extract(text.encode("utf-8"), source="p.txt", kind="text")
    assert doc.content_type == "text" and doc.charset == "utf-8"
    assert texts(doc) == ["第1条（目的）", "当社は、", "個人情報を 適切に 管理します。", "(1) 項目"]


def test_kind_is_sniffed_from_content_type_and_content():
    page = "<!DOCTYPE html><html><body><p>本文</p></body></html>"
    assert extract(page.encode()).content_type == "html"
    assert extract(page.encode(), content_type="text/plain").content_type == "html"
    assert extract("本文\n# 見出しではない", content_type="text/plain").content_type == "text"
    assert extract("# 見出し\n本文", content_type="text/markdown; charset=utf-8").lines[0] == Line("見出し", 1)
    assert extract("<p>一</p>\n<p>二</p>\n<div>三</div>").content_type == "html"
    assert extract("a < b and c > d").content_type == "text"
    assert looks_like_html("  <!-- saved -->\n<html lang=ja>")


def test_load_file_kind_by_extension(tmp_path: Path):
    (tmp_path / "p.md").write_text("# 見出し\n\n本文の\n続き", encoding="utf-8")
    (tmp_path / "p.markdown").write_text("## 見出し", encoding="utf-8")
    (tmp_path / "p.txt").write_text("<p>タグのような文</p>\n# 見出しではない", encoding="utf-8")
    (tmp_path / "p.htm").write_bytes("<p>ページ</p>".encode("cp932"))
    (tmp_path / "p.policy").write_text("<html><body><p>中身で判断</p></body></html>", encoding="utf-8")
    assert load_file(tmp_path / "p.md").lines == [Line("見出し", 1), Line("本文の続き", 0)]
    assert load_file(tmp_path / "p.markdown").lines == [Line("見出し", 2)]
    assert texts(load_file(tmp_path / "p.txt")) == ["<p>タグのような文</p>", "# 見出しではない"]
    assert texts(load_file(tmp_path / "p.htm")) == ["ページ"]
    doc = load_file(str(tmp_path / "p.policy"))
    assert doc.content_type == "html" and texts(doc) == ["中身で判断"] and doc.source == str(tmp_path / "p.policy")


def test_str_input_has_no_charset():
    doc = extract("<p>本文</p><p>次</p>", kind="html", source="s")
    assert doc.charset == "" and doc.source == "s" and texts(doc) == ["本文", "次"]


# --------------------------------------------------------------------------- errors

def test_missing_file_and_directory(tmp_path: Path):
    with pytest.raises(InputError, match=r"^.*/nope\.html: no such file$"):
        load_file(tmp_path / "nope.html")
    with pytest.raises(InputError, match=r"^.*: is a directory, not a file$"):
        load_file(tmp_path)


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n"])
def test_empty_file(tmp_path: Path, content: bytes):
    f = tmp_path / "empty.html"
    f.write_bytes(content)
    with pytest.raises(InputError, match=r"^.*/empty\.html: empty file$"):
        load_file(f)


@pytest.mark.parametrize("data", [b"", b"  \n", "\u3000\u00a0\n".encode(), "   "])
def test_empty_body(data):
    with pytest.raises(InputError, match=r"^page: empty body$"):
        extract(data, source="page")


@pytest.mark.parametrize("data, what", [
    # (a PDF is the "pdf" kind now: a broken one is tests/test_pdf_docx.py's)
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
    (b"PK\x03\x04\x14\x00\x06\x00", "ZIP"),
    (b"GIF89a\x01\x00\x01\x00", "GIF"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
    (b"<html><body>\x00\x01\x02</body></html>", "NUL bytes"),
])
def test_binary_content(tmp_path: Path, data: bytes, what: str):
    f = tmp_path / "policy.html"
    f.write_bytes(data)
    with pytest.raises(InputError, match=rf"^.*/policy\.html: binary content \({what}( file)?\), not a policy page$"):
        load_file(f)
    with pytest.raises(InputError, match=rf"^https://example\.com/p: binary content \({what}"):
        extract(data, source="https://example.com/p")


def test_undecodable_bytes():
    data = bytes(range(0x80, 0x100)) * 8 + b"\x81\xff\xfe\x80" * 50
    with pytest.raises(InputError, match=r"^u\.txt: undecodable bytes"):
        extract(data, source="u.txt")
    with pytest.raises(InputError, match=r"^b\.html: undecodable bytes: the page starts with a utf-8-sig BOM"):
        extract(b"\xef\xbb\xbf<p>\xff\xfe\xfa</p>", source="b.html")


@pytest.mark.parametrize("page", [
    "<html><head><title>t</title><script>var a = '本文ではない';</script></head><body></body></html>",
    "<html><body><nav><a href='/'>ホーム</a></nav><footer>© 2024 Example</footer></body></html>",
    "<html><body><p>top of page</p><p hidden>隠れた文</p></body></html>",
    "<html><body><nav><ul><li><a href='/'>ホーム</a></li><li><a href='/privacy'>個人情報保護方針</a></li></ul></nav></body></html>",
])
def test_page_with_no_policy_text(page: str):
    with pytest.raises(InputError, match=r"^x\.html: no policy text found after extraction$"):
        extract(page.encode(), source="x.html")


def test_bad_arguments():
    with pytest.raises(InputError, match=r"unknown input kind 'rtf'"):
        extract(b"text", kind="rtf")
    with pytest.raises(InputError, match=r"expected bytes or str, got int"):
        extract(42)   # type: ignore[arg-type]


# --------------------------------------------------------------------------- bold pseudo-headings

def _labels(clauses) -> list[str]:
    return [c.label for c in clauses]


def test_bold_paragraphs_are_the_sections_of_a_japanese_page():
    from watcher.segment import segment

    page = """<html><head><title>プライバシーポリシー</title></head><body><main>
      <p>株式会社サンプル（以下「当社」）は、個人情報を次のとおり取り扱います。</p>
      <p><strong>個人情報の利用目的</strong></p>
      <p>当社は、取得した個人情報を<strong>サービスの提供</strong>のために利用します。</p>
      <ul><li><strong>お問い合わせへの回答</strong></li><li>本人確認</li></ul>
      <p> <b>第三者提供</b>　</p>
      <p>当社は、法令に基づく場合を除き、個人情報を第三者に提供しません。</p>
      <div><span style="font-weight: bold">お問い合わせ窓口</span></div>
      <p>privacy@example.co.jp</p>
    </main></body></html>"""
    doc = extract(page)
    assert [line for line in doc.lines if line.heading] == [
        Line("個人情報の利用目的", 6), Line("第三者提供", 6), Line("お問い合わせ窓口", 6)]
    # A bold list item stays an item, bold inside a sentence stays plain text.
    assert Line("・お問い合わせへの回答", 0) in doc.lines
    assert Line("当社は、取得した個人情報をサービスの提供のために利用します。", 0) in doc.lines
    clauses = segment(doc)
    assert _labels(clauses) == ["前文", "個人情報の利用目的", "第三者提供", "お問い合わせ窓口"]
    assert clauses[2].body == ["当社は、法令に基づく場合を除き、個人情報を第三者に提供しません。"]


def test_bold_paragraphs_are_the_sections_of_an_english_page():
    from watcher.segment import segment

    page = """<html><body><article>
      <h1>Privacy Policy</h1>
      <p>This policy explains how Example Inc. handles your data.</p>
      <p><b>Information We Collect</b></p>
      <p>We collect your <b>email address</b> and your name.</p>
      <p><strong>How We Use <em>Information</em></strong>:</p>
      <p>We use it to provide the service.</p>
      <p><strong>Contact</strong><br>Write to privacy@example.com.</p>
    </article></body></html>"""
    doc = extract(page)
    assert doc.lines == [
        Line("Privacy Policy", 1), Line("This policy explains how Example Inc. handles your data.", 0),
        Line("Information We Collect", 6), Line("We collect your email address and your name.", 0),
        Line("How We Use Information:", 6), Line("We use it to provide the service.", 0),
        Line("Contact", 6), Line("Write to privacy@example.com.", 0),
    ]
    clauses = segment(doc)
    assert _labels(clauses) == ["前文", "Information We Collect", "How We Use Information:", "Contact"]
    assert clauses[3].body == ["Write to privacy@example.com."]


def test_bold_runs_inside_text_and_long_bold_passages_stay_plain():
    long_bold = "当社は、" + "お客様の個人情報を適切に管理し、" * 6 + "漏えいを防止します。"
    page = f"""<html><body><main>
      <p><strong>重要</strong>：本ポリシーは<b>2024年4月1日</b>から適用されます。</p>
      <p>We <strong>never</strong> sell your personal information to <b>anyone</b>.</p>
      <p><strong>{long_bold}</strong></p>
      <p><b>Note</b> that cookies are <b>optional</b></p>
      <h2><strong>見出しはそのまま</strong></h2>
      <table><tr><th><b>項目</b></th><td>内容</td></tr></table>
    </main></body></html>"""
    assert extract(page).lines == [
        Line("重要：本ポリシーは2024年4月1日から適用されます。", 0),
        Line("We never sell your personal information to anyone.", 0),
        Line(long_bold, 0),
        Line("Note that cookies are optional", 0),
        Line("見出しはそのまま", 2),
        Line("項目 | 内容", 0),
    ]
    assert len(long_bold) > 80


def test_bold_paragraphs_in_markdown_html_blocks_are_headings_too():
    md = "本文です。\n\n<p><strong>利用目的</strong></p>\n\n当社は利用します。\n\n**第三者提供**\n\n提供しません。\n"
    assert extract(md, kind="markdown").lines == [
        Line("本文です。", 0), Line("利用目的", 6), Line("当社は利用します。", 0),
        Line("第三者提供", 6), Line("提供しません。", 0),
    ]


def test_markdown_headings_without_the_space_after_the_hashes():
    md = ("##Mozilla はプライバシーを大切にします。\n\n本文です。\n\n###検索プロバイダを初期設定する{: #defaultsearch }\n\n"
          "*__ロケーションデータ__:国に基づいて設定します。\n\n##How We Share Data ##\n\nWe share it.\n\n"
          "#hashtag\n\n#1\n")
    assert extract(md, kind="markdown").lines == [
        Line("Mozilla はプライバシーを大切にします。", 2), Line("本文です。", 0), Line("検索プロバイダを初期設定する", 3),
        Line("*ロケーションデータ:国に基づいて設定します。", 0), Line("How We Share Data", 2), Line("We share it.", 0),
        Line("#hashtag", 0), Line("#1", 0),
    ]


def test_control_and_bidi_characters_never_reach_the_text():
    page = "<html><body><main><p>当社は\x1b]8;;http://x\x07個人情報を\u202e取得\u202cします。\x9b31m</p></main></body></html>"
    text = extract(page, source="p.html", kind="html").text
    assert text == "当社は]8;;http://x個人情報を取得します。31m"
    assert extract("当社は\x1b[2J情報を取得します。\n", source="p.txt", kind="text").text == "当社は[2J情報を取得します。"


def test_control_characters_after_dropped_chrome_are_no_error():
    # The text after a dropped <nav> is written back into the tree; lxml refuses C0 controls there.
    page = "<html><body><nav>menu</nav>\x1b 本文\x0c続き<p>当社は個人情報を取得します。</p></body></html>"
    assert extract(page, source="p.html", kind="html").text == "本文続き\n当社は個人情報を取得します。"


# --------------------------------------------------------------------------- nested lists (Line.depth)

def test_nested_html_list_items_have_their_depth():
    page = ("<html><body><main><h1>Policy</h1><ul><li>Account<ul><li>name</li><li>email<ol><li>work</li></ol>"
            "</li></ul>kept for a year</li><li>Device</li></ul><p>We do not sell it.</p></main></body></html>")
    doc = extract(page, source="p.html")
    assert [(ln.text, ln.depth) for ln in doc.lines] == [
        ("Policy", 0), ("・Account", 0), ("・name", 1), ("・email", 1), ("1. work", 2), ("kept for a year", 0),
        ("・Device", 0), ("We do not sell it.", 0)]
    assert decode_lines(doc.text, encode_lines(doc)) == doc.lines   # the stored form keeps the depth


def test_markdown_indentation_is_the_list_depth():
    text = "# 方針\n\n- 会員情報\n  - 氏名\n    1. 旧姓\n  - 住所\n- 閲覧情報\n\n  閲覧の際に取得します。\n\n本文です。\n"
    doc = extract(text, source="p.md", kind="markdown")
    assert [(ln.text, ln.depth) for ln in doc.lines] == [
        ("方針", 0), ("- 会員情報", 0), ("- 氏名", 1), ("1. 旧姓", 2), ("- 住所", 1), ("- 閲覧情報", 0),
        ("閲覧の際に取得します。", 1), ("本文です。", 0)]
