"""A changed clause cut into units: the items / paragraphs added, removed or edited in it.

Also what decides that an edit changed only wording (spelling variants, particles, the same
content words in another order) and that a removed + an added item are one item rephrased.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from watcher.diff import inline_ops
from watcher.judge.rules import Rules
from watcher.judge.text import key_lines
from watcher.models import Clause, ClauseChange
from watcher.normalize import key


@dataclass
class Unit:
    """One changed item / paragraph of a clause, as comparison keys."""

    kind: str            # added | removed | edited | clause_added | clause_removed
    old: str
    new: str
    heading: str = ""    # the heading of the item's parent inside the clause
    is_item: bool = False
    gained: list[str] = field(default_factory=list)   # inserted pieces, spelling-folded (edited units)
    lost: list[str] = field(default_factory=list)     # deleted pieces, spelling-folded (edited units)
    gained_spans: list[tuple[int, int]] = field(default_factory=list)   # where words were inserted in `new`
    lost_spans: list[tuple[int, int]] = field(default_factory=list)     # where words were deleted in `old`
    column: bool = False  # a cell of a table row: `heading` is its column header, the clause's topics do not apply


@dataclass
class Finding:
    category: str
    severity: str
    reason: str
    evidence: list[str]
    code: str = ""      # the rule id that found it (JSON v1 reason_details)
    adjust: str = ""    # the code of the [[rule.adjust]] that applied ("<rule id>.adjust.<n>"), its note
    note: str = ""
    fields: dict = field(default_factory=dict)      # the {fields} of the reason text (watcher.reasons)
    strength: str = "strong"   # "weak": found on a weak cue only (rules.STRENGTHS); routing sends it to legal review


def build_units(change: ClauseChange, rules: Rules) -> list[Unit]:
    """The items / paragraphs that changed in a clause change."""
    if change.type == "added" and change.new is not None:
        return list(_tree_units(change.new, "clause_added"))
    if change.type == "removed" and change.old is not None:
        return list(_tree_units(change.old, "clause_removed"))
    root_texts = {c.own_text() for c in (change.old, change.new) if c is not None}
    units = []
    for item in change.items:
        is_root = (item.text in root_texts) or (item.old_text in root_texts)
        is_item = not is_root and bool(item.number or item.old_number)
        old, new = key_lines(item.old_text or ""), key_lines(item.text or "")
        if item.op == "added":
            units.append(Unit("added", "", new, key(item.title), is_item))
        elif item.op == "removed":
            units.append(Unit("removed", old, "", key(item.title), is_item))
        else:
            units.append(edited_unit(old, new, key(item.title), is_item, rules))
    return _table_cells(units, change, rules)


def edited_unit(old: str, new: str, heading: str, is_item: bool, rules: Rules, column: bool = False) -> Unit:
    """An edited unit with its inserted / deleted pieces worked out."""
    unit = Unit("edited", old, new, heading, is_item, column=column)
    unit.gained, unit.lost = _edit_pieces(rules.fold(old), rules.fold(new))
    unit.gained_spans, unit.lost_spans = _edit_spans(old, new)
    return unit


_CELL_SPLIT = re.compile(r"\s*\|\s*")


def _table_header(row: str, table_lines: list[str]) -> list[str] | None:
    """The header cells of the table a row belongs to: the first line of its block of '|' lines."""
    first = row.split("\n")[0]
    try:
        i = table_lines.index(first)
    except ValueError:
        return None
    while i > 0 and "|" in table_lines[i - 1]:
        i -= 1
    if table_lines[i] == first:
        return None   # the row is the header itself
    return _CELL_SPLIT.split(table_lines[i])


def _table_cells(units: list[Unit], change: ClauseChange, rules: Rules) -> list[Unit]:
    """A changed table row is judged cell by cell under its column's header.

    In a table "purpose | data | legal basis | details", an edit in the details column is not a
    change of purpose although the row (and the header) name purposes: each cell is a unit of its
    own whose topic comes from its column header, not from the clause.
    """
    if not any("|" in u.old or "|" in u.new for u in units):
        return units
    lines = {side: (key_lines(c.full_text()).split("\n") if c is not None else [])
             for side, c in (("old", change.old), ("new", change.new))}
    out: list[Unit] = []
    for unit in units:
        text = unit.new or unit.old
        if "|" not in text or "\n" in text.strip():
            out.append(unit)
            continue
        header = _table_header(text, lines["new" if unit.new else "old"])
        old_cells = _CELL_SPLIT.split(unit.old) if unit.old else []
        new_cells = _CELL_SPLIT.split(unit.new) if unit.new else []
        if header is None or any(cells and len(cells) != len(header) for cells in (old_cells, new_cells)):
            out.append(unit)
            continue
        for n, title in enumerate(header):
            old = old_cells[n] if old_cells else ""
            new = new_cells[n] if new_cells else ""
            if old == new or not (old or new):
                continue
            if unit.kind == "edited" and old and new:
                cell = edited_unit(old, new, key(title), False, rules, column=True)
            else:
                kind = unit.kind if unit.kind != "edited" else ("added" if new else "removed")
                cell = Unit(kind, old if not new else "", new, key(title), False, column=True)
            out.append(cell)
    return out


def _tree_units(clause: Clause, kind: str):
    def visit(node: Clause, heading: str, is_root: bool):
        text = key_lines(node.own_text())
        if text:
            unit = Unit(kind, text if kind == "clause_removed" else "", text if kind == "clause_added" else "",
                        heading, is_item=not is_root and bool(node.number))
            yield unit
        for child in node.children:
            yield from visit(child, "" if is_root else key(node.title), False)

    yield from visit(clause, "", True)


def _edit_pieces(old: str, new: str) -> tuple[list[str], list[str]]:
    gained, lost = [], []
    for op, a, b in inline_ops(old, new):
        if op == "equal":
            continue
        if b:
            gained.append(b)
        if a:
            lost.append(a)
    return gained, lost


def _edit_spans(old: str, new: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Positions of the inserted words in `new` and of the deleted words in `old`."""
    gained, lost = [], []
    i = j = 0
    for op, a, b in inline_ops(old, new):
        if op != "equal":
            if b:
                gained.append((j, j + len(b)))
            if a:
                lost.append((i, i + len(a)))
        i += len(a)
        j += len(b)
    return gained, lost


# ---------------------------------------------------------------------------
# What really changed
# ---------------------------------------------------------------------------

def meaningful(pieces: list[str], rules: Rules) -> bool:
    """Whether inserted / deleted pieces carry words, not just particles, punctuation or spelling variants."""
    for piece in pieces:
        rest = rules.fold(piece)
        if rules.navigation_re is not None:
            rest = rules.navigation_re.sub("", rest)
        rest = rules.filler_re.sub("", rest)
        if rest.strip():
            return True
    return False


_CONTENT_WORD = re.compile(r"[一-龥々]+|[ァ-ヶー]{2,}|[A-Za-z0-9][A-Za-z0-9'\-]*")


def same_words(unit: Unit, rules: Rules) -> bool:
    """An edit that only rephrases: every word it inserts was already in the old text and every word
    it deletes is still in the new one (「Xの提供と改善」 → 「Xを提供して改善するため」), and no negation
    came or went. Japanese particles and inflections are not words here; kanji / katakana runs are.
    """
    old, new = rules.fold(unit.old), rules.fold(unit.new)
    for pieces, other in ((unit.gained, old), (unit.lost, new)):
        for piece in pieces:
            if rules.negator_re is not None and rules.negator_re.search(piece):
                return False
            for word in _CONTENT_WORD.findall(rules.filler_re.sub(" ", piece)):
                if word.lower() not in other:
                    return False
    return len(list(rules.finditer("negation", unit.old))) == len(list(rules.finditer("negation", unit.new)))


def _words(text: str, rules: Rules) -> set[str]:
    return {w.lower() for w in _CONTENT_WORD.findall(rules.filler_re.sub(" ", rules.fold(text)))}


def pair_rephrased(units: list[Unit], rules: Rules) -> list[Unit]:
    """An item removed and an item added with the same content words is one item rephrased
    (「会費の請求及び決済のため」 → 「会費を請求し決済するため」): judge it as an edit of the old one.

    So is the one paragraph under a sub-heading replaced by one saying part of it (「当社及び株式会社X」 →
    「当社」 under 「共同して利用する者の範囲」): the list under that heading shrank, judged by what it lost."""
    removed = [u for u in units if u.kind == "removed"]
    if not removed or not any(u.kind == "added" for u in units):
        return units
    out, used = [], set()
    for unit in units:
        if unit.kind == "added":
            words = _words(unit.new, rules)
            for n, old in enumerate(removed):
                if n in used or not words:
                    continue
                old_words = _words(old.old, rules)
                if old_words != words and not _shrank_under_heading(old, unit, old_words, words, units):
                    continue
                negs = rules.negator_re
                if negs is not None and len(negs.findall(old.old)) != len(negs.findall(unit.new)):
                    continue
                used.add(n)
                unit = edited_unit(old.old, unit.new, unit.heading, unit.is_item, rules, column=unit.column)
                break
        out.append(unit)
    gone = {id(removed[n]) for n in used}
    return [u for u in out if id(u) not in gone]


def _shrank_under_heading(old: Unit, new: Unit, old_words, new_words, units: list[Unit]) -> bool:
    """The only paragraph removed and the only one added under the same sub-heading, the new one saying a
    part of the old one: one paragraph that lost words, not a new statement."""
    if not old.heading or old.heading != new.heading or not new_words < old_words:
        return False
    same = [u for u in units if u.heading == old.heading and u.kind in ("added", "removed")]
    return len(same) == 2


def rewording_evidence(unit: Unit) -> list[str]:
    """'old → new' for each piece of an edit that changes only wording."""
    out = []
    for op, a, b in inline_ops(unit.old, unit.new):
        if op != "equal" and (a.strip() or b.strip()):
            out.append(f"{a.strip()} → {b.strip()}")
    return out[:6]
