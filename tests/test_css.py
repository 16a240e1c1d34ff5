"""watcher.css: the simple selectors the configuration accepts without soupsieve are exactly the
ones soupsieve accepts; every other selector is still soupsieve's to judge (issue 14, start-up)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import soupsieve

from watcher import css
from watcher.config import parse_settings
from watcher.errors import ConfigError

SELECTORS = [
    # simple, valid CSS
    "#policy", "main", "div", "H1", ".content", "div.entry-content", "main#top.body", "[role=main]",
    "[data-x='a b']", '[lang="ja"]', "div#a.b[c=d]", "#a, .b", " #a ,.b , main ", "#a,\n.b", "\t#a\f",
    "#_x", "#-x", "#--", "#--1", ".a-1_2", "#個人情報", ".ポリシー", "#é", "[a=--]", "[a=-b]", "#a\r\n,.b",
    "[a='#x.y']", "[a=\"1\"]", "h2.a", "x1", "#٣",
    # simple to the extractor's lenient syntax, not CSS: refused as before
    "#1abc", ".1", "#-1", "#-", ".-", "[a=1]", "[a=b c]", "[a=\"b']", "[a='b]", "[a=b\"]", "[1=b]",
    "[a=\"b\\\"]", "#a\u3000", "\u3000#a", "#a,\u3000.b", "#a\x0b", "[a=\"b\nc\"]",
    # not simple: soupsieve's verdict either way
    "", " ", ",", "#a,", ",#a", "#a,,.b", "div[", "main[", "div::", "p >", "a[href^=http]", "body > div",
    "main p, main h2", "div:not([id]) > span", "table tr:nth-child(2)", "#a.b.c", "*", "div *", "[a]",
    "[a = b]", "[a=b i]", "#a\\31", "#\\31 a", "ns|div", "div/* c */", "#a /* c */, .b", "#a:", "a..b", "#a#b",
    "[a=''] ", "[a=\"\"]", "a::before", "p::first-line, #a", "#a]", ".a[", "[]", "[=]", "#", ".", "[a=]", "div#", "div.", "#a b", "div\\.x",
]


def config_accepts(selector: str) -> bool:
    raw = {"policy": [{"name": "a", "url": "https://x.example/p", "select": selector}]}
    try:
        parse_settings(raw, base_dir=Path("."))
    except ConfigError as exc:
        assert "not a CSS selector" in str(exc) or "must not be empty" in str(exc)
        return False
    return True


def soupsieve_accepts(selector: str) -> bool:
    if not selector.strip():
        return False            # the configuration refuses an empty select before asking
    try:
        soupsieve.compile(selector)
    except (soupsieve.SelectorSyntaxError, NotImplementedError):    # "a::b", "@page": refused too
        return False
    return True


@pytest.mark.parametrize("selector", SELECTORS)
def test_config_accepts_what_soupsieve_accepts(selector):
    assert config_accepts(selector) == soupsieve_accepts(selector)
    if css.compiles_without_engine(selector):
        assert soupsieve_accepts(selector)


def test_the_list_holds_both_verdicts_with_and_without_the_engine():
    """The list above can fail: it has selectors told without soupsieve, and refused ones that the
    extractor's lenient syntax takes as simple."""
    told = [s for s in SELECTORS if css.compiles_without_engine(s)]
    lenient_refused = [s for s in SELECTORS if css.simple_selectors(s) and not soupsieve_accepts(s)]
    assert len(told) >= 25 and len(lenient_refused) >= 10


def test_random_selectors_get_soupsieve_s_verdict():
    pieces = ["#", ".", "[", "]", "=", '"', "'", ",", " ", "\u3000", "\t", "\n", "-", "--", "_", "1", "a", "B",
              "div", "é", "個", "\\", "*", ">", ":", "x1", "\x0b", "|", "/*", "*/"]
    r = random.Random(14)
    told = 0
    for _ in range(4000):
        selector = "".join(r.choice(pieces) for _ in range(r.randint(1, 7)))
        assert config_accepts(selector) == soupsieve_accepts(selector), repr(selector)
        told += css.compiles_without_engine(selector)
    assert told > 50


def test_a_simple_selector_in_the_config_loads_no_soupsieve(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[[policy]]\nname = "a"\nurl = "https://x.example/p"\nselect = "#policy, main.body"\n'
                   'remove = ["nav", ".share", "[role=banner]"]\n', encoding="utf-8")
    probe = ("import json, sys; from watcher.config import load_settings; load_settings(sys.argv[1]); "
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('soupsieve', 'bs4')))))")
    done = subprocess.run([sys.executable, "-c", probe, str(cfg)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('"nav"', '"nav > a"'), encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", probe, str(cfg)], capture_output=True, text=True, timeout=60)
    assert "soupsieve" in json.loads(done.stdout)


def test_simple_selector_parse():
    assert css.SimpleSelector.parse(" Div#a.b[c='d'] ") == css.SimpleSelector("div", "a", "b", ("c", "d"))
    assert css.simple_selectors("#a, main") == (css.SimpleSelector(None, "a", None, None),
                                                css.SimpleSelector("main", None, None, None))
    assert css.simple_selectors("#a, main > p") == ()
    with pytest.raises(ValueError, match="not a simple"):
        css.SimpleSelector.parse("main > p")
