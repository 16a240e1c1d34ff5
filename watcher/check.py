"""`watch check`: fetch the policies, store new versions, record changes, queue notifications.

Per policy and check:

    fetch (conditional) ─ 304 / same body sha ──────────────────────────> unchanged (nothing parsed)
          │ error, 4xx/5xx ─────────────────────────────────────────────> failed
          └ new body ─> derive (extract, segment, normalised-text hash)
                          │ login / maintenance / error page, lost text ─> failed (never a version)
                          │ no previous version ──────────────────────────> first (snapshot)
                          │ same normalised text as the previous version ─> unchanged (page noise)
                          └ compare(previous, new): no clause change ─────> unchanged
                                 │ confirm = 2 and first sighting ────────> unchanged, held as candidate
                                 └──────────────────────────────────────> changed (snapshot + change
                                                                            + outbox, one transaction)

The previous version is compared as re-derived by the current code when it was stored by
another EXTRACTOR_VERSION (or with other select/remove options): a difference that comes only
from a new extractor or normaliser is never reported. The re-derived text replaces the stored
derived columns (the raw body is the record; text and outline are caches of it).

`Checker.run` handles a batch (the CLI), `Checker.check` one policy (the daemon). Failed checks
count towards an operational alert (table `alerts`) after `failures_before_alert` in a row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from watcher import extract, normalize, segment, suspect
from watcher.config import PolicySettings, Settings
from watcher.errors import InputError, WatchError
from watcher.fetch import Fetcher, FetchJob, FetchResult
from watcher.models import Clause, Document, Line
from watcher.store import (
    AlertRow,
    ChangeRow,
    CheckRow,
    EncodedJSON,
    PolicyRow,
    SnapshotRow,
    Store,
    StoreError,
    sha256,
    utcnow,
)
from watcher.store import (
    one_line as _one_line,
)

log = logging.getLogger("watcher.check")


def _module_version(module) -> str:
    """The module's declared VERSION plus a fingerprint of its source: a code change that
    forgets to bump VERSION still re-derives old snapshots instead of reporting false changes."""
    files = []
    path = Path(module.__file__)
    files = sorted(path.parent.glob("*.py")) if path.name == "__init__.py" else [path]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:10]
    return f"{getattr(module, 'VERSION', '-')}:{digest}"


# The code that turns a raw body into stored text, outline and comparison keys, and the
# extractor's rule file (noise selectors): editing either re-derives stored snapshots.
_EXTRACT_RULES = Path(extract.__file__).resolve().parents[1] / "rules" / "boilerplate.toml"
EXTRACTOR_VERSION = ";".join(f"{m.__name__.rsplit('.', 1)[-1]}={_module_version(m)}"
                             for m in (extract, normalize, segment)) + \
    ";rules=" + hashlib.sha256(_EXTRACT_RULES.read_bytes()).hexdigest()[:10]

STATUSES = ("first", "unchanged", "changed", "failed")


@dataclass
class CheckOutcome:
    name: str
    status: str                      # first | unchanged | changed | failed
    severity: str | None = None      # of the change (changed only)
    error: str | None = None         # why it failed (failed only)
    http_status: int | None = None
    not_modified: bool = False       # a 304 or the very same bytes: nothing was parsed
    held: bool = False               # a change seen once, waiting for confirmation (confirm >= 2)
    snapshot_id: int | None = None
    change_id: int | None = None
    version: int | None = None
    elapsed: float = 0.0

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "severity": self.severity, "error": self.error}


# ---------------------------------------------------------------- derivation (pure)


class Derived:
    """What the code derives from a raw body: the Document, its clause outline, the hash and size
    of its normalised text, and whether the page is not a version at all (`problem`).

    It crosses the process boundary (a derive worker's answer) in its *stored* form: the column
    values, with the JSON of `lines` and `outline` already encoded. The checker decodes the
    Document and the outline only when it needs them (a compare); a first version never does,
    and unpickling a Document tree cost more than deriving half of it."""

    __slots__ = ("_document", "_outline", "_stored", "text_key", "text_length", "clauses", "problem")

    def __init__(self, document: Document | None, outline: list | None, text_key: str, text_length: int,
                 clauses: int, problem: str | None = None, *, stored: tuple | None = None):
        self._document, self._outline, self._stored = document, outline, stored
        self.text_key = text_key          # sha256 of the normalised lines
        self.text_length = text_length    # characters of normalised text
        self.clauses = clauses            # top-level clauses (preamble and date lines not counted)
        self.problem = problem            # not a version: login / maintenance / error page

    @property
    def document(self) -> Document:
        if self._document is None:
            source, text, lines, title, charset, content_type, _ = self._stored
            self._document = Document(source=source, lines=decode_lines(text, json.loads(lines)), title=title,
                                      charset=charset, content_type=content_type)
        return self._document

    @property
    def outline(self) -> list:
        if self._outline is None:
            self._outline = json.loads(self._stored[6])
        return self._outline

    def stored(self) -> tuple:
        """(source, text, lines JSON, title, charset, content_type, outline JSON)"""
        if self._stored is None:
            doc = self._document
            self._stored = (doc.source, doc.text, json.dumps(encode_lines(doc)), doc.title, doc.charset,
                            doc.content_type, json.dumps(self._outline))
        return self._stored

    def __reduce__(self):
        return (_unpickle_derived, (self.stored(), self.text_key, self.text_length, self.clauses, self.problem))


def _unpickle_derived(stored, text_key, text_length, clauses, problem) -> Derived:
    return Derived(None, None, text_key, text_length, clauses, problem, stored=stored)


def derive(body: bytes, *, source: str, content_type: str | None, select: str | None,
           remove: list[str] | tuple[str, ...]) -> Derived:
    """Extract, segment and hash one body. Raises InputError when no policy text comes out."""
    doc = extract.extract(body, source=source, content_type=content_type or None, select=select,
                          remove=list(remove))
    return derive_document(doc, body)


def derive_document(doc: Document, body: bytes = b"") -> Derived:
    keys = [k for k in (normalize.key(line.text) for line in doc.lines) if k]
    clauses = segment.segment(doc)
    text_length = sum(len(k) for k in keys)
    derived = Derived(
        document=doc,
        outline=[clause_to_json(c) for c in clauses],
        text_key=hashlib.sha256("\n".join(keys).encode("utf-8")).hexdigest(),
        text_length=text_length,
        clauses=sum(1 for c in clauses if c.kind == "clause"),
    )
    if body:
        derived.problem = suspect.page_problem(body, doc, text_length)
    return derived


def _derive_safely(body: bytes, source: str, content_type: str | None, select: str | None,
                   remove: list[str]) -> Derived | str:
    """derive() for a worker: a bad page is an answer (its message), not an exception."""
    try:
        return derive(body, source=source, content_type=content_type, select=select, remove=remove)
    except InputError as e:
        return str(e)


def _derive_and_store(body: bytes, source: str, content_type: str | None, select: str | None,
                      remove: list[str], bodies_root: str | None, digest: str | None = None) -> tuple[Derived | str, bool]:
    """derive() in a worker; with `bodies_root`, also write the body file of what will be a first
    version (gzip + fsync off the main process). A page that is not a version is not written."""
    derived = _derive_safely(body, source, content_type, select, remove)
    if bodies_root is None or isinstance(derived, str) or derived.problem:
        return derived, False
    from watcher.store import FileBodies

    FileBodies(Path(bodies_root)).put(None, body, digest)
    return derived, True


def _noop(_):
    return None


OUTLINE_BODY_CHARS = 80


def clause_to_json(clause: Clause) -> dict:
    """The outline of a clause: its number, title, kind and children, and the start of its first
    body line (what names an untitled item). The full text is in the snapshot's lines."""
    out: dict = {"number": clause.number, "title": clause.title, "kind": clause.kind}
    if clause.ordinal is not None:
        out["ordinal"] = clause.ordinal
    if clause.style:
        out["style"] = clause.style
    if clause.body:
        out["body"] = [clause.body[0][:OUTLINE_BODY_CHARS]]
    if clause.children:
        out["children"] = [clause_to_json(c) for c in clause.children]
    return out


def clause_from_json(data: dict, index: int = 0) -> Clause:
    return Clause(number=data.get("number", ""), ordinal=data.get("ordinal"), title=data.get("title", ""),
                  body=list(data.get("body", [])), kind=data.get("kind", "clause"), style=data.get("style", ""),
                  index=index,
                  children=[clause_from_json(c, i) for i, c in enumerate(data.get("children", []))])


def encode_lines(doc: Document) -> list:
    """`lines` column: the heading level of each line of `text` (the text is not stored twice);
    [text, heading] pairs in the unlikely case that a line holds a newline itself."""
    if any("\n" in line.text for line in doc.lines):
        return [[line.text, line.heading] for line in doc.lines]
    return [line.heading for line in doc.lines]


def decode_lines(text: str, lines: list) -> list[Line]:
    if lines and not isinstance(lines[0], int):
        return [Line(text=t, heading=h) for t, h in lines]
    texts = text.split("\n") if text else []
    if len(texts) != len(lines):
        return [Line(text=t) for t in texts]
    return [Line(text=t, heading=h) for t, h in zip(texts, lines, strict=True)]


def snapshot_document(row: SnapshotRow, source: str | None = None) -> Document:
    """The Document a snapshot stores (no re-derivation)."""
    lines = decode_lines(row.text or "", row.lines or [])
    return Document(source=source or row.url, lines=lines, title=row.title or "", charset=row.charset or "",
                    content_type="html" if "html" in (row.content_type or "") else "")


def options_key(policy: PolicySettings | None) -> str:
    """select/remove as part of the derivation fingerprint: changing them re-derives, never reports."""
    if policy is None:
        return ""
    return json.dumps({"select": policy.select, "remove": list(policy.remove)}, sort_keys=True)


def derivation_version(policy: PolicySettings | None) -> str:
    opts = options_key(policy)
    return EXTRACTOR_VERSION + ("|" + hashlib.sha256(opts.encode()).hexdigest()[:10] if opts else "")


def current_document(store: Store, session, row: SnapshotRow, policy: PolicySettings | None,
                     source: str | None = None) -> tuple[Document, Derived | None]:
    """A snapshot's Document as the current code derives it; the Derived when it had to re-derive."""
    if row.extractor_version == derivation_version(policy):
        return snapshot_document(row, source), None
    body = store.get_body(session, row.body_sha256)
    derived = derive(body, source=row.url, content_type=row.content_type,
                     select=policy.select if policy else None, remove=policy.remove if policy else [])
    doc = dataclasses.replace(derived.document, source=source or row.url)
    return doc, derived


def _derived_values(derived: Derived, version: str) -> dict:
    """Column values for a Core statement (the JSON columns take the encoded text as it is)."""
    _, text, lines, title, charset, _, outline = derived.stored()
    return {"text": text, "lines": EncodedJSON(lines), "title": title,
            "charset": charset, "outline": EncodedJSON(outline), "text_key": derived.text_key,
            "text_length": derived.text_length, "clauses": derived.clauses, "extractor_version": version}


def _apply_derived(row: SnapshotRow, derived: Derived, version: str):
    doc = derived.document
    row.text = doc.text
    row.lines = encode_lines(doc)
    row.title = doc.title
    row.charset = doc.charset
    row.outline = derived.outline
    row.text_key = derived.text_key
    row.text_length = derived.text_length
    row.clauses = derived.clauses
    row.extractor_version = version


# ---------------------------------------------------------------- the checker


@dataclass
class _State:
    """What a check needs to know about a policy, read before fetching."""

    policy_id: int
    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None
    consecutive_failures: int = 0
    candidate_key: str | None = None
    candidate_seen: int = 0
    latest_id: int | None = None
    latest_version: int = 0
    latest_text_key: str = ""
    latest_text_length: int = 0
    latest_clauses: int = 0
    latest_derivation: str = ""


@dataclass
class _Decision:
    policy: PolicySettings
    state: _State
    result: FetchResult
    started_at: object
    outcome: CheckOutcome
    kind: str                             # failed | unchanged | hold | first | changed
    body_sha: str | None = None
    derived: Derived | None = None
    report: object = None
    rederived_old: Derived | None = None  # the previous snapshot as the current code derives it
    extra: dict = field(default_factory=dict)


ProgressFn = Callable[[CheckOutcome], None]

# _State fields that are columns of the policies table under the same name
_STATE_COLUMNS = ("consecutive_failures", "candidate_key", "candidate_seen", "etag", "last_modified", "body_sha256")

# Batches of cheap outcomes (unchanged / failed) are written together: one transaction per
# 300 rows or 0.5 s instead of one per policy (each policy's rows are still all-or-nothing).
BATCH_ROWS = 300
BATCH_VERSIONS = 50
BATCH_SECONDS = 0.5
# Derive in worker processes when a pass has at least this many bodies to parse and >1 CPU.
POOL_MIN_BODIES = 16


class Checker:
    def __init__(self, settings: Settings, store: Store | None = None, *, notify: bool = True,
                 stop: threading.Event | None = None, workers: int | None = None):
        self.settings = settings
        self.own_store = store is None
        self.store = store or Store(settings.store)
        self.notify = notify
        self.stop = stop or threading.Event()
        self.fetcher = Fetcher(settings.fetch, stop=self.stop)
        self.workers = workers if workers is not None else (os.cpu_count() or 1)

    def close(self):
        self.fetcher.close()
        if self.own_store:
            self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -------------------------------------------------- public

    def run(self, policies: list[PolicySettings], progress: ProgressFn | None = None) -> list[CheckOutcome]:
        """Check many policies concurrently; outcomes in the order of `policies`."""
        if not policies:
            return []
        states = self._load_states(policies)
        by_name = {p.name: p for p in policies}
        jobs = [self._job(p, states[p.name]) for p in policies]
        self._outcomes: dict[str, CheckOutcome] = {}
        self._cheap: list[_Decision] = []
        self._versions: list[_Decision] = []
        self._last_flush = time.monotonic()
        self._progress = progress
        pool = self._pool(len(policies))
        pending: deque = deque()
        started = {}
        bodies_root = str(self.store.settings.bodies_dir) if self.store.is_sqlite else None

        def on_start(job):
            started[job.key] = utcnow()

        def settle(block: bool):
            while pending and (block or pending[0][5].done()):
                policy, state, result, started_at, body_sha, future = pending.popleft()
                derived, stored = future.result()
                decision = self._decide(policy, state, result, started_at, derived=derived, body_sha=body_sha)
                decision.extra["body_stored"] = stored
                self._dispatch(decision)

        try:
            for job, result in self.fetcher.fetch_many(jobs, on_start=on_start):
                policy = by_name[job.key]
                state = states[policy.name]
                body_sha = self._new_body_sha(state, result) if pool is not None else None
                if body_sha:
                    # a first version's body is written by the worker too (files only): it is needed anyway
                    root = bodies_root if state.latest_id is None else None
                    pending.append((policy, state, result, started.get(job.key), body_sha,
                                    pool.submit(_derive_and_store, result.body, result.final_url or policy.url,
                                                result.content_type, policy.select, list(policy.remove), root,
                                                body_sha)))
                else:
                    self._dispatch(self._decide(policy, state, result, started.get(job.key)))
                settle(block=False)
            settle(block=True)
        finally:
            self._flush()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        return [self._outcomes[p.name] for p in policies if p.name in self._outcomes]

    def check(self, policy: PolicySettings) -> CheckOutcome:
        """Check one policy now (the daemon's job); everything written before it returns."""
        states = self._load_states([policy])
        state = states[policy.name]
        started_at = utcnow()
        job = self._job(policy, state)
        result = self.fetcher.fetch(job.url, etag=job.etag, last_modified=job.last_modified)
        decision = self._decide(policy, state, result, started_at)
        if decision.kind in ("first", "changed"):
            self._write_version(decision)
        else:
            self._write_batch([decision])
        _log_outcome(decision.outcome)
        return decision.outcome

    # -------------------------------------------------- planning

    def _pool(self, n: int) -> Executor | None:
        if self.workers <= 1 or n < POOL_MIN_BODIES:
            return None
        import multiprocessing

        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("fork"))
        # Fork the workers now, before any fetch thread starts, so they inherit no lock held by a
        # thread. They only run derive(); they never touch the inherited database connections and
        # leave through os._exit, so those are not closed under the parent's feet.
        list(pool.map(_noop, range(self.workers)))
        return pool

    def _load_states(self, policies: list[PolicySettings]) -> dict[str, _State]:
        names = [p.name for p in policies]
        states: dict[str, _State] = {}
        with self.store.session() as session:
            rows = {}
            for i in range(0, len(names), 500):
                chunk = names[i:i + 500]
                rows.update({r.name: r for r in session.scalars(select(PolicyRow).where(PolicyRow.name.in_(chunk)))})
            for policy in policies:
                row = rows.get(policy.name)
                if row is None:
                    row = PolicyRow(name=policy.name, url=policy.url, consecutive_failures=0, candidate_seen=0,
                                    created_at=utcnow())
                    session.add(row)
                    rows[policy.name] = row
                elif row.url != policy.url:
                    row.url = policy.url
            session.flush()
            latest = {}
            ids = [r.id for r in rows.values()]
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                newest = (select(SnapshotRow.policy_id, SnapshotRow.id, SnapshotRow.version, SnapshotRow.text_key,
                                 SnapshotRow.text_length, SnapshotRow.clauses, SnapshotRow.extractor_version)
                          .where(SnapshotRow.policy_id.in_(chunk))
                          .order_by(SnapshotRow.policy_id, SnapshotRow.version))
                for snap in session.execute(newest):
                    latest[snap.policy_id] = snap      # ordered by version: the last one wins
            for policy in policies:
                row = rows[policy.name]
                state = _State(policy_id=row.id, etag=row.etag, last_modified=row.last_modified,
                               body_sha256=row.body_sha256, consecutive_failures=row.consecutive_failures or 0,
                               candidate_key=row.candidate_key, candidate_seen=row.candidate_seen or 0)
                snap = latest.get(row.id)
                if snap is not None:
                    state.latest_id = snap.id
                    state.latest_version = snap.version
                    state.latest_text_key = snap.text_key
                    state.latest_text_length = snap.text_length
                    state.latest_clauses = snap.clauses
                    state.latest_derivation = snap.extractor_version
                else:   # validators without a version are meaningless (e.g. a wiped snapshot table)
                    state.etag = state.last_modified = state.body_sha256 = None
                states[policy.name] = state
        return states

    @staticmethod
    def _job(policy: PolicySettings, state: _State) -> FetchJob:
        return FetchJob(key=policy.name, url=policy.url, etag=state.etag, last_modified=state.last_modified)

    @staticmethod
    def _new_body_sha(state: _State, result: FetchResult) -> str | None:
        """The sha256 of a body that needs parsing (None: a 304, an error, empty, the same bytes)."""
        if not (result.ok and result.status != 304 and result.body and result.body.strip()):
            return None
        digest = sha256(result.body)
        return digest if digest != state.body_sha256 else None

    # -------------------------------------------------- deciding

    def _decide(self, policy: PolicySettings, state: _State, result: FetchResult, started_at,
                derived: Derived | str | None = None, body_sha: str | None = None) -> _Decision:
        started_at = started_at or utcnow()
        outcome = CheckOutcome(name=policy.name, status="failed", http_status=result.status, elapsed=result.elapsed)
        d = _Decision(policy=policy, state=state, result=result, started_at=started_at, outcome=outcome,
                      kind="failed", body_sha=body_sha)
        try:
            self._classify(d, derived)
        except (WatchError, SQLAlchemyError) as e:
            self._fail(d, _one_line(e))
        except Exception as e:   # a bug in a later stage fails this policy's check, not the whole pass
            log.exception("check %s: internal error", policy.name)
            self._fail(d, f"internal error: {type(e).__name__}: {_one_line(e)}")
        return d

    def _fail(self, d: _Decision, error: str):
        d.kind = "failed"
        d.outcome.status = "failed"
        d.outcome.error = error
        d.outcome.severity = None

    def _unchanged(self, d: _Decision, *, not_modified: bool = False):
        d.kind = "unchanged"
        d.outcome.status = "unchanged"
        d.outcome.not_modified = not_modified
        d.outcome.version = d.state.latest_version or None
        d.outcome.snapshot_id = d.state.latest_id

    def _classify(self, d: _Decision, derived: Derived | str | None):
        result, state, policy = d.result, d.state, d.policy
        if result.error:
            return self._fail(d, result.error)
        if result.status == 304:
            if state.latest_id is None:
                return self._fail(d, "HTTP 304 Not Modified, but no version is stored yet")
            return self._unchanged(d, not_modified=True)
        body = result.body or b""
        if not body.strip():
            return self._fail(d, f"empty body (HTTP {result.status})")
        d.body_sha = d.body_sha or sha256(body)
        if d.body_sha == state.body_sha256 and state.latest_id is not None:
            return self._unchanged(d, not_modified=True)    # server ignores conditional GET: same bytes
        if derived is None:
            derived = _derive_safely(body, result.final_url or policy.url, result.content_type, policy.select,
                                     list(policy.remove))
        if isinstance(derived, str):
            return self._fail(d, derived)
        d.derived = derived
        if derived.problem:
            return self._fail(d, derived.problem)
        if state.latest_id is None:
            d.kind = "first"
            d.outcome.status = "first"
            return None
        with self.store.Session() as session:
            prev = session.get(SnapshotRow, state.latest_id)
            old_label = f"{policy.name}@{prev.version}"
            old_doc, rederived = current_document(self.store, session, prev, policy, source=old_label)
        d.rederived_old = rederived
        prev_key = rederived.text_key if rederived else state.latest_text_key
        prev_length = rederived.text_length if rederived else state.latest_text_length
        prev_clauses = rederived.clauses if rederived else state.latest_clauses
        problem = suspect.shrink_problem(derived.text_length, derived.clauses, prev_length, prev_clauses)
        if problem:
            return self._fail(d, problem)
        if derived.text_key == prev_key:
            return self._unchanged(d)                       # page noise: same normalised text
        from watcher.compare import compare

        new_doc = dataclasses.replace(derived.document, source=f"{policy.name}@{state.latest_version + 1}")
        report = compare(old_doc, new_doc)
        if not report.changes:
            return self._unchanged(d)                       # formatting only, as the diff engine sees it
        d.report = report
        if policy.confirm > 1:
            seen = state.candidate_seen + 1 if state.candidate_key == derived.text_key else 1
            if seen < policy.confirm:
                self._unchanged(d)
                d.kind = "hold"
                d.outcome.held = True
                d.extra["candidate_seen"] = seen
                return None
        d.kind = "changed"
        d.outcome.status = "changed"
        d.outcome.severity = report.severity
        return None

    # -------------------------------------------------- writing

    def _dispatch(self, d: _Decision):
        """Queue a decision for writing; write the queues when they are big or old enough."""
        (self._versions if d.kind in ("first", "changed") else self._cheap).append(d)
        self._outcomes[d.policy.name] = d.outcome
        if (len(self._cheap) >= BATCH_ROWS or len(self._versions) >= BATCH_VERSIONS
                or time.monotonic() - self._last_flush > BATCH_SECONDS):
            self._flush()

    def _flush(self):
        done = self._versions + self._cheap
        self._write_versions(self._versions)
        self._write_batch(self._cheap)
        self._last_flush = time.monotonic()
        for d in done:      # reported once written: the outcome is what the store says
            _log_outcome(d.outcome)
            if self._progress:
                self._progress(d.outcome)

    def _check_values(self, d: _Decision, snapshot_id: int | None = None) -> dict:
        r = d.result
        return {"policy_id": d.state.policy_id, "started_at": d.started_at, "finished_at": utcnow(),
                "url": d.policy.url, "final_url": r.final_url or d.policy.url, "redirects": list(r.redirects),
                "http_status": r.status, "attempts": r.attempts, "elapsed": round(r.elapsed, 4),
                "outcome": d.outcome.status, "error": d.outcome.error,
                "snapshot_id": snapshot_id if snapshot_id is not None else d.state.latest_id}

    def _write_batch(self, batch: list[_Decision]):
        """unchanged / held / failed outcomes: check rows and policy state, in one transaction."""
        if not batch:
            return
        try:
            with self.store.session() as session:
                self._apply_batch(session, batch)
        except SQLAlchemyError as e:
            # the outcomes stand (nothing was stored for them); say so instead of losing it silently
            log.error("could not record %d checks: %s", len(batch), _one_line(e))
            for d in batch:
                if d.outcome.status != "failed":
                    self._fail(d, f"store error: {_one_line(e)}")
        batch.clear()

    def _apply_batch(self, session, batch: list[_Decision]):
        checks = []
        policy_updates = []
        now = utcnow()
        for d in batch:
            s = d.state
            checks.append(self._check_values(d))
            before = {name: getattr(s, name) for name in _STATE_COLUMNS}
            if d.kind == "failed":
                s.consecutive_failures += 1
                if s.consecutive_failures == self.settings.fetch.failures_before_alert:
                    session.add(AlertRow(policy_id=s.policy_id, kind="check_failures", failures=s.consecutive_failures,
                                         message=f"{d.policy.name}: {s.consecutive_failures} checks failed in a row; "
                                                 f"last error: {d.outcome.error}", opened_at=now))
            else:
                if s.consecutive_failures:
                    self._resolve_alerts(session, s.policy_id, now)
                s.consecutive_failures = 0
                if d.kind == "hold":
                    # validators stay those of the stored version: if the page flips back, we get a 304
                    s.candidate_key = d.derived.text_key
                    s.candidate_seen = d.extra["candidate_seen"]
                else:
                    s.candidate_key, s.candidate_seen = None, 0
                    if d.result.status == 304:    # a server may send fresher validators with a 304
                        s.etag = d.result.etag or s.etag
                        s.last_modified = d.result.last_modified or s.last_modified
                    else:                         # same text as the stored version: these bytes are "current"
                        s.etag, s.last_modified = d.result.etag, d.result.last_modified
                        s.body_sha256 = d.body_sha or s.body_sha256
                if d.rederived_old is not None and s.latest_id is not None:
                    row = session.get(SnapshotRow, s.latest_id)
                    _apply_derived(row, d.rederived_old, derivation_version(d.policy))
                    s.latest_derivation = row.extractor_version
                    s.latest_text_key = row.text_key
                    s.latest_text_length, s.latest_clauses = row.text_length, row.clauses
            # only what changed (a 304 changes nothing but the time of the check)
            values = {f"v_{name}": getattr(s, name) for name in _STATE_COLUMNS if getattr(s, name) != before[name]}
            values.update(v_id=s.policy_id, v_last_checked_at=now, v_last_outcome=d.outcome.status)
            policy_updates.append(values)
        # Core executemany statements: the ORM's per-row bookkeeping would cost more than the SQL
        session.execute(_INSERT_CHECK, checks)
        table = PolicyRow.__table__
        groups: dict[tuple, list[dict]] = {}
        for values in policy_updates:
            groups.setdefault(tuple(sorted(values)), []).append(values)
        for keys, rows in groups.items():
            columns = [k[2:] for k in keys if k != "v_id"]
            stmt = (table.update().where(table.c.id == bindparam("v_id"))
                    .values({c: bindparam(f"v_{c}") for c in columns}))
            session.execute(stmt, rows)

    def _resolve_alerts(self, session, policy_id: int, now):
        # A good fetch ends only the failed-fetch alert; an undeliverable-mail alert stays until it is seen to.
        session.execute(update(AlertRow).where(AlertRow.policy_id == policy_id, AlertRow.kind == "check_failures",
                                               AlertRow.resolved_at.is_(None))
                        .values(resolved_at=now))

    def _write_version(self, d: _Decision):
        """first / changed: body, snapshot, change, outbox and policy state in one transaction."""
        self._write_versions([d])

    def _write_versions(self, batch: list[_Decision]):
        """Several versions in one transaction (each policy's rows still all-or-nothing); if that
        fails, each one again on its own so that one policy's conflict costs no other its version."""
        if not batch:
            return
        if len(batch) > 1:
            try:
                with self.store.session() as session:
                    finishers = self._apply_versions(session, batch)
            except (_Raced, SQLAlchemyError, StoreError, OSError):
                pass
            else:
                for finish in finishers:
                    finish()
                batch.clear()
                return
        for d in batch:
            try:
                with self.store.session() as session:
                    finish = self._apply_version(session, d)
                finish()
            except _Raced as raced:
                if raced.same_text:     # another check stored this very version a moment ago
                    self._unchanged(d)
                    d.outcome.version, d.outcome.snapshot_id = raced.version, raced.snapshot_id
                    d.state.latest_id, d.state.latest_version = raced.snapshot_id, raced.version
                    d.kind, d.rederived_old = "unchanged", None
                else:
                    self._fail(d, "another check stored a version of this policy at the same time; try again")
                self._write_batch([d])
            except IntegrityError:
                self._fail(d, "another check stored a version of this policy at the same time; try again")
                self._write_batch([d])
            except (SQLAlchemyError, StoreError, OSError) as e:
                self._fail(d, f"store error: {_one_line(e)}")
                self._write_batch([d])
        batch.clear()

    def _apply_version(self, session, d: _Decision) -> Callable[[], None]:
        """Write one version in `session`; returns what to update in memory once it is committed."""
        return self._apply_versions(session, [d])[0]

    def _apply_versions(self, session, batch: list[_Decision]) -> list[Callable[[], None]]:
        """Write versions of distinct policies in `session`, a few executemany statements for the
        whole batch; returns, per decision, what to update in memory once it is committed."""
        now = utcnow()
        pids = [d.state.policy_id for d in batch]
        # Take the policies' write locks first (row locks on PostgreSQL, the database write lock on
        # SQLite), then make sure the version we compared against is still the latest one: two
        # checks of one policy at once (daemon + `watch check`) must not both store the change.
        session.execute(_LOCK_POLICY, [{"pid": pid, "now": now} for pid in pids])
        latest = {row.policy_id: row for row in session.execute(_LATEST_SNAPSHOTS, {"pids": pids})}
        for d in batch:
            row = latest.get(d.state.policy_id)
            if (row.id if row else None) != d.state.latest_id:
                raise _Raced(row.id, row.version, row.text_key == d.derived.text_key)
        # the bodies go first: if we die before the commit they are orphans, never dangling references
        # (a worker process may have written them already, see _derive_and_store)
        for d in batch:
            if not d.extra.get("body_stored"):
                self.store.put_body(session, d.result.body, d.body_sha)
        snapshots, tags = [], []
        for d in batch:
            s, policy, r = d.state, d.policy, d.result
            tag = derivation_version(policy)
            tags.append(tag)
            if d.rederived_old is not None and s.latest_id is not None:
                session.execute(update(SnapshotRow).where(SnapshotRow.id == s.latest_id)
                                .values(**_derived_values(d.rederived_old, tag)))
            row = latest.get(s.policy_id)
            snapshots.append(dict(policy_id=s.policy_id, version=(row.version if row else 0) + 1, fetched_at=now,
                                  body_sha256=d.body_sha, body_size=len(r.body), url=r.final_url or policy.url,
                                  status=r.status, etag=r.etag, last_modified=r.last_modified,
                                  content_type=r.content_type, **_derived_values(d.derived, tag)))
        # Core statements: a version is written once and never edited through the ORM
        snapshot_ids = session.execute(_INSERT_SNAPSHOT, snapshots).scalars().all()
        change_ids: list[int | None] = []
        for d, snapshot_id in zip(batch, snapshot_ids, strict=True):
            change_ids.append(self._add_change(session, d, snapshot_id, now) if d.kind == "changed" else None)
        session.execute(_INSERT_CHECK, [self._check_values(d, snapshot_id=sid)
                                        for d, sid in zip(batch, snapshot_ids, strict=True)])
        session.execute(_POLICY_AFTER_VERSION, [
            {"pid": d.state.policy_id, "v_etag": d.result.etag, "v_last_modified": d.result.last_modified,
             "v_body_sha256": d.body_sha, "v_last_outcome": d.outcome.status} for d in batch])
        for d in batch:
            if d.state.consecutive_failures:
                self._resolve_alerts(session, d.state.policy_id, now)

        def finisher(d: _Decision, snapshot_id: int, version: int, change_id: int | None, tag: str):
            def finish():
                s, r, derived = d.state, d.result, d.derived
                d.outcome.snapshot_id, d.outcome.version, d.outcome.change_id = snapshot_id, version, change_id
                s.latest_id, s.latest_version = snapshot_id, version
                s.latest_text_key, s.latest_text_length, s.latest_clauses = (derived.text_key, derived.text_length,
                                                                              derived.clauses)
                s.latest_derivation = tag
                s.etag, s.last_modified, s.body_sha256 = r.etag, r.last_modified, d.body_sha
                s.consecutive_failures, s.candidate_key, s.candidate_seen = 0, None, 0
            return finish

        return [finisher(d, sid, snap["version"], cid, tag)
                for d, sid, snap, cid, tag in zip(batch, snapshot_ids, snapshots, change_ids, tags, strict=True)]

    def _add_change(self, session, d: _Decision, snapshot_id: int, now) -> int:
        """The change row of a changed version, and its notifications queued in the same transaction."""
        from watcher.report import report_to_dict  # imported late: it loads the diff engine

        report_dict = report_to_dict(d.report, full_text=True)
        change = ChangeRow(policy_id=d.state.policy_id, old_snapshot_id=d.state.latest_id,
                           new_snapshot_id=snapshot_id, report=report_dict, severity=d.report.severity,
                           material=d.report.material, created_at=now,
                           state="pending" if self.notify else "silenced")
        session.add(change)
        session.flush()
        if self.notify:
            _enqueue(session, self.settings, d.policy, change, report_dict)
        return change.id


# Core statements built once (the ORM's per-statement bookkeeping would cost more than the SQL)
_POLICIES, _SNAPSHOTS = PolicyRow.__table__, SnapshotRow.__table__
_LOCK_POLICY = _POLICIES.update().where(_POLICIES.c.id == bindparam("pid")).values(last_checked_at=bindparam("now"))
_NEWEST = (select(_SNAPSHOTS.c.policy_id, func.max(_SNAPSHOTS.c.version).label("version"))
           .where(_SNAPSHOTS.c.policy_id.in_(bindparam("pids", expanding=True)))
           .group_by(_SNAPSHOTS.c.policy_id).subquery())
_LATEST_SNAPSHOTS = (select(_SNAPSHOTS.c.policy_id, _SNAPSHOTS.c.id, _SNAPSHOTS.c.version, _SNAPSHOTS.c.text_key)
                     .join(_NEWEST, (_SNAPSHOTS.c.policy_id == _NEWEST.c.policy_id)
                           & (_SNAPSHOTS.c.version == _NEWEST.c.version)))
# executemany with RETURNING (insertmanyvalues): ids in the order of the parameter rows
_INSERT_SNAPSHOT = _SNAPSHOTS.insert().returning(_SNAPSHOTS.c.id, sort_by_parameter_order=True)
_INSERT_CHECK = CheckRow.__table__.insert()
_POLICY_AFTER_VERSION = _POLICIES.update().where(_POLICIES.c.id == bindparam("pid")).values(
    etag=bindparam("v_etag"), last_modified=bindparam("v_last_modified"), body_sha256=bindparam("v_body_sha256"),
    last_outcome=bindparam("v_last_outcome"), candidate_key=None, candidate_seen=0, consecutive_failures=0)


class _Raced(Exception):
    def __init__(self, snapshot_id: int, version: int, same_text: bool):
        super().__init__("raced")
        self.snapshot_id, self.version, self.same_text = snapshot_id, version, same_text


def _enqueue(session, settings: Settings, policy: PolicySettings, change: ChangeRow, report_dict: dict) -> None:
    """The notification step: the outbox writes its deliveries in this same transaction."""
    from watcher.outbox import enqueue  # imported late: watcher.outbox builds on watcher.store

    enqueue(session, settings, policy, change, report_dict)


def _log_outcome(o: CheckOutcome):
    if o.status == "failed":
        log.warning("check %s: failed: %s", o.name, o.error)
    elif o.status == "changed":
        log.info("check %s: changed (severity %s) -> version %s", o.name, o.severity, o.version)
    else:
        extra = " (304)" if o.not_modified and o.http_status == 304 else (" (held: seen once)" if o.held else "")
        log.info("check %s: %s%s", o.name, o.status, extra)


def select_policies(settings: Settings, names: list[str] | None) -> list[PolicySettings]:
    """The named policies (all when none given); ConfigError for an unknown name."""
    if not names:
        return list(settings.policies)
    return [settings.policy(n) for n in dict.fromkeys(names)]


def check_policies(settings: Settings, names: list[str] | None = None, *, notify: bool = True,
                   progress: ProgressFn | None = None, store: Store | None = None,
                   stop: threading.Event | None = None) -> list[CheckOutcome]:
    policies = select_policies(settings, names)
    with Checker(settings, store, notify=notify, stop=stop) as checker:
        return checker.run(policies, progress)
