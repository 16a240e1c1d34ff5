"""Page body: find the policy in a page, without the site around it.

    policy_roots(soup, select, remove, source) -> [Tag]

`remove` selectors are dropped first. With `select`, its outermost matches are the body;
otherwise site chrome, hidden elements and boilerplate (rules/boilerplate.toml) are dropped
and the content container holding the most text is the body (or the whole <body>).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from bs4 import BeautifulSoup, Tag
from soupsieve import SelectorSyntaxError

from watcher.errors import ConfigError, InputError
from watcher.extract.boilerplate import Rules, rules, simple_selectors

_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_CONTENT_ROOTS = ("main", "article")


def policy_roots(soup: BeautifulSoup, select: str | None, remove: Sequence[str], source: str) -> list[Tag]:
    """The elements that hold the policy, noise removed from them (the soup is changed in place)."""
    r = rules()
    for sel in remove:
        for tag in _select(soup, sel, source, "remove"):
            tag.extract()
    body = soup.body or soup
    if select:
        roots = _outermost(_select(soup, select, source, "select"))
        if not roots:
            raise InputError(f"{source}: the CSS selector {select!r} (select) matches nothing on the page")
        total = _text_len(body)
        for root in roots:
            _strip_noise(root, total, r)
        return roots
    candidates: list[Tag] = []
    _strip_noise(body, _text_len(body), r, candidates)
    return [_main_content(body, candidates, r)]      # the text length after the noise is gone


def _select(soup: BeautifulSoup, selector: str, source: str, what: str) -> list[Tag]:
    simple = simple_selectors(selector)
    if simple:      # one quick walk; soupsieve costs tens of ms on a large page
        return [t for t in soup.descendants if type(t) is Tag and any(sel.matches(t) for sel in simple)]
    try:
        return soup.select(selector)
    except (SelectorSyntaxError, ValueError, NotImplementedError) as err:
        reason = str(err).splitlines()[0]
        raise ConfigError(f"{source}: invalid CSS selector {selector!r} in {what}: {reason}") from None


def _outermost(tags: list[Tag]) -> list[Tag]:
    chosen = set(map(id, tags))
    return [t for t in tags if not any(id(p) in chosen for p in t.parents)]


def _text_len(tag: Tag) -> int:
    """Characters of visible text, whitespace not counted."""
    return sum(map(len, tag.get_text().split()))      # get_text() skips comments and doctypes


def _strip_noise(root: Tag, total: int, r: Rules, candidates: list[Tag] | None = None) -> None:
    """Drop site chrome, hidden elements and boilerplate below `root` (never `root` itself).

    With `candidates`, also collect the main-content candidates that survive (same walk).
    """
    keep_at = max(1, int(total * r.keep_share))
    stack = [c for c in root.children if isinstance(c, Tag)]
    while stack:
        tag = stack.pop()
        if tag.name in r.drop_tags or (_is_noise(tag, r) and not _holds_content(tag, keep_at)):
            tag.extract()
            continue
        if candidates is not None and r.content_index.matches(tag):
            candidates.append(tag)
        stack.extend(c for c in tag.children if isinstance(c, Tag))


def _is_noise(tag: Tag, r: Rules) -> bool:
    name = tag.name
    attrs = tag.attrs
    # An article's own header (its title) and footer are content, unless their attributes say otherwise.
    if name in r.chrome_tags and not (name in ("header", "footer") and tag.find_parent(_CONTENT_ROOTS)):
        return True
    if not attrs:
        return False
    if "hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    style = attrs.get("style")
    if style and _HIDDEN_STYLE.search(style):
        return True
    role = attrs.get("role")
    if role and role.lower() in r.drop_roles:
        return True
    names = attrs.get("class") or []
    if isinstance(names, str):
        names = names.split()
    ident = attrs.get("id")
    if ident:
        names = [*names, ident]
    return any(_noise_name(n) for n in names)


@lru_cache(maxsize=8192)
def _noise_name(name: str) -> bool:
    return rules().noise_names.search(name) is not None


def _holds_content(tag: Tag, keep_at: int) -> bool:
    """Guard: an element that holds the main content or most of the text is never noise.

    A <nav> is exempt: a page that is all navigation has no policy on it.
    """
    if tag.name == "nav":
        return False
    if tag.name in _CONTENT_ROOTS or tag.find(_CONTENT_ROOTS) is not None or tag.find(attrs={"role": "main"}):
        return True
    return _text_len(tag) >= keep_at


def _main_content(body: Tag, candidates: list[Tag], r: Rules) -> Tag:
    """The candidate container holding the most text, or the body if none holds enough."""
    total = _text_len(body)
    best, best_len = None, 0
    for tag in candidates:      # in document order: ties keep the earlier, outer candidate
        n = _text_len(tag)
        if n > best_len:
            best, best_len = tag, n
    if best is not None and best_len >= total * r.min_share:
        return best
    return body
