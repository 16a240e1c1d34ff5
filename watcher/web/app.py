"""The Starlette application of `watch serve`: pages, the review form, feeds; every read and write
through the store's Repository (SQLite and PostgreSQL alike)."""

from __future__ import annotations

import math
import tomllib
from functools import cache
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from watcher import compare
from watcher.config import LANGUAGES, Settings
from watcher.derive import current_document, current_outline
from watcher.errors import WatchError
from watcher.notify.compose import clause_rows, safe_url
from watcher.report import comparison_rows, reason_texts
from watcher.review import DECISIONS, ReviewRequest, checklist, record_review
from watcher.segment import outline as outline_lines
from watcher.store import Repository, open_store
from watcher.web import feeds
from watcher.web.auth import Accounts, Csrf, Identity

HERE = Path(__file__).parent
SEVERITIES = ("consent", "notice", "minor", "none")

# No inline script anywhere (there is no script at all); styles from /static, plus the style
# attributes of the 新旧対照表 marks (watcher.report, shared with the mails).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),    # no-referrer would make form posts "Origin: null"
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


@cache
def messages() -> dict:
    with open(HERE / "messages.toml", "rb") as fh:
        return tomllib.load(fh)


def environment() -> Environment:
    # autoescape everywhere: page text from a watched site is data, never markup
    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True,
                       lstrip_blocks=True)


class SecurityHeaders:
    """ASGI middleware: the security headers on every response (feeds keep their own cache headers)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in names]
            await send(message)

        await self.app(scope, receive, with_headers)


class WebApp:
    def __init__(self, settings: Settings, repo: Repository | None = None):
        self.settings = settings
        self.repo = repo or open_store(settings.store)
        self.own_repo = repo is None
        self.accounts = Accounts(settings.web.accounts)
        self.csrf = Csrf.from_settings(settings.web)
        self.env = environment()
        self.page_size = settings.web.page_size

    # -------------------------------------------------- request helpers

    def identity(self, request: Request) -> Identity:
        if not self.accounts.required:
            return self.accounts.local()
        who = self.accounts.from_header(request.headers.get("authorization"))
        if who is None:
            raise HTTPException(401, "authentication required", headers={"WWW-Authenticate": 'Basic realm="policy-watcher"'})
        return who

    def language(self, request: Request) -> str:
        for value in (request.query_params.get("lang"), request.cookies.get("lang")):
            if value in LANGUAGES:
                return value
        accept = request.headers.get("accept-language", "")
        for part in accept.split(","):
            code = part.split(";")[0].strip().lower()[:2]
            if code in LANGUAGES:
                return code
        return self.settings.notify.language

    def render(self, request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
        lang = self.language(request)
        me = context.pop("me", None) or self.identity(request)
        html = self.env.get_template(template).render(t=messages()[lang], lang=lang, me=me, status=status, **context)
        response = HTMLResponse(html, status_code=status)
        if request.query_params.get("lang") in LANGUAGES:
            response.set_cookie("lang", lang, max_age=365 * 86400, samesite="strict", httponly=True)
        return response

    def policy_settings(self, name: str):
        return next((p for p in self.settings.policies if p.name == name), None)

    # -------------------------------------------------- pages

    def overview(self, request: Request):
        me = self.identity(request)
        q = request.query_params
        severity = q.get("severity") if q.get("severity") in SEVERITIES else None
        review = q.get("review") if q.get("review") in ("open", "none") else None
        search = (q.get("q") or "").strip()[:200]
        try:
            page_no = max(1, int(q.get("page") or 1))
        except ValueError:
            page_no = 1
        page = self.repo.policy_overview(offset=(page_no - 1) * self.page_size, limit=self.page_size,
                                         severity=severity, review=review, search=search or None)
        pages = max(1, math.ceil(page.total / self.page_size))
        filters = {k: v for k, v in (("q", search), ("severity", severity), ("review", review)) if v}

        def page_url(n: int) -> str:
            return "/?" + urlencode({**filters, "page": n})

        return self.render(request, "overview.html", me=me, page=page, page_no=page_no, pages=pages,
                           severities=SEVERITIES, severity=severity, review=review, q=search, page_url=page_url)

    def policy(self, request: Request):
        me = self.identity(request)
        name = request.path_params["name"]
        h = self.repo.history(name, checks=20)
        if h is None:
            raise HTTPException(404, f"no policy named {name!r} is stored")
        reviews = self.repo.reviews_for(c.id for c in h.changes)
        return self.render(request, "policy.html", me=me, h=h, reviews=reviews, url=safe_url(h.url))

    def change(self, request: Request):
        me = self.identity(request)
        change_id = request.path_params["change_id"]
        c = self.repo.change(change_id)
        if c is None:
            raise HTTPException(404, f"change #{change_id} is not in the store")
        review = self.repo.review(change_id)
        report = c.report or {}
        lang = self.language(request)
        clauses = [{**ch, "label": _label(ch), "rows": clause_rows(ch), "reasons": reason_texts(ch, lang)}
                   for ch in report.get("changes") or []
                   if ch.get("severity") != "none" or ch.get("type") != "modified" or ch.get("items") or ch.get("hunks")]
        items = checklist(report)
        items += [a for a in review.actions if a not in items]
        return self.render(request, "change.html", me=me, c=c, review=review, clauses=clauses,
                           notify=report.get("notify") or {}, checklist=items, decisions=list(DECISIONS),
                           csrf=self.csrf.token(me.name))

    async def review(self, request: Request):
        me = self.identity(request)
        form = await request.form()
        if not _same_origin(request) or not self.csrf.valid(me.name, form.get("csrf")):
            return self.render(request, "error.html", status=403, me=me,
                               message="the form's CSRF token is missing or no longer valid: reload the page")
        if not me.can_review:
            return self.render(request, "error.html", status=403, me=me,
                               message=f"{me.name}: the {me.role} role cannot review changes")
        change_id = request.path_params["change_id"]
        current = await run_in_threadpool(self.repo.review, change_id)
        wanted = set(form.getlist("action"))
        reopen = form.get("reopen") == "1"
        if current.state == "done" and not reopen:
            wanted = set(current.actions)      # disabled checkboxes are not submitted
        req = ReviewRequest(tick=sorted(wanted - set(current.actions)),
                            untick=sorted(set(current.actions) - wanted), decision=form.get("decision") or None,
                            note=str(form.get("note") or ""), reopen=reopen)
        try:
            await run_in_threadpool(record_review, self.repo, change_id, req, actor=me.name, role=me.role)
        except WatchError as exc:
            return self.render(request, "error.html", status=400, me=me, message=str(exc))
        return RedirectResponse(f"/change/{change_id}#history", status_code=303)

    def version(self, request: Request):
        me = self.identity(request)
        name, version = request.path_params["name"], request.path_params["version"]
        try:
            snapshot = self.repo.resolve_ref(name, str(version))
        except WatchError as exc:
            raise HTTPException(404, str(exc)) from None
        policy = self.policy_settings(name)
        outline = request.query_params.get("outline") == "1"
        if outline:
            body = "\n".join(outline_lines(current_outline(snapshot, policy, self.repo.get_body)))
        else:
            body = current_document(snapshot, policy, self.repo.get_body, source=f"{name}@{version}")[0].text
        return self.render(request, "version.html", me=me, s=snapshot, body=body, outline=outline)

    def diff(self, request: Request):
        me = self.identity(request)
        name = request.path_params["name"]
        old, new = request.query_params.get("old", ""), request.query_params.get("new", "")
        if not (old.isdigit() and new.isdigit()):
            raise HTTPException(400, "give two version numbers: ?old=N&new=M")
        policy = self.policy_settings(name)
        try:
            docs = [current_document(self.repo.resolve_ref(name, ref), policy, self.repo.get_body,
                                     source=f"{name}@{ref}")[0] for ref in (old, new)]
        except WatchError as exc:
            raise HTTPException(404, str(exc)) from None
        report = compare.compare(*docs)
        return self.render(request, "diff.html", me=me, name=name, old=old, new=new, report=report,
                           rows=comparison_rows(report, self.language(request)))

    def audit(self, request: Request):
        me = self.identity(request)
        return self.render(request, "audit.html", me=me, events=self.repo.audit_events(limit=500))

    # -------------------------------------------------- feeds

    def feed(self, request: Request):
        name = request.path_params.get("name")
        if not feeds.token_ok(self.settings.web, request.query_params.get("token")):
            self.identity(request)
        if name is not None and not self.repo.has_policy(name):
            raise HTTPException(404, f"no policy named {name!r} is stored")
        return feeds.feed_response(self.repo, self.settings.web, request, name, self.language(request))

    # -------------------------------------------------- errors

    def http_error(self, request: Request, exc: HTTPException):
        headers = dict(exc.headers or {})
        if exc.status_code == 401:
            return Response("authentication required\n", status_code=401, headers=headers,
                            media_type="text/plain; charset=utf-8")
        try:
            me = self.identity(request)
        except HTTPException:
            return Response(f"{exc.detail}\n", status_code=exc.status_code, media_type="text/plain; charset=utf-8")
        return self.render(request, "error.html", status=exc.status_code, me=me, message=exc.detail)

    def close(self):
        if self.own_repo:
            self.repo.close()


def _label(change: dict) -> str:
    side = change.get("new") or change.get("old") or {}
    return " ".join(p for p in (side.get("number") or "", side.get("title") or "") if p)


def _same_origin(request: Request) -> bool:
    """A browser's Origin (or Referer) must be this server: a second check beside the token."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "")


def create_app(settings: Settings, repo: Repository | None = None) -> Starlette:
    web = WebApp(settings, repo)
    routes = [
        Route("/", web.overview),
        Route("/audit", web.audit),
        Route("/feed.atom", web.feed),
        Route("/policy/{name}", web.policy),
        Route("/policy/{name}/feed.atom", web.feed),
        Route("/policy/{name}/v/{version:int}", web.version),
        Route("/policy/{name}/diff", web.diff),
        Route("/change/{change_id:int}", web.change),
        Route("/change/{change_id:int}/review", web.review, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: web.http_error})
    app.state.web = web
    return SecurityHeaders(app)
