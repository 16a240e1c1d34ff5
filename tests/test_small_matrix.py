"""A small score matrix is computed cell by cell without numpy (watcher.align.small_cdist): the same scores and
the same pairs, in the same order, as rapidfuzz's cdist and numpy's argsort."""

import random
import subprocess
import sys

from rapidfuzz import fuzz, process

from watcher import align
from watcher.align import MATCH_THRESHOLD, SMALL_MATRIX, Unit, small_cdist
from watcher.judge import meaning

_ALPHABET = "個人情報の利用目的第三者提供当社はをにがとするためですabc de1"


def _text(rng: random.Random, longest: int = 90) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, longest)))


def _variant(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(0, 6)):
        at = rng.randint(0, len(chars))
        if chars and rng.random() < 0.5:
            del chars[min(at, len(chars) - 1)]
        else:
            chars.insert(at, rng.choice(_ALPHABET))
    return "".join(chars)


def test_cells_are_cdists_float32_scores():
    rng = random.Random(14)
    for _ in range(200):
        queries = [_text(rng) for _ in range(rng.randint(1, 8))]
        choices = [_variant(rng, rng.choice(queries)) if rng.random() < 0.6 else _text(rng)
                   for _ in range(rng.randint(1, 8))]
        for scorer, cutoff in ((fuzz.ratio, None), (fuzz.ratio, 70.0), (fuzz.token_sort_ratio, 68.0)):
            expected = process.cdist(queries, choices, scorer=scorer, score_cutoff=cutoff, workers=1)
            assert small_cdist(queries, choices, scorer, cutoff) == expected.tolist()


def _numpy_ranked(old, new):
    scores = align._scores(old, new)
    out = []
    for flat in align.np.argsort(-scores, axis=None):
        a, b = divmod(int(flat), len(new))
        if scores[a, b] < MATCH_THRESHOLD:
            break
        out.append((a, b))
    return out


def test_small_scores_rank_the_pairs_as_numpy_does():
    rng = random.Random(9)
    titles = ["", "", "利用目的", "第三者提供", "個人情報の利用目的"]
    checked = 0
    for _ in range(400):
        old = [Unit(key=_text(rng), title=rng.choice(titles), number=rng.choice(["", "1", "2"]),
                    kind=rng.choice(["clause", "clause", "item"])) for _ in range(rng.randint(1, 8))]
        new = [Unit(key=_variant(rng, rng.choice(old).key) if rng.random() < 0.7 else _text(rng),
                    title=_variant(rng, rng.choice(titles)) if rng.random() < 0.3 else rng.choice(titles),
                    number=rng.choice(["", "1", "2", "3"]), kind=rng.choice(["clause", "clause", "item"]))
                for _ in range(rng.randint(1, 8))]
        if len(old) * len(new) > SMALL_MATRIX:
            continue
        small = align._small_scores(old, new)
        assert small == align._scores(old, new).tolist()
        assert align._ranked(old, new) == _numpy_ranked(old, new)
        checked += 1
    assert checked > 300


def test_sentence_pairs_are_the_same_without_numpy():
    rng = random.Random(3)
    words = ["個人", "情報", "利用", "目的", "提供", "当社", "第三者", "広告", "配信", "NOT"]
    for _ in range(200):
        old = [tuple(rng.choice(words) for _ in range(rng.randint(1, 9))) for _ in range(rng.randint(1, 7))]
        new = [tuple(rng.sample(k, len(k))) if rng.random() < 0.5 else tuple(rng.choice(words) for _ in range(5))
               for k in old[:rng.randint(1, len(old))]]
        for in_order in (True, False):
            encode = meaning.encoded if in_order else meaning.encoded_bag
            scores = process.cdist([encode(k) for k in old], [encode(k) for k in new], scorer=fuzz.ratio,
                                   score_cutoff=70.0, workers=1)
            hits = sorted(((float(scores[a, b]), int(a), int(b)) for a, b in zip(*scores.nonzero(), strict=True)),
                          reverse=True)
            pairs, used_old, used_new = [], set(), set()
            for _, a, b in hits:
                if a not in used_old and b not in used_new:
                    used_old.add(a)
                    used_new.add(b)
                    pairs.append((a, b))
            assert meaning._similar_pairs(old, new, 70.0, in_order) == pairs


def test_a_clause_with_one_bullet_added_is_compared_without_numpy():
    code = (
        "import sys\n"
        "from watcher.models import Document, Line\n"
        "from watcher.compare import compare\n"
        "lines = ['プライバシーポリシー', '第1条（利用目的）', '当社は、個人情報を以下の目的で利用します。',\n"
        "         '1. サービスの提供のため', '2. お問い合わせへの回答のため', '第2条（第三者提供）',\n"
        "         '当社は、法令に基づく場合を除き、個人情報を第三者に提供しません。']\n"
        "new = lines[:5] + ['3. 新サービスの案内のため'] + lines[5:]\n"
        "doc = lambda ls: Document(source='x', lines=[Line(t) for t in ls])\n"
        "report = compare(doc(lines), doc(new))\n"
        "assert report.changes, report\n"
        "assert 'numpy' not in sys.modules, 'numpy loaded'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
