"""Diff two clause trees: which top-level clauses changed, and what changed inside each.

Inside an aligned clause, every node of the subtree (the clause's own text, each item,
each paragraph) is a unit; units are aligned like clauses, giving items added / removed /
edited. Inline hunks come from rapidfuzz opcodes over tokens: one token per Japanese
character, one per Latin word, so Japanese is diffed by character and English by word.

The diff stage also gives the structural verdicts that need no reading of the law:
moved, renumbered, formatting, effective_date_changed. The rest is classify's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from rapidfuzz.distance import Indel

from watcher.align import Unit, align
from watcher.models import Clause, ClauseChange, Hunk, ItemChange, Reason
from watcher.normalize import key
from watcher.segment import is_date_line

_TOKEN = re.compile(r"\d[\d,.]*\d|[A-Za-z0-9_'’\-]+|\s+|.", re.S)


@dataclass
class _Item:
    node: Clause
    number: str        # the node's number on its first unit, "" on the others
    text: str          # display text of the unit
    parent_title: str  # heading the unit sits under inside the clause
    key: str


def clause_key(clause: Clause) -> str:
    """Content key of a whole clause: title, body and items, without the numbering markers."""
    return key("\n".join(n.own_text() for n in clause.walk()))


def clause_unit(clause: Clause) -> Unit:
    return Unit(key=clause_key(clause), title=key(clause.title), number=key(clause.number),
                kind=clause.kind)


def diff_clauses(old: list[Clause], new: list[Clause]) -> tuple[list[ClauseChange], dict[str, int]]:
    """The changed top-level clauses (in new-document order, removals at their old place) and a summary."""
    old_units = [clause_unit(c) for c in old]
    new_units = [clause_unit(c) for c in new]
    alignment = align(old_units, new_units)
    summary = {"added": 0, "removed": 0, "modified": 0, "moved": 0, "renumbered": 0, "unchanged": 0}
    changes: list[tuple[float, ClauseChange]] = []

    split_into: dict[int, list[int]] = {}
    for j, i in alignment.split_from.items():
        split_into.setdefault(i, []).append(j)
    merged_from: dict[int, list[int]] = {}
    for i, j in alignment.merged_into.items():
        merged_from.setdefault(j, []).append(i)

    for i, j in alignment.pairs:
        o, n = old[i], new[j]
        extra_new = [new[k] for k in split_into.get(i, [])]
        extra_old = [old[k] for k in merged_from.get(j, [])]
        change = _paired_change(o, n, old_units[i], new_units[j], (i, j) in alignment.moved, extra_old, extra_new)
        if change is None:
            summary["unchanged"] += 1
            continue
        summary[change.type] += 1
        changes.append((j, change))

    for j in alignment.added:
        n = new[j]
        if j in alignment.split_from:
            host = old[alignment.split_from[j]]
            change = ClauseChange(type="moved", old=None, new=n, categories=["moved"], related=[host.label],
                                  **_reason("diff.moved.split", f"split out of {host.label}: its text was already there",
                                            label=host.label))
            summary["moved"] += 1
        else:
            change = ClauseChange(type="added", old=None, new=n, hunks=[Hunk("insert", "", n.full_text())])
            summary["added"] += 1
        changes.append((j, change))

    new_pos = {i: j for i, j in alignment.pairs}
    for i in alignment.removed:
        o = old[i]
        # Place a removal after the new clause that follows its old predecessor.
        before = [new_pos[k] for k in range(i) if k in new_pos]
        position = (before[-1] if before else -1) + 0.5
        if i in alignment.merged_into:
            host = new[alignment.merged_into[i]]
            change = ClauseChange(type="moved", old=o, new=None, categories=["moved"], related=[host.label],
                                  **_reason("diff.moved.merged", f"merged into {host.label}: its text is still there",
                                            label=host.label))
            summary["moved"] += 1
        else:
            change = ClauseChange(type="removed", old=o, new=None, hunks=[Hunk("delete", o.full_text(), "")])
            summary["removed"] += 1
        changes.append((position, change))

    changes.sort(key=lambda pc: pc[0])
    return [c for _, c in changes], summary


def _paired_change(o: Clause, n: Clause, ou: Unit, nu: Unit, moved: bool,
                   extra_old: list[Clause], extra_new: list[Clause]) -> ClauseChange | None:
    renumbered = ou.number != nu.number
    if ou.key == nu.key and not extra_old and not extra_new:
        if moved:
            return ClauseChange(type="moved", old=o, new=n, categories=["moved"],
                                **_reason("diff.moved", "same text at another place in the policy"))
        if renumbered:
            return ClauseChange(type="renumbered", old=o, new=n, categories=["renumbered"],
                                **_reason("diff.renumbered", f"same text, number {o.number or '-'} → {n.number or '-'}",
                                          old=o.number or "-", new=n.number or "-"))
        if o.full_text() != n.full_text():
            return ClauseChange(type="modified", old=o, new=n, categories=["formatting"],
                                **_reason("diff.formatting",
                                          "only formatting changed (width, spaces, line breaks, punctuation)"))
        return None
    # A clause split out of this one (or merged into it) has a heading of its own: a new heading is its
    # label, not text the host gained or lost (a sub-heading that moved out with it still counts).
    items = diff_items([o, *_labels_dropped(extra_old, n)], [n, *_labels_dropped(extra_new, o)])
    hunks = [h for item in items for h in item.hunks]
    if not items:
        # Same units in another order inside the clause.
        hunks = inline_hunks(o.full_text(), n.full_text())
    related = [c.label for c in extra_old + extra_new]
    change = ClauseChange(type="modified", old=o, new=n, items=items, hunks=hunks, related=related)
    if o.kind == "metadata" and n.kind == "metadata" and all(_is_date_item(it) for it in items):
        change.categories = ["effective_date_changed"]
        reason = _reason("diff.effective_date_changed", "only the dates of enactment / revision changed")
        change.reasons, change.details = reason["reasons"], reason["details"]
    return change


def _labels_dropped(extra: list[Clause], host: Clause) -> list[Clause]:
    """Split-off / merged-in clauses without the headings the host's other side never had."""
    headings = {key(node.title) for node in host.walk() if node.title}
    return [c if key(c.title) in headings else replace(c, title="") for c in extra]


def _reason(code: str, text: str, **fields) -> dict:
    """A diff-stage verdict's reason: its English text and its code (rules/reasons.toml gives the
    report's language, watcher.compare)."""
    return {"reasons": [text], "details": [Reason(code, text, fields=fields)]}


def _is_date_item(item: ItemChange) -> bool:
    return all(is_date_line(t) for t in (item.text, item.old_text) if t)


_SENTENCE_END = re.compile(r"[。．.!?！？:：」)）]$")
_CONTINUES = re.compile(r"[、,のをにがはとでやもへ]$")


def paragraphs(lines: list[str]) -> list[str]:
    """Body lines grouped into paragraphs: a line wrapped in the middle of a sentence joins the next.

    A break after a sentence end, or after a short value line ("Google", an address line),
    is a real paragraph break; any other break is a reflow and must not count as a change.
    """
    out: list[str] = []
    current: list[str] = []
    for line in lines:
        current.append(line)
        folded = key(line)
        if _SENTENCE_END.search(folded) or (len(folded) < 25 and not _CONTINUES.search(folded)):
            out.append("\n".join(current))
            current = []
    if current:
        out.append("\n".join(current))
    return out


def _items(roots: list[Clause]) -> list[_Item]:
    """Units inside clauses: each heading, and each paragraph of each node, with its number."""
    out: list[_Item] = []

    def visit(node: Clause, parent_title: str, is_root: bool) -> None:
        context = "" if is_root else parent_title
        numbered = False
        if node.title:
            out.append(_Item(node, node.number, node.title, context, key(node.title)))
            numbered = True
        for para in paragraphs(node.body):
            number = "" if numbered else node.number
            out.append(_Item(node, number, para, node.title or context, key(para)))
            numbered = True
        if not numbered and node.number and not node.children:
            out.append(_Item(node, node.number, "", context, ""))
        for child in node.children:
            visit(child, node.title or context if not is_root else node.title, False)

    for root in roots:
        visit(root, "", True)
    return out


def diff_items(old_roots: list[Clause], new_roots: list[Clause]) -> list[ItemChange]:
    """Items and paragraphs added, removed or edited between two (groups of) clauses."""
    old_items, new_items = _items(old_roots), _items(new_roots)
    units_old = [Unit(key=it.key, number=key(it.number)) for it in old_items]
    units_new = [Unit(key=it.key, number=key(it.number)) for it in new_items]
    alignment = align(units_old, units_new)
    changes: list[tuple[float, ItemChange]] = []
    for i, j in alignment.pairs:
        o, n = old_items[i], new_items[j]
        if o.key == n.key:
            continue
        changes.append((j, ItemChange(op="edited", number=n.number or None, old_number=o.number or None,
                                      text=n.text, old_text=o.text, title=n.parent_title,
                                      hunks=inline_hunks(o.text, n.text))))
    for j in alignment.added:
        n = new_items[j]
        text = n.text
        changes.append((j, ItemChange(op="added", number=n.number or None, old_number=None, text=text,
                                      old_text=None, title=n.parent_title, hunks=[Hunk("insert", "", text)])))
    new_pos = dict(alignment.pairs)
    for i in alignment.removed:
        o = old_items[i]
        before = [new_pos[k] for k in range(i) if k in new_pos]
        text = o.text
        changes.append(((before[-1] if before else -1) + 0.5,
                        ItemChange(op="removed", number=None, old_number=o.number or None, text=None,
                                   old_text=text, title=o.parent_title, hunks=[Hunk("delete", text, "")])))
    changes.sort(key=lambda pc: pc[0])
    return [c for _, c in changes]


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _comparable(text: str) -> tuple[list[str], list[str]]:
    """Display tokens (each carrying the spaces after it) and their comparison keys.

    Tokens are compared by key, so width, punctuation variants and spacing never show as
    edits, while the pieces returned are the text as written.
    """
    shown: list[str] = []
    keys: list[str] = []
    for tok in _TOKEN.findall(text):
        if tok.isspace():
            if shown:
                shown[-1] += tok
            else:
                shown.append(tok)
                keys.append("")
            continue
        shown.append(tok)
        keys.append(key(tok) or tok)
    return shown, keys


def inline_ops(old: str, new: str) -> list[tuple[str, str, str]]:
    """All inline operations between two texts: (op, old, new) with op equal/insert/delete/replace.

    Tiny equal runs (one or two characters) between two edits are folded into the edit,
    so a rewritten phrase reads as one replacement instead of confetti.
    """
    a, a_keys = _comparable(old)
    b, b_keys = _comparable(new)
    raw: list[list] = []
    for op in Indel.opcodes(a_keys, b_keys):
        piece_old = "".join(a[op.src_start:op.src_end])
        piece_new = "".join(b[op.dest_start:op.dest_end])
        tag = op.tag
        if raw and tag != "equal" and raw[-1][0] != "equal":
            raw[-1][1] += piece_old
            raw[-1][2] += piece_new
            continue
        raw.append([tag, piece_old, piece_new])
    # Fold short equal runs sitting between two edits.
    merged: list[list] = []
    k = 0
    while k < len(raw):
        cur = raw[k]
        if (cur[0] == "equal" and 0 < k < len(raw) - 1 and len(key(cur[2])) <= 2
                and merged and merged[-1][0] != "equal"):
            nxt = raw[k + 1]
            merged[-1][1] += cur[1] + nxt[1]
            merged[-1][2] += cur[2] + nxt[2]
            k += 2
            continue
        merged.append(list(cur))
        k += 1
    for m in merged:
        if m[0] != "equal":
            m[0] = "replace" if m[1] and m[2] else ("insert" if m[2] else "delete")
    return [tuple(m) for m in merged]


def inline_hunks(old: str, new: str) -> list[Hunk]:
    return [Hunk(op, o, n) for op, o, n in inline_ops(old, new) if op != "equal"]
