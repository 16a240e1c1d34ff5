"""`watch check`'s use cases: `check_one(policy)`, the whole path of one policy (the daemon's job,
and a queue worker's task body), and `check_many(policies)`, which runs the same steps for a
batch — concurrent fetches, derivation in worker processes, writes batched per transaction.

Per policy: read its state -> fetch -> triage -> derive -> decide (watcher.check.decide, pure) ->
write, in one unit of work: the rows (check, snapshot, change, policy state) and the domain events
(VersionStored, ChangeRecorded, CheckFailed). Notification planning subscribes to those events
(watcher.app wires it): the checker never calls mail code. Checking again is harmless (the same
bytes are "unchanged"), so a task that is redelivered does no damage.

The previous version is compared as re-derived by the current code when it was stored by other
code (or with other select/remove options): a difference that comes only from a new extractor or
normaliser is never reported. The re-derived columns replace the stored ones (the raw body is the
record; text and outline are caches of it).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor

from watcher import extract, lazy, suspect
from watcher.check.decide import (
    CheckOutcome,
    Decision,
    Previous,
    decide,
    needs_previous,
    new_body_sha,
    triage,
)
from watcher.config import PolicySettings, Settings
from watcher.derive import Derived, current_document, derivation_version, derive_safely, stored_document
from watcher.errors import WatchError
from watcher.events import ChangeRecorded, CheckFailed, VersionStored
from watcher.fetch import Fetcher, FetchJob
from watcher.fetch.http import STOPPED
from watcher.store import (
    CheckRecord,
    DerivedColumns,
    NewVersion,
    PolicyState,
    Raced,
    Repository,
    StoreConflict,
    StoreError,
    one_line,
    utcnow,
)
from watcher.suspect import rules as shrink_rules

log = logging.getLogger("watcher.check")
# The report's JSON form (and the diff and judge behind it) loads with the first change recorded.
report_to_dict = lazy.function("watcher.report:report_to_dict")

ProgressFn = Callable[[CheckOutcome], None]

# Batches of cheap outcomes (unchanged / failed) are written together: one transaction per
# 300 rows or 0.5 s instead of one per policy (each policy's rows are still all-or-nothing).
BATCH_ROWS = 300
BATCH_VERSIONS = 50
BATCH_SECONDS = 0.5
# How often check_many wakes up while waiting for fetches (to write what waits, to see `stop`), and
# how long after `stop` it still waits for fetches in flight before abandoning them.
TICK = 0.1
STOP_GRACE = 0.5
# Derive in worker processes when a pass has at least this many bodies to parse and >1 CPU.
POOL_MIN_BODIES = 16
# A pass of policies with versions (most answers a 304 or the same bytes) parses its new pages in
# the main process; it starts workers only when most pages changed (at least LAZY_POOL_AFTER of
# them, and more than LAZY_POOL_SHARE of the answers so far): a site redesigned, say. For one page
# in four (measured at N = 1,000), workers started late cost more CPU than they save wall time.
LAZY_POOL_AFTER = 64
LAZY_POOL_SHARE = 0.5
# Pages go to the workers DERIVE_CHUNK at a time (or what has arrived within a TICK): a task per page
# cost ProcessPoolExecutor's hand-offs between this process's threads (its manager and queue feeder,
# a future each) for every page, some 100 futex calls a page and a tenth of the pass's CPU.
DERIVE_CHUNK = 8

RACED = "another check stored a version of this policy at the same time; try again"


def derive_in_worker(pages: list[tuple]) -> list[Derived | str]:
    """derive() of a chunk of pages in a worker process, each (body, source, content_type, select,
    remove); the answers cross back in their stored form (see Derived)."""
    return [derive_safely(*page) for page in pages]


_WARM_UP_PAGE = ("<html><head><title>プライバシーポリシー</title></head><body><main><h1>プライバシーポリシー</h1>"
                 "<h2>第1条（利用目的）</h2><p>当社は、個人情報を次の目的で利用します。</p><ol><li>(1) サービスの提供</li>"
                 "<li>(2) お問い合わせへの対応</li></ol><p>当社は,次の目的で利用します.<br>以上</p>"
                 "<p>2026年4月1日 制定</p></main></body></html>").encode()


def _noop(_):
    return None


PR_SET_PDEATHSIG = 1


def _die_with_parent(checker_pid: int) -> None:
    """A worker's initializer: on Linux the kernel kills it (SIGKILL) when the process that forked it
    dies, even by kill -9, so no orphan keeps deriving; elsewhere nothing (the pool ends with us).
    That process is the checking one (fork) or the fork server, which ends when the checking process
    does (its pipe from it closes)."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            return
    if os.getppid() != parent or not _running(checker_pid):   # died before the prctl: nobody would kill us
        os._exit(1)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def columns(derived: Derived, policy: PolicySettings) -> DerivedColumns:
    _, text, lines, title, charset, _, outline = derived.stored()
    return DerivedColumns(text=text, lines=lines, outline=outline, title=title, charset=charset,
                          text_key=derived.text_key, text_length=derived.text_length,
                          clauses=derived.counted_clauses,
                          extractor_version=derivation_version(policy))


class Checker:
    def __init__(self, settings: Settings, repo: Repository, *, notify: bool = True,
                 stop: threading.Event | None = None, workers: int | None = None):
        self.settings = settings
        self.repo = repo
        self.notify = notify
        self.stop = stop or threading.Event()
        self.fetcher = Fetcher(settings.fetch, stop=self.stop, needs_browser=suspect.needs_browser)
        # Derive worker processes: one per CPU but the one this process keeps busy with the fetches and
        # the writes (on 2 cores, one worker beside it cost ~0.1 s less CPU than two for 1,000 first
        # versions, at the same wall time); none on one CPU.
        self.workers = workers if workers is not None else max(0, (os.cpu_count() or 1) - 1)
        self.interrupted: list[str] = []     # policies of the last check_many that `stop` left unchecked

    def close(self):
        self.fetcher.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -------------------------------------------------- use cases

    def check_one(self, policy: PolicySettings, *, accept_shrink: bool = False) -> CheckOutcome:
        """Check one policy now; everything is written before it returns. `accept_shrink`: staff say a
        page that lost most of the previous version's text is a real revision (`watch accept`)."""
        state = self.repo.load_states([(policy.name, policy.url)])[policy.name]
        started_at = utcnow()
        if accept_shrink:   # fetch the whole page: a 304 or the same bytes would decide nothing
            state.etag = state.last_modified = state.body_sha256 = None
        result = self.fetcher.fetch(policy.url, etag=state.etag, last_modified=state.last_modified,
                                    mode=policy.fetch, select=policy.select,
                                    allow_insecure_redirect=policy.allow_insecure_redirect)
        d = triage(policy, state, result, started_at)
        if result.error == STOPPED and self.stop.is_set():
            return d.outcome        # cut off by stop: no check happened, nothing is written
        d.extra["accept_shrink"] = accept_shrink
        d = self._decide(d)
        self._write([d])
        _log_outcome(d.outcome)
        return d.outcome

    def check_many(self, policies: list[PolicySettings], progress: ProgressFn | None = None) -> list[CheckOutcome]:
        """Check many policies concurrently; outcomes in the order of `policies`."""
        if not policies:
            return []
        states = self.repo.load_states((p.name, p.url) for p in policies)
        by_name = {p.name: p for p in policies}
        jobs = [FetchJob(key=p.name, url=p.url, etag=states[p.name].etag, last_modified=states[p.name].last_modified,
                         mode=p.fetch, select=p.select, allow_insecure_redirect=p.allow_insecure_redirect)
                for p in policies]
        batch = _Batch(self, progress)
        workers = _DeriveWorkers(self, len(policies), sum(1 for s in states.values() if s.latest_id is None))
        pending: deque = deque()
        started: dict[str, object] = {}

        def on_start(job):
            started[job.key] = utcnow()

        chunk: list[tuple[Decision, tuple]] = []

        def send_chunk():
            if not chunk:
                return
            decisions, pages = [d for d, _ in chunk], [a for _, a in chunk]
            chunk.clear()
            try:
                pending.append((decisions, workers.pool.submit(derive_in_worker, pages)))
            except Exception as e:      # the pool broke (a worker was killed): this process derives the rest
                workers.lost(e)
                for d in decisions:
                    batch.add(self._decide(d))

        def settle(block: bool):
            while pending and (block or pending[0][1].done()):
                decisions, future = pending.popleft()
                try:
                    answers = future.result()
                except Exception as e:     # a worker died (killed, out of memory): derive them here
                    workers.lost(e)
                    answers = [None] * len(decisions)
                for d, derived in zip(decisions, answers, strict=True):
                    batch.add(self._decide(d, derived))

        # The fetch threads hand each result to this thread through a queue it waits on with a timeout,
        # so that it wakes up on time to write what has finished while a slow fetch holds the pass (a
        # batch never holds a finished result hostage), and to stop when `stop` is set, abandoning the
        # fetches still in flight.
        arrived: queue.SimpleQueue = queue.SimpleQueue()
        stop_deadline = None
        answered = 0
        try:
            if self.fetcher.fetch_into(jobs, arrived.put, on_start=on_start) == 0:
                arrived.put(None)
            while True:
                if self.stop.is_set() and stop_deadline is None:
                    stop_deadline = time.monotonic() + STOP_GRACE
                if stop_deadline is not None and time.monotonic() >= stop_deadline:
                    break       # stopped: what is in flight is abandoned (nothing of it was written)
                try:
                    item = arrived.get(timeout=TICK)
                except queue.Empty:
                    send_chunk()
                    settle(block=False)
                    batch.tick()
                    continue
                if item is None:
                    break
                job, result = item
                if result.error == STOPPED and self.stop.is_set():
                    continue        # cut off by stop: not checked (reported as such), not a failure
                policy = by_name[job.key]
                state = states[policy.name]
                d = triage(policy, state, result, started.get(job.key) or utcnow(), new_body_sha(state, result))
                answered += 1
                pool = workers.for_page(answered) if d.kind == "derive" else None
                if pool is not None:
                    chunk.append((d, (result.body, result.final_url or policy.url, result.content_type,
                                      policy.select, list(policy.remove))))
                    if len(chunk) >= DERIVE_CHUNK:
                        send_chunk()
                else:
                    batch.add(self._decide(d))
                settle(block=False)
            send_chunk()
            settle(block=True)
        finally:
            batch.flush()
            workers.shutdown()
        self.interrupted = [p.name for p in policies if p.name not in batch.outcomes]
        return [batch.outcomes[p.name] for p in policies if p.name in batch.outcomes]

    # -------------------------------------------------- deciding (with the I/O decide() must not do)

    def _pool(self, n: int) -> Executor | None:
        """Derive workers forked now, when `n` bodies (at least) will need parsing; None if not worth it."""
        if self.workers < 1 or n < POOL_MIN_BODIES:
            return None
        # The extractor's libraries load, and the patterns of extract, normalize, dates and segment
        # compile, with the first page derived (by name, at first use): derive a small one here, so
        # that the workers inherit all of it through the fork instead of each doing it again.
        derive_safely(_WARM_UP_PAGE, "warm-up", "text/html; charset=utf-8", None, [])
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_die_with_parent, initargs=(os.getpid(),))
        # Fork the workers now, before any fetch thread starts, so they inherit no lock held by a
        # thread. They only run derive(); they never touch the inherited database connections and
        # leave through os._exit, so those are not closed under the parent's feet.
        list(pool.map(_noop, range(self.workers)))
        return pool

    def _decide(self, d: Decision, derived: Derived | str | None = None) -> Decision:
        if d.kind == "unchanged" and d.result.body and d.result.status != 304:
            self._repair_body(d)
        if d.kind != "derive":
            return d
        policy, result = d.policy, d.result
        try:
            if derived is None:
                derived = derive_safely(result.body, result.final_url or policy.url, result.content_type,
                                        policy.select, list(policy.remove))
            previous = self._previous(d.state, policy) if needs_previous(d, derived) else None
            return decide(d, derived, previous)
        except WatchError as e:
            return d.fail(one_line(e))
        except Exception as e:   # a bug in a later stage fails this policy's check, not the whole pass
            log.exception("check %s: internal error", policy.name)
            return d.fail(f"internal error: {type(e).__name__}: {one_line(e)}")

    def _repair_body(self, d: Decision) -> None:
        """The same bytes as the stored version came back: write its body again if it was lost or damaged."""
        try:
            if self.repo.repair_body(d.result.body, d.body_sha):
                log.warning("check %s: the stored body %s was missing or damaged: written again",
                            d.policy.name, (d.body_sha or "")[:12])
        except (StoreError, OSError) as e:
            log.error("check %s: could not repair body %s: %s", d.policy.name, (d.body_sha or "")[:12], one_line(e))

    def _previous(self, state: PolicyState, policy: PolicySettings) -> Previous:
        prev = self.repo.snapshot(state.latest_id)
        try:
            doc, rederived = current_document(prev, policy, self.repo.get_body,
                                              source=f"{policy.name}@{prev.version}")
        except StoreError as e:
            # The raw body is lost or damaged (and the page changed since): compare with the text
            # stored with the version rather than fail every check of this policy from now on.
            log.warning("check %s: %s; comparing with the stored text of version %s", policy.name, one_line(e),
                        prev.version)
            return Previous(stored_document(prev, f"{policy.name}@{prev.version}"), state.latest_text_key,
                            state.latest_text_length, state.latest_clauses)
        if rederived is not None:
            return Previous(doc, rederived.text_key, rederived.text_length, rederived.counted_clauses, rederived)
        return Previous(doc, state.latest_text_key, state.latest_text_length, state.latest_clauses)

    # -------------------------------------------------- writing

    def _record(self, d: Decision) -> CheckRecord:
        r, policy = d.result, d.policy
        record = CheckRecord(policy_id=d.state.policy_id, policy=policy.name, outcome=d.outcome.status,
                             started_at=d.started_at, url=policy.url, final_url=r.final_url or policy.url,
                             redirects=list(r.redirects), http_status=r.status, attempts=r.attempts,
                             elapsed=r.elapsed, error=d.outcome.error, snapshot_id=d.state.latest_id)
        if d.kind == "unchanged":
            record.validators = d.validators()
            if r.status != 304:
                record.body_sha256 = d.body_sha
        elif d.kind == "hold" or (d.kind == "failed" and d.extra.get("shrink")):
            record.hold = d.derived.text_key     # a page that lost most of its text counts sightings too
        if d.kind != "failed" and d.rederived_old is not None:
            record.rederived = columns(d.rederived_old, policy)
        return record

    def _new_version(self, d: Decision) -> NewVersion:
        r, policy = d.result, d.policy
        change = None
        if d.kind == "changed":
            change = {"report": report_to_dict(d.report, full_text=True), "severity": d.report.severity,
                      "material": d.report.material, "state": "pending" if self.notify else "silenced"}
        return NewVersion(check=self._record(d), expect_latest=d.state.latest_id, body=r.body,
                          body_sha256=d.body_sha, url=r.final_url or policy.url,
                          status=r.status, etag=r.etag, last_modified=r.last_modified,
                          content_type=r.content_type, derived=columns(d.derived, policy), change=change,
                          fetcher=r.fetcher)

    def _write(self, decisions: list[Decision]) -> None:
        # Split first: a version that falls back to a plain check (a race, a store error) is
        # written by _write_versions itself, and must not be written again with the others.
        versions = [d for d in decisions if d.is_version]
        checks = [d for d in decisions if not d.is_version]
        self._write_versions(versions)
        self._write_checks(checks)

    def _write_checks(self, batch: list[Decision]) -> None:
        """unchanged / held / failed outcomes: check rows, policy state and events, one transaction."""
        if not batch:
            return
        try:
            with self.repo.unit_of_work() as uow:
                recorded = self.repo.record_checks(uow, [self._record(d) for d in batch],
                                                   alert_after=self.settings.fetch.failures_before_alert)
                uow.publish(*(CheckFailed(policy=d.policy.name, policy_id=d.state.policy_id, error=d.outcome.error or "",
                                          failures=rec.failures, alert_id=rec.alert_id)
                              for d, rec in zip(batch, recorded, strict=True) if d.kind == "failed"))
                for d in batch:
                    if d.kind == "failed" and d.extra.get("shrink") and d.candidate_seen == 1:
                        # staff hear at once that it may be real, not after failures_before_alert
                        self.repo.add_alert(uow, policy_id=d.state.policy_id, kind="shrink", message=(
                            f"{d.policy.name}: {d.extra['shrink']}. If this is a real revision, `watch accept "
                            f"{d.policy.name}` records it now; the same text on {shrink_rules().shrink_confirm} "
                            "checks in a row is recorded anyway"))
        except (StoreError, OSError) as e:
            # the outcomes stand (nothing was stored for them); say so instead of losing it silently
            log.error("could not record %d checks: %s", len(batch), one_line(e))
            for d in batch:
                if d.outcome.status != "failed":
                    d.fail(_store_failure(e))

    def _write_versions(self, batch: list[Decision]) -> None:
        """Versions in one transaction (each policy's rows still all-or-nothing); if that fails,
        each one again on its own so that one policy's conflict costs no other its version."""
        if not batch:
            return
        if len(batch) > 1:
            try:
                self._store_versions(batch)
                return
            except (Raced, StoreError, OSError):
                pass
        for d in batch:
            try:
                self._store_versions([d])
            except Raced as raced:
                if raced.same_text:     # another check stored this very version a moment ago
                    d.state.latest_id, d.state.latest_version = raced.snapshot_id, raced.version
                    d.rederived_old = None
                    d.unchanged()
                else:
                    d.fail(RACED)
                self._write_checks([d])
            except StoreConflict:
                d.fail(RACED)
                self._write_checks([d])
            except (StoreError, OSError) as e:
                d.fail(_store_failure(e))
                self._write_checks([d])

    def _store_versions(self, batch: list[Decision]) -> None:
        news = [self._new_version(d) for d in batch]
        with self.repo.unit_of_work() as uow:
            stored = self.repo.record_versions(uow, news)
            events = []
            for d, new, s in zip(batch, news, stored, strict=True):
                events.append(VersionStored(policy=d.policy.name, policy_id=s.policy_id, snapshot_id=s.snapshot_id,
                                            version=s.version, first=d.kind == "first"))
                if s.change_id is not None:
                    events.append(ChangeRecorded(policy=d.policy.name, policy_id=s.policy_id, change_id=s.change_id,
                                                 old_snapshot_id=d.state.latest_id, new_snapshot_id=s.snapshot_id,
                                                 severity=new.change["severity"], material=new.change["material"],
                                                 notify=self.notify, report=new.change["report"]))
            uow.publish(*events)
        for d, s in zip(batch, stored, strict=True):     # committed: the outcome is what the store says
            d.outcome.snapshot_id, d.outcome.version, d.outcome.change_id = s.snapshot_id, s.version, s.change_id
            d.state.latest_id, d.state.latest_version = s.snapshot_id, s.version


class _DeriveWorkers:
    """The derive worker processes of one check_many pass, started only when there is much to parse.
    A pass with many first versions forks them at once, from the main thread before any fetch thread
    exists (the cheapest start). A pass of policies with versions (mostly 304s or the same bytes)
    parses its pages in the main process, unless most answers turn out to need parsing (see
    LAZY_POOL_AFTER); then a thread starts the workers through a fork server (a fresh interpreter
    that preloads the derive modules and forks each worker from its single thread: fetch threads
    exist now, and a fork of this process could copy a lock one of them holds). Pages are parsed in
    the main process until the workers are up."""

    def __init__(self, checker: Checker, policies: int, first_versions: int):
        self.size = checker.workers
        self.pool: Executor | None = checker._pool(first_versions)
        self.lazy = self.pool is None and self.size >= 1 and policies >= POOL_MIN_BODIES
        self.pages = 0
        self.broken: list[Executor] = []
        self.ready = threading.Event()
        self.starter: threading.Thread | None = None
        if self.pool is not None:
            self.ready.set()

    def for_page(self, answered: int) -> Executor | None:
        """The pool to parse one more page with (the `answered`-th answer of the pass); None: here."""
        if self.lazy and self.starter is None:
            self.pages += 1
            if self.pages >= LAZY_POOL_AFTER and self.pages > LAZY_POOL_SHARE * answered:
                self.starter = threading.Thread(target=self._start, name="check-derive-workers", daemon=True)
                self.starter.start()
        return self.pool if self.ready.is_set() else None

    def _start(self) -> None:
        try:
            context = multiprocessing.get_context("forkserver")
            # the server imports what the workers run (this module, by which the task is pickled; the
            # HTML extractor) once, and each worker it forks inherits it
            context.set_forkserver_preload([__name__, extract.html_lines.spec.partition(":")[0]])
            pool = ProcessPoolExecutor(max_workers=self.size, mp_context=context,
                                       initializer=_die_with_parent, initargs=(os.getpid(),))
            list(pool.map(_noop, range(self.size)))     # up and warm before the first page is sent
        except Exception as e:      # noqa: BLE001 - the pages are then parsed in the main process
            log.warning("derive workers could not start (%s); parsing in the main process", one_line(e))
            return
        self.pool = pool
        self.ready.set()

    def lost(self, error: Exception) -> None:
        """The pool broke (a worker killed, out of memory): the pass goes on deriving in this process."""
        if self.pool is not None:
            log.warning("a derive worker failed (%s); deriving in the main process", one_line(error))
            self.broken.append(self.pool)
            self.pool = None

    def shutdown(self) -> None:
        if self.starter is not None:
            self.starter.join()
        for pool in (*self.broken, *([self.pool] if self.pool is not None else [])):
            pool.shutdown(wait=True, cancel_futures=True)
        if self.starter is not None:
            _stop_fork_server()


def _stop_fork_server() -> None:
    """End and reap the fork server (multiprocessing has no public call for it): no idle process is
    left behind, and its CPU time and its workers' count as this process's children's (time -v)."""
    stop = getattr(getattr(multiprocessing.forkserver, "_forkserver", None), "_stop", None)
    if stop is not None:
        try:
            stop()
        except OSError:
            pass


class _Batch:
    """Decisions of a check_many pass waiting to be written; written when big or old enough."""

    def __init__(self, checker: Checker, progress: ProgressFn | None):
        self.checker, self.progress = checker, progress
        self.waiting: list[Decision] = []
        self.versions = 0
        self.outcomes: dict[str, CheckOutcome] = {}
        self.last_flush = time.monotonic()

    def add(self, d: Decision) -> None:
        self.waiting.append(d)
        self.versions += d.is_version
        self.outcomes[d.policy.name] = d.outcome
        # Written within BATCH_SECONDS (tick), changes too: a transaction per change cost more than
        # its compare (a site that revised 100 policies at once); a stop writes what waits, and a
        # change lost to a kill before its commit is found again by the next check.
        if (len(self.waiting) >= BATCH_ROWS or self.versions >= BATCH_VERSIONS
                or time.monotonic() - self.last_flush > BATCH_SECONDS):
            self.flush()

    def tick(self) -> None:
        """Nothing arrived for a while: write what waits once it is old enough."""
        if self.waiting and time.monotonic() - self.last_flush > BATCH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self.waiting:
            self.last_flush = time.monotonic()
            return
        done, self.waiting, self.versions = self.waiting, [], 0
        self.checker._write(done)
        self.last_flush = time.monotonic()
        for d in done:      # reported once written: the outcome is what the store says
            _log_outcome(d.outcome)
            if self.progress:
                self.progress(d.outcome)


def _store_failure(error: Exception) -> str:
    """Why a check could not be recorded, in one line (a StoreError already says it is the store's)."""
    return one_line(error) if isinstance(error, StoreError) else f"store error: {one_line(error)}"


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



