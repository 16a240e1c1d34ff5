"""The judge's patterns cost time linear in the length of a line (issue 15, defect 6).

A pattern that opens with an unbounded run of a character class (`[A-Za-z0-9]+@`, `\\d[\\d,]*円`)
is tried again from every position inside a long run of such characters, each try scanning to the
run's end: a modified line of 20,000 digits took 84 s. Such a pattern must say where the run
starts — a negative lookbehind for the same class — so it is tried once per run. This checks the
rule files statically; bench/long_lines.py prints the times (a 50,000-digit line)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from watcher.compare import compare
from watcher.models import Document, Line

try:                                  # Python 3.11+
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:                   # pragma: no cover
    import sre_constants
    import sre_parse

RULES = Path(__file__).resolve().parents[1] / "watcher" / "rules"


def patterns(language: str):
    """(where, pattern) for every regular expression string in a language's rule file."""
    def walk(obj, path):
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield from walk(v, f"{path}.{k}")
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                yield from walk(v, f"{path}[{i}]")
        elif isinstance(obj, str) and any(c in obj for c in "[]+*{(\\"):
            yield path, obj

    yield from walk(tomllib.loads((RULES / f"{language}.toml").read_text(encoding="utf-8")), language)


def _leading(items) -> list:
    """(node, the node after it) for each node a match can begin with — through groups,
    alternations and optional parts."""
    items = list(items)
    out = []
    for i, (op, av) in enumerate(items):
        if op is sre_constants.SUBPATTERN:
            out += _leading(av[-1])
        elif op is sre_constants.BRANCH:
            for alternative in av[1]:
                out += _leading(alternative)
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and av[0] == 0 \
                and av[1] != sre_constants.MAXREPEAT:
            out += _leading(av[2])      # optional: the match may also begin with what follows
            continue
        else:
            out.append(((op, av), items[i + 1] if i + 1 < len(items) else None))
        return out
    return out


def _unbounded_run(node) -> bool:
    """A repeat without an upper bound over one character class."""
    if node is None:
        return False
    op, av = node
    if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
        body = list(av[2])
        return av[1] == sre_constants.MAXREPEAT and len(body) == 1 and body[0][0] in (
            sre_constants.IN, sre_constants.ANY, sre_constants.NOT_LITERAL, sre_constants.CATEGORY)
    return False


def quadratic(pattern: str) -> bool:
    try:
        parsed = sre_parse.parse(pattern, re.IGNORECASE)
    except re.error:
        return False            # a plain term (the rules escape those), not a pattern
    for head, after in _leading(parsed):
        if head[0] is sre_constants.ASSERT_NOT:      # (?<!...): begins only where a run begins
            continue
        if _unbounded_run(head):
            return True
        # `\d[\d,]*…`, `[A-Z][A-Za-z0-9]+…`: one character of a class, then an unbounded run
        if head[0] in (sre_constants.IN, sre_constants.CATEGORY) and _unbounded_run(after):
            return True
    return False


@pytest.mark.parametrize("language", ["ja", "en"])
def test_no_rule_pattern_rescans_a_long_run_from_every_position(language):
    offenders = [f"{where}: {pattern}" for where, pattern in patterns(language) if quadratic(pattern)]
    assert offenders == [], "\n".join(offenders)


def test_the_check_finds_the_patterns_that_were_quadratic():
    for pattern in (r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}", r"\d[\d,]*\s*円",
                    r"([A-Za-z0-9.\-]+)?(の|に関する)?(詳細|詳しく)", r"(\d+)\s*(日|週間)(前)",
                    r"(?-i:[A-Z][A-Za-z0-9]+)(社)?(により)", r"(\d+|一|二)(年|日)"):
        assert quadratic(pattern), pattern
    for pattern in (r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@x\.jp", r"(?<![\d,])\d[\d,]*\s*円",
                    r"((?<![A-Za-z0-9.\-])[A-Za-z0-9.\-]+)?(の)?(詳細)", r"[^。]{0,60}(詳細)", "手数料"):
        assert not quadratic(pattern), pattern


def test_a_sentence_longer_than_the_tokenizer_takes_is_still_judged():
    """SudachiPy refuses inputs over 49,149 bytes: a 20,000-kanji sentence is tokenized in pieces."""
    run = "個人情報利用目的" * 2500
    old = Document("old", [Line("第1条（目的）"), Line("当社は" + run + "。")])
    new = Document("new", [Line("第1条（目的）"), Line("当社は" + run[:10000] + "第三者提供" + run[10000:] + "。")])
    report = compare(old, new)
    assert report.changes and report.severity != "none"
