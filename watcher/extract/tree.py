"""The parsed page: one lxml tree, read the way the extractor has always read a page.

    parse(text) -> Page          (page.root: the <html> element, None for a page without elements)
    strings(element) -> [str]    the element's text pieces, in document order
    text(element) -> str         those pieces joined
    text_length(element) -> int  characters of visible text, whitespace not counted
    drop(page, element)          the element removed, the text after it kept

A page used to be parsed a second time by BeautifulSoup (on lxml's parser) to build its own tree;
lxml's tree is the same tree for a tenth of the CPU. What BeautifulSoup added is kept here, so that
the lines do not change: a run of ASCII whitespace between two tags reads as one "\\n" or " "
(but inside <pre> / <textarea>), and text inside <script>, <style>, <template>, <rt> and <rp> is no
page text (BeautifulSoup's string containers). libxml2 writes every CR as LF already.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

Element = etree._Element

# Text in these is never page text, whatever element it sits in below them.
OPAQUE = frozenset(("script", "style", "template", "rt", "rp"))
# Whitespace runs in these are kept as written.
PRESERVE = frozenset(("pre", "textarea"))
_ASCII_SPACE = " \t\n\r\x0c"
_XML_INCOMPATIBLE = dict.fromkeys([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])


@dataclass
class Page:
    text: str                   # the markup that was parsed
    root: Element | None        # None: no element at all, or the whole document was removed


# libxml2 builds its tree at most 256 elements deep and stops parsing there; the parser's events go
# on (BeautifulSoup read those). A tree that reaches the limit is built again from the events.
_DEPTH_LIMIT = 256
_AT_DEPTH_LIMIT = etree.XPath("boolean(/*" + "/*" * (_DEPTH_LIMIT - 1) + ")")


def parse(text: str) -> Page:
    """The page's tree, from the libxml2 push parser (one feed) BeautifulSoup used."""
    # collect_ids=False: no table of id attributes (nothing here looks an element up by it; XPath's
    # id() would miss duplicates anyway), ~7 % of the parse
    root = _feed(text, etree.HTMLParser(collect_ids=False))
    if root is not None and _AT_DEPTH_LIMIT(root):
        root = _feed(text, etree.HTMLParser(target=etree.TreeBuilder()))    # C, but 4x slower
    return Page(text, root)


def _feed(text: str, parser: etree.HTMLParser) -> Element | None:
    try:
        parser.feed(text)
        return parser.close()
    except etree.LxmlError:     # nothing but whitespace and comments: no element at all
        return None


def first(page: Page, name: str) -> Element | None:
    """The first `name` element of the page, in document order."""
    return None if page.root is None else next(page.root.iter(name), None)


def collapsed(piece: str) -> str:
    """A piece of text as the walk reads it: ASCII whitespace alone is one newline or space."""
    if piece.strip(_ASCII_SPACE):
        return piece
    return "\n" if "\n" in piece else " "


def preserves_space(element: Element) -> bool:
    """Is the element inside (or) a <pre> / <textarea>, where whitespace is kept?"""
    if element.tag in PRESERVE:
        return True
    return any(a.tag in PRESERVE for a in element.iterancestors())


def strings(element: Element) -> list[str]:
    """The text pieces of the element's content in document order (its own tail not included)."""
    preserve = preserves_space(element)
    out: list[str] = []
    stack: list[Element | str] = [element]
    while stack:
        item = stack.pop()
        if type(item) is str:
            out.append(item if preserve else collapsed(item))
            continue
        if item.tag in OPAQUE:
            continue
        for child in reversed(item):
            if child.tail:
                stack.append(child.tail)
            if isinstance(child.tag, str):
                stack.append(child)
        if item.text:
            stack.append(item.text)
    return out


def text(element: Element, separator: str = "") -> str:
    return separator.join(strings(element))


def text_length(element: Element) -> int:
    """Characters of visible text, whitespace not counted."""
    if next(element.iter(*OPAQUE), None) is None:
        joined = "".join(element.itertext())     # C: no comments, no processing instructions
    else:
        joined = "".join(strings(element))
    return sum(map(len, joined.split()))


def drop(page: Page, element: Element) -> None:
    """Remove the element and its content; the text that follows it stays where it was."""
    parent = element.getparent()
    if parent is None:
        if element is page.root:
            page.root = None
        return
    tail = element.tail
    if tail:
        # lxml refuses to set text with C0 controls (a page may carry them: libxml2 parsed them);
        # they are no page text (whitespace.clean drops them too)
        tail = tail.translate(_XML_INCOMPATIBLE)
        previous = element.getprevious()
        preserve = preserves_space(parent)
        if not preserve:
            tail = collapsed(tail)
        if previous is not None:
            before = previous.tail or ""
            previous.tail = (before if preserve else collapsed(before) if before else "") + tail
        else:
            before = parent.text or ""
            parent.text = (before if preserve else collapsed(before) if before else "") + tail
    parent.remove(element)
