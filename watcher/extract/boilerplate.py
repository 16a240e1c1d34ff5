"""Boilerplate rules (rules/boilerplate.toml): page noise, content containers, debris lines.

    rules() -> Rules        loaded once
    SimpleSelector / SelectorIndex: the `tag#id.class[attr=value]` selectors the rules use,
    matched on lxml elements without a CSS engine (soupsieve costs tens of ms on a large page).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from watcher.errors import ConfigError

if TYPE_CHECKING:       # annotations only: a text file's extraction reads these rules without lxml
    from lxml.etree import _Element as Element

RULES_PATH = Path(__file__).parent.parent / "rules" / "boilerplate.toml"


@dataclass(frozen=True)
class Rules:
    keep_share: float
    drop_tags: frozenset[str]
    chrome_tags: frozenset[str]
    drop_roles: frozenset[str]
    noise_names: re.Pattern[str]
    content_index: SelectorIndex
    min_share: float
    debris: re.Pattern[str]


@lru_cache(maxsize=1)
def rules() -> Rules:
    with RULES_PATH.open("rb") as fh:
        raw = tomllib.load(fh)
    return Rules(
        keep_share=float(raw["keep_share"]),
        drop_tags=frozenset(raw["tags"]["drop"]),
        chrome_tags=frozenset(raw["tags"]["chrome"]),
        drop_roles=frozenset(raw["roles"]["drop"]),
        noise_names=re.compile("|".join(f"(?:{p})" for p in raw["names"]["noise"]), re.I),
        content_index=SelectorIndex([SimpleSelector.parse(sel) for sel in raw["content"]["selectors"]]),
        min_share=float(raw["content"]["min_share"]),
        debris=re.compile("|".join(f"(?:{p})" for p in raw["lines"]["drop"]), re.I),
    )


def classes(element: Element) -> list[str]:
    return element.get("class", "").split()


@lru_cache(maxsize=256)
def simple_selectors(selector: str) -> tuple[SimpleSelector, ...]:
    """`#a, .b, main` as simple selectors, or () when any part needs the full CSS engine."""
    parts = []
    for part in selector.split(","):
        m = SimpleSelector.SYNTAX.match(part.strip())
        if not m or not any(m.groups()):
            return ()
        parts.append(SimpleSelector.parse(part))
    return tuple(parts)


class SelectorIndex:
    """Simple selectors indexed by tag name, id, class and attribute, to test a tag quickly."""

    def __init__(self, selectors: Sequence[SimpleSelector]) -> None:
        self.by_tag: dict[str, list[SimpleSelector]] = {}
        self.by_id: dict[str, list[SimpleSelector]] = {}
        self.by_class: dict[str, list[SimpleSelector]] = {}
        self.by_attr: dict[str, list[SimpleSelector]] = {}
        for sel in selectors:
            if sel.ident:
                self.by_id.setdefault(sel.ident, []).append(sel)
            elif sel.cls:
                self.by_class.setdefault(sel.cls, []).append(sel)
            elif sel.attr:
                self.by_attr.setdefault(sel.attr[0], []).append(sel)
            else:
                self.by_tag.setdefault(sel.tag or "", []).append(sel)

    def matches(self, element: Element) -> bool:
        found = self.by_tag.get(element.tag, [])
        attrs = element.attrib
        if attrs:
            ident = attrs.get("id")
            if ident in self.by_id:
                found = found + self.by_id[ident]
            for cls in attrs.get("class", "").split():
                if cls in self.by_class:
                    found = found + self.by_class[cls]
            for attr in self.by_attr:
                if attr in attrs:
                    found = found + self.by_attr[attr]
        return any(sel.matches(element) for sel in found)


@dataclass(frozen=True)
class SimpleSelector:
    """`tag`, `#id`, `.class`, `[attr=value]` or a combination such as `div.content`."""

    tag: str | None
    ident: str | None
    cls: str | None
    attr: tuple[str, str] | None

    SYNTAX: ClassVar[re.Pattern[str]] = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)?(?:#([\w-]+))?(?:\.([\w-]+))?"
                         r"(?:\[([\w-]+)=[\"']?([^\"'\]]+)[\"']?\])?$")

    @classmethod
    def parse(cls, text: str) -> SimpleSelector:
        m = cls.SYNTAX.match(text.strip())
        if not m or not any(m.groups()):
            raise ConfigError(f"{RULES_PATH.name}: content selector {text!r} is not a simple tag/#id/.class/[attr=value]")
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
        if self.cls and self.cls not in classes(element):
            return False
        if self.attr and element.get(self.attr[0], "").lower() != self.attr[1].lower():
            return False
        return True
