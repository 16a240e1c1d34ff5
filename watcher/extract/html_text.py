"""HTML text: a page's policy body as lines.

    html_lines(text, select=..., remove=..., source=...) -> (lines, title)
    html_fragment_lines(fragment) -> lines     (HTML inside Markdown: no noise detection)

The body is found by watcher.extract.page_body; blocks become lines here. `<ol>` numbers
that the browser draws are written into the text ("1. ", "a. "); `<ul>` items get "・" (what
the browser draws as a disc, and the bullet the segmenter reads, so an HTML list lines up
with the same list in a text version: "• item"). A line inside a list item of a list inside
another list item has its Line.depth (1, 2, ...): the segmenter nests a sub-bullet by it. A data table becomes one line per row.
A short block that is bold from end to end ("<p><strong>Title</strong></p>") is a heading of
the lowest level, as the same paragraph in Markdown is (line_shapes.bold_heading_shape).

The page is parsed once, by lxml (watcher.extract.tree), and walked as BeautifulSoup's tree was.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from watcher.extract import tree
from watcher.extract.boilerplate import rules
from watcher.extract.line_shapes import BOLD_HEADING, LIST_LINE, bold_heading_shape
from watcher.extract.list_numbers import MARKER_START, ListState
from watcher.extract.page_body import policy_roots
from watcher.extract.tree import Element
from watcher.extract.whitespace import clean, join_pieces
from watcher.models import Line

_BLOCK_TAGS = frozenset((
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog", "dir",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hgroup", "hr", "html", "legend", "li", "main", "menu", "nav", "ol", "p", "pre", "section",
    "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "listing", "plaintext", "xmp",
))
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_LIST_TAGS = frozenset(("ol", "ul", "menu", "dir"))
_BOLD_TAGS = frozenset(("strong", "b"))
_BOLD_STYLE = re.compile(r"font-weight\s*:\s*(?:bold|bolder|[6-9]00)\b", re.I)
# Punctuation after a bold title that leaves it a title ("<b>Contact</b>:").
_TITLE_TAIL = frozenset((".", ":", "："))
_ASCII_SPACE = " \t\n\r\x0c"


# Comments and elements whose content is never policy text, removed from the source before
# parsing (a large share of a modern page, and of the parse time). Matched left to right as
# an HTML tokenizer would: a "<!--" inside a script is script, a "<script>" in a comment is comment.
_RAW_NOISE = re.compile(
    r"<!--.*?(?:-->|\Z)|<(script|style|noscript|template|svg|math|iframe|textarea)(?=[\s/>])[^>]*>.*?(?:</\1\s*>|\Z)",
    re.I | re.S)


def html_lines(text: str, *, select: str | None = None, remove: Sequence[str] = (),
               source: str = "<input>") -> tuple[list[Line], str]:
    """The policy lines and the title of an HTML page."""
    page = tree.parse(_RAW_NOISE.sub(" ", text))
    element = tree.first(page, "title")
    title = clean(tree.text(element)) if element is not None else ""
    builder = _LineBuilder()
    for root in policy_roots(page, select, remove, source):
        builder.block(root)
    if not title:
        element = tree.first(page, "h1")
        title = clean(tree.text(element)) if element is not None else ""
    return builder.lines, title


def html_fragment_lines(fragment: str) -> list[Line]:
    """Lines of an HTML fragment embedded in another document (Markdown): no noise detection."""
    page = tree.parse(fragment)
    if page.root is None:
        return []
    for element in list(page.root.iter(*rules().drop_tags)):
        tree.drop(page, element)
    builder = _LineBuilder()
    body = tree.first(page, "body")
    builder.block(body if body is not None else page.root)
    return builder.lines


class _LineBuilder:
    """Walks HTML blocks and collects Lines.

    Inline text accumulates in `segments` (a new segment after each <br>); a block boundary
    flushes it as one Line. A list item's marker waits in `marker` for the item's first line.
    `plain` / `bold` record, per segment, whether it holds text outside / inside <strong>,
    <b> or bold-styled elements: a block that is bold from end to end is a pseudo-heading.
    """

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self.segments: list[list[str]] = [[]]
        self.plain: list[bool] = [False]
        self.bold: list[bool] = [False]
        self.has_text = False   # a segment holds a piece that is not whitespace (else a flush writes nothing)
        self.bold_depth = 0
        self.items = 0          # <li> elements open: nothing inside a list item is a heading
        self.marker: str | None = None
        self.heading = 0
        self.outer_headings: list[int] = []    # the level each open heading element replaced
        self.lists: list[ListState] = []
        self.opaque = 0         # inside <script>, <style>, <template>, <rt>, <rp>: text is no page text

    # -- output
    def flush(self) -> None:
        """End the current block: its <br>-separated pieces become one line, or several.

        A single <br> is a wrap inside a sentence: the pieces are joined. Two <br> in a row
        are a paragraph break, and a piece that starts with an item or article marker
        ("・", "(1)", "第3条") starts a new line: old sites lay out whole policies this way.
        A line that is bold from end to end, short, and not in a list item is a heading
        (BOLD_HEADING); a bold title over its text ("<b>Title</b><br>text") is its own line.
        """
        if not self.has_text:   # nothing, or white space between tags, since the last block boundary (most calls)
            if len(self.segments) > 1 or self.segments[0]:
                self.segments, self.plain, self.bold = [[]], [False], [False]
            return
        self.has_text = False
        segments, plain, bold = self.segments, self.plain, self.bold
        self.segments, self.plain, self.bold = [[]], [False], [False]
        may_head = not self.heading and not self.items
        if len(segments) == 1:  # no <br> in the block (most blocks): its one piece is its one line
            texts = [(clean("".join(segments[0])), bold[0] and not plain[0])]
        else:
            texts = _split_pieces([clean("".join(seg)) for seg in segments],
                                  [b and not p for b, p in zip(bold, plain, strict=True)], may_head)
        for text, all_bold in texts:
            if not text:
                continue
            if self.marker is not None:
                if self.marker and not MARKER_START.match(text):
                    text = self.marker + text
                self.marker = None
            heading = self.heading
            if may_head and all_bold and bold_heading_shape(text):
                heading = BOLD_HEADING
            self.lines.append(Line(text, heading, self.items - 1 if self.items > 1 else 0))

    def emit(self, text: str) -> None:
        self.flush()
        text = clean(text)
        if text:
            self.lines.append(Line(text, self.heading, self.items - 1 if self.items > 1 else 0))

    # -- walking (with an explicit stack: real pages nest deeper than Python recursion allows)
    def block(self, root: Element) -> None:
        """Walk `root` as a block: its content becomes lines."""
        preserve = tree.preserves_space(root)
        # Next on top: text pieces (str) to add, elements to enter, and the end markers (int,
        # from enter) of the elements whose content lies above them.
        stack: list[str | Element | int] = [_END_BLOCK, root]
        push, pop = stack.append, stack.pop
        while stack:
            item = pop()
            kind = type(item)
            if kind is str:
                if self.opaque:
                    continue
                if not item.strip(_ASCII_SPACE):     # tree.collapsed, inline: the walk's hot path
                    self.segments[-1].append(item if preserve else "\n" if "\n" in item else " ")
                    continue
                self.segments[-1].append(item)
                if not item.isspace():
                    self.has_text = True
                    if self.bold_depth:
                        self.bold[-1] = True
                    elif item.strip() not in _TITLE_TAIL:
                        self.plain[-1] = True
            elif kind is int:
                self.leave(item)
            else:
                end = self.enter(item)
                if end is None:
                    continue
                if end != _INLINE:
                    push(end)
                if len(item):   # most elements have none; a slice is cheaper than reversed() when they do
                    for child in item[::-1]:
                        tail = child.tail       # lxml makes a new str at each read
                        if tail:
                            push(tail)
                        if type(child.tag) is str:      # not a comment or processing instruction
                            push(child)
                text = item.text
                if text:
                    push(text)
        self.flush()

    def enter(self, tag: Element) -> int | None:
        """Start an element; return its end marker (for leave), or None to skip its content."""
        name = tag.tag
        start = _START.get(name)
        end = _INLINE if start is None else start(self, tag)
        if end is None:
            return None
        if name not in _BOLD_TAGS:
            style = tag.get("style")
            if not style or _BOLD_STYLE.search(style) is None:
                return end
        self.bold_depth += 1
        return end | _BOLD

    def leave(self, end: int) -> None:
        """End an element after its content: `end` is the marker enter returned for it."""
        if end & _BOLD:
            self.bold_depth -= 1
            end &= ~_BOLD
        if end == _END_BLOCK:
            self.flush()
        elif end == _END_ITEM:
            self.flush()
            self.marker = None
            self.items -= 1
        elif end == _END_HEADING:
            self.flush()
            self.heading = self.outer_headings.pop()
        elif end == _END_LIST:
            self.flush()
            self.lists.pop()
        elif end == _END_OPAQUE:
            self.opaque -= 1

    # -- how each element starts (_START): its end marker, None to skip its content
    def start_break(self, tag: Element) -> None:
        self.segments.append([])
        self.plain.append(False)
        self.bold.append(False)

    def start_heading(self, tag: Element) -> int:
        self.flush()
        self.outer_headings.append(self.heading)
        self.heading = _HEADINGS[tag.tag]
        return _END_HEADING

    def start_preformatted(self, tag: Element) -> None:
        self.flush()
        for raw in tree.text(tag).splitlines():
            self.emit(raw)

    def start_list(self, tag: Element) -> int:
        self.flush()
        self.lists.append(ListState.of(tag))
        return _END_LIST

    def start_item(self, tag: Element) -> int:
        self.flush()
        state = self.lists[-1] if self.lists else ListState("disc", 1, 1)
        self.marker = state.next_marker(tag)
        self.items += 1
        return _END_ITEM

    def start_table(self, tag: Element) -> int | None:
        if self.data_table(tag):
            return None
        return self.start_block(tag)

    def start_rule(self, tag: Element) -> None:
        self.flush()

    def start_empty(self, tag: Element) -> None:
        return None

    def start_block(self, tag: Element) -> int:
        self.flush()
        return _END_BLOCK

    def start_opaque(self, tag: Element) -> int:
        """Never page text (in practice dropped as noise before the walk)."""
        self.opaque += 1
        return _END_OPAQUE

    def data_table(self, table: Element) -> bool:
        """Emit a data table as one line per row; False for a layout table (walked as blocks)."""
        rows = _rows(table)
        layout = (
            table.get("role", "").lower() in ("presentation", "none")
            or not rows
            or all(len(_cells(tr)) <= 1 for tr in rows)
            or next(table.iterdescendants(*_LAYOUT_SIGNS), None) is not None
        )
        if layout:
            return False
        self.flush()
        for child in table.iterchildren("caption"):
            self.emit(tree.text(child, " "))
        for tr in rows:
            cells = [_cell_text(td) for td in _cells(tr)]
            text = " | ".join(c for c in cells if c)
            if text:
                self.lines.append(Line(text, 0))
        return True


# What is left to do after an element's content: the end marker that _LineBuilder.enter returns
# and the walk keeps on its stack until _LineBuilder.leave. Small ints, not a closure made per
# element: the walk reads them apart from text (str) and elements by their type alone.
_INLINE = 0         # nothing (an inline element): not kept
_END_BLOCK = 1      # flush: the block's lines are written
_END_ITEM = 2       # flush, and the list item is closed
_END_HEADING = 3    # flush, and the enclosing heading level is back
_END_LIST = 4       # flush, and the list's numbering ends
_END_OPAQUE = 5     # text is page text again
_BOLD = 8           # or-ed into any of these: the element was bold (<b>, <strong>, font-weight)


# How an element starts, by tag name (_LineBuilder.enter); any other element is inline.
_START = {
    **{name: _LineBuilder.start_block for name in _BLOCK_TAGS},
    **{name: _LineBuilder.start_opaque for name in tree.OPAQUE},
    **{name: _LineBuilder.start_heading for name in _HEADINGS},
    **{name: _LineBuilder.start_preformatted for name in ("pre", "listing", "xmp", "plaintext")},
    **{name: _LineBuilder.start_list for name in _LIST_TAGS},
    "br": _LineBuilder.start_break,
    "li": _LineBuilder.start_item,
    "table": _LineBuilder.start_table,
    "hr": _LineBuilder.start_rule,
    "img": _LineBuilder.start_empty, "area": _LineBuilder.start_empty, "wbr": _LineBuilder.start_empty,
}

# A table holding another table or headings lays out a page; it is not a table of data.
_LAYOUT_SIGNS = frozenset(("table", *_HEADINGS))


def _rows(table: Element) -> list[Element]:
    rows = []
    for child in table.iterchildren("tr", "thead", "tbody", "tfoot"):
        if child.tag == "tr":
            rows.append(child)
        else:
            rows.extend(child.iterchildren("tr"))
    return rows


def _split_pieces(pieces: list[str], all_bold: list[bool], may_head: bool) -> list[tuple[str, bool]]:
    """The lines of a block that <br> cut in pieces, each with whether it is bold from end to end.

    An empty piece inside the block (two <br> in a row) ends a line; a piece that starts like
    a list item, or a piece not bold after a short bold title (where the block may be a
    heading), starts a new one; any other piece continues the line (_LineBuilder.flush).
    """
    texts: list[tuple[str, bool]] = []
    text, bold = "", True
    for i, piece in enumerate(pieces):
        if not piece:
            if text and 0 < i < len(pieces) - 1:
                texts.append((text, bold))
                text, bold = "", True
        elif text and (LIST_LINE.match(piece)
                       or (may_head and bold and not all_bold[i] and bold_heading_shape(text))):
            texts.append((text, bold))
            text, bold = piece, all_bold[i]
        else:
            text = join_pieces(text, piece)
            bold = bold and all_bold[i]
    texts.append((text, bold))
    return texts


def _cells(tr: Element) -> list[Element]:
    return list(tr.iterchildren("td", "th"))


def _cell_text(cell: Element) -> str:
    """A table cell as one piece of text: its own lines joined by spaces."""
    sub = _LineBuilder()
    sub.block(cell)
    return " ".join(line.text for line in sub.lines)


# A list item that already starts with its own number or bullet (many CMSs type "1." into
