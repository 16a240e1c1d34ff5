"""The CSS selectors the extractor matches without a CSS engine: `tag`, `#id`, `.class`,
`[attr=value]`, a combination of them (`div.content`) and comma lists of those.

    simple_selectors(selector) -> tuple[SimpleSelector, ...]    () when a part needs the engine
    SimpleSelector.parse(text) -> SimpleSelector                ValueError when it is not simple
    compiles_without_engine(selector) -> bool                   True: soupsieve would compile it too

Most policies select their body with such a selector (`select = "#policy"`). soupsieve, the
engine BeautifulSoup's select uses, costs ~60 ms to import and ~30 ms for its first compile:
a `watch check` validating its configuration, and an extraction, use it only for the others.
Matching works on lxml elements, named for annotations only (a config load imports no lxml).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from lxml.etree import _Element as Element

# What the extractor takes as simple. It is more lenient than CSS (an id may start with a digit,
# an attribute value may be unquoted text): the configuration refuses those (below), and the
# extractor keeps the matching it had for its own rule file's selectors.
_SIMPLE_PART = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)?(?:#([\w-]+))?(?:\.([\w-]+))?"
                          r"(?:\[([\w-]+)=[\"']?([^\"'\]]+)[\"']?\])?$")

# The part of CSS syntax both the extractor and soupsieve read the same way, for validation
# without soupsieve: CSS identifiers (not starting with a digit, or a hyphen and a digit),
# an attribute value quoted with the same quote or an identifier, no escapes, no comments,
# CSS white space only (str.strip would also take U+3000, which CSS does not).
_IDENT = r"(?:--|-?[^\W\d])[\w-]*"
_VALUE = rf"(?:\"[^\"'\]\\\r\n\f\x00]+\"|'[^\"'\]\\\r\n\f\x00]+'|{_IDENT})"
_CSS_PART = rf"(?:[a-zA-Z][a-zA-Z0-9]*)?(?:#{_IDENT})?(?:\.{_IDENT})?(?:\[{_IDENT}={_VALUE}\])?"
_CSS_SPACE = r"[ \t\n\r\f]*"
_CSS_LIST = re.compile(rf"{_CSS_SPACE}{_CSS_PART}{_CSS_SPACE}(?:,{_CSS_SPACE}{_CSS_PART}{_CSS_SPACE})*")


@dataclass(frozen=True)
class SimpleSelector:
    """`tag`, `#id`, `.class`, `[attr=value]` or a combination such as `div.content`."""

    tag: str | None
    ident: str | None
    cls: str | None
    attr: tuple[str, str] | None

    SYNTAX: ClassVar[re.Pattern[str]] = _SIMPLE_PART

    @classmethod
    def parse(cls, text: str) -> SimpleSelector:
        m = cls.SYNTAX.match(text.strip())
        if not m or not any(m.groups()):
            raise ValueError(f"{text!r} is not a simple tag/#id/.class/[attr=value]")
        tag, ident, klass, attr, value = m.groups()
        return cls(tag.lower() if tag else None, ident, klass, (attr, value) if attr else None)

    def candidates_xpath(self) -> str:
        """An XPath of the elements at or below a context element that may match (a superset:
        the class as a substring, the attribute not read); `matches` decides."""
        tests = [f"self::{self.tag}"] if self.tag else []
        if self.ident:
            tests.append(f"@id='{self.ident}'")
        if self.cls:
            tests.append(f"contains(@class,'{self.cls}')")
        return "descendant-or-self::*" + (f"[{' and '.join(tests)}]" if tests else "")

    def matches(self, element: Element) -> bool:
        if self.tag and element.tag != self.tag:
            return False
        if self.ident and element.get("id") != self.ident:
            return False
        if self.cls and self.cls not in element.get("class", "").split():
            return False
        if self.attr and element.get(self.attr[0], "").lower() != self.attr[1].lower():
            return False
        return True


@lru_cache(maxsize=256)
def simple_selectors(selector: str) -> tuple[SimpleSelector, ...]:
    """`#a, .b, main` as simple selectors, or () when any part needs the full CSS engine."""
    parts = []
    for part in selector.split(","):
        m = _SIMPLE_PART.match(part.strip())
        if not m or not any(m.groups()):
            return ()
        parts.append(SimpleSelector.parse(part))
    return tuple(parts)


def compiles_without_engine(selector: str) -> bool:
    """True when `selector` is a list of simple selectors in plain CSS syntax: soupsieve compiles
    it (tests/test_css.py compares the two), and the extractor matches it without soupsieve.
    False says nothing: ask soupsieve."""
    return _CSS_LIST.fullmatch(selector) is not None and bool(simple_selectors(selector))
