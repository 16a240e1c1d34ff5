"""Markdown text: headings keep their level, paragraphs are joined across hard wraps.

    markdown_lines(text) -> (lines, title)

List markers are kept as written, and an item indented under another item has its depth
(Line.depth: 1 for a sub-item, 2 below it); block-level HTML is read by the HTML path; tables become
one line per row; a short paragraph that is bold from end to end is a lowest-level heading.
"""

from __future__ import annotations

import html as htmllib
import re

from watcher.extract.html_text import html_fragment_lines
from watcher.extract.line_shapes import BOLD_HEADING, LIST_LINE, bold_heading_shape
from watcher.extract.whitespace import clean, join_pieces
from watcher.models import Line

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
# "##Title" without the space: Python-Markdown and kramdown render it as a heading, and sites
# built with them write it. A lone ASCII word ("#hashtag", "#1") stays text.
_ATX_TIGHT = re.compile(r"^ {0,3}(#{1,6})([^#\s].*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HR = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_IAL_LINE = re.compile(r"^\s*\{:[^}]*\}\s*$")
_IAL_TRAILING = re.compile(r"\s*\{(?::|#)[^}]*\}\s*$")
_LINK_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+.*$")
_TABLE_DELIM = re.compile(r"^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$")
_BLOCKQUOTE = re.compile(r"^ {0,3}>[ ]?")
_HTML_BLOCK = re.compile(r"^ {0,3}<(/?)([a-zA-Z][a-zA-Z0-9]*)(?=[\s/>]|$)")
_HTML_COMMENT = re.compile(r"^ {0,3}<!--")
# Markdown block-level HTML (CommonMark's list, trimmed to what carries text).
_MD_HTML_BLOCKS = frozenset((
    "address", "article", "aside", "blockquote", "center", "details", "dialog", "dd", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "ul", "style", "script",
))


def markdown_lines(text: str) -> tuple[list[Line], str]:
    """Lines of a Markdown document: headings keep their level, wrapped paragraphs are joined."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    title = ""
    fm = _FRONT_MATTER.match(text)
    if fm:
        m = re.search(r"^title:\s*[\"']?(.*?)[\"']?\s*$", fm.group(1), re.M)
        title = m.group(1) if m else ""
        text = text[fm.end():]
    src = text.split("\n")
    out: list[Line] = []
    para: list[str] = []
    # The indentation of the list items open above the current line (a sub-item is indented more).
    items: list[int] = []
    depth = 0                   # Line.depth of the paragraph being read

    def end_para() -> None:
        # Emphasis may span the wrapped lines ("**Dept.  \nCompany**"): it goes after the join.
        if para:
            joined = ""
            for piece in para:
                joined = join_pieces(joined, piece)
            single = len(para) == 1
            para.clear()
            text = _md_finish(joined)
            if text:
                out.append(Line(text, BOLD_HEADING if single and _bold_heading(joined, text) else 0, depth))

    i = 0
    while i < len(src):
        raw = src[i]
        line = _BLOCKQUOTE.sub("", raw)
        while _BLOCKQUOTE.match(line):
            line = _BLOCKQUOTE.sub("", line)
        stripped = line.strip()
        i += 1
        if not stripped:
            end_para()
            continue
        fence = _FENCE.match(line)
        if fence:
            end_para()
            mark = fence.group(1)
            while i < len(src) and not src[i].strip().startswith(mark):
                piece = clean(src[i])
                if piece:
                    out.append(Line(piece, 0))
                i += 1
            i += 1
            continue
        atx = _ATX.match(line) or _tight_atx(line)
        if atx:
            end_para()
            items.clear()
            heading = _md_inline(_IAL_TRAILING.sub("", atx.group(2) or ""))
            if heading:
                out.append(Line(heading, len(atx.group(1))))
            continue
        setext = _SETEXT.match(line)
        if setext and len(para) == 1 and para[0]:
            level = 1 if setext.group(1)[0] == "=" else 2
            heading = _md_finish(para.pop())
            if heading:
                out.append(Line(heading, level))
            continue
        if _HR.match(line) or _IAL_LINE.match(line) or _LINK_DEF.match(line):
            end_para()
            continue
        if _HTML_COMMENT.match(line):
            end_para()
            while i <= len(src) and "-->" not in src[i - 1]:
                i += 1
            continue
        block = _HTML_BLOCK.match(line)
        # "<Summary>" in mixed case is prose that lost its escaping, not a tag.
        tag_name = block.group(2) if block else ""
        if block and tag_name.lower() in _MD_HTML_BLOCKS and tag_name in (tag_name.lower(), tag_name.upper()):
            end_para()
            i = _md_html_block(src, i - 1, block.group(2).lower(), out)
            continue
        if "|" in stripped and i < len(src) and _TABLE_DELIM.match(src[i]) and "-" in src[i]:
            end_para()
            out.append(Line(_md_row(stripped), 0))
            i += 1
            while i < len(src) and "|" in src[i] and src[i].strip():
                row = _md_row(src[i].strip())
                if row:
                    out.append(Line(row, 0))
                i += 1
            continue
        if LIST_LINE.match(stripped):
            end_para()
            depth = _item_depth(items, _indent(line))
        elif not para:
            indent = _indent(line)
            while items and items[-1] >= indent:
                items.pop()     # a paragraph not indented under an item is outside it
            # A paragraph inside an item sits where the item's sub-items do (one deeper than it):
            # a line in it that reads as a bullet is not the host of the sub-list that follows.
            depth = len(items)
        piece = _md_line(stripped)
        if piece:
            para.append(piece)
    end_para()
    if not title:
        title = next((line.text for line in out if line.heading), "")
    return [line for line in out if line.text], title


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip(" "))


def _item_depth(items: list[int], indent: int) -> int:
    """The depth of a list item indented by `indent`, with `items` (the open items' indents) updated."""
    while items and items[-1] >= indent:
        items.pop()     # a sibling, or an item of a list further out
    items.append(indent)
    return len(items) - 1


def _tight_atx(line: str) -> re.Match[str] | None:
    m = _ATX_TIGHT.match(line)
    if m and (" " in m.group(2).strip() or not m.group(2).isascii()):
        return m
    return None


def _md_html_block(src: list[str], start: int, tag: str, out: list[Line]) -> int:
    """Consume an HTML block starting at src[start]; return the index after it.

    The block runs to a blank line, or, when its opening tag is not closed by then (a
    <table> laid out over blank lines), to the line that closes it.
    """
    open_re = re.compile(rf"<{tag}(?=[\s/>])", re.I)
    close_re = re.compile(rf"</{tag}\s*>", re.I)
    depth = 0
    end = start
    while end < len(src):
        line = src[end]
        if end > start and not line.strip() and depth <= 0:
            break
        depth += len(open_re.findall(line)) - len(close_re.findall(line))
        end += 1
    fragment = "\n".join(src[start:end])
    if tag in ("style", "script"):
        return end
    for line in html_fragment_lines(fragment):
        # Markdown links and emphasis left inside HTML (converters leave them there) go too.
        text = _md_inline(line.text)
        if text:
            out.append(Line(text, line.heading, line.depth))
    return end


def _md_row(row: str) -> str:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    cells = [_md_inline(c) for c in re.split(r"(?<!\\)\|", row)]
    return " | ".join(c for c in cells if c)


_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\((?:[^()\s]|\([^)]*\))*(?:\s+\"[^\"]*\")?\)")
_MD_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\((?:[^()]|\([^)]*\))*\)")
_MD_REF_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])+)\]\[[^\]]*\]")
_MD_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+|[^>\s@]+@[^>\s@]+\.[^>\s@]+)>")
_MD_CODE = re.compile(r"(`+)(.+?)\1")
_MD_STRONG = re.compile(r"(\*\*|__)(?=[^\s*_])(.+?)(?:(?<=\S)\1|(\s+)\1(?=\w))")
# `*` may mark emphasis inside a word (and Japanese has no word breaks); `_` may not (snake_case).
_MD_EM_STAR = re.compile(r"(?<!\*)\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?!\*)")
_MD_EM_UNDER = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
_MD_BR = re.compile(r"<br\s*/?>", re.I)
_MD_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]*)?/?>|<!--.*?-->")
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
# Escaped and code-span characters wait in the private use area while emphasis is stripped.
_PROTECT_BASE = 0xF0000
_PROTECTED = re.compile("[\U000F0000-\U000F007F]")


def _protect(text: str) -> str:
    return "".join(chr(_PROTECT_BASE + ord(ch)) if ch in "*_\\`[]<>|" else ch for ch in text)


def _md_line(text: str) -> str:
    """One source line's inline markup to text, emphasis marks still in place (see _md_finish)."""
    text = _IAL_TRAILING.sub("", text.rstrip())
    if text.endswith("\\"):
        text = text[:-1]        # a backslash hard break
    text = _MD_ESCAPE.sub(lambda m: _protect(m.group(1)), text)
    text = _MD_CODE.sub(lambda m: _protect(m.group(2).strip()), text)
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_REF_LINK.sub(r"\1", text)
    text = _MD_AUTOLINK.sub(lambda m: _protect(m.group(1)), text)
    if "<" in text:
        parts = [_MD_TAG.sub("", p) for p in _MD_BR.split(text)]
        text = ""
        for p in parts:
            text = join_pieces(text, p.strip())
    return text.strip()


# "**Title**" (a closing ".", ":" after the bold is still a title); it can never start like a list item.
_ALL_BOLD = re.compile(r"^(\*\*|__)(?:(?!\1).)+\1[.:：]?$")


def _bold_heading(raw: str, text: str) -> bool:
    return bool(_ALL_BOLD.match(raw.strip())) and bold_heading_shape(text)


def _md_finish(text: str) -> str:
    """Strip emphasis from a (joined) piece of Markdown text and restore protected characters."""
    for _ in range(2):      # nested: ***x*** / **_x_**
        text = _MD_STRONG.sub(lambda m: m.group(2) + (" " if m.group(3) else ""), text)
        text = _MD_EM_STAR.sub(r"\1", text)
        text = _MD_EM_UNDER.sub(r"\1", text)
    text = _PROTECTED.sub(lambda m: chr(ord(m.group(0)) - _PROTECT_BASE), text)
    if "&" in text:
        text = htmllib.unescape(text)
    return clean(text)


def _md_inline(text: str) -> str:
    """Markdown inline markup of one piece of text (a heading, a cell) to plain text."""
    return _md_finish(_md_line(text))
