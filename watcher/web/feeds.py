"""Atom feeds of recorded changes (overall and per policy): stable `tag:` ids, `updated`, and
304 Not Modified on If-None-Match / If-Modified-Since; an optional read token (?token=)."""

from __future__ import annotations

import hashlib
import hmac
import os
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from watcher.config import WebSettings
from watcher.report import reason_texts
from watcher.store import Repository

ATOM = "http://www.w3.org/2005/Atom"
ENTRIES = 50
SEVERITY_TEXT = {"ja": {"consent": "同意が必要", "notice": "通知が必要", "minor": "軽微", "none": "書式のみ"},
                 "en": {"consent": "consent needed", "notice": "notice needed", "minor": "minor",
                        "none": "formatting only"}}


def token_ok(web: WebSettings, given: str | None) -> bool | None:
    """True: the read token was given; False: one is configured and it was not; None: none configured."""
    expected = os.environ.get(web.feed_token_env, "") if web.feed_token_env else ""
    if not expected:
        return None
    return bool(given) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _iso(dt: datetime) -> str:
    return dt.replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def feed_response(repo: Repository, web: WebSettings, request: Request, policy: str | None, lang: str) -> Response:
    stamp = repo.change_stamp(policy)
    etag = '"' + hashlib.sha256(f"{policy}|{lang}|{stamp.count}|{stamp.last_id}".encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if stamp.last_at is not None:
        headers["Last-Modified"] = format_datetime(stamp.last_at.replace(tzinfo=UTC, microsecond=0), usegmt=True)
    if _not_modified(request, etag, stamp.last_at):
        return Response(status_code=304, headers=headers)
    body = build_feed(repo, web, str(request.base_url).rstrip("/"), policy, lang, stamp.last_at)
    return Response(body, media_type="application/atom+xml; charset=utf-8", headers=headers)


def _not_modified(request: Request, etag: str, last_at: datetime | None) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:      # takes precedence over If-Modified-Since (RFC 9110 13.2.2)
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return etag in tags or "*" in tags
    since = request.headers.get("if-modified-since")
    if since and last_at is not None:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return last_at.replace(tzinfo=UTC, microsecond=0) <= when
    return False


def build_feed(repo: Repository, web: WebSettings, base: str, policy: str | None, lang: str,
               updated: datetime | None) -> bytes:
    ET.register_namespace("", ATOM)
    authority = web.feed_authority

    def sub(parent, tag, text=None, **attrs):
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": lang})
    path = f"/policy/{quote(policy, safe='')}" if policy else ""
    sub(feed, "id", f"tag:{authority},2026:{'policy/' + policy if policy else 'changes'}")
    title = "ポリシーの変更" if lang == "ja" else "Policy changes"
    sub(feed, "title", f"{policy}: {title}" if policy else title)
    sub(feed, "updated", _iso(updated or datetime(2026, 1, 1)))
    sub(feed, "link", rel="self", href=f"{base}{path}/feed.atom")
    sub(feed, "link", rel="alternate", href=f"{base}{path or '/'}")
    author = sub(feed, "author")
    sub(author, "name", "policy-watcher")
    changes = repo.changes_by_id(repo.recent_change_ids(policy, ENTRIES))
    for change_id in sorted(changes, reverse=True):
        c = changes[change_id]
        report = c.report or {}
        entry = sub(feed, "entry")
        sub(entry, "id", f"tag:{authority},{c.created_at:%Y-%m-%d}:change/{c.id}")
        severity = SEVERITY_TEXT[lang].get(c.severity, c.severity)
        sub(entry, "title", f"{c.policy}: {severity} (#{c.id}, v{c.old_version} → v{c.new_version})")
        sub(entry, "updated", _iso(c.created_at))
        sub(entry, "link", rel="alternate", href=f"{base}/change/{c.id}")
        sub(entry, "category", term=c.severity)
        lines = []
        for ch in report.get("changes") or []:
            if ch.get("severity") in (None, "none"):
                continue
            side = ch.get("new") or ch.get("old") or {}
            label = " ".join(p for p in (side.get("number") or "", side.get("title") or "") if p)
            lines.append(f"{label} [{ch.get('severity')}]: " + " / ".join(reason_texts(ch, lang)))
        sub(entry, "summary", "\n".join(lines) or severity, type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
