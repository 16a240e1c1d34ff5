"""Render a Report: JSON (policy-watcher/diff/v1), terminal text, Markdown, HTML 新旧対照表.

    render(report, fmt, color=) -> str     dispatches through RENDERERS
    RENDERERS                              kind -> class (`@register`): text, json, md, html, docx
    FORMATS                                the kinds, in order (`watch diff --format` choices)

A report format is a small registered class with a docstring (its first line is the README's
description, see tests/test_docs.py) and `render(report, color=)`. A new format (docx) is
one more class here, or in a module imported here before FORMATS is computed, and its name in
watcher.report_formats (the --format choices without importing this module; checked below).
jinja2 is loaded with the first HTML report, not with this module.
"""

from __future__ import annotations

import html
import importlib
import io
import json
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import ClassVar, Protocol

from markupsafe import Markup

from watcher import lazy
from watcher.dates import last_date
from watcher.diff import diff_items, inline_ops
from watcher.models import SEVERITY_RANK, Clause, ClauseChange, Report
from watcher.normalize import key
from watcher.reasons import translate
from watcher.registry import Registry
from watcher.report_formats import RENDERER_CLASSES

# The terminal rendering (render_text) alone needs rich: a check that stores reports (report_to_dict) never loads it.
rich_console = lazy.module("rich.console")
rich_text = lazy.module("rich.text")

SCHEMA = "policy-watcher/diff/v1"

_TEMPLATES = Path(__file__).parent / "templates"
jinja2 = lazy.module("jinja2")      # with the first HTML report (watch diff -f text never loads it)
# Evidence quoted in a section's head: its words are underlined in the rows below, so a long
# quote is cut (the rows hold it whole).
QUOTE_CHARS = 120
MAX_QUOTES = 3          # quotes per verdict in a section's head; the rest are counted


@cache
def _environment():
    """The templates' jinja2 Environment, made on first use."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["quote"] = lambda s: s if len(s) <= QUOTE_CHARS else s[:QUOTE_CHARS].rstrip() + "…"
    return env


def _ref(clause: Clause | None, full_text: bool) -> dict | None:
    if clause is None:
        return None
    title = clause.title or ("前文" if clause.kind == "preamble" else "")
    ref = {"number": clause.number or None, "title": title}
    if full_text:
        ref["text"] = clause.full_text()
        ref["index"] = clause.index      # its position: where the unchanged clauses between changes are
    return ref


def change_to_dict(change: ClauseChange, full_text: bool = False) -> dict:
    return {
        "type": change.type,
        "old": _ref(change.old, full_text),
        "new": _ref(change.new, full_text),
        "categories": list(change.categories),
        "severity": change.severity,
        "reasons": list(change.reasons),
        "evidence": list(change.evidence),
        "reason_details": reason_details(change),
        "items": [
            {"op": it.op, "number": it.number, "old_number": it.old_number, "text": it.text,
             "old_text": it.old_text, "title": it.title,
             "hunks": [{"op": h.op, "old": h.old, "new": h.new} for h in it.hunks]}
            for it in change.items
        ],
        "hunks": [{"op": h.op, "old": h.old, "new": h.new} for h in change.hunks],
    }


def reason_details(change: ClauseChange) -> list[dict]:
    """The reasons as {code, text, evidence}: the judge's rule ids, else (a verdict of the diff stage:
    moved, renumbered, formatting...) `diff.<category>` with the change's evidence."""
    if change.details:
        return [{"code": d.code, "text": d.text, "evidence": list(d.evidence)} for d in change.details]
    code = "diff." + (change.categories[0] if change.categories else change.type)
    return [{"code": code, "text": r, "evidence": list(change.evidence)} for r in change.reasons]


# What a stored operand (NAME@REF) adds to JSON v1 old/new, in this order (README "JSON v1").
OPERAND_FIELDS = ("policy", "version", "snapshot", "fetched_at", "sha256", "url", "effective_date")


def _operand(source: str, clauses: int, meta: dict) -> dict:
    side = {"source": source, "clauses": clauses}
    side.update({k: meta.get(k) for k in OPERAND_FIELDS if meta})
    return side


def report_to_dict(report: Report, full_text: bool = False) -> dict:
    """The JSON v1 object. `full_text` adds each clause's text to old/new (for mail rendering)."""
    rc = report.revision_clause
    return {
        "schema": SCHEMA,
        "language": report.language,
        "old": _operand(report.old_source, report.old_clauses, report.old_meta),
        "new": _operand(report.new_source, report.new_clauses, report.new_meta),
        "severity": report.severity,
        "material": report.material,
        "summary": dict(report.summary),
        "changes": [change_to_dict(c, full_text) for c in report.changes],
        "revision_clause": None if rc is None else {
            "number": rc.number or None, "title": rc.title,
            "promises": {
                "notify_users": rc.promises.notify_users,
                "consent_when_required": rc.promises.consent_when_required,
                "channels": list(rc.promises.channels),
                "lead_time_days": rc.promises.lead_time_days,
                "deemed_consent": rc.promises.deemed_consent,
            },
        },
        "notify": {"users": report.notify.users, "staff": report.notify.staff,
                   "actions": list(report.notify.actions), "notes": list(report.notify.notes)},
        "bilingual": report.bilingual,
    }


# ---------------------------------------------------------------- the registry


class Renderer(Protocol):
    """What a registered report format provides."""

    kind: ClassVar[str]          # the --format name

    def render(self, report: Report, *, color: bool = False) -> str: ...


RENDERERS = Registry("renderer")
register = RENDERERS.register


@register
class TextRenderer:
    """Terminal text: each change with severity, reasons, evidence and changed lines; colour with `--color`."""

    kind = "text"

    def render(self, report: Report, *, color: bool = False) -> str:
        return render_text(report, color)


@register
class JsonRenderer:
    """JSON, the `policy-watcher/diff/v1` contract (`../shared/DESIGN.md`)."""

    kind = "json"

    def render(self, report: Report, *, color: bool = False) -> str:
        return json.dumps(report_to_dict(report), ensure_ascii=False, indent=2) + "\n"


@register
class MarkdownRenderer:
    """Markdown: a section per change with its reasons, evidence and a `diff` block; the routing."""

    kind = "md"

    def render(self, report: Report, *, color: bool = False) -> str:
        return render_markdown(report)


@register
class HtmlRenderer:
    """Self-contained HTML 新旧対照表: 改定後 beside 改定前, changed text marked, the verdict per clause."""

    kind = "html"

    def render(self, report: Report, *, color: bool = False) -> str:
        return render_html(report)


@register
class DocxRenderer:
    """Word .docx 新旧対照表 (python-docx): the HTML table's rows in two columns, 傍線 underlined, A4, header/footer."""

    kind = "docx"
    binary = True                                 # bytes: written to a file (--output), never a terminal
    impl = "watcher.report_docx:render_docx"      # loaded by name: nothing else imports python-docx

    def render(self, report: Report, *, color: bool = False) -> bytes:
        module, function = self.impl.split(":")
        return getattr(importlib.import_module(module), function)(report)


FORMATS = tuple(RENDERERS)
if {kind: f"{cls.__module__}:{cls.__qualname__}" for kind, cls in RENDERERS.items()} != RENDERER_CLASSES \
        or FORMATS != tuple(RENDERER_CLASSES):
    raise ImportError(f"watcher.report_formats.RENDERER_CLASSES {RENDERER_CLASSES} does not name the "
                      f"registered renderers {dict(RENDERERS)}")


def render(report: Report, fmt: str, color: bool = False) -> str | bytes:
    """The report in format `fmt` (a key of RENDERERS; bytes for a binary one such as docx);
    ValueError for an unknown one."""
    renderer = RENDERERS.get(fmt)
    if renderer is None:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(RENDERERS)})")
    return renderer().render(report, color=color)


# ---------------------------------------------------------------- text and Markdown


def _label(change: ClauseChange) -> str:
    if change.old and change.new and change.old.number != change.new.number and change.old.number:
        return f"{change.new.label}  (旧 {change.old.number})"
    return (change.new or change.old).label


def _item_lines(change: ClauseChange) -> list[tuple[str, str]]:
    """(style, line) pairs describing what changed inside a clause."""
    out: list[tuple[str, str]] = []
    for it in change.items:
        number = it.number or it.old_number or ""
        if it.op == "added":
            out.append(("added", f"+ {number} {it.text}".replace("  ", " ")))
        elif it.op == "removed":
            out.append(("removed", f"- {number} {it.old_text}".replace("  ", " ")))
        else:
            out.append(("edited", f"~ {number} {_inline(it.old_text or '', it.text or '')}".replace("  ", " ")))
    return out


def _diff_lines(change: ClauseChange) -> list[str]:
    """A Markdown `diff` block's lines for a clause's items: an edit is its old line(s) with `-` and
    the new with `+` (GitHub colours only those two marks), an added / removed item one side."""
    def side(sign: str, number: str, text: str) -> list[str]:
        lines = text.splitlines() or [""]
        return [f"{sign} {number} {lines[0]}".replace("  ", " "), *(f"{sign} {line}" for line in lines[1:])]

    out: list[str] = []
    for it in change.items:
        if it.op in ("removed", "edited"):
            out += side("-", it.old_number or it.number or "", it.old_text or "")
        if it.op in ("added", "edited"):
            out += side("+", it.number or it.old_number or "", it.text or "")
    return out


def _inline(old: str, new: str, context: int = 24) -> str:
    """An edit as one line: unchanged text shortened to some context, [-removed-]{+added+}."""
    parts = []
    ops = inline_ops(old, new)
    for k, (op, o, n) in enumerate(ops):
        if op == "equal":
            if k == 0 and len(o) > context:
                o = "…" + o[-context:]
            elif k == len(ops) - 1 and len(o) > context:
                o = o[:context] + "…"
            elif len(o) > 2 * context:
                o = o[:context] + "…" + o[-context:]
            parts.append(o)
        else:
            parts.append((f"[-{o}-]" if o else "") + (f"{{+{n}+}}" if n else ""))
    return "".join(parts)


def render_text(report: Report, color: bool = False) -> str:
    buf = io.StringIO()
    console = rich_console.Console(file=buf, force_terminal=color, color_system="standard" if color else None,
                      width=100, highlight=False, emoji=False, soft_wrap=True)
    sev_style = {"consent": "bold red", "notice": "bold yellow", "minor": "cyan", "none": "dim"}
    s = report.summary
    console.print(rich_text.Text(f"{report.old_source} → {report.new_source}", style="bold"))  # page text: never markup
    console.print(f"severity: {report.severity}   material: {'yes' if report.material else 'no'}   "
                  f"added {s['added']}, removed {s['removed']}, modified {s['modified']}, moved {s['moved']}, "
                  f"renumbered {s['renumbered']}, unchanged {s['unchanged']}")
    if not report.changes:
        console.print("no changes")
    for change in report.changes:
        console.print()
        head = rich_text.Text()
        head.append(f"[{change.severity}] ", style=sev_style[change.severity])
        head.append(f"{change.type} ", style="bold")
        head.append(_label(change))
        if change.categories:
            head.append(f"  ({', '.join(change.categories)})", style="magenta")
        console.print(head)
        for reason in change.reasons:
            console.print(rich_text.Text(f"  reason: {reason}"))
        for ev in change.evidence:
            console.print(rich_text.Text(f"  evidence: 「{ev}」"))
        if change.type in ("added", "removed"):
            clause = change.new or change.old
            style, sign = ("green", "+") if change.type == "added" else ("red", "-")
            for line in clause.full_text().splitlines():
                console.print(rich_text.Text(f"  {sign} {line}", style=style))
        for style, line in _item_lines(change):
            console.print(rich_text.Text(f"  {line}", style={"added": "green", "removed": "red"}.get(style, "yellow")))
    _print_routing(console, report)
    return buf.getvalue()


def _print_routing(console, report: Report) -> None:
    rc = report.revision_clause
    console.print()
    if rc:
        p = rc.promises
        console.print(rich_text.Text(
                      f"revision clause: {rc.number} {rc.title}".strip() + f" — notify_users={p.notify_users}, "
                      f"consent_when_required={p.consent_when_required}, channels={','.join(p.channels)}"
                      + (f", lead_time_days={p.lead_time_days}" if p.lead_time_days is not None else "")
                      + (", deemed_consent" if p.deemed_consent else "")))
    else:
        console.print("revision clause: none found in the old version")
    n = report.notify
    console.print(rich_text.Text(f"notify: users={'yes' if n.users else 'no'}, staff={'yes' if n.staff else 'no'}"
                  + (f", actions: {', '.join(n.actions)}" if n.actions else "")))
    for note in n.notes:
        console.print(rich_text.Text(f"  note: {note}"))


def _md(text: str) -> str:
    """Page text outside a code block: no live HTML when the Markdown is rendered."""
    return html.escape(text, quote=False)


def render_markdown(report: Report) -> str:
    s = report.summary
    out = [f"# Policy diff: `{report.old_source}` → `{report.new_source}`", "",
           f"**Severity:** {report.severity} · **Material:** {'yes' if report.material else 'no'} · "
           f"added {s['added']}, removed {s['removed']}, modified {s['modified']}, moved {s['moved']}, "
           f"renumbered {s['renumbered']}, unchanged {s['unchanged']}", ""]
    for change in report.changes:
        out.append(f"## {change.type}: {_md(_label(change))} — {change.severity}")
        if change.categories:
            out.append(f"*Categories:* {', '.join(change.categories)}")
        for reason in change.reasons:
            out.append(f"- reason: {_md(reason)}")
        for ev in change.evidence:
            out.append(f"- evidence: 「{_md(ev)}」")
        body = []
        if change.type in ("added", "removed"):
            sign = "+" if change.type == "added" else "-"
            body = [f"{sign} {line}" for line in (change.new or change.old).full_text().splitlines()]
        body += _diff_lines(change)
        if body:
            out += ["", "```diff", *body, "```"]
        out.append("")
    rc, n = report.revision_clause, report.notify
    out.append("## Routing")
    if rc:
        p = rc.promises
        out.append(f"- revision clause: {_md(rc.number)} {_md(rc.title)} (notify_users={p.notify_users}, "
                   f"consent_when_required={p.consent_when_required}, channels={', '.join(p.channels)})")
    else:
        out.append("- revision clause: none found in the old version")
    out.append(f"- users: {'yes' if n.users else 'no'}; staff: {'yes' if n.staff else 'no'}"
               + (f"; actions: {', '.join(n.actions)}" if n.actions else ""))
    out += [f"- note: {_md(note)}" for note in n.notes]
    return "\n".join(out) + "\n"


# 傍線 (underline) marks the changed words in both columns, as in a 新旧対照表 filed with a regulator;
# the tint helps on screen. Inline styles: they survive mail clients.
_INS_STYLE = "background:#dcf5dc;color:#11561b;text-decoration:underline;text-underline-offset:2px"
_DEL_STYLE = "background:#fde2e1;color:#8a1c1c;text-decoration:underline;text-underline-offset:2px"
# Cells longer than this many lines show only the changed lines and their neighbours.
ELIDE_OVER_LINES = 12
_ELLIPSIS = Markup('<span style="color:#888">⋯</span>')
# "Most clauses changed": above this share of the clauses, a summary table comes first.
BIG_REVISION_SHARE = 0.5


@cache
def messages() -> dict:
    """The words of the reports and mails, per language (templates/messages.toml)."""
    with open(_TEMPLATES / "messages.toml", "rb") as fh:
        return tomllib.load(fh)


@cache
def category_texts() -> dict:
    """Per category: its name and its meaning for users, per language (templates/categories.toml)."""
    with open(_TEMPLATES / "categories.toml", "rb") as fh:
        return tomllib.load(fh)


def words(lang: str | None) -> dict:
    all_words = messages()
    return all_words[lang] if lang in all_words else all_words["ja"]


def category_name(category: str, lang: str) -> str:
    entry = category_texts().get(category) or {}
    return entry.get(f"name_{lang}") or entry.get("name_ja") or category


_ROUTING = Path(__file__).parent / "rules" / "routing.toml"


@cache
def _note_patterns() -> list[tuple[str, re.Pattern, str, dict]]:
    """(id, regex, citation, the note's table) per staff note of rules/routing.toml: a note as the
    router renders it ("text (citation)", {placeholders} filled in) is matched back to its id."""
    with open(_ROUTING, "rb") as fh:
        notes = tomllib.load(fh).get("note") or []
    out = []
    for note in notes:
        text, citation = note.get("text") or "", note.get("citation") or ""
        pattern = re.escape(text)
        for name in re.findall(r"\{(\w+)\}", text):
            pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>.*?)", 1)
        if citation:
            pattern += re.escape(f" ({citation})")
        out.append((note.get("id") or "", re.compile(f"^{pattern}$", re.S), citation, note))
    return out


def note_text(note: str, lang: str) -> str:
    """A staff note (judge.route's text) in the reader's language: the note's own text for `lang`
    when rules/routing.toml gives one (`text_ja`), else templates/messages.toml [LANG.note] by its
    id, with its citation; a note it cannot place is shown as written."""
    t = words(lang)
    for note_id, pattern, citation, table in _note_patterns():
        found = pattern.match(note)
        if not found:
            continue
        template = table.get(f"text_{lang}") or (t.get("note") or {}).get(note_id)
        if not template:
            return note
        values = found.groupdict()
        if "notify_users" in values:
            values["notify_users"] = t["notify_users"].get(values["notify_users"], values["notify_users"])
        if "channels" in values:
            sep = "、" if lang == "ja" else ", "
            values["channels"] = sep.join(t["channel"].get(c.strip(), c.strip())
                                          for c in re.split(r"[/,]", values["channels"]) if c.strip())
        text = template.format_map(_Keep(values))
        return text + (f"（{citation}）" if lang == "ja" else f" ({citation})") if citation else text
    return note


class _Keep(dict):
    def __missing__(self, name: str) -> str:
        return "{" + name + "}"


def _marked_lines(ops, side: str) -> list[tuple[Markup, bool]]:
    """One side of the inline ops as HTML lines, each with whether it holds a change."""
    lines: list[tuple[list[str], bool]] = [([], False)]
    for op, o, n in ops:
        piece = o if side == "old" else n
        changed = op != "equal"
        if not piece:
            if changed:   # text came or went on the other side here: keep this line in view
                lines[-1] = (lines[-1][0], True)
            continue
        cls, style = ("del", _DEL_STYLE) if side == "old" else ("ins", _INS_STYLE)
        for k, part in enumerate(piece.split("\n")):
            if k:
                lines.append(([], False))
            if not part:
                continue
            text = html.escape(part)
            if changed:
                text = f'<span class="{cls}" style="{style}">{text}</span>'
            parts, had = lines[-1]
            lines[-1] = (parts + [text], had or changed)
    return [(Markup("".join(parts)), changed) for parts, changed in lines]


def _elide(lines: list[tuple[Markup, bool]]) -> Markup:
    if len(lines) > ELIDE_OVER_LINES and any(changed for _, changed in lines):
        near = {k + d for k, (_, changed) in enumerate(lines) if changed for d in (-1, 0, 1)}
        kept: list[Markup] = []
        for k, (line, _) in enumerate(lines):
            if k in near:
                kept.append(line)
            elif not kept or kept[-1] is not _ELLIPSIS:
                kept.append(_ELLIPSIS)
        return Markup("<br>").join(kept)
    return Markup("<br>").join(line for line, _ in lines)


def marked_pair(old_text: str, new_text: str) -> tuple[Markup, Markup]:
    """Both texts as HTML with the changed spans underlined (傍線; inline styles: survives mail
    clients); long texts keep only the changed lines and their neighbours."""
    ops = inline_ops(old_text, new_text)
    return _elide(_marked_lines(ops, "old")), _elide(_marked_lines(ops, "new"))


# ---------------------------------------------------------------- the 新旧対照表 (v2)
#
# Built from the JSON v1 dicts (report_to_dict(full_text=True), as stored with each change), so
# `watch diff --format html|docx`, the mails and the web view draw the same rows:
#   section  one changed clause (or a run of whole clauses removed and added at one place):
#            its label and verdict, then its rows
#   row      kind "text": one changed paragraph or item, its old and new text side by side as the
#            diff aligned them (a run of paragraphs removed and added at one place shares a row);
#            kind "omitted": unchanged paragraphs (or clauses) between two changes, （略） and a count;
#            kind "same": a clause whose text did not change (renumbered, moved)


def _side_label(side: dict | None) -> str:
    if not side:
        return ""
    return " ".join(p for p in (side.get("number") or "", side.get("title") or "") if p).strip()


def change_label(change: dict, lang: str = "ja") -> str:
    """The clause number and title as the row label; a renumbered clause also names its old number."""
    old, new = change.get("old"), change.get("new")
    label = _side_label(new) or _side_label(old)
    label = (words(lang).get("section_names") or {}).get(label, label)     # 前文 -> Preamble in English
    if old and new and old.get("number") and old.get("number") != new.get("number"):
        label += words(lang)["old_number"].format(number=old["number"])
    return label


def _body(side: dict | None) -> str | None:
    """A clause's full text without its heading line (the row label shows it)."""
    if not side or side.get("text") is None:
        return None
    text, title = side["text"], (side.get("title") or "").strip()
    first, _, rest = text.partition("\n")
    return rest if title and first.strip() == title else text


def _text_row(new_label: str, old_label: str, old_text: str | None, new_text: str | None) -> dict:
    """One row; old_text None: the text is new (（新設）), new_text None: it was removed (（削除）)."""
    old_html, new_html = marked_pair(old_text or "", new_text or "")
    old_marks, new_marks = marked_text_pair(old_text or "", new_text or "")
    return {"kind": "text", "new_label": new_label or "", "old_label": old_label or "",
            "new_html": new_html, "old_html": old_html, "new_text": new_marks, "old_text": old_marks,
            "new_plain": new_text or "", "old_plain": old_text or "",
            "added": old_text is None, "removed": new_text is None, "same_text": False, "count": 0}


def _omitted_row(count: int, unit: str = "paragraphs") -> dict:
    return {"kind": "omitted", "count": count, "unit": unit, "new_label": "", "old_label": "",
            "new_html": Markup(""), "old_html": Markup(""), "new_text": "", "old_text": "",
            "new_plain": "", "old_plain": "", "added": False, "removed": False, "same_text": False}


def _same_row(new_label: str, old_label: str) -> dict:
    return {**_omitted_row(0), "kind": "same", "new_label": new_label, "old_label": old_label, "same_text": True}


def _find(lines: list[str], text: str, start: int, used: set[int]) -> int | None:
    """The line of `lines` where paragraph `text` starts (a list marker may precede it), from `start` on
    first, then from the top; None when it is not there."""
    first = key(text.split("\n")[0])
    if not first:
        return None
    for span in (range(start, len(lines)), range(0, start)):
        for i in span:
            if i in used:
                continue
            k = key(lines[i])
            if k == first or (k.endswith(first) and len(k) - len(first) <= 8):
                return i
    return None


def _skip(used: set[int], cursor: int, count: int, limit: int) -> int:
    """Move `cursor` past `count` unchanged (unused) lines."""
    while count > 0 and cursor < limit:
        if cursor not in used:
            count -= 1
        cursor += 1
    return cursor


def _unused(used: set[int], start: int, end: int) -> int:
    return sum(1 for i in range(start, end) if i not in used)


def _item_label(item: dict, side: str, clause_title: str = "") -> str:
    """The heading an item sits under inside its clause (not the clause's own title: the section shows it)."""
    title = item.get("title") or ""
    return "" if key(title) == key(clause_title) else title


def _numbered(item: dict, side: str) -> str:
    """An item's text with its number in front, as the policy writes it ("3. ...", "(2) ...")."""
    number = item.get("number") if side == "new" else item.get("old_number")
    text = _item_text(item, side)
    return f"{number} {text}" if number and text else text


def _paragraph_rows(change: dict, old_text: str, new_text: str, first_old: int, first_new: int) -> list[dict]:
    """The rows of a modified clause: one per changed item, unchanged paragraphs between as （略）."""
    items = change.get("items") or []
    title = ((change.get("new") or change.get("old") or {}).get("title")) or ""

    def label(item, side):
        return _item_label(item, side, title)
    old_lines, new_lines = old_text.split("\n"), new_text.split("\n")
    used_old: set[int] = set()
    used_new: set[int] = set()
    cur_old, cur_new = first_old, first_new
    placed = []                                  # (item, gap before it)
    for item in items:
        op = item.get("op")
        spans = {}
        for side, lines, used, cur, text in (("new", new_lines, used_new, cur_new, item.get("text")),
                                             ("old", old_lines, used_old, cur_old, item.get("old_text"))):
            if (side == "new" and op == "removed") or (side == "old" and op == "added") or not text:
                continue
            at = _find(lines, text, cur, used)
            if at is not None:
                spans[side] = (at, at + text.count("\n") + 1)
        gap = None
        if "new" in spans and spans["new"][0] >= cur_new:
            gap = _unused(used_new, cur_new, spans["new"][0])
        elif "old" in spans and spans["old"][0] >= cur_old:
            gap = _unused(used_old, cur_old, spans["old"][0])
        if gap:   # the same unchanged paragraphs sit on both sides: step over them on both
            cur_new = _skip(used_new, cur_new, gap, len(new_lines))
            cur_old = _skip(used_old, cur_old, gap, len(old_lines))
        if "new" in spans:
            used_new.update(range(*spans["new"]))
            cur_new = max(cur_new, spans["new"][1])
        if "old" in spans:
            used_old.update(range(*spans["old"]))
            cur_old = max(cur_old, spans["old"][1])
        placed.append((item, gap or 0))
    trailing = max(_unused(used_new, cur_new, len(new_lines)), 0)

    rows: list[dict] = []
    k = 0
    while k < len(placed):
        item, gap = placed[k]
        if gap:
            rows.append(_omitted_row(gap))
        if item.get("op") == "edited":
            rows.append(_text_row(label(item, "new"), label(item, "old"), _numbered(item, "old"), _numbered(item, "new")))
            k += 1
            continue
        # a run of paragraphs added and removed at one place, nothing unchanged between: one row
        run = [item]
        while k + len(run) < len(placed) and placed[k + len(run)][0].get("op") != "edited" \
                and not placed[k + len(run)][1]:
            run.append(placed[k + len(run)][0])
        if len({it.get("op") for it in run}) == 1:
            run = [item]                         # only additions (or removals): one row each
        k += len(run)
        rows.append(_run_row([it for it in run if it.get("op") == "removed"],
                             [it for it in run if it.get("op") == "added"], label, _numbered))
    if trailing and rows:
        rows.append(_omitted_row(trailing))
    return rows


def _item_text(item: dict, side: str) -> str:
    return (item.get("old_text") if side == "old" else item.get("text")) or ""


def _clause_text(change: dict, side: str) -> str:
    return _body(change.get(side)) or ""


def _run_row(removed: list, added: list, label, text_of=_item_text) -> dict:
    """Paragraphs (or clauses) removed and added at one place, side by side in one row."""
    def cell(entries, side):
        if not entries:
            return None, Markup(""), "", ""
        htmls, texts, plains = [], [], []
        for entry, text in entries:
            old_html, new_html = marked_pair(text, "") if side == "old" else marked_pair("", text)
            old_marks, new_marks = marked_text_pair(text, "") if side == "old" else marked_text_pair("", text)
            name = label(entry, side)
            head = Markup('<span style="font-weight:bold">{}</span><br>').format(name) if name else Markup("")
            htmls.append(head + (old_html if side == "old" else new_html))
            texts.append((f"{name}\n" if name else "") + (old_marks if side == "old" else new_marks))
            plains.append(text)
        return "", Markup("<br><br>").join(htmls), "\n\n".join(texts), "\n\n".join(plains)

    old_entries = [(it, text_of(it, "old")) for it in removed]
    new_entries = [(it, text_of(it, "new")) for it in added]
    if len(old_entries) + len(new_entries) == 1:
        (entry, text), = old_entries or new_entries
        return _text_row(label(entry, "new") if added else "", label(entry, "old") if removed else "",
                         None if added else text, None if removed else text)
    _, old_html, old_marks, old_plain = cell(old_entries, "old")
    _, new_html, new_marks, new_plain = cell(new_entries, "new")
    return {"kind": "text", "new_label": "", "old_label": "", "new_html": new_html, "old_html": old_html,
            "new_text": new_marks, "old_text": old_marks, "new_plain": new_plain, "old_plain": old_plain,
            "added": not removed, "removed": not added, "same_text": False, "count": 0}


def change_rows(change: dict) -> list[dict]:
    """The 新旧対照表 rows of one changed clause (a JSON v1 change dict).

    With the clauses' texts (report_to_dict(full_text=True)): a new or removed clause is one row;
    a modified one a row per changed paragraph or item with （略） rows between; a clause whose
    text did not change one "same" row. Without them (older stored reports): a row per changed
    item, else per hunk.
    """
    old, new = change.get("old"), change.get("new")
    old_label, new_label = _side_label(old), _side_label(new)
    old_text, new_text = _body(old), _body(new)
    if old_text is not None or new_text is not None:
        if old is None or new is None:
            return [_text_row(new_label, old_label, old_text, new_text)]
        if key(old_text or "") == key(new_text or "") and key(old.get("title") or "") == key(new.get("title") or ""):
            return [_same_row(new_label, old_label)]
        if change.get("items"):
            titled_old = (old.get("text") or "") != old_text
            titled_new = (new.get("text") or "") != new_text
            rows = _paragraph_rows(change, old.get("text") or "", new.get("text") or "",
                                   1 if titled_old else 0, 1 if titled_new else 0)
            if rows:
                return rows
        return [_text_row(new_label, old_label, old_text or "", new_text or "")]
    rows = []
    title = ((new or old or {}).get("title")) or ""
    for item in change.get("items") or []:
        op = item.get("op")
        rows.append(_text_row(_item_label(item, "new", title), _item_label(item, "old", title),
                              None if op == "added" else _numbered(item, "old"),
                              None if op == "removed" else _numbered(item, "new")))
    if rows:
        return rows
    for hunk in change.get("hunks") or []:
        op = hunk.get("op")
        rows.append(_text_row(new_label, old_label, None if op == "insert" else hunk.get("old") or "",
                              None if op == "delete" else hunk.get("new") or ""))
    if rows:
        return rows
    if new_label or old_label:   # renumbered / moved: the labels are the change
        return [_same_row(new_label, old_label)]
    return []


def verdict_view(change: dict, lang: str) -> dict:
    """A change's verdict in the reader's language: type, severity, category names, reasons, evidence."""
    t = words(lang)
    severity = change.get("severity") or "none"
    kind = change.get("type") or "modified"
    categories = list(change.get("categories") or [])
    return {"label": change_label(change, lang), "type": kind, "type_label": t["type"].get(kind, kind),
            "severity": severity, "severity_label": t["severity"].get(severity, severity),
            "categories": categories,
            "category_names": [{"key": c, "name": category_name(c, lang)} for c in categories],
            "reasons": reason_texts(change, lang), "evidence": list(change.get("evidence") or [])}


def reason_texts(change: dict, lang: str) -> list[str]:
    """A JSON v1 change's reasons in the reader's language: each reason_details entry's text looked up
    by its code (rules/reasons.toml); a stored text whose code or shape is unknown stays as it is."""
    details = change.get("reason_details")
    if not details:
        return list(change.get("reasons") or [])
    out: list[str] = []
    for d in details:
        text = translate(d.get("code") or "", d.get("text") or "", lang)
        if text not in out:
            out.append(text)
    return out


def _whole(change: dict) -> bool:
    return change.get("type") in ("added", "removed") and (change.get("new") or change.get("old") or {}).get(
        "text") is not None


def _index(change: dict, side: str) -> int | None:
    ref = change.get(side) or {}
    value = ref.get("index")
    return value if isinstance(value, int) else None


def table_sections(report: dict, lang: str | None = None, changes: list[dict] | None = None) -> list[dict]:
    """The sections of a 新旧対照表 for a JSON v1 report (or for `changes`, a subset of its changes).

    Runs of whole clauses removed and added at one place (a rewrite) share a section, old beside
    new; unchanged clauses between two changes are one （略） row (when the report gives the
    clauses' positions)."""
    lang = lang or report.get("language") or "ja"
    changes = report.get("changes") or [] if changes is None else changes
    sections: list[dict] = []
    last_new = last_old = None
    k = 0
    while k < len(changes):
        change = changes[k]
        run = [change]
        if _whole(change):
            while k + len(run) < len(changes) and _whole(changes[k + len(run)]) \
                    and _adjacent(run[-1], changes[k + len(run)], run):
                run.append(changes[k + len(run)])
            if len({c.get("type") for c in run}) == 1:
                run = [change]
        gap = _clause_gap(run[0], last_old, last_new)
        for c in run:
            last_new = _index(c, "new") if _index(c, "new") is not None else last_new
            last_old = _index(c, "old") if _index(c, "old") is not None else last_old
        k += len(run)
        verdicts = [verdict_view(c, lang) for c in run]
        if len(run) == 1:
            rows = change_rows(change)
        else:
            rows = _rewrite_rows([c for c in run if c.get("type") == "removed"],
                                 [c for c in run if c.get("type") == "added"])
        top = max(run, key=lambda c: SEVERITY_RANK.get(c.get("severity") or "none", 0))
        sections.append({"id": f"c{len(sections) + 1}", "gap": gap or 0, "verdicts": verdicts,
                         "label": " / ".join(v["label"] for v in verdicts if v["label"]) or "—",
                         "severity": top.get("severity") or "none",
                         "severity_label": words(lang)["severity"].get(top.get("severity") or "none", ""),
                         "rows": rows})
    return sections


def _rewrite_rows(removed: list[dict], added: list[dict]) -> list[dict]:
    """Whole clauses removed and added at one place (a rewrite the clause aligner could not pair):
    their paragraphs aligned by the diff engine (watcher.diff.diff_items) as if one clause, so each
    rewritten paragraph sits beside its old counterpart and unchanged ones are （略）."""
    old_text = "\n".join((c.get("old") or {}).get("text") or "" for c in removed)
    new_text = "\n".join((c.get("new") or {}).get("text") or "" for c in added)
    items = diff_items([Clause(body=old_text.split("\n"))], [Clause(body=new_text.split("\n"))])
    change = {"items": [{"op": it.op, "number": it.number, "old_number": it.old_number, "text": it.text,
                         "old_text": it.old_text, "title": it.title} for it in items]}
    rows = _paragraph_rows(change, old_text, new_text, 0, 0)
    return rows or [_run_row(removed, added, _clause_entry_label, _clause_text)]


def _clause_entry_label(change: dict, side: str) -> str:
    return _side_label(change.get(side))


def _adjacent(prev: dict, nxt: dict, run: list[dict]) -> bool:
    """Whether `nxt` follows the run with no unchanged clause between (by the clauses' positions)."""
    for side in ("old", "new"):
        if _index(nxt, side) is None:
            continue
        before = [_index(c, side) for c in run if _index(c, side) is not None]
        if before and _index(nxt, side) != before[-1] + 1:
            return False
    return _index(nxt, "old") is not None or _index(nxt, "new") is not None


def _clause_gap(change: dict, last_old: int | None, last_new: int | None) -> int:
    for side, last in (("new", last_new), ("old", last_old)):
        at = _index(change, side)
        if at is not None:
            return max(at - (last + 1 if last is not None else 0), 0)
    return 0


def big_revision(report: dict) -> bool:
    """Most clauses changed: the table starts with a summary of the changes."""
    total = max(report.get("old", {}).get("clauses") or 0, report.get("new", {}).get("clauses") or 0, 1)
    return len(report.get("changes") or []) / total > BIG_REVISION_SHARE


def effective_date(report: dict) -> str | None:
    """The date the revised policy takes effect, when the report or the changed text says it."""
    if report.get("effective_date"):
        return str(report["effective_date"])
    for change in report.get("changes") or []:
        if "effective_date_changed" not in (change.get("categories") or []):
            continue
        texts = [h.get("new") or "" for h in change.get("hunks") or []]
        texts += [i.get("text") or "" for i in change.get("items") or []]
        texts.append(((change.get("new") or {}).get("text")) or "")
        for text in texts:
            found = last_date(text)
            if found:
                return found
    return None


def promise_text(clause: dict, lang: str) -> str:
    """The old revision clause's promises in one line, in the reader's language."""
    t = words(lang)
    prom = clause.get("promises") or {}
    sep = "、" if lang == "ja" else ", "
    channels = sep.join(t["channel"].get(c, c) for c in prom.get("channels") or [])
    parts = [t["promise_notify"].format(value=t["notify_users"].get(prom.get("notify_users"), prom.get("notify_users"))),
             t["promise_consent"].format(value=t["yes"] if prom.get("consent_when_required") else t["no"]),
             t["promise_channels"].format(value=channels or "-")]
    if prom.get("lead_time_days"):
        parts.append(t["promise_lead"].format(days=prom["lead_time_days"]))
    if prom.get("deemed_consent"):
        parts.append(t["promise_deemed"])
    label = _side_label(clause)
    return (f"{label}: " if label else "") + " / ".join(parts)


def comparison_rows(report: Report | dict, lang: str | None = None) -> list[dict]:
    """The 新旧対照表 of a report (a Report or its JSON v1 dict): its sections (table_sections), each
    with `rows`, its verdict and, for the web view's one-block layout, label/severity/reasons and
    old_html/new_html."""
    data = report_to_dict(report, full_text=True) if isinstance(report, Report) else report
    sections = table_sections(data, lang)
    for section in sections:
        first = section["verdicts"][0]
        section.update({k: first[k] for k in ("type", "categories", "reasons", "evidence")})
        texts = [r for r in section["rows"] if r["kind"] == "text"]
        section["same_text"] = not texts
        section["new_label"] = section["old_label"] = section["label"]
        section["old_html"] = Markup("<br>").join(r["old_html"] for r in texts)
        section["new_html"] = Markup("<br>").join(r["new_html"] for r in texts)
    return sections


def table_view(report: Report | dict, lang: str | None = None, meta: dict | None = None) -> dict:
    """Everything a 新旧対照表 page (HTML, docx) shows, in the reader's language."""
    data = report_to_dict(report, full_text=True) if isinstance(report, Report) else report
    lang = lang if lang in messages() else (data.get("language") or "ja")
    meta = dict(meta or {})
    t = words(lang)
    rc = data.get("revision_clause")
    notify = data.get("notify") or {}
    sections = table_sections(data, lang)
    summary = data.get("summary") or {}
    return {
        "t": t, "lang": lang, "report": data, "sections": sections,
        "summary_counts": [{"key": k, "label": t["type"].get(k, k), "count": summary.get(k, 0)}
                           for k in ("added", "removed", "modified", "moved", "renumbered", "unchanged")],
        "severity": data.get("severity") or "none",
        "severity_label": t["severity"].get(data.get("severity") or "none", ""),
        "material": bool(data.get("material")),
        "big": big_revision(data),
        "policy": meta.get("policy") or (data.get("new") or {}).get("source") or "",
        "url": meta.get("url") or "",
        "old_source": (data.get("old") or {}).get("source") or "",
        "new_source": (data.get("new") or {}).get("source") or "",
        "old_date": meta.get("old_date") or "", "new_date": meta.get("new_date") or "",
        "effective_date": meta.get("effective_date") or effective_date(data) or "",
        "promise": promise_text(rc, lang) if rc else "",
        "revision_missing": rc is None,
        "users": bool(notify.get("users")), "staff": bool(notify.get("staff")),
        "actions": [{"key": a, "label": t["action"].get(a, a)} for a in notify.get("actions") or []],
        "notes": [note_text(n, lang) for n in notify.get("notes") or []],
    }


def render_html(report: Report | dict, lang: str | None = None, meta: dict | None = None) -> str:
    view = table_view(report, lang, meta)
    return _environment().get_template("report.html.j2").render(**view, header=Markup(_running_header(view)),
                                                              max_quotes=MAX_QUOTES)


def _running_header(view: dict) -> str:
    """The printed pages' running header: policy, URL, both versions' dates, the effective date (a CSS string)."""
    t = view["t"]
    parts = [view["policy"], view["url"]]
    if view["old_date"] or view["new_date"]:
        parts.append(f"{t['col_old']} {view['old_date'] or '—'} → {t['col_new']} {view['new_date'] or '—'}")
    if view["effective_date"]:
        parts.append(f"{t['effective']} {view['effective_date']}")
    text = "  ".join(p for p in parts if p)[:180]
    return '"' + "".join(c if c.isalnum() or c in " ./:-_→（）()年月日" else f"\\{ord(c):x} " for c in text) + '"'


def marked_text_pair(old_text: str, new_text: str) -> tuple[str, str]:
    """`marked_pair` as plain text (a mail's text part): the same inline ops and the same elision,
    changed spans as [-removed-] / [+added+], elided lines as ⋯."""
    ops = inline_ops(old_text, new_text)
    return _elide_text(_marked_text_lines(ops, "old")), _elide_text(_marked_text_lines(ops, "new"))


def _marked_text_lines(ops, side: str) -> list[tuple[str, bool]]:
    """One side of the inline ops as text lines, each with whether it holds a change (cf. _marked_lines)."""
    lines: list[tuple[list[str], bool]] = [([], False)]
    open_mark, close_mark = ("[-", "-]") if side == "old" else ("[+", "+]")
    for op, o, n in ops:
        piece = o if side == "old" else n
        changed = op != "equal"
        if not piece:
            if changed:
                lines[-1] = (lines[-1][0], True)
            continue
        for k, part in enumerate(piece.split("\n")):
            if k:
                lines.append(([], False))
            if not part:
                continue
            text = f"{open_mark}{part}{close_mark}" if changed and part.strip() else part
            parts, had = lines[-1]
            lines[-1] = (parts + [text], had or changed)
    return [("".join(parts), changed) for parts, changed in lines]


def _elide_text(lines: list[tuple[str, bool]]) -> str:
    if len(lines) > ELIDE_OVER_LINES and any(changed for _, changed in lines):
        near = {k + d for k, (_, changed) in enumerate(lines) if changed for d in (-1, 0, 1)}
        kept: list[str | None] = []
        for k, (line, _) in enumerate(lines):
            if k in near:
                kept.append(line)
            elif not kept or kept[-1] is not None:
                kept.append(None)       # one ⋯ for a run of elided lines
        return "\n".join("⋯" if line is None else line for line in kept)
    return "\n".join(line for line, _ in lines)
