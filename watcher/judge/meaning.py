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

Sentences whose keys are not equal are *paired* when their keys are near-equal (rapidfuzz similarity
of the two word sequences, one symbol per word, at least [meaning] pair_threshold): within the edited
unit, and across the whole other version (a sentence moved to another clause and lightly reworded).
A pair says the same thing when its *content words* (the key without the parts of speech in
content_drop_pos) are the same, each as many times, or when the two keys differ only by the
spaces a re-export lost or added between words ("Automattic Inc" / "AutomatticInc"). Inside an
edited unit a pair may also differ by the document's *rewording*: a word swap that recurs across
the whole revision (弊社 -> Mozilla, デバイス -> 端末, WooCommerce -> Woo) while the old word all but
leaves the new version is a retranslation's vocabulary, not a change of practice; swaps into or
out of words of the protected lexicons (recipients, roles, sensitive data...) and numbers never are.

The tokenizer is loaded on the first sentence that needs it: a formatting-only diff never asks.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import Counter
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from watcher import lazy
from watcher.align import SMALL_MATRIX, small_cdist
from watcher.errors import ConfigError
from watcher.literals import may_match
from watcher.normalize import key

# Sentence ends inside a comparison key: Japanese full stops, line breaks, a Latin stop before a space, a table bar.
SENTENCE_END = re.compile(r"[。！？!?\n|]|(?<!\b[A-Za-z])\.(?=\s|$)|;(?=\s)")
# Words a re-export glued together ("IrelandAutomattic Inc", "94110Automattic"): split before an inner capital.
_GLUED = re.compile(r"(?<=[a-z0-9])(?=[A-Z][a-z])")
_LATIN_WORD = re.compile(r"[a-z0-9]+(?:[.'\-][a-z0-9]+)*")
# A Latin word all in lower case letters, not part of a name, an address or a URL.
_LOWER_LATIN = re.compile(r"(?<![A-Za-z0-9.'\-/:@])[a-z]{2,}(?![A-Za-z0-9.'\-/:@])")
_JA_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff々ー]")
# A sentence, or a run of words, at least this long (meaning-key words) found in the other version moved there:
# shorter ones ("氏名", "Google") occur by chance.
MOVED_MIN_WORDS = 4

# SudachiPy's tokenizer refuses to be used by two threads at once ("Tokenizer is already in use"): queue
# workers and the daemon check policies in threads, so each thread has its own.
_tokenizer_local = threading.local()
# Optional dependency (sudachipy + sudachidict-core), loaded on first use: a diff that changes no
# sentence never loads a dictionary.
sudachipy = lazy.module("sudachipy")
# English words to their dictionary form (shares, shared, sharing -> share), loaded on first use: a
# zero-dependency lemmatizer with its word lists as data (no model), ~0.1 s to load its English table.
simplemma = lazy.module("simplemma")


def _tokenizer():
    """SudachiPy's tokenizer (split mode C), or None when it is not installed. Loaded once per thread, on first use."""
    _tokenizer_state = _tokenizer_local.__dict__
    if "tok" not in _tokenizer_state:
        try:
            _tokenizer_state["tok"] = sudachipy.Dictionary(dict="core").tokenizer(sudachipy.SplitMode.C)
            _tokenizer_state["split_a"] = sudachipy.SplitMode.A     # a compound's parts (content words)
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
    pair_threshold: float = 70.0                                # 0-100: two sentence keys this alike are one sentence
    content_drop_pos: frozenset[str] = frozenset()              # parts of speech that are no content word (連体詞)
    rewording_min_pairs: int = 0                                # a word swap seen in this many sentence pairs (0: none)
    rewording_kept_share: float = 0.5                           # ... whose old word keeps at most this share of its uses
    rewording_protected: tuple[str, ...] = ()                   # lexicons whose words a rewording never swaps
    owner_qualifiers: frozenset[str] = frozenset()              # 「お使いの」「ご利用の」 before a noun: "your", no content
    lemmatize: str = ""                                         # Latin words to their lemma in this language ("en")


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
        pair_threshold=_number(table, "pair_threshold", 70.0, 0, 100, from_error),
        content_drop_pos=frozenset(table.get("content_drop_pos", [])),
        rewording_min_pairs=int(_number(table, "rewording_min_pairs", 0, 0, 1000, from_error)),
        rewording_kept_share=_number(table, "rewording_kept_share", 0.5, 0, 1, from_error),
        rewording_protected=tuple(table.get("rewording_protected", [])),
        owner_qualifiers=frozenset(table.get("owner_qualifiers", [])),
        lemmatize=str(table.get("lemmatize", "")),
    )


def _number(table: dict, name: str, default: float, low: float, high: float, where: str) -> float:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{where}.{name}: a number from {low} to {high}")
    return float(value)


def sentences(text: str) -> list[str]:
    return [s for s in (p.strip() for p in SENTENCE_END.split(text)) if s]


def _strip(text: str, rules) -> str:
    """The sentence without links / pointers and without announcements about the document itself."""
    if rules.navigation_re is not None and may_match(rules.navigation_re, text):
        text = rules.navigation_re.sub(" ", text)
    if rules.meaning.boilerplate is not None and may_match(rules.meaning.boilerplate, text):
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


def _ja_words(text: str, meaning: Meaning) -> list[tuple[str, tuple[str, ...]]]:
    """(word, its content words) for each word of a Japanese text with meaning: () for a word of no content
    (content_drop_pos), the word itself, or for a compound (機密情報) its parts (機密, 情報), so that a
    retranslation that writes a compound where the old text had its parts keeps its content words."""
    tok = _tokenizer()
    if tok is None:
        return []
    split_a = _tokenizer_local.__dict__["split_a"]
    synonyms = meaning.lemma_synonyms
    if meaning.synonyms and not synonyms:
        # The rules file's synonyms spelled as the dictionary spells them (私たち -> 私達), once.
        for word, canonical in meaning.synonyms.items():
            forms = [m.normalized_form().lower() for m in tok.tokenize(word)]
            target = [m.normalized_form().lower() for m in tok.tokenize(canonical)]
            if len(forms) == 1 and len(target) == 1:
                synonyms[forms[0]] = target[0]
            synonyms[word] = synonyms.get(word, target[0] if len(target) == 1 else canonical)
    out: list[tuple[str, tuple[str, ...]]] = []
    morphemes = [m for piece in _tokenizable(text) for m in tok.tokenize(piece)]
    owned = _owner_qualified(morphemes, meaning.owner_qualifiers) if meaning.owner_qualifiers else set()
    for i, m in enumerate(morphemes):
        if i in owned:
            continue
        pos = m.part_of_speech()
        lemma = m.normalized_form().lower()
        if lemma in meaning.negations and pos[0] in ("助動詞", "形容詞"):
            out.append(("NOT", ("NOT",)))
            continue
        if pos[0] in meaning.drop_pos or lemma in meaning.function_words:
            continue
        if pos[0] == "助動詞":
            continue
        word = synonyms.get(lemma, lemma)
        if pos[0] in meaning.content_drop_pos:
            out.append((word, ()))
            continue
        # A word the thesaurus knows (お客様) is one word; a compound of content words is its parts.
        parts = m.split(split_a) if pos[0] == "名詞" and len(m.surface()) > 2 and lemma not in synonyms else ()
        forms = [p.normalized_form().lower() for p in parts if p.part_of_speech()[0] in _CONTENT_PARTS]
        if len(forms) > 1:
            out.append((word, tuple(synonyms.get(f, f) for f in forms if f not in meaning.function_words)))
        else:
            out.append((word, (word,)))
    return out


def _owner_qualified(morphemes, qualifiers: frozenset[str]) -> set[int]:
    """Indexes of the words of an owner qualifier: 「お使いの」「ご利用の」「お手元の」 said of the noun after
    it (「お使いの機器」 is "your device", the device itself); its honorific prefix included. Before a noun of
    time or case (「ご利用の際」) it is a use of the service, and stays."""
    out: set[int] = set()
    for i in range(len(morphemes) - 2):
        particle, noun = morphemes[i + 1], morphemes[i + 2]
        start = i - 1 if i > 0 and morphemes[i - 1].part_of_speech()[0] == "接頭辞" else i
        surface = "".join(x.surface() for x in morphemes[start:i + 1])
        if (surface in qualifiers and particle.surface() == "の" and noun.part_of_speech()[0] == "名詞"
                and not {"副詞可能", "助数詞可能"} & set(noun.part_of_speech())):
            out.update(range(start, i + 1))
    return out


def _latin_words(text: str, meaning: Meaning) -> list[tuple[str, tuple[str, ...]]]:
    for short, long in meaning.contractions.items():
        if short in text:
            text = text.replace(short, long)
    out = []
    for w in _LATIN_WORD.findall(text):
        if w in meaning.function_words:
            continue
        if w in meaning.negations:
            out.append(("NOT", ("NOT",)))
            continue
        if meaning.lemmatize:
            w = _lemma(w, meaning.lemmatize)
            if w in meaning.function_words:
                continue
        word = meaning.synonyms.get(w, w)
        out.append((word, (word,)))
    return out


@functools.lru_cache(maxsize=65536)
def _lemma(word: str, language: str) -> str:
    """A word's dictionary form; a name or number it does not know stays as it is."""
    if not word.isalpha() or len(word) < 3:
        return word
    return simplemma.lemmatize(word, lang=language).lower()


# The parts of a compound that are content words of their own (not 接尾辞 様, 接頭辞 御).
_CONTENT_PARTS = frozenset({"名詞", "動詞", "形容詞", "形状詞"})

_CACHE_MAX = 50_000


def words(sentence: str, rules) -> tuple[str, ...]:
    """The meaning key of one sentence (a comparison key): its content words, in order (cached per rules file)."""
    return _analysed(sentence, rules)[0]


def content_words(sentence: str, rules) -> tuple[str, ...]:
    """The sentence's content words (its key without the parts of speech in content_drop_pos, a compound as
    its parts), sorted: the same for two sentences that say the same things in another order."""
    return _analysed(sentence, rules)[1]


def _analysed(sentence: str, rules) -> tuple[tuple[str, ...], tuple[str, ...]]:
    cache = rules.meaning_cache
    found = cache.get(("analysed", sentence))
    if found is None:
        if len(cache) > _CACHE_MAX:
            cache.clear()
        pairs = _words(sentence, rules.language, rules)
        found = (tuple(w for w, _ in pairs), _content(pairs))
        cache[("analysed", sentence)] = found
        cache[("content", found[0])] = found[1]
    return found


def _content(pairs: list[tuple[str, tuple[str, ...]]]) -> tuple[str, ...]:
    """The content words of (word, content words) pairs, sorted. A compound's parts count once with the
    sentence's other words: 「極秘であるデータ」 and 「機密情報であるデータ」 have the same content words."""
    words_ = [content[0] for word, content in pairs if len(content) == 1]
    plain = set(words_)
    for _, content in pairs:
        if len(content) > 1:
            words_.extend(c for c in dict.fromkeys(content) if c not in plain)
            plain.update(content)
    return tuple(sorted(words_))


def _sentence_of(key_: tuple[str, ...], rules) -> Sentence:
    """A key's meaning, its content words as the sentence it came from gave them (all its words if unknown)."""
    content = rules.meaning_cache.get(("content", key_))
    return Sentence(key_, content if content is not None else tuple(sorted(key_)))


def _words(sentence: str, language: str, rules) -> list[tuple[str, tuple[str, ...]]]:
    meaning = rules.meaning
    text = _strip(_GLUED.sub(" ", key(sentence)).lower().replace("’", "'"), rules)
    if language == "ja" and _JA_RUN.search(text) and _tokenizer() is not None:
        out: list[tuple[str, tuple[str, ...]]] = []
        # Latin words written in lower case inside Japanese text are a translation's leftovers
        # ("オプトアウト before installationしてください"), not names (Firefox, iOS, IP): no content words.
        leftovers = {w.lower() for w in _LOWER_LATIN.findall(key(sentence))}
        # Latin runs (product names, URLs) are words of their own; Sudachi reads the Japanese around them.
        for part in re.split(r"([a-z0-9][a-z0-9.'\-/:]*[a-z0-9]|[a-z0-9])", text):
            if not part.strip():
                continue
            if re.fullmatch(r"[a-z0-9][a-z0-9.'\-/:]*", part):
                for w in _LATIN_WORD.findall(part):
                    word = meaning.synonyms.get(w, w)
                    out.append((word, () if w in leftovers else (word,)))
            else:
                # A run between Latin words recurs from sentence to sentence (年, 月, 丁目, 「以下「当社」といいます」):
                # its words are the same wherever it stands.
                found = rules.meaning_cache.get(("ja", part))
                if found is None:
                    found = rules.meaning_cache[("ja", part)] = _ja_words(part, meaning)
                out.extend(found)
        return out
    if language == "ja" and _JA_RUN.search(text):
        # No dictionary: the rules file's spelling folds and fillers, then kanji / katakana / Latin runs as words.
        # Kana between them is inflection and particles, except a negation.
        folded = rules.filler_re.sub(" ", rules.fold(text))
        out = []
        for run in re.findall(r"[一-龥々]+|[ァ-ヶー]+|[ぁ-ん]+|[a-z0-9]+", folded):
            if "\u3041" <= run[0] <= "\u3093":
                if rules.negator_re is not None and rules.negator_re.search(run):
                    out.append(("NOT", ("NOT",)))
                continue
            word = meaning.synonyms.get(run, run)
            out.append((word, (word,)))
        return out
    return _latin_words(text, meaning)


def sentence_keys(text: str, rules) -> list[tuple[str, ...]]:
    """Meaning keys of the sentences of a text, empty ones (pure navigation, punctuation) left out."""
    return [k for k in (words(s, rules) for s in sentences(text)) if k]


# ---------------------------------------------------------------------------
# Near-equal sentences
# ---------------------------------------------------------------------------

# rapidfuzz compares strings fastest: each word of a key becomes one symbol (a private-use character), so a
# string similarity of two encoded keys is a word-level similarity of the sentences.
_SYMBOLS: dict[str, str] = {}
_SYMBOL_PLANES = ((0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))
_SYMBOL_COUNT = sum(high - low + 1 for low, high in _SYMBOL_PLANES)
_symbols_lock = threading.Lock()


def _symbol(word: str) -> str:
    found = _SYMBOLS.get(word)
    if found is None:
        with _symbols_lock:
            found = _SYMBOLS.get(word)
            if found is None:
                n = len(_SYMBOLS)
                if n >= _SYMBOL_COUNT:      # a process that saw more words than symbols: share symbols by hash
                    n = hash(word) % _SYMBOL_COUNT
                low, high = _SYMBOL_PLANES[0]
                found = chr(low + n) if n <= high - low else chr(_SYMBOL_PLANES[1][0] + n - (high - low + 1))
                if len(_SYMBOLS) < _SYMBOL_COUNT:
                    _SYMBOLS[word] = found
    return found


# A document's keys are encoded again for each sentence looked up (near) and each pairing: the keys of the few
# documents compared last are enough (a daemon keeps this process, and its memory, for weeks).
_ENCODED_CACHE = 8192


@functools.lru_cache(maxsize=_ENCODED_CACHE)
def encoded(key_: tuple[str, ...]) -> str:
    """A meaning key as a string of word symbols (for rapidfuzz)."""
    return "".join(_symbol(w) for w in key_)


@functools.lru_cache(maxsize=_ENCODED_CACHE)
def encoded_bag(key_: tuple[str, ...]) -> str:
    """A meaning key's words as sorted symbols: the similarity of two is that of their word multisets, in any
    order ("We use X to do Y" / "To do Y, we use X")."""
    return "".join(sorted(_symbol(w) for w in key_))


# At most this many sentences on each side are paired across a whole document (the rest is judged as it is):
# cdist is quadratic, and a revision rewriting more is a rewrite, not a retranslation.
PAIR_MAX_SENTENCES = 1500
# A sentence is looked up among at most this many near-equal candidates of the other version.
_NEAR_CANDIDATES = 5


@dataclass(frozen=True)
class Sentence:
    """One sentence's meaning: its key, its content words and its negations."""

    key: tuple[str, ...]
    content: tuple[str, ...]       # sorted
    letters: str = ""              # the sentence's letters and digits, without spaces or punctuation

    @property
    def negations(self) -> int:
        return self.key.count("NOT")


_NOT_LETTERS = re.compile(r"[\W_]+")


def analyse(sentence: str, rules) -> Sentence:
    """The sentence's meaning (cached per rules file, as its key: a document's sentences are analysed again for
    each change and each rule that reads it)."""
    cache = rules.meaning_cache
    found = cache.get(("sentence", sentence))
    if found is None:
        k, content = _analysed(sentence, rules)
        found = Sentence(k, content, _NOT_LETTERS.sub("", _strip(key(sentence).lower(), rules)))
        cache[("sentence", sentence)] = found
    return found


def same_meaning(old: Sentence, new: Sentence, rewording: dict[str, str] | None = None) -> bool:
    """Two near-equal sentences say the same thing: the same content words (an old word swapped as the
    document's rewording counts as the new word), as many negations; or the same letters, only the
    spaces between the words lost or added (a re-export)."""
    if old.key == new.key:
        return True
    if old.negations != new.negations:
        return False
    if "".join(old.key) == "".join(new.key) or (old.letters and old.letters == new.letters):
        return True
    content = tuple(sorted(rewording.get(w, w) for w in old.content)) if rewording else old.content
    return content == new.content


def _similar_pairs(old: list[tuple[str, ...]], new: list[tuple[str, ...]], threshold: float,
                   in_order: bool = True) -> list[tuple[int, int]]:
    """(old index, new index) of near-equal keys, the most alike first, each sentence in one pair at most.
    `in_order`: the words compared as sequences (else as multisets, word order ignored)."""
    if not old or not new:
        return []
    old, new = old[:PAIR_MAX_SENTENCES], new[:PAIR_MAX_SENTENCES]
    encode = encoded if in_order else encoded_bag
    queries, choices = [encode(k) for k in old], [encode(k) for k in new]
    if len(queries) * len(choices) <= SMALL_MATRIX:     # a few sentences: no numpy for the matrix
        cells = small_cdist(queries, choices, fuzz.ratio, threshold)
        hits = sorted(((score, a, b) for a, row in enumerate(cells) for b, score in enumerate(row) if score),
                      reverse=True)
    else:
        scores = process.cdist(queries, choices, scorer=fuzz.ratio, score_cutoff=threshold, workers=1)
        hits = sorted(((float(scores[a, b]), int(a), int(b)) for a, b in zip(*scores.nonzero(), strict=True)),
                      reverse=True)
    pairs, used_old, used_new = [], set(), set()
    for score, a, b in hits:
        if score < threshold or a in used_old or b in used_new:
            continue
        used_old.add(a)
        used_new.add(b)
        pairs.append((int(a), int(b)))
    return pairs


class MeaningIndex:
    """One version's sentences as meaning keys: which sentences it has, and all its words in order."""

    def __init__(self, text: str, rules):
        self.rules = rules
        analysed = [analyse(s, rules) for s in sentences(text)]
        analysed = [a for a in analysed if a.key]
        keys = [a.key for a in analysed]
        self.sentences = Counter(keys)
        self.stream = " " + " ".join(w for k in keys for w in k) + " "
        self.analysed: dict[tuple[str, ...], Sentence] = {a.key: a for a in analysed}
        self._letters = {"".join(k) for k in keys} | {a.letters for a in analysed}
        self._encoded: list[str] | None = None
        self._keys = list(self.analysed)
        self._word_counts: Counter | None = None
        self._rewording: tuple[MeaningIndex, dict[str, str]] | None = None

    def says(self, words_: tuple[str, ...], sentence: Sentence | None = None) -> bool:
        """The words stand in this version: as a sentence, as a run across sentence boundaries, or as a
        near-equal sentence with the same content words (moved and lightly reworded)."""
        if words_ in self.sentences:
            return True
        if len(words_) >= MOVED_MIN_WORDS and (" " + " ".join(words_) + " ") in self.stream:
            return True
        if "".join(words_) in self._letters or (sentence is not None and sentence.letters in self._letters):
            return True
        return self.near(words_, sentence) is not None

    def near(self, words_: tuple[str, ...], sentence: Sentence | None = None,
             rewording: dict[str, str] | None = None, old_side: bool = False) -> tuple[str, ...] | None:
        """The key of a near-equal sentence of this version that says the same thing, if any.

        `old_side`: the words are the old version's (this index is the new one), for the direction of a rewording.
        """
        if len(words_) < MOVED_MIN_WORDS:
            return None
        if self._encoded is None:
            self._encoded = [encoded_bag(k) for k in self._keys]
        if sentence is None:
            sentence = _sentence_of(words_, self.rules)
        hits = process.extract(encoded_bag(words_), self._encoded, scorer=fuzz.ratio,
                               score_cutoff=self.rules.meaning.pair_threshold, limit=_NEAR_CANDIDATES)
        for _, _, n in hits:
            other = self.analysed[self._keys[n]]
            old, new = (sentence, other) if old_side else (other, sentence)
            if same_meaning(old, new, rewording):
                return other.key
        return None

    def word_counts(self) -> Counter:
        if self._word_counts is None:
            self._word_counts = Counter(w for k, n in self.sentences.items() for w in k for _ in range(n))
        return self._word_counts

    def rewording(self, new: MeaningIndex) -> dict[str, str]:
        """The revision's rewording from this (old) version to `new`: word swaps that recur (see the module doc)."""
        if self._rewording is not None and self._rewording[0] is new:
            return self._rewording[1]
        table = _learn_rewording(self, new)
        self._rewording = (new, table)
        return table


def _learn_rewording(old: MeaningIndex, new: MeaningIndex) -> dict[str, str]:
    meaning, rules = old.rules.meaning, old.rules
    if not meaning.rewording_min_pairs:
        return {}
    only_old = [k for k in old._keys if k not in new.sentences]
    only_new = [k for k in new._keys if k not in old.sentences]
    swaps: Counter = Counter()
    for a, b in _similar_pairs(only_old, only_new, meaning.pair_threshold):
        ka, kb = only_old[a], only_new[b]
        seen = set()
        for op in Levenshtein.opcodes(encoded(ka), encoded(kb)):
            if op.tag == "replace" and op.src_end - op.src_start == op.dest_end - op.dest_start == 1:
                seen.add((ka[op.src_start], kb[op.dest_start]))
        swaps.update(seen)
    old_counts, new_counts = old.word_counts(), new.word_counts()
    table: dict[str, str] = {}
    for (a, b), n in swaps.most_common():
        if n < meaning.rewording_min_pairs or a in table:
            continue
        if new_counts[a] > meaning.rewording_kept_share * old_counts[a]:
            continue        # the old word is still used as before: the swap is a local edit
        if not _swappable(a, rules) or not _swappable(b, rules):
            continue
        table[a] = b
    return table


def _swappable(word: str, rules) -> bool:
    if word == "NOT" or any(c.isdigit() for c in word):
        return False
    return not any(rules.search(name, word) for name in rules.meaning.rewording_protected)


# A sentence led by a short label and a colon (「極秘データ: クラッシュレポートには…」, "Location data: Firefox uses…"):
# the label is the heading of what follows, and a renamed heading over the same body is no change.
_LEAD_LABEL = re.compile(r"^[^:：。、,.!?！？\n]{1,24}[:：](?!//)\s*(?=\S)")


def _body(sentence: str) -> str:
    """The sentence without its leading label, if it has one."""
    m = _LEAD_LABEL.match(sentence)
    return sentence[m.end():] if m else sentence


@dataclass
class SentenceDiff:
    """The sentences of an edited text whose meaning is new (gained) or gone (lost), with where they stood."""

    gained: list[str]
    lost: list[str]
    moved: bool = False         # some changed sentences stand elsewhere in the other version


def changed_sentences(old: str, new: str, rules, old_doc: MeaningIndex | None,
                      new_doc: MeaningIndex | None) -> SentenceDiff:
    """Which sentences of `new` say something `old` (or, moved, the old document) did not, and the reverse.

    In order: the same key in the other text of the unit, a run of its words there (split / joined),
    a near-equal sentence there saying the same thing in other words, then the same three anywhere
    in the other version (moved).
    """
    old_s = [(s, words(_body(s), rules)) for s in sentences(old)]
    new_s = [(s, words(_body(s), rules)) for s in sentences(new)]
    old_keys = Counter(k for _, k in old_s if k)
    new_keys = Counter(k for _, k in new_s if k)
    old_stream = " " + " ".join(w for _, k in old_s for w in k) + " "
    new_stream = " " + " ".join(w for _, k in new_s for w in k) + " "

    def unmatched(side, keys, stream):
        # Not in the other text of the unit, nor split from / joined with a neighbour there.
        return [(text, k) for text, k in side if k and k not in keys and " " + " ".join(k) + " " not in stream]

    gained = unmatched(new_s, old_keys, old_stream)
    lost = unmatched(old_s, new_keys, new_stream)
    # Joined or split sentences: the words of the whole unit are the same.
    if (gained or lost) and old_stream == new_stream:
        return SentenceDiff([], [], False)
    if gained and lost:
        gained, lost = _drop_reworded(gained, lost, rules, old_doc, new_doc)
    moved = False

    def elsewhere(side, doc):
        nonlocal moved
        out = []
        for text, k in side:
            if doc is not None and doc.says(k, analyse(text, rules)):
                moved = True
                continue
            out.append(text)
        return out

    return SentenceDiff(elsewhere(gained, old_doc), elsewhere(lost, new_doc), moved)


def _drop_reworded(gained, lost, rules, old_doc, new_doc):
    """The gained and lost sentences without the pairs that say the same thing in other words."""
    rewording = old_doc.rewording(new_doc) if old_doc is not None and new_doc is not None else {}
    same_old, same_new = set(), set()
    for a, b in _similar_pairs([k for _, k in lost], [k for _, k in gained], rules.meaning.pair_threshold, False):
        if same_meaning(analyse(_body(lost[a][0]), rules), analyse(_body(gained[b][0]), rules), rewording):
            same_old.add(a)
            same_new.add(b)
    return ([g for n, g in enumerate(gained) if n not in same_new],
            [x for n, x in enumerate(lost) if n not in same_old])
