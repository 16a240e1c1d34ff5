"""Reason texts in each reader's language: watcher/rules/reasons.toml, one entry per reason code.

A reason is a code (a rule's id, `topic.NAME.fallback`, `revision_change.CASE`, `diff.CATEGORY`,
the fixed codes of the summary: `rearranged`, `wording-only`, ...) and its text. The rule files
keep their English text as the fallback of a code missing here. A rule whose [[rule.adjust]]
applied reads `<rule text> <adjust text><note>`; the adjust's texts are the entry
`<rule id>.adjust.<n>` (n counts from 0 in the rule's order) and the note (the matched words in
brackets) is page text, kept as it is. `{field}`s are filled in: a field of a code family
(`revision.weaker.*`, `promise.notify_users.*`) is itself a code with its texts.

    render(code, lang, default, adjust=, note=, fields=)   the text in `lang`
    translate(code, text, lang)                             a stored text (any language) in `lang`
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

from watcher.errors import ConfigError

REASONS_FILE = Path(__file__).parent / "rules" / "reasons.toml"
LANGUAGES = ("ja", "en")
# Fields whose values are codes themselves: a list of (code, fields) pieces, or one enumerated value.
_PIECE_SEPARATOR = {"ja": "／", "en": "; "}
# Between a rule's text and its adjust's text.
_JOIN = {"ja": "", "en": " "}
_FIELD = re.compile(r"\{(\w+)\}")


@cache
def texts() -> dict[str, dict[str, str]]:
    """code -> {language: text} from rules/reasons.toml."""
    try:
        data = tomllib.loads(REASONS_FILE.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{REASONS_FILE}: not valid TOML: {exc}") from exc
    out = {}
    for code, entry in data.items():
        if not isinstance(entry, dict) or not all(isinstance(entry.get(lang), str) for lang in LANGUAGES):
            raise ConfigError(f"{REASONS_FILE}: [{code}] needs ja = \"...\" and en = \"...\"")
        out[code] = {lang: entry[lang] for lang in LANGUAGES}
    return out


def has(code: str) -> bool:
    return code in texts()


def _value(value, lang: str) -> str:
    """A field's value in `lang`: pieces (code, fields) joined, or a plain value as it is."""
    if isinstance(value, (list, tuple)):
        return _PIECE_SEPARATOR.get(lang, "; ").join(render(code, lang, code, fields=f) for code, f in value)
    return str(value)


def render(code: str, lang: str, default: str, adjust: str = "", note: str = "", fields: dict | None = None) -> str:
    """The reason `code` in `lang` (`default`, the rule file's English, when reasons.toml lacks it)."""
    entry = texts().get(code)
    if entry is None or (adjust and adjust not in texts()):
        return default
    lang = lang if lang in LANGUAGES else "en"
    values = {k: _value(v, lang) for k, v in (fields or {}).items()}
    text = _fill(entry[lang], values)
    if adjust:
        text = f"{text}{_JOIN[lang]}{_fill(texts()[adjust][lang], values)}{note}"
    return text.strip()


def _fill(template: str, values: dict[str, str]) -> str:
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), template)


@cache
def _pattern(template: str) -> re.Pattern:
    parts, last = [], 0
    for m in _FIELD.finditer(template):
        parts.append(re.escape(template[last:m.start()]))
        name = m.group(1)
        parts.append(f"(?P<{name}>.*)" if name.startswith("_") else f"(?P<{name}>.+?)")
        last = m.end()
    parts.append(re.escape(template[last:]))
    return re.compile("".join(parts), re.S)


def _match(template: str, text: str) -> dict | None:
    m = _pattern(template).fullmatch(text)
    return None if m is None else m.groupdict()


def _family(code: str) -> list[str]:
    """The codes a field of `code` may hold (the weakened promises of a revision clause)."""
    if code == "revision_change.weakened":
        return [c for c in texts() if c.startswith("revision.weaker.")]
    return []


def _translate_value(code: str, value: str, src: str, lang: str) -> str:
    family = _family(code)
    if not family:
        return value
    out = []
    for piece in value.split(_PIECE_SEPARATOR[src]):
        for member in family:
            found = _match(texts()[member][src], piece)
            if found is not None:
                out.append(_fill(texts()[member][lang], {k: _translate_enum(v, src, lang) for k, v in found.items()}))
                break
        else:
            return value
    return _PIECE_SEPARATOR[lang].join(out)


def _translate_enum(value: str, src: str, lang: str) -> str:
    """An enumerated value inside a piece (promise.*: すべての改定 / all) in `lang`."""
    for code, entry in texts().items():
        if code.startswith("promise.") and entry[src] == value:
            return entry[lang]
    return value


def translate(code: str, text: str, lang: str) -> str:
    """A reason's stored text (in the report's language, or English from an older report) in `lang`,
    found by its code; the text as it is when its code or its shape is unknown."""
    entry = texts().get(code)
    if entry is None or lang not in LANGUAGES:
        return text
    adjusts = [c for c in texts() if c.startswith(code + ".adjust.")]
    for src in LANGUAGES:
        found = _match(entry[src], text)
        if found is not None:
            return _fill(entry[lang], {k: _translate_value(code, v, src, lang) for k, v in found.items()})
        for adjust in adjusts:
            found = _match(entry[src] + _JOIN[src] + texts()[adjust][src] + "{_note}", text)
            if found is not None:
                note = found.pop("_note")
                values = {k: _translate_value(code, v, src, lang) for k, v in found.items()}
                return f"{_fill(entry[lang], values)}{_JOIN[lang]}{_fill(texts()[adjust][lang], values)}{note}".strip()
    return text
