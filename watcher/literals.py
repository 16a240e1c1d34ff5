"""Which literal strings every match of a regular expression contains: a text that holds none of them
is not searched at all. Rules files hold long alternations (51 names of page chrome, navigation
sentences that start with [^。]{0,60}); Python's re tries each alternative at each position of the
text, where a few substring tests say at once that nothing can match.

    needed_strings(pattern, flags) -> frozenset | None
    may_match(compiled, text) -> bool                    False: no match anywhere in text
    may_match_ascii_folded(compiled, text) -> bool       the same for a case-insensitive pattern
"""

from __future__ import annotations

import functools
import re

try:        # the parser of the re module
    from re import _constants as _re_constants
    from re import _parser as _re_parser
except ImportError:     # Python < 3.11
    import sre_constants as _re_constants
    import sre_parse as _re_parser


def may_match(pattern: re.Pattern, text: str) -> bool:
    """False when the pattern cannot match anywhere in the text: none of the strings one of which each of its
    matches contains (needed_strings) is in it. The rules' navigation patterns start with [^。]{0,60}, so a
    search tries 60 characters at each position of every sentence; a substring test skips most sentences."""
    needed = needed_strings(pattern.pattern, getattr(pattern, "_flags", None) or pattern.flags)
    return needed is None or any(s in text for s in needed)


def may_match_ascii_folded(pattern: re.Pattern, text: str) -> bool:
    """may_match for a case-insensitive pattern (class names of page chrome): for an ASCII text, the
    pattern's ASCII letters are taken in lower case and looked for in the text in lower case (for
    ASCII, that is exactly what IGNORECASE matches). Any other text is searched."""
    if not text.isascii():
        return True
    needed = needed_strings(pattern.pattern, pattern.flags, ascii_folded=True)
    if needed is None:
        return True
    low = text.lower()
    return any(s in low for s in needed)


@functools.lru_cache(maxsize=256)
def needed_strings(pattern: str, flags: int, *, ascii_folded: bool = False) -> frozenset[str] | None:
    """Strings one of which every match of the regular expression contains, or None when it has none that
    this reading finds (a match may then be anything, even empty).

    Read from the parsed expression: a run of literal characters of the top sequence, or of a group, a
    repetition at least once, or every alternative of a branch, all of which each match must go through.
    Under IGNORECASE only characters without case are taken (re matches them exactly); with
    `ascii_folded`, ASCII letters too, in lower case (for a text that is ASCII and searched in lower case:
    may_match_ascii_folded)."""
    try:
        parsed = _re_parser.parse(pattern, flags)
        ignorecase = bool((flags | parsed.state.flags) & re.IGNORECASE)
        return _needed(list(parsed), ignorecase, ascii_folded)
    except Exception:       # an expression (or a re module) this reading does not know: no shortcut
        return None


def _uncased(ch: str) -> bool:
    return ch.lower() == ch and ch.upper() == ch and ch.casefold() == ch


def _needed(items: list, ignorecase: bool, folded: bool) -> frozenset[str] | None:
    """needed_strings of a sequence of parsed items: the most selective (longest shortest string) of the
    sets that some item of it needs."""
    best: frozenset[str] | None = None
    run: list[str] = []

    def consider(found: frozenset[str] | None) -> None:
        nonlocal best
        if found and all(found) and (best is None or min(map(len, found)) > min(map(len, best))):
            best = found

    for op, av in items:
        if op is _re_constants.LITERAL:
            ch = chr(av)
            if not ignorecase or _uncased(ch):
                run.append(ch.lower() if folded and ch.isascii() else ch)
                continue
            if folded and ch.isascii():
                run.append(ch.lower())
                continue
        if run:
            consider(frozenset({"".join(run)}))
            run = []
        if op is _re_constants.SUBPATTERN:
            _, add_flags, del_flags, sub = av
            consider(_needed(list(sub), (ignorecase or bool(add_flags & re.IGNORECASE))
                             and not del_flags & re.IGNORECASE, folded))
        elif op is getattr(_re_constants, "ATOMIC_GROUP", None):
            consider(_needed(list(av), ignorecase, folded))
        elif op is _re_constants.BRANCH:
            alternatives = [_needed(list(branch), ignorecase, folded) for branch in av[1]]
            if all(alternatives):
                consider(frozenset().union(*alternatives))
        elif op in _REPEATS and av[0] >= 1:
            consider(_needed(list(av[2]), ignorecase, folded))
        # Anything else (a class, an anchor, a lookaround, a group reference, a conditional) needs no string.
    if run:
        consider(frozenset({"".join(run)}))
    return best


_REPEATS = tuple(getattr(_re_constants, name) for name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
                 if hasattr(_re_constants, name))
