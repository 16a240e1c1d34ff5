"""Align old and new units (clauses, or items inside a clause) by content.

Exact comparison keys pair first; what is left is paired by rapidfuzz similarity
(`process.cdist`) of content, helped by the title and the number. Then two passes for
edits the character similarity misses: a long unit rewritten with its words reordered
("アプリの品質向上のため、Firebaseで…" -> "Firebaseでアプリの品質を高めるために…") pairs by
the similarity of its sorted word runs, and the heads of the two lists (a clause's
heading), both short and both left over, are one heading renamed. Pairs whose order
changed are moves (found with a longest increasing subsequence). A leftover unit whose
text is contained in a paired one is part of a split (new side) or a merge (old side).
"""

from __future__ import annotations

import re
import struct
from bisect import bisect_left
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Indel

from watcher import lazy

np = lazy.module("numpy")   # the score matrix: loaded when many units are left to score, not with this module

# Below this similarity (0-100) two units are different units, not an edit of one.
MATCH_THRESHOLD = 55.0
# A leftover unit whose text is this share of what left a paired unit was split out of it (or merged into it).
CONTAINED_SHARE = 0.8
# Units shorter than this (in key characters) pair only if the edit keeps this share of the shorter one.
SHORT_UNIT = 30
SHORT_UNIT_KEPT = 0.75
# Reordered rewrites: units with at least this many word runs each pair when their sorted runs are this alike
# (rapidfuzz token_sort_ratio, 0-100); at most REORDERED_MAX leftovers a side are compared (cdist is quadratic).
REORDERED_THRESHOLD = 68.0
REORDERED_MIN_RUNS = 6
REORDERED_MAX = 200
# A heading: a head unit this short (key characters) without a sentence end.
HEADING_MAX = 40
# Word runs of a comparison key: kanji, katakana, Latin words (kana between them is inflection and particles).
_RUNS = re.compile(r"[一-龥々〆ヵヶ]+|[ァ-ヴー]+|[A-Za-z0-9]+")
_SENTENCE_END = re.compile(r"[。.!?！？]")


@dataclass
class Unit:
    key: str                # comparison key of the content
    title: str = ""         # comparison key of the title ("" if none)
    number: str = ""        # comparison key of the number ("" if none)
    kind: str = "clause"    # units pair only with units of the same kind


@dataclass
class Alignment:
    pairs: list[tuple[int, int]]          # (old index, new index), in new order
    removed: list[int]                    # old indexes with no partner
    added: list[int]                      # new indexes with no partner
    moved: set[tuple[int, int]] = field(default_factory=set)   # pairs whose relative order changed
    split_from: dict[int, int] = field(default_factory=dict)   # added new index -> old index it came out of
    merged_into: dict[int, int] = field(default_factory=dict)  # removed old index -> new index it went into


def align(old: list[Unit], new: list[Unit]) -> Alignment:
    pairs: dict[int, int] = {}
    taken_new: set[int] = set()

    # 1. Units that exist only once per kind on each side (preamble, metadata) pair by kind.
    for kind in {u.kind for u in old} - {"clause"}:
        o = [i for i, u in enumerate(old) if u.kind == kind]
        n = [j for j, u in enumerate(new) if u.kind == kind]
        if len(o) == 1 and len(n) == 1:
            pairs[o[0]] = n[0]
            taken_new.add(n[0])

    # 2. Identical content pairs, in order (the same text twice pairs first with first).
    by_key: dict[tuple[str, str], list[int]] = {}
    for j, u in enumerate(new):
        if j not in taken_new:
            by_key.setdefault((u.kind, u.key), []).append(j)
    for i, u in enumerate(old):
        if i in pairs:
            continue
        candidates = by_key.get((u.kind, u.key))
        if candidates:
            j = _closest(candidates, i, old, new, u)
            candidates.remove(j)
            pairs[i] = j
            taken_new.add(j)

    # 3. Similar content: the best-scoring pairs first.
    rest_old = [i for i in range(len(old)) if i not in pairs]
    rest_new = [j for j in range(len(new)) if j not in taken_new]
    if rest_old and rest_new:
        used_o: set[int] = set()
        used_n: set[int] = set()
        for a, b in _ranked([old[i] for i in rest_old], [new[j] for j in rest_new]):
            if a in used_o or b in used_n:
                continue
            if not _plausible_edit(old[rest_old[a]].key, new[rest_new[b]].key):
                continue
            used_o.add(a)
            used_n.add(b)
            pairs[rest_old[a]] = rest_new[b]
            taken_new.add(rest_new[b])

    _pair_reordered(old, new, pairs, taken_new)
    _pair_heads(old, new, pairs, taken_new)

    removed = [i for i in range(len(old)) if i not in pairs]
    added = [j for j in range(len(new)) if j not in taken_new]
    ordered = sorted(pairs.items(), key=lambda p: p[1])
    result = Alignment(pairs=ordered, removed=removed, added=added, moved=_moved(pairs))

    # 4. Splits and merges: a leftover unit whose text is what left a paired unit (split),
    #    or what a paired unit gained (merge).
    changed = [(i, j) for i, j in ordered if old[i].key != new[j].key]
    if changed and (added or removed):
        # How many characters each changed pair lost and gained (cheap), before any opcodes (costly).
        sizes = {}
        for i, j in changed:
            dist = Indel.distance(old[i].key, new[j].key)
            delta = len(old[i].key) - len(new[j].key)
            sizes[(i, j)] = ((dist + delta) // 2, (dist - delta) // 2)
        moved_text: dict[tuple[int, int], tuple[str, str]] = {}

        def moved(pair):
            if pair not in moved_text:
                moved_text[pair] = _moved_text(old[pair[0]].key, new[pair[1]].key)
            return moved_text[pair]

        for j in added:
            need = len(new[j].key) * CONTAINED_SHARE
            hosts = [(p[0], moved(p)[0]) for p in changed if sizes[p][0] >= need]
            host = _container(new[j].key, hosts)
            if host is not None:
                result.split_from[j] = host
        for i in removed:
            need = len(old[i].key) * CONTAINED_SHARE
            hosts = [(p[1], moved(p)[1]) for p in changed if sizes[p][1] >= need]
            host = _container(old[i].key, hosts)
            if host is not None:
                result.merged_into[i] = host
    return result


def _runs(text: str) -> str:
    return " ".join(_RUNS.findall(text))


def _pair_reordered(old: list[Unit], new: list[Unit], pairs: dict[int, int], taken_new: set[int]) -> None:
    """Leftover long units whose word runs, sorted, are alike: one unit rewritten in another word order."""
    rest_old = [i for i in range(len(old)) if i not in pairs][:REORDERED_MAX]
    rest_new = [j for j in range(len(new)) if j not in taken_new][:REORDERED_MAX]
    runs_old = {i: _runs(old[i].key) for i in rest_old}
    runs_new = {j: _runs(new[j].key) for j in rest_new}
    rest_old = [i for i in rest_old if runs_old[i].count(" ") + 1 >= REORDERED_MIN_RUNS]
    rest_new = [j for j in rest_new if runs_new[j].count(" ") + 1 >= REORDERED_MIN_RUNS]
    if not rest_old or not rest_new:
        return
    queries, choices = [runs_old[i] for i in rest_old], [runs_new[j] for j in rest_new]
    if len(queries) * len(choices) <= SMALL_MATRIX:
        cells = small_cdist(queries, choices, fuzz.token_sort_ratio, REORDERED_THRESHOLD)
        hits = sorted(((score, a, b) for a, row in enumerate(cells) for b, score in enumerate(row) if score),
                      reverse=True)
    else:
        scores = process.cdist(queries, choices, scorer=fuzz.token_sort_ratio, score_cutoff=REORDERED_THRESHOLD,
                               workers=1)
        hits = sorted(((float(scores[a, b]), int(a), int(b)) for a, b in zip(*scores.nonzero(), strict=True)),
                      reverse=True)
    for _, a, b in hits:
        i, j = rest_old[a], rest_new[b]
        if i in pairs or j in taken_new or old[i].kind != new[j].kind:
            continue
        pairs[i] = j
        taken_new.add(j)


def _is_heading(unit: Unit) -> bool:
    return 0 < len(unit.key) <= HEADING_MAX and not _SENTENCE_END.search(unit.key)


def _pair_heads(old: list[Unit], new: list[Unit], pairs: dict[int, int], taken_new: set[int]) -> None:
    """The first units of both lists, both left over and both heading-like: one heading renamed."""
    if old and new and 0 not in pairs and 0 not in taken_new and old[0].kind == new[0].kind \
            and _is_heading(old[0]) and _is_heading(new[0]) and len(old) > 1 and len(new) > 1:
        pairs[0] = 0
        taken_new.add(0)


def _moved_text(a: str, b: str) -> tuple[str, str]:
    """(text only in a, text only in b) between two versions of one unit."""
    only_a, only_b = [], []
    for op in Indel.opcodes(a, b):
        if op.tag in ("delete", "replace"):
            only_a.append(a[op.src_start:op.src_end])
        if op.tag in ("insert", "replace"):
            only_b.append(b[op.dest_start:op.dest_end])
    return "".join(only_a), "".join(only_b)


def _plausible_edit(a: str, b: str) -> bool:
    """Short texts look alike by their boilerplate ("…のため"): an edit must keep most of the shorter one."""
    shorter = min(len(a), len(b))
    if shorter >= SHORT_UNIT or shorter == 0:
        return True
    common = (len(a) + len(b) - Indel.distance(a, b)) / 2
    return common / shorter >= SHORT_UNIT_KEPT


def _closest(candidates: list[int], i: int, old: list[Unit], new: list[Unit], u: Unit) -> int:
    for j in candidates:
        if new[j].number == u.number:
            return j
    return candidates[0]


# A score matrix of at most this many cells is computed cell by cell in Python floats, without numpy (0.1 s to
# import, for a check whose changed clause left one unit on each side to score): the same float32 values as
# cdist's, rounded as numpy rounds them (small_cdist, _small_scores).
SMALL_MATRIX = 64
_FLOAT32 = struct.Struct("f")


def _f32(x: float) -> float:
    """x rounded to the nearest float32, as a Python float (exact: a float32 fits a double)."""
    return _FLOAT32.unpack(_FLOAT32.pack(x))[0]


def small_cdist(queries: list[str], choices: list[str], scorer, score_cutoff: float | None = None) -> list[list[float]]:
    """process.cdist(queries, choices, scorer=scorer, score_cutoff=score_cutoff) (float32) as lists of floats, one
    scorer call a cell: for a matrix of at most SMALL_MATRIX cells (a cell under the cutoff is 0, as in cdist)."""
    return [[_f32(scorer(q, c, score_cutoff=score_cutoff)) for c in choices] for q in queries]


def _ranked(old: list[Unit], new: list[Unit]) -> list[tuple[int, int]]:
    """(old index, new index) of the cells of _scores at least MATCH_THRESHOLD, the best first (numpy's argsort
    order of the scores, descending)."""
    if len(old) * len(new) <= SMALL_MATRIX:
        cells = [(score, a, b) for a, row in enumerate(_small_scores(old, new)) for b, score in enumerate(row)
                 if score >= MATCH_THRESHOLD]
        if len({score for score, _, _ in cells}) == len(cells):
            # No two cells score alike: the order is the scores' alone (ties keep argsort's order, below).
            return [(a, b) for _, a, b in sorted(cells, reverse=True)]
    scores = _scores(old, new)
    out = []
    for flat in np.argsort(-scores, axis=None):
        a, b = divmod(int(flat), len(new))
        if scores[a, b] < MATCH_THRESHOLD:
            break
        out.append((a, b))
    return out


_F32_TITLE, _F32_CONTENT = _f32(0.4), _f32(0.6)


def _small_scores(old: list[Unit], new: list[Unit]) -> list[list[float]]:
    """_scores, cell by cell: the content and title scores in float32 and their mix in float32 arithmetic (numpy's
    with float32 arrays and Python scalars), the number's bonus and the kind in float64."""
    content = small_cdist([u.key for u in old], [u.key for u in new], fuzz.ratio)
    titled_old = [u.title for u in old]
    titled_new = [u.title for u in new]
    if any(titled_old) and any(titled_new):
        titles = small_cdist(titled_old, titled_new, fuzz.ratio)
        for a, row in enumerate(content):
            if not titled_old[a]:
                continue
            for b, c in enumerate(row):
                if titled_new[b]:
                    # Each product and the sum rounded to float32: computed exactly in a double, then rounded once.
                    row[b] = max(c, _f32(_f32(_F32_CONTENT * c) + _f32(_F32_TITLE * titles[a][b])))
    return [[(row[b] + (5.0 if a_unit.number and a_unit.number == b_unit.number else 0.0))
             if a_unit.kind == b_unit.kind else 0.0
             for b, b_unit in enumerate(new)]
            for a_unit, row in zip(old, content, strict=True)]


def _scores(old: list[Unit], new: list[Unit]) -> np.ndarray:
    content = process.cdist([u.key for u in old], [u.key for u in new], scorer=fuzz.ratio, dtype=np.float32,
                            workers=1)
    titled_old = [u.title for u in old]
    titled_new = [u.title for u in new]
    if any(titled_old) and any(titled_new):
        titles = process.cdist(titled_old, titled_new, scorer=fuzz.ratio, dtype=np.float32, workers=1)
        has_both = np.outer([bool(t) for t in titled_old], [bool(t) for t in titled_new])
        # A clause keeps its heading through a rewrite more often than its text: let the title
        # carry part of the score, but never alone (a renamed heading over the same text still pairs).
        content = np.where(has_both, np.maximum(content, 0.6 * content + 0.4 * titles), content)
    same_number = np.array([[bool(a.number) and a.number == b.number for b in new] for a in old], dtype=bool)
    content = content + np.where(same_number, 5.0, 0.0)
    kinds_ok = np.array([[a.kind == b.kind for b in new] for a in old], dtype=bool)
    return np.where(kinds_ok, content, 0.0)


def _container(text: str, candidates: list[tuple[int, str]]) -> int | None:
    """The candidate whose moved-out (or moved-in) text is mostly this text, if any."""
    size = len(text)
    if size < 8:
        return None
    best, best_kept = None, CONTAINED_SHARE
    for idx, moved in candidates:
        if len(moved) < size * CONTAINED_SHARE:
            continue
        common = (len(moved) + size - Indel.distance(text, moved)) / 2
        # Most of the unit is found in what moved, and what moved is mostly this unit.
        kept = min(common / size, common / len(moved) + (1 - CONTAINED_SHARE))
        if kept >= best_kept:
            best, best_kept = idx, kept
    return best


def _moved(pairs: dict[int, int]) -> set[tuple[int, int]]:
    """Pairs outside the longest run that kept its order."""
    ordered = sorted(pairs.items())
    news = [j for _, j in ordered]
    # Longest increasing subsequence with back-pointers (patience sorting).
    tails: list[int] = []
    tails_idx: list[int] = []
    prev = [-1] * len(news)
    for k, v in enumerate(news):
        pos = bisect_left(tails, v)
        if pos == len(tails):
            tails.append(v)
            tails_idx.append(k)
        else:
            tails[pos] = v
            tails_idx[pos] = k
        prev[k] = tails_idx[pos - 1] if pos else -1
    keep: set[int] = set()
    k = tails_idx[-1] if tails_idx else -1
    while k != -1:
        keep.add(k)
        k = prev[k]
    return {ordered[k] for k in range(len(ordered)) if k not in keep}
