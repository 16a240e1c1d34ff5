"""Meaning first: does a changed sentence say something new, or the same thing in other words?

Before any APPI rule runs, each changed unit is cut into sentences and every sentence gets a
*meaning key*: its content words in dictionary form, with the words that carry no meaning of
their own left out (particles, auxiliaries other than negation, honorific and polite verbs,
punctuation, quote marks, markup), spelling variants folded and legal synonyms mapped to one
word (the [meaning] table of rules/<language>.toml). Two sentences with the same key say the
same thing; a sentence whose key stands anywhere in the other version (even split across two
sentences, or joined with its neighbour) moved there.

Japanese words come from SudachiPy with sudachidict-core when it is installed: its normalized
forms fold 表記ゆれ and 送り仮名 (お客さま/お客様, および/及び, お問合せ/お問い合わせ, いただき/頂き)
without hand-written variant lists. Without it the key falls back to the rules file's
[wording] equivalents and fillers, which fold fewer variants. English words are lower-cased
Latin words with contractions expanded and stop words dropped (data: [meaning] of en.toml).

The tokenizer is loaded on the first sentence that needs it: a formatting-only diff never asks.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field

from watcher.errors import ConfigError
from watcher.normalize import key

# Sentence ends inside a comparison key: Japanese full stops, line breaks, a Latin stop before a space, a table bar.
SENTENCE_END = re.compile(r"[。！？!?\n|]|(?<!\b[A-Za-z])\.(?=\s|$)|;(?=\s)")
# Words a re-export glued together ("IrelandAutomattic Inc", "94110Automattic"): split before an inner capital.
_GLUED = re.compile(r"(?<=[a-z0-9])(?=[A-Z][a-z])")
_LATIN_WORD = re.compile(r"[a-z0-9]+(?:[.'\-][a-z0-9]+)*")
_JA_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff々ー]")
# A sentence, or a run of words, at least this long (meaning-key words) found in the other version moved there:
# shorter ones ("氏名", "Google") occur by chance.
MOVED_MIN_WORDS = 4

# SudachiPy's tokenizer refuses to be used by two threads at once ("Tokenizer is already in use"): queue
# workers and the daemon check policies in threads, so each thread has its own.
_tokenizer_local = threading.local()


def _tokenizer():
    """SudachiPy's tokenizer (split mode C), or None when it is not installed. Loaded once per thread, on first use."""
    _tokenizer_state = _tokenizer_local.__dict__
    if "tok" not in _tokenizer_state:
        try:
            # Optional dependency (sudachipy + sudachidict-core), loaded lazily: a diff that changes no
            # sentence never loads a dictionary.
            from sudachipy import Dictionary, SplitMode
            _tokenizer_state["tok"] = Dictionary(dict="core").tokenizer(SplitMode.C)
        except Exception:  # not installed, or no dictionary: fall back to the rules file's word lists
            _tokenizer_state["tok"] = None
    return _tokenizer_state["tok"]


def sudachi_available() -> bool:
    return _tokenizer() is not None


@dataclass(frozen=True)
class Meaning:
    """The [meaning] table of a rules file: what a meaning key leaves out and which words are one word."""

    synonyms: dict[str, str] = field(default_factory=dict)      # word (dictionary form) -> canonical word
    drop_pos: frozenset[str] = frozenset()                      # Sudachi parts of speech without meaning
    function_words: frozenset[str] = frozenset()                # dictionary forms without meaning (為る, 頂く, the)
    negations: frozenset[str] = frozenset()                     # dictionary forms that negate (ない, ぬ, not)
    contractions: dict[str, str] = field(default_factory=dict)  # English: "we'll" -> "we will"
    boilerplate: re.Pattern | None = None                       # sentences about the document itself (update banners)
    lemma_synonyms: dict[str, str] = field(default_factory=dict)  # synonyms in the tokenizer's normalized forms (lazy)


def parse_meaning(where: str, table: dict) -> Meaning:
    """Read a [meaning] table (see the header of rules/ja.toml)."""
    from_error = f"{where}: meaning"
    synonyms: dict[str, str] = {}
    for group in table.get("synonyms", []):
        if not isinstance(group, list) or len(group) < 2:
            raise ConfigError(f"{from_error}.synonyms: each entry is a list of two or more words")
        canonical = key(group[0]).lower()
        for word in group:
            synonyms[key(word).lower()] = canonical
    patterns = table.get("boilerplate", [])
    boilerplate = re.compile("|".join(f"(?:{p})" for p in patterns), re.I) if patterns else None
    return Meaning(
        synonyms=synonyms,
        drop_pos=frozenset(table.get("drop_pos", [])),
        function_words=frozenset(key(w).lower() for w in table.get("function_words", [])),
        negations=frozenset(key(w).lower() for w in table.get("negations", [])),
        contractions={key(k).lower(): key(v).lower() for k, v in table.get("contractions", {}).items()},
        boilerplate=boilerplate,
    )


def sentences(text: str) -> list[str]:
    return [s for s in (p.strip() for p in SENTENCE_END.split(text)) if s]


def _strip(text: str, rules) -> str:
    """The sentence without links / pointers and without announcements about the document itself."""
    if rules.navigation_re is not None:
        text = rules.navigation_re.sub(" ", text)
    if rules.meaning.boilerplate is not None:
        text = rules.meaning.boilerplate.sub(" ", text)
    return text


# SudachiPy refuses an input over 49,149 bytes ("Input is too long"): a sentence longer than that
# (a page without 。, a run of digits) is tokenized in pieces, cut where a space or comma allows.
TOKENIZE_MAX_CHARS = 12_000        # x 4 bytes at most per character in UTF-8: under the limit


def _tokenizable(text: str):
    while len(text) > TOKENIZE_MAX_CHARS:
        cut = max(text.rfind(c, 0, TOKENIZE_MAX_CHARS) for c in " 、,，\n")
        cut = cut + 1 if cut > TOKENIZE_MAX_CHARS // 2 else TOKENIZE_MAX_CHARS
        yield text[:cut]
        text = text[cut:]
    if text:
        yield text


def _ja_words(text: str, meaning: Meaning) -> tuple[str, ...]:
    tok = _tokenizer()
    if tok is None:
        return ()
    synonyms = meaning.lemma_synonyms
    if meaning.synonyms and not synonyms:
        # The rules file's synonyms spelled as the dictionary spells them (私たち -> 私達), once.
        for word, canonical in meaning.synonyms.items():
            forms = [m.normalized_form().lower() for m in tok.tokenize(word)]
            target = [m.normalized_form().lower() for m in tok.tokenize(canonical)]
            if len(forms) == 1 and len(target) == 1:
                synonyms[forms[0]] = target[0]
            synonyms[word] = synonyms.get(word, target[0] if len(target) == 1 else canonical)
    out: list[str] = []
    for m in (m for piece in _tokenizable(text) for m in tok.tokenize(piece)):
        pos = m.part_of_speech()
        lemma = m.normalized_form().lower()
        if lemma in meaning.negations and pos[0] in ("助動詞", "形容詞"):
            out.append("NOT")
            continue
        if pos[0] in meaning.drop_pos or lemma in meaning.function_words:
            continue
        if pos[0] == "助動詞":
            continue
        out.append(synonyms.get(lemma, lemma))
    return tuple(out)


def _latin_words(text: str, meaning: Meaning) -> list[str]:
    for short, long in meaning.contractions.items():
        if short in text:
            text = text.replace(short, long)
    out = []
    for w in _LATIN_WORD.findall(text):
        if w in meaning.function_words:
            continue
        if w in meaning.negations:
            out.append("NOT")
            continue
        out.append(meaning.synonyms.get(w, w))
    return out


_CACHE_MAX = 50_000


def words(sentence: str, rules) -> tuple[str, ...]:
    """The meaning key of one sentence (a comparison key): its content words, in order (cached per rules file)."""
    cache = rules.meaning_cache
    found = cache.get(sentence)
    if found is None:
        if len(cache) > _CACHE_MAX:
            cache.clear()
        found = cache[sentence] = _words(sentence, rules.language, rules)
    return found


def _words(sentence: str, language: str, rules) -> tuple[str, ...]:
    meaning = rules.meaning
    text = _strip(_GLUED.sub(" ", key(sentence)).lower().replace("’", "'"), rules)
    if language == "ja" and _JA_RUN.search(text) and _tokenizer() is not None:
        out: list[str] = []
        # Latin runs (product names, URLs) are words of their own; Sudachi reads the Japanese around them.
        for part in re.split(r"([a-z0-9][a-z0-9.'\-/:]*[a-z0-9]|[a-z0-9])", text):
            if not part.strip():
                continue
            if re.fullmatch(r"[a-z0-9][a-z0-9.'\-/:]*", part):
                out.extend(meaning.synonyms.get(w, w) for w in _LATIN_WORD.findall(part))
            else:
                out.extend(_ja_words(part, meaning))
        return tuple(out)
    if language == "ja" and _JA_RUN.search(text):
        # No dictionary: the rules file's spelling folds and fillers, then kanji / katakana / Latin runs as words.
        # Kana between them is inflection and particles, except a negation.
        folded = rules.filler_re.sub(" ", rules.fold(text))
        out = []
        for run in re.findall(r"[一-龥々]+|[ァ-ヶー]+|[ぁ-ん]+|[a-z0-9]+", folded):
            if "\u3041" <= run[0] <= "\u3093":
                if rules.negator_re is not None and rules.negator_re.search(run):
                    out.append("NOT")
                continue
            out.append(meaning.synonyms.get(run, run))
        return tuple(out)
    return tuple(_latin_words(text, meaning))


def sentence_keys(text: str, rules) -> list[tuple[str, ...]]:
    """Meaning keys of the sentences of a text, empty ones (pure navigation, punctuation) left out."""
    return [k for k in (words(s, rules) for s in sentences(text)) if k]


class MeaningIndex:
    """One version's sentences as meaning keys: which sentences it has, and all its words in order."""

    def __init__(self, text: str, rules):
        keys = sentence_keys(text, rules)
        self.sentences = Counter(keys)
        self.stream = " " + " ".join(w for k in keys for w in k) + " "

    def says(self, words_: tuple[str, ...]) -> bool:
        """The words stand in this version: as a sentence, or as a run across sentence boundaries."""
        if words_ in self.sentences:
            return True
        return len(words_) >= MOVED_MIN_WORDS and (" " + " ".join(words_) + " ") in self.stream


@dataclass
class SentenceDiff:
    """The sentences of an edited text whose meaning is new (gained) or gone (lost), with where they stood."""

    gained: list[str]
    lost: list[str]
    moved: bool = False         # some changed sentences stand elsewhere in the other version


def changed_sentences(old: str, new: str, rules, old_doc: MeaningIndex | None,
                      new_doc: MeaningIndex | None) -> SentenceDiff:
    """Which sentences of `new` say something `old` (or, moved, the old document) did not, and the reverse."""
    old_s = [(s, words(s, rules)) for s in sentences(old)]
    new_s = [(s, words(s, rules)) for s in sentences(new)]
    old_keys = Counter(k for _, k in old_s if k)
    new_keys = Counter(k for _, k in new_s if k)
    old_stream = " " + " ".join(w for _, k in old_s for w in k) + " "
    new_stream = " " + " ".join(w for _, k in new_s for w in k) + " "
    moved = False

    def unmatched(side, keys, stream, doc):
        nonlocal moved
        out = []
        for text, k in side:
            if not k or k in keys:
                continue
            if " " + " ".join(k) + " " in stream:
                continue        # split from / joined with a neighbour in the same unit
            if doc is not None and doc.says(k):
                moved = True
                continue
            out.append(text)
        return out

    gained = unmatched(new_s, old_keys, old_stream, old_doc)
    lost = unmatched(old_s, new_keys, new_stream, new_doc)
    # Joined or split sentences: the words of the whole unit are the same.
    if (gained or lost) and old_stream == new_stream:
        gained, lost = [], []
    return SentenceDiff(gained, lost, moved)
