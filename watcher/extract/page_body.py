"""Page body: find the policy in a page, without the site around it.

    policy_roots(page, select, remove, source) -> [element]

`remove` selectors are dropped first. With `select`, its outermost matches are the body;
otherwise site chrome, hidden elements and boilerplate (rules/boilerplate.toml) are dropped
and the content container holding the most text is the body (or the whole <body>).

The page is lxml's tree (watcher.extract.tree). The selectors the rules use, and most that a
policy's `select` / `remove` give (`#policy`, `main`, `.entry-content`), are matched here in one
walk; any other CSS selector is matched by soupsieve, the CSS engine the configuration is
checked with (watcher.config), on a BeautifulSoup tree of the same page made for it alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from lxml import etree

from watcher import lazy
from watcher.css import simple_selectors
from watcher.errors import ConfigError, InputError
from watcher.extract import tree
from watcher.extract.boilerplate import Rules, rules
from watcher.extract.tree import Element, Page
from watcher.literals import may_match_ascii_folded

# Only for a selector that needs the full CSS engine: a page with simple selectors never loads them.
bs4 = lazy.module("bs4")
soupsieve = lazy.module("soupsieve")

_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_CONTENT_ROOTS = ("main", "article")
# Does an element hold the main content below it (a main / article element, or role="main")?
_HOLDS_MAIN = etree.XPath("boolean(descendant::*[self::main or self::article or @role='main'])")


def policy_roots(page: Page, select: str | None, remove: Sequence[str], source: str) -> list[Element]:
    """The elements that hold the policy, noise removed from them (the tree is changed in place)."""
    r = rules()
    selectors = [*remove, *([select] if select else [])]
    soup = _SoupMirror(page) if any(not simple_selectors(s) for s in selectors) else None
    for sel in remove:
        for element in _select(page, soup, sel, source, "remove"):
            tree.drop(page, element)
            if soup is not None:
                soup.drop(element)
    if page.root is None:
        if select:
            raise InputError(f"{source}: the CSS selector {select!r} (select) matches nothing on the page")
        return []
    body = tree.first(page, "body")
    if body is None:
        body = page.root
    if select:
        roots = _outermost(_select(page, soup, select, source, "select"))
        if not roots:
            raise InputError(f"{source}: the CSS selector {select!r} (select) matches nothing on the page")
        total = _TextLength(body)
        for root in roots:
            _strip_noise(page, root, total, r)
        return roots
    candidates: list[Element] = []
    _strip_noise(page, body, _TextLength(body), r, candidates)
    return [_main_content(body, candidates, r)]      # the text length after the noise is gone


def _select(page: Page, soup: _SoupMirror | None, selector: str, source: str, what: str) -> list[Element]:
    if page.root is None:
        return []
    simple = simple_selectors(selector)
    if simple:      # libxml2 finds the candidates, in document order; each is then matched exactly
        return [e for e in _candidates(selector)(page.root) if any(sel.matches(e) for sel in simple)]
    try:
        return soup.select(selector)
    except (soupsieve.SelectorSyntaxError, ValueError, NotImplementedError) as err:
        reason = str(err).splitlines()[0]
        raise ConfigError(f"{source}: invalid CSS selector {selector!r} in {what}: {reason}") from None


@lru_cache(maxsize=256)
def _candidates(selector: str) -> etree.XPath:
    """The elements that may match a simple selector: its tag, id and a class substring (XPath)."""
    return etree.XPath(" | ".join(sel.candidates_xpath() for sel in simple_selectors(selector)))


class _SoupMirror:
    """A BeautifulSoup copy of the page's lxml tree, tag for element, for the selectors only
    soupsieve reads; a removal is made in both."""

    def __init__(self, page: Page):
        self.soup = bs4.BeautifulSoup("", "lxml")
        self.element_of: dict[int, Element] = {}
        self.tag_of: dict[Element, object] = {}
        if page.root is not None:
            self._copy(page.root)

    def _copy(self, root: Element) -> None:
        stack: list[tuple[Element | str, object]] = [(root, self.soup)]
        while stack:        # in document order, so that each tag's content is appended in order
            item, parent = stack.pop()
            if type(item) is str:
                parent.append(bs4.NavigableString(item))
                continue
            tag = self.soup.new_tag(item.tag, attrs=dict(item.attrib))
            parent.append(tag)
            self.element_of[id(tag)], self.tag_of[item] = item, tag
            content: list[tuple[Element | str, object]] = [(item.text, tag)] if item.text else []
            for child in item:
                if isinstance(child.tag, str):      # a comment's text is no content; the text after it is
                    content.append((child, tag))
                if child.tail:
                    content.append((child.tail, tag))
            stack.extend(reversed(content))

    def select(self, selector: str) -> list[Element]:
        return [self.element_of[id(t)] for t in self.soup.select(selector)]

    def drop(self, element: Element) -> None:
        self.tag_of[element].extract()


def _outermost(elements: list[Element]) -> list[Element]:
    chosen = set(elements)
    return [e for e in elements if not any(a in chosen for a in e.iterancestors())]


class _TextLength:
    """The text length of the page's body, measured when first needed: most selected bodies
    hold nothing to drop, and measuring the whole page cost as much as stripping it. Measured
    before the first element is dropped, so that it is the length of the page as it came."""

    def __init__(self, body: Element):
        self.body, self.value = body, -1

    def measure(self) -> int:
        if self.value < 0:
            self.value = tree.text_length(self.body)
        return self.value


def _strip_noise(page: Page, root: Element, total: _TextLength, r: Rules,
                 candidates: list[Element] | None = None) -> None:
    """Drop site chrome, hidden elements and boilerplate below `root` (never `root` itself).

    With `candidates`, also collect the main-content candidates that survive (same walk).
    """
    # The walk visits an element before its content and the children of an element last to first (the
    # order of the stack it was written with, which decides ties between candidates): the reverse of
    # lxml's post-order, listed in C at once instead of an iterator per element. An element's content
    # follows it in that order, so a dropped element's is skipped by its count.
    order = [element for _, element in etree.iterwalk(root, events=("end",), tag=etree.Element)]
    order.pop()     # root itself, last in post-order
    order.reverse()
    drop_tags = r.drop_tags
    i, n = 0, len(order)
    while i < n:
        element = order[i]
        i += 1
        if element.tag in drop_tags or (_is_noise(element, r) and not _holds_content(element, total, r)):
            if len(element):
                i += sum(1 for _ in element.iterdescendants(etree.Element))
            total.measure()
            tree.drop(page, element)
            continue
        if candidates is not None and r.content_index.matches(element):
            candidates.append(element)


def _is_noise(element: Element, r: Rules) -> bool:
    name = element.tag
    # An article's own header (its title) and footer are content, unless their attributes say otherwise.
    if name in r.chrome_tags and not (name in ("header", "footer")
                                      and next(element.iterancestors(_CONTENT_ROOTS), None) is not None):
        return True
    attrs = element.attrib
    if not attrs:
        return False
    if "hidden" in attrs or attrs.get("aria-hidden", "").lower() == "true":
        return True
    style = attrs.get("style")
    if style and _HIDDEN_STYLE.search(style):
        return True
    role = attrs.get("role")
    if role and role.lower() in r.drop_roles:
        return True
    names = attrs.get("class", "").split()
    ident = attrs.get("id")
    if ident:
        names.append(ident)
    return any(_noise_name(n) for n in names)


@lru_cache(maxsize=8192)
def _noise_name(name: str) -> bool:
    # A substring test first: a search of the 51 alternatives cost ~20 µs a name, and CSS-in-JS
    # sites give every page its own class names (css-85f0e6-root), so the cache rarely helps there.
    noise = rules().noise_names
    return may_match_ascii_folded(noise, name) and noise.search(name) is not None


def _holds_content(element: Element, total: _TextLength, r: Rules) -> bool:
    """Guard: an element that holds the main content or most of the text is never noise.

    A <nav> is exempt: a page that is all navigation has no policy on it.
    """
    if element.tag == "nav":
        return False
    if element.tag in _CONTENT_ROOTS or _HOLDS_MAIN(element):
        return True
    return tree.text_length(element) >= max(1, int(total.measure() * r.keep_share))


def _main_content(body: Element, candidates: list[Element], r: Rules) -> Element:
    """The candidate container holding the most text, or the body if none holds enough."""
    total = tree.text_length(body)
    best, best_len = None, 0
    for element in candidates:      # in document order: ties keep the earlier, outer candidate
        n = tree.text_length(element)
        if n > best_len:
            best, best_len = element, n
    if best is not None and best_len >= total * r.min_share:
        return best
    return body
