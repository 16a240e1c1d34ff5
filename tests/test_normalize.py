"""normalize.key skips the steps that cannot change a text (issue 14, speed): its keys are those of
every step run on every text, on random texts made of the characters each step looks for."""

from __future__ import annotations

import random
import unicodedata

from watcher import normalize


def key_of_every_step(text: str) -> str:
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", text.translate(normalize._PUNCT)).translate(normalize._PUNCT)
    folded = normalize._EMPHASIS.sub("", folded)
    folded = normalize._SPACE_NEAR_WIDE.sub("", folded)
    folded = normalize._ASCII_COMMA_JA.sub("、", folded)
    folded = normalize._ASCII_STOP_JA.sub("。", folded)
    return normalize._SPACES.sub(" ", folded).strip()


CHARACTERS = [*"ab1 ,.*_`\t\n\r\x0b\x1c\x85\u2028\u00a0\u3000\u200b\ufeff，､．｡‐‑−－〜～“”«»‘’『』•●·･「」あア漢（）①ｶﾞﾟ"
              "\u2011\u2002\ufe50\uff0c\uff0e\u0301e", "**", "__", " *", "* "]


def test_key_equals_every_step_on_random_texts():
    r = random.Random(14)
    changed = 0
    for _ in range(50_000):
        text = "".join(r.choice(CHARACTERS) for _ in range(r.randint(0, 12)))
        assert normalize.key.__wrapped__(text) == key_of_every_step(text), repr(text)
        changed += normalize.key.__wrapped__(text) != text
    assert changed > 40_000        # the texts do exercise the steps


def test_key_examples():
    assert normalize.key("第１条　（目的）") == "第1条(目的)"
    assert normalize.key("**Personal**  data,\tuse.") == "Personal data, use."
    assert normalize.key("当社は,個人情報.") == "当社は、個人情報。"
    assert normalize.key("ー‐ｶﾞ") == "ー-ガ"


def language_by_counting(text: str) -> str:
    sample = text[:20000]
    if not sample:
        return "ja"
    ja = sum(map(len, normalize._JA_RUN.findall(sample)))
    letters = sum(map(str.isalpha, sample))
    return "ja" if letters and ja / letters > 0.2 else "en"


def test_language_equals_counting_every_letter():
    """language() counts the letters only when the Japanese share does not already decide."""
    r = random.Random(14)
    pieces = ["個人情報", "です", "・", "ー", "゛", "policy ", "data", " ", "1", "。", "（", "①", "\n"]
    seen = set()
    for _ in range(20_000):
        text = "".join(r.choice(pieces) for _ in range(r.randint(0, 30)))
        assert normalize.language(text) == language_by_counting(text), repr(text)
        seen.add(normalize.language(text))
    assert seen == {"ja", "en"}
    assert normalize.language("・・・") == "en" and normalize.language("") == "ja"
