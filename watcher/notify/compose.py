"""Turn JSON v1 reports into mails: users' notices, staff alerts and the daily staff digest.

Reports come in as the dicts of `watch diff --format json` (schema policy-watcher/diff/v1).
This module builds plain view dicts from them and renders the jinja2 templates in
watcher/templates (HTML autoescaped, inline CSS only: mail clients drop <style>, <ins>, <del>).
The words live in templates/messages.toml and templates/categories.toml.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from markupsafe import Markup

from watcher import lazy
from watcher.addresses import header_text
from watcher.config import LANGUAGES
from watcher.models import SEVERITY_RANK
from watcher.notify.mail import Mail

if TYPE_CHECKING:
    from jinja2 import Environment

# jinja2 loads when the first mail is rendered: a check that mails nobody never imports it; the
# report's texts (and the diff behind them) likewise
jinja2 = lazy.module("jinja2")
category_name = lazy.function("watcher.report:category_name")
category_texts = lazy.function("watcher.report:category_texts")
change_rows = lazy.function("watcher.report:change_rows")
effective_date = lazy.function("watcher.report:effective_date")
messages = lazy.function("watcher.report:messages")
note_text = lazy.function("watcher.report:note_text")
promise_text = lazy.function("watcher.report:promise_text")
reason_texts = lazy.function("watcher.report:reason_texts")

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"   # watcher/templates (shared with report)
SEVERITY_ORDER = ("consent", "notice", "minor")

# Inline styles (the only styling mail clients keep). Trusted constants, hence Markup.
STYLE = {k: Markup(v) for k, v in {
    "body": "margin:0;padding:0;background:#f4f5f7;",
    "wrap": "width:100%;background:#f4f5f7;padding:16px 0;",
    "card": "max-width:760px;margin:0 auto;background:#ffffff;border:1px solid #d0d5dd;border-radius:6px;"
            "font-family:'Hiragino Sans','Hiragino Kaku Gothic ProN','Noto Sans CJK JP','Noto Sans JP',"
            "Meiryo,'Segoe UI',Arial,sans-serif;color:#1d2939;font-size:14px;line-height:1.6;",
    "pad": "padding:20px 24px;",
    "h1": "margin:0 0 8px 0;font-size:20px;line-height:1.4;color:#101828;",
    "h2": "margin:24px 0 8px 0;font-size:16px;color:#101828;border-bottom:2px solid #eaecf0;padding-bottom:4px;",
    "h3": "margin:16px 0 6px 0;font-size:15px;color:#101828;",
    "p": "margin:0 0 10px 0;",
    "muted": "color:#667085;font-size:12px;",
    "ul": "margin:4px 0 10px 0;padding-left:20px;",
    "table": "border-collapse:collapse;width:100%;margin:6px 0 12px 0;table-layout:fixed;",
    "th": "border:1px solid #d0d5dd;background:#f2f4f7;padding:6px 8px;text-align:left;font-size:13px;"
          "width:50%;",
    "td": "border:1px solid #d0d5dd;padding:6px 8px;vertical-align:top;font-size:13px;"
          "word-break:break-word;overflow-wrap:anywhere;",
    "label": "font-weight:bold;color:#344054;font-size:12px;display:block;margin-bottom:2px;",
    "box": "background:#fffaeb;border:1px solid #fedf89;border-radius:4px;padding:10px 12px;margin:12px 0;",
    "alertbox": "background:#fef3f2;border:1px solid #fecdca;border-radius:4px;padding:10px 12px;margin:12px 0;",
    "code": "font-family:Menlo,Consolas,monospace;font-size:12px;background:#f2f4f7;padding:1px 4px;"
            "border-radius:3px;",
    "link": "color:#175cd3;",
    "consent": "display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:bold;"
               "background:#fee4e2;color:#b42318;",
    "notice": "display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:bold;"
              "background:#fef0c7;color:#b54708;",
    "minor": "display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:bold;"
             "background:#eaecf0;color:#344054;",
    "none": "display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#f2f4f7;"
            "color:#667085;",
    "omitted": "text-align:center;color:#667085;padding:2px 8px;",
    "cutnote": "background:#fffaeb;color:#344054;",
    "legend": "margin:4px 0 6px 0;font-size:12px;text-decoration:underline;text-underline-offset:2px;"
              "background:#dcf5dc;display:inline-block;padding:0 4px;",
    "cat": "display:inline-block;padding:0 6px;margin:0 4px 2px 0;border:1px solid #d0d5dd;border-radius:3px;"
           "font-size:12px;font-family:Menlo,Consolas,monospace;color:#344054;",
}.items()}



def safe_url(url: str | None) -> str:
    """Only http(s) links go into a mail (a file:// or javascript: URL is shown nowhere)."""
    url = (url or "").strip()
    return url if urlsplit(url).scheme.lower() in ("http", "https") and not any(c.isspace() for c in url) else ""


def _policy(policy: dict) -> dict:
    return {"name": policy.get("name") or "", "url": safe_url(policy.get("url"))}


def is_material(severity: str | None) -> bool:
    """notice or consent: users may be told, staff are told at once."""
    return SEVERITY_RANK.get(severity or "none", 0) >= SEVERITY_RANK["notice"]


def language(value: str | None, fallback: str = "ja") -> str:
    value = (value or "").strip().lower()[:2]
    return value if value in LANGUAGES else (fallback if fallback in LANGUAGES else "ja")


# ---------------------------------------------------------------------------------------------
# Views: plain dicts the templates read


def _label(side: dict | None) -> str:
    if not side:
        return ""
    return " ".join(p for p in (side.get("number") or "", side.get("title") or "") if p).strip()


def clause_rows(change: dict) -> list[dict]:
    """The 新旧対照表 rows of one changed clause: watcher.report.change_rows (the same rows as
    `watch diff --format html`: one per changed paragraph or item, （略） between)."""
    return change_rows(change)


def change_view(change: dict, lang: str) -> dict:
    t = messages()[lang]
    texts = category_texts()
    categories = list(change.get("categories") or [])
    severity = change.get("severity") or "none"
    return {
        "label": _label(change.get("new")) or _label(change.get("old")),
        "type": change.get("type") or "modified",
        "type_label": t["type"].get(change.get("type") or "modified", change.get("type") or ""),
        "severity": severity,
        "severity_label": t["severity"].get(severity, severity),
        "categories": categories,
        "category_names": [{"key": c, "name": category_name(c, lang)} for c in categories],
        "meanings": _unique(texts[c][lang] for c in categories if c in texts),
        "reasons": reason_texts(change, lang),
        "evidence": list(change.get("evidence") or []),
        "rows": clause_rows(change),
    }


def _unique(values) -> list:
    seen, out = set(), []
    for v in values:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def consent_view(report: dict, lang: str) -> dict:
    """How the (old) revision clause says consent is obtained and changes are announced."""
    t = messages()[lang]
    clause = report.get("revision_clause") or {}
    promises = clause.get("promises") or {}
    channels = [t["channel"].get(c, c) for c in promises.get("channels") or []]
    lines = [t["consent_promise_yes"] if promises.get("consent_when_required") else t["consent_promise_no"]]
    if promises.get("deemed_consent"):
        lines.append(t["deemed_consent"])
    if channels:
        lines.append(t["announce_how"].format(channels="、".join(channels) if lang == "ja" else ", ".join(channels)))
    return {"lines": lines, "clause_label": _label(clause), "clause_text": clause.get("text") or ""}


def user_view(policy: dict, report: dict, lang: str) -> dict:
    t = messages()[lang]
    changes = report.get("changes") or []
    material = [c for c in changes if is_material(c.get("severity"))]
    material.sort(key=lambda c: -SEVERITY_RANK.get(c.get("severity") or "none", 0))
    minor = [c for c in changes if c.get("severity") == "minor"]
    severity = report.get("severity") or "none"
    promises = (report.get("revision_clause") or {}).get("promises") or {}
    lead = promises.get("lead_time_days")
    return {
        "t": t, "S": STYLE, "lang": lang, "audience": "users",
        "policy": policy,
        "severity": severity,
        "severity_label": t["severity"].get(severity, severity),
        "intro": t["user_intro"].format(policy=policy.get("name") or ""),
        "changes": [change_view(c, lang) for c in material],
        "other_count": len(minor),
        "consent": any(c.get("severity") == "consent" for c in material),
        "consent_info": consent_view(report, lang),
        "effective_date": effective_date(report),
        "lead_time": t["lead_time"].format(days=lead) if isinstance(lead, int) and lead > 0 else "",
    }


def policy_block(policy: dict, reports: list[dict], lang: str) -> dict:
    """One policy in a staff mail: its changes of severity minor or more, grouped by severity."""
    t = messages()[lang]
    groups: dict[str, list] = {s: [] for s in SEVERITY_ORDER}
    actions, notes, refs, promises, missing, users, verdict_users = [], [], [], None, False, False, False
    for entry in reports:
        report = entry["report"]
        for change in report.get("changes") or []:
            sev = change.get("severity") or "none"
            if sev in groups:
                view = change_view(change, lang)
                view["ref"] = {"show": "", "diff": "", "url": "", "change_id": "", **(entry.get("ref") or {})}
                groups[sev].append(view)
        notify = report.get("notify") or {}
        actions += [a for a in notify.get("actions") or [] if a not in actions]
        notes += [n for n in (note_text(n, lang) for n in notify.get("notes") or []) if n not in notes]
        verdict_users = verdict_users or bool(notify.get("users"))
        # the outcome the caller passes (a user mail queued), never the verdict alone
        users = users or bool(entry.get("users_notified"))
        clause = report.get("revision_clause")
        if clause:
            promises = clause
        else:
            missing = True
        if entry.get("ref"):
            refs.append(entry["ref"])
    promise = promise_text(promises, lang) if promises else ""
    top = next((s for s in SEVERITY_ORDER if groups[s]), "none")
    return {
        "name": policy.get("name") or "",
        "url": policy.get("url") or "",
        "severity": top,
        "severity_label": t["severity"].get(top, top),
        "groups": [{"severity": s, "label": t["severity"][s], "changes": groups[s]} for s in SEVERITY_ORDER
                   if groups[s]],
        "count": sum(len(v) for v in groups.values()),
        "actions": [{"key": a, "label": t["action"].get(a, a)} for a in actions],
        "notes": notes,
        "refs": refs,
        "promise": promise,
        "revision_missing": missing and not promises,
        "users_notified": t["yes"] if users else t["no"],
        "users_why": _users_why(t, top, users, verdict_users, missing and not promises),
    }


def _users_why(t: dict, severity: str, told: bool, verdict: bool, no_clause: bool) -> str:
    """In words, why users were or were not e-mailed (the actions may still say 利用者に通知する:
    that one is for staff when the policy promises no personal notice)."""
    if told:
        return t["users_why_sent"]
    if not is_material(severity):
        return t["users_why_minor"]
    if verdict:
        return t["users_why_not_sent"]
    return t["users_why_no_clause"] if no_clause else t["users_why_no_promise"]


def _local_time(when: datetime) -> str:
    """Store times are naive UTC; staff read them in the machine's time zone."""
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return aware.astimezone().strftime("%Y-%m-%d %H:%M %Z")


def alert_views(alerts, lang: str = "ja") -> list[dict]:
    """Operational alerts for staff: what happened in the reader's language (by the alert's kind),
    then the message as it was recorded, without the policy name it starts with (shown beside it)."""
    t = messages()[language(lang)]
    out = []
    for a in alerts or []:
        when = a.get("when")
        policy, message = a.get("policy") or "", a.get("message") or ""
        if policy and message.startswith(f"{policy}: "):
            message = message[len(policy) + 2:]
        summary = (t.get("alert_kind") or {}).get(a.get("kind") or "", "")
        out.append({
            "when": _local_time(when) if isinstance(when, datetime) else str(when or ""),
            "policy": policy,
            "summary": summary.format(failures=a.get("failures") or "?"),
            "message": message,
            "url": a.get("url") or "",
        })
    return out


# ---------------------------------------------------------------------------------------------
# Rendering


@cache
def environment() -> Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        # HTML templates are escaped; the text parts are plain text and must not be.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True, default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["indent_text"] = lambda s, n=4: "\n".join((" " * n + line) if line else line
                                                          for line in str(s).split("\n"))
    return env


# Gmail clips a message whose HTML is above about 102 KB: a mail's HTML stays under MAIL_HTML_LIMIT,
# its 新旧対照表 cut (with a note saying where the whole table is) when it would not.
MAIL_HTML_LIMIT = 100_000
ROW_OVERHEAD = 420          # bytes of markup around a row's two cells (inline styles)


def _changes(view: dict) -> list[dict]:
    if "policies" in view:
        return [c for p in view["policies"] for g in p["groups"] for c in g["changes"]]
    return view.get("changes") or []


def _cut_rows(view: dict, budget: int) -> None:
    """Keep the tables' rows, in order, while their HTML fits `budget` bytes; count what is left out."""
    used = 0
    for c in _changes(view):
        rows = c.setdefault("all_rows", c["rows"])
        kept = []
        for r in rows:
            size = len(r["new_html"].encode()) + len(r["old_html"].encode()) + ROW_OVERHEAD
            if used + size > budget:
                break
            used += size
            kept.append(r)
        c["rows"], c["cut"] = kept, len(rows) - len(kept)
        if c["cut"]:
            budget = used         # nothing after the first cut: the note says where the rest is


def _render(name: str, view: dict) -> tuple[str, str]:
    env = environment()
    for c in _changes(view):
        c.setdefault("cut", 0)
    html = env.get_template(f"{name}.html").render(**view)
    budget = MAIL_HTML_LIMIT - (len(html.encode()) - _table_bytes(view)) - 4_000
    while len(html.encode()) >= MAIL_HTML_LIMIT and budget > 0:
        _cut_rows(view, budget)
        html = env.get_template(f"{name}.html").render(**view)
        budget -= max(len(html.encode()) - MAIL_HTML_LIMIT, 0) + 4_000
    text = env.get_template(f"{name}.txt").render(**view)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n", html


def _table_bytes(view: dict) -> int:
    return sum(len(r["new_html"].encode()) + len(r["old_html"].encode()) + ROW_OVERHEAD
               for c in _changes(view) for r in c["rows"])


def user_mail(policy: dict, report: dict, lang: str) -> Mail:
    """The plain-language notice to a user who follows `policy` (dict: name, url)."""
    lang = language(lang)
    policy = _policy(policy)
    view = user_view(policy, report, lang)
    t = view["t"]
    subject = t["user_subject"].format(policy=header_text(policy.get("name") or "", 40),
                                       severity=view["severity_label"])
    text, html = _render("user", view)
    return Mail(subject=header_text(subject), text=text, html=html)


def staff_mail(policy: dict, report: dict, lang: str, ref: dict | None = None, *,
               users_notified: bool = False) -> Mail:
    """The immediate staff alert for one recorded change (severity notice or consent).
    `users_notified`: whether a mail to at least one user was queued for it (watcher.notify.planner)."""
    lang = language(lang)
    t = messages()[lang]
    policy = _policy(policy)
    block = policy_block(policy, [{"report": report, "ref": ref or {}, "users_notified": users_notified}], lang)
    view = {"t": t, "S": STYLE, "lang": lang, "audience": "staff", "kind": "alert",
            "title": t["staff_intro"].format(policy=policy.get("name") or "", severity=block["severity_label"]),
            "intro": "", "policies": [block], "alerts": [], "show_alerts": False}
    subject = t["staff_subject"].format(policy=header_text(policy.get("name") or "", 40),
                                        severity=t["severity"].get(report.get("severity"), ""),
                                        count=block["count"])
    text, html = _render("staff", view)
    return Mail(subject=header_text(subject), text=text, html=html)


def digest_mail(entries: list[dict], alerts: list[dict], lang: str, day: datetime) -> Mail:
    """The daily staff digest. entries: [{"policy": {name, url}, "report": dict, "ref": {...}}]."""
    lang = language(lang)
    t = messages()[lang]
    by_policy: dict[str, list] = {}
    policies: dict[str, dict] = {}
    for entry in entries:
        name = entry["policy"].get("name") or ""
        by_policy.setdefault(name, []).append(entry)
        policies[name] = _policy(entry["policy"])
    blocks = [policy_block(policies[name], by_policy[name], lang) for name in sorted(by_policy)]
    blocks.sort(key=lambda b: -SEVERITY_RANK.get(b["severity"], 0))
    count = sum(b["count"] for b in blocks)
    local_day = (day if day.tzinfo else day.replace(tzinfo=UTC)).astimezone()
    date = local_day.strftime(t["date_format"])
    view = {"t": t, "S": STYLE, "lang": lang, "audience": "staff", "kind": "digest",
            "title": t["digest_subject"].format(date=date, changes=count, alerts=len(alerts)),
            "intro": t["digest_intro"] if (blocks or alerts) else t["digest_empty"],
            "policies": blocks, "alerts": alert_views(alerts, lang), "show_alerts": True}
    text, html = _render("staff", view)
    subject = t["digest_subject"].format(date=date, changes=count, alerts=len(alerts))
    return Mail(subject=header_text(subject), text=text, html=html)
