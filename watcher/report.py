"""Render a Report: JSON (policy-watcher/diff/v1), terminal text, Markdown, HTML 新旧対照表.

    render(report, fmt, color=) -> str     dispatches through RENDERERS
    RENDERERS                              kind -> class (`@register`): text, json, md, html
    FORMATS                                the kinds, in order (`watch diff --format` choices)

A report format is a small registered class with a docstring (its first line is the README's
description, see tests/test_docs.py) and `render(report, color=)`. A new format (docx) is
one more class here, or in a module imported here before FORMATS is computed.
"""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import ClassVar, Protocol

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from rich.console import Console
from rich.text import Text

from watcher.diff import inline_ops
from watcher.models import Clause, ClauseChange, Report
from watcher.normalize import key
from watcher.registry import Registry

SCHEMA = "policy-watcher/diff/v1"

_TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                   trim_blocks=True, lstrip_blocks=True)


def _ref(clause: Clause | None, full_text: bool) -> dict | None:
    if clause is None:
        return None
    title = clause.title or ("前文" if clause.kind == "preamble" else "")
    ref = {"number": clause.number or None, "title": title}
    if full_text:
        ref["text"] = clause.full_text()
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
        "items": [
            {"op": it.op, "number": it.number, "old_number": it.old_number, "text": it.text,
             "old_text": it.old_text, "title": it.title,
             "hunks": [{"op": h.op, "old": h.old, "new": h.new} for h in it.hunks]}
            for it in change.items
        ],
        "hunks": [{"op": h.op, "old": h.old, "new": h.new} for h in change.hunks],
    }


def report_to_dict(report: Report, full_text: bool = False) -> dict:
    """The JSON v1 object. `full_text` adds each clause's text to old/new (for mail rendering)."""
    rc = report.revision_clause
    return {
        "schema": SCHEMA,
        "old": {"source": report.old_source, "clauses": report.old_clauses},
        "new": {"source": report.new_source, "clauses": report.new_clauses},
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


FORMATS = tuple(RENDERERS)


def render(report: Report, fmt: str, color: bool = False) -> str:
    """The report in format `fmt` (a key of RENDERERS); ValueError for an unknown one."""
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
    console = Console(file=buf, force_terminal=color, color_system="standard" if color else None,
                      width=100, highlight=False, emoji=False, soft_wrap=True)
    sev_style = {"consent": "bold red", "notice": "bold yellow", "minor": "cyan", "none": "dim"}
    s = report.summary
    console.print(Text(f"{report.old_source} → {report.new_source}", style="bold"))  # page text: never markup
    console.print(f"severity: {report.severity}   material: {'yes' if report.material else 'no'}   "
                  f"added {s['added']}, removed {s['removed']}, modified {s['modified']}, moved {s['moved']}, "
                  f"renumbered {s['renumbered']}, unchanged {s['unchanged']}")
    if not report.changes:
        console.print("no changes")
    for change in report.changes:
        console.print()
        head = Text()
        head.append(f"[{change.severity}] ", style=sev_style[change.severity])
        head.append(f"{change.type} ", style="bold")
        head.append(_label(change))
        if change.categories:
            head.append(f"  ({', '.join(change.categories)})", style="magenta")
        console.print(head)
        for reason in change.reasons:
            console.print(Text(f"  reason: {reason}"))
        for ev in change.evidence:
            console.print(Text(f"  evidence: 「{ev}」"))
        if change.type in ("added", "removed"):
            clause = change.new or change.old
            style, sign = ("green", "+") if change.type == "added" else ("red", "-")
            for line in clause.full_text().splitlines():
                console.print(Text(f"  {sign} {line}", style=style))
        for style, line in _item_lines(change):
            console.print(Text(f"  {line}", style={"added": "green", "removed": "red"}.get(style, "yellow")))
    _print_routing(console, report)
    return buf.getvalue()


def _print_routing(console, report: Report) -> None:
    rc = report.revision_clause
    console.print()
    if rc:
        p = rc.promises
        console.print(Text(f"revision clause: {rc.number} {rc.title}".strip() + f" — notify_users={p.notify_users}, "
                      f"consent_when_required={p.consent_when_required}, channels={','.join(p.channels)}"
                      + (f", lead_time_days={p.lead_time_days}" if p.lead_time_days is not None else "")
                      + (", deemed_consent" if p.deemed_consent else "")))
    else:
        console.print("revision clause: none found in the old version")
    n = report.notify
    console.print(Text(f"notify: users={'yes' if n.users else 'no'}, staff={'yes' if n.staff else 'no'}"
                  + (f", actions: {', '.join(n.actions)}" if n.actions else "")))
    for note in n.notes:
        console.print(Text(f"  note: {note}"))


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
        body += [line for _, line in _item_lines(change)]
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


_INS_STYLE = "background:#dcf5dc;color:#11561b;text-decoration:underline;font-weight:bold"
_DEL_STYLE = "background:#fde2e1;color:#8a1c1c;text-decoration:line-through"
# Clauses longer than this many lines show only the changed lines and their neighbours.
ELIDE_OVER_LINES = 12
_ELLIPSIS = Markup('<span style="color:#888">⋯</span>')


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
    """Both texts as HTML with the changed spans marked (inline styles: survives mail clients);
    long texts keep only the changed lines and their neighbours."""
    ops = inline_ops(old_text, new_text)
    return _elide(_marked_lines(ops, "old")), _elide(_marked_lines(ops, "new"))


def comparison_rows(report: Report) -> list[dict]:
    """One row per changed clause for a 新旧対照表: label, severity, verdict, marked old/new text.

    A clause whose text did not change (renumbered, moved, formatting) gets no text: its
    row says so, instead of printing the same text twice.
    """
    rows = []
    for change in report.changes:
        old_text = change.old.full_text(title=False) if change.old else ""
        new_text = change.new.full_text(title=False) if change.new else ""
        same_text = bool(change.old and change.new) and key(old_text) == key(new_text) and \
            key(change.old.title) == key(change.new.title)
        old_html = new_html = Markup("")
        if not same_text:
            old_html, new_html = marked_pair(old_text, new_text)
        rows.append({
            "type": change.type,
            "label": _label(change),
            "old_label": change.old.label if change.old else "",
            "new_label": change.new.label if change.new else "",
            "same_text": same_text,
            "severity": change.severity,
            "categories": change.categories,
            "reasons": change.reasons,
            "evidence": change.evidence,
            "old_html": old_html,
            "new_html": new_html,
        })
    return rows


def render_html(report: Report) -> str:
    template = _env.get_template("report.html.j2")
    return template.render(report=report, rows=comparison_rows(report), summary=report.summary)


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
