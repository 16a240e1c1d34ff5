"""literals.needed_strings: strings one of which every match of an expression contains, so that a sentence
holding none of them is not searched (the navigation / boilerplate patterns of _strip), nor a class name
that holds none of the noise names' (ascii_folded, page_body)."""

import random
import re

from watcher.extract.boilerplate import rules as extract_rules
from watcher.judge.meaning import _strip
from watcher.judge.rules import load_rules
from watcher.literals import may_match, may_match_ascii_folded, needed_strings


def test_what_every_match_goes_through():
    assert needed_strings("abc", 0) == {"abc"}
    # Of the strings an alternative needs, the most selective (its shortest the longest; the first of equals).
    assert needed_strings("(?:x(詳細|詳しく)y)|(?:[^。]{0,30}こちら)", 0) == {"x", "こちら"}
    assert needed_strings("(?:(詳細|詳しく)yz)|(?:[^。]{0,30}こちら)", 0) == {"yz", "こちら"}
    assert needed_strings("[^。]{0,60}(詳細|くわしく)[^。]{0,60}(ご覧|参照)", 0) == {"詳細", "くわしく"}
    assert needed_strings("(?:新しい)+版", 0) == {"新しい"}


def test_no_strings_when_a_match_may_do_without():
    for pattern in ("a?", "x*|y", "(?:abc)?", "[ab]+", "a|", r"\bfoo|.", "(?=abc)"):
        found = needed_strings(pattern, 0)
        assert found is None or not any(s == "" for s in found), pattern
    assert needed_strings("a?", 0) is None
    assert needed_strings("x*|y", 0) is None
    assert needed_strings("a|", 0) is None


def test_case_insensitive_letters_are_not_taken():
    assert needed_strings("click here", re.IGNORECASE) == {" "}
    assert needed_strings("詳細Details", re.IGNORECASE) == {"詳細"}
    assert needed_strings("(?i:Here)詳", 0) == {"詳"}
    assert needed_strings("Here", 0) == {"Here"}


def test_ascii_letters_folded_for_a_case_insensitive_pattern():
    assert needed_strings("Cookie[-_]?Bar", re.IGNORECASE, ascii_folded=True) == {"cookie"}
    assert needed_strings("(^|[-_])ads?($|[-_])|^side$", re.IGNORECASE, ascii_folded=True) == {"ad", "side"}
    assert needed_strings("(?i:Kelvin)", 0, ascii_folded=True) == {"kelvin"}
    names = extract_rules().noise_names
    assert needed_strings(names.pattern, names.flags, ascii_folded=True), "every noise name needs a string"
    for name in ("css-85f0e6-root", "css-85f0e6-p", "article", "policy-body", "art12"):
        assert not may_match_ascii_folded(names, name) and names.search(name) is None, name
    assert may_match_ascii_folded(names, "lead") and names.search("lead") is None     # "ad": a search says no
    for name in ("Cookie-Banner", "site-footer", "BreadCrumb", "sr-only", "g-nav", "l-header"):
        assert may_match_ascii_folded(names, name) and names.search(name), name
    # A name that is not ASCII is always searched: re's IGNORECASE folds some letters onto ASCII ones.
    assert may_match_ascii_folded(re.compile("sk", re.I), "\u017fK") and re.compile("sk", re.I).search("\u017fK")


def test_a_skipped_text_has_no_match():
    rng = random.Random(5)
    alphabet = "abAB詳細こち。 "

    def atom(depth):
        r = rng.random()
        if depth > 2 or r < 0.5:
            return re.escape(rng.choice(alphabet))
        shape = rng.choice(["[ab詳]", "[^。]", ".", r"\b", "({})", "(?:{})", "(?i:{})", "(?={})"])
        return shape.format(alt(depth + 1)) if "{}" in shape else shape

    def alt(depth):
        def quantified(a):      # a group repeated without bound could backtrack for ever: {1,2} at most
            many = ["", "", "*", "+", "?", "{1,3}", "{0,2}", "+?"] if not a.endswith(")") else ["", "?", "{1,2}"]
            return a + rng.choice(many)
        return "|".join("".join(quantified(atom(depth)) for _ in range(rng.randint(0, 4)))
                        for _ in range(rng.randint(1, 3)))

    skipped = folded = 0
    for _ in range(3000):
        pattern = alt(0)
        try:
            compiled = re.compile(pattern, rng.choice([0, re.IGNORECASE]))
        except re.error:
            continue
        for _ in range(10):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
            if not may_match(compiled, text):
                skipped += 1
                assert compiled.search(text) is None, (pattern, text)
            ascii_text = "".join(c for c in text if c.isascii())
            if not may_match_ascii_folded(compiled, ascii_text):
                folded += 1
                assert compiled.search(ascii_text) is None, (pattern, ascii_text)
    assert skipped > 1000 and folded > 1000


def test_strip_is_the_same_with_the_gate():
    rules = load_rules("ja")
    sentences = ["詳細はこちらをご覧ください。", "当社は個人情報を取得します。", "プライバシーポリシーを更新しました。",
                 "利用目的の詳細については、こちらのページでご確認いただけます", "新しいバージョンを表示する"]
    for s in sentences:
        expected = rules.meaning.boilerplate.sub(" ", rules.navigation_re.sub(" ", s))
        assert _strip(s, rules) == expected
