"""Boilerplate rules (rules/boilerplate.toml): page noise, content containers, debris lines.

    rules() -> Rules        loaded once
    SelectorIndex: the rules' `tag#id.class[attr=value]` content selectors (watcher.css), indexed
    to test each element of a page quickly without a CSS engine (soupsieve costs tens of ms on a large page).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from watcher.css import SimpleSelector
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
        content_index=SelectorIndex([_content_selector(sel) for sel in raw["content"]["selectors"]]),
        min_share=float(raw["content"]["min_share"]),
        debris=re.compile("|".join(f"(?:{p})" for p in raw["lines"]["drop"]), re.I),
    )


def _content_selector(text: str) -> SimpleSelector:
    try:
        return SimpleSelector.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{RULES_PATH.name}: content selector {exc}") from None


def classes(element: Element) -> list[str]:
    return element.get("class", "").split()


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
