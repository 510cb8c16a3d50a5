"""The job queue: which job runs next, who holds it, and who may say how it ended.

Jobs live in the ``jobs`` table, one per queued request. A worker **claims**
the next job: the highest production priority first (``queue_priorities``,
set by a producer or an admin), then the oldest, skipping jobs waiting out a
retry back-off (``available_at``). On PostgreSQL the pick is ``SELECT ... FOR
UPDATE SKIP LOCKED``, so concurrent claimers never wait on, nor get, the same
row; on SQLite every write transaction holds the single writer lock, so the
pick and the update are one atomic step anyway.

A claim is a **lease**: a fresh ``lease_id``, the worker's name and an expiry
that the worker's heartbeat pushes forward while the backend runs. Whatever
the worker later records (outputs, a failure, a cancellation) is **fenced**
by the lease: it is written only if the job still carries that ``lease_id``.
A worker that stopped heart-beating (it died, or hung) loses the job to the
reaper, which puts it back in line (or fails it after ``max_attempts``); if
the old worker wakes up it can no longer record anything, so a job run twice
makes two runs on the record but only one result.

Cancelling a queued job is immediate (``engine/runs.py``); cancelling a
running one sets ``cancel_requested_at``, which the worker's next heartbeat
sees (:class:`Heartbeat`), and the backend is stopped at its next progress
report.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from greenlight.accounts import Access
from greenlight.core.clock import utcnow
from greenlight.core.enums import RequestState, Role
from greenlight.core.errors import Conflict, Forbidden, InvalidInput
from greenlight.productions import get_production
from greenlight.store import Database
from greenlight.store.schema import generation_requests, jobs, queue_priorities, tools

log = logging.getLogger("greenlight.queue")

MIN_PRIORITY, MAX_PRIORITY = -100, 100


@dataclass(frozen=True)
class QueueSettings:
    """How long a lease lasts, how often it is renewed, how retries back off.

    A worker renews its lease every ``heartbeat_seconds``; one that misses
    ``lease_seconds`` of heartbeats is taken for dead. A failed attempt waits
    ``backoff_seconds`` doubled per attempt, at most ``max_backoff_seconds``.
    A run longer than ``time_limit_seconds`` is stopped and failed. Progress
    reports reach the database at most every ``progress_seconds``.
    """

    lease_seconds: float = 30.0
    heartbeat_seconds: float = 10.0
    backoff_seconds: float = 2.0
    max_backoff_seconds: float = 300.0
    time_limit_seconds: float = 3600.0
    progress_seconds: float = 0.5

    def backoff(self, attempt: int) -> timedelta:
        """The wait before attempt ``attempt + 1``, after attempt ``attempt`` failed."""
        seconds = self.backoff_seconds * (2 ** max(attempt - 1, 0))
        return timedelta(seconds=min(seconds, self.max_backoff_seconds))


def worker_name(label: str = "worker") -> str:
    """A name for this worker that says where it runs: ``host:pid/label``."""
    return f"{socket.gethostname()}:{os.getpid()}/{label}"


@dataclass(frozen=True)
class Lease:
    """A claimed job: proof of who may record its outcome, good while ``lease_id`` holds."""

    job_id: str
    request_id: str
    lease_id: str
    owner: str
    attempt: int  # 1 for the first claim
    max_attempts: int
    claimed_at: datetime
    run_id: str | None = None  # the run named with the claim, if it was
    queued_at: datetime | None = None  # when the job was first queued


class LeaseLost(Conflict):
    """The job was taken from this worker (its lease expired, or it was cancelled)."""

    default_code = "job.lease_lost"


# --- claiming -------------------------------------------------------------------


def claim_next(
    conn: Connection,
    owner: str,
    settings: QueueSettings,
    *,
    now: datetime | None = None,
    run_id: str | None = None,
) -> Lease | None:
    """Lease the next runnable job to ``owner`` inside ``conn``; ``None`` if there is none.

    ``run_id`` names the run the lease holder is about to make, written with the
    claim (otherwise :func:`attach_run` does it).
    """
    now = now or utcnow()
    pick = _PICK_SKIP_LOCKED if conn.dialect.name == "postgresql" else _PICK
    row = conn.execute(pick, {"now": now}).first()
    if row is None:
        return None
    return _lease(conn, row, owner, settings, now, run_id)


def _runnable(query: Select[Any], *, priorities: bool = False) -> Select[Any]:
    """``query`` narrowed to queued jobs a worker may run: their request is queued and
    their tool names a backend (vendor-delivered work never enters a worker)."""
    r = generation_requests.c
    joined = jobs.join(generation_requests, r.id == jobs.c.request_id).join(
        tools, tools.c.id == r.tool_id
    )
    if priorities:
        joined = joined.outerjoin(
            queue_priorities, queue_priorities.c.production_id == r.production_id
        )
    return query.select_from(joined).where(
        jobs.c.state == "queued",
        r.state == RequestState.QUEUED.value,
        tools.c.backend.is_not(None),
    )


def claim_request(
    conn: Connection,
    request_id: str,
    owner: str,
    settings: QueueSettings,
    *,
    run_id: str | None = None,
) -> Lease:
    """Lease one request's job to ``owner`` (running it by hand), if it is queued."""
    row = conn.execute(_JOB_OF_REQUEST, {"request": request_id}).first()
    if row is None or row.state != "queued":
        raise Conflict(
            f"Request {request_id}'s job is {row.state if row else 'not there'}; only "
            "queued work runs.",
            code="run.not_queued",
        )
    return _lease(conn, row, owner, settings, utcnow(), run_id)


def _lease(
    conn: Connection,
    row: Any,
    owner: str,
    settings: QueueSettings,
    now: datetime,
    run_id: str | None,
) -> Lease:
    lease = Lease(
        job_id=row.id,
        request_id=row.request_id,
        lease_id=uuid.uuid4().hex,
        owner=owner[:200],
        attempt=row.attempts + 1,
        max_attempts=row.max_attempts,
        claimed_at=now,
        run_id=run_id,
        queued_at=row.created_at,
    )
    taken = conn.execute(
        _TAKE,
        {
            "job": lease.job_id,
            "attempt": lease.attempt,
            "lease": lease.lease_id,
            "owner": lease.owner,
            "expires": now + timedelta(seconds=settings.lease_seconds),
            "run": run_id,
            "now": now,
        },
    ).rowcount
    if taken != 1:  # cannot happen under the row lock; refuse rather than double-run
        raise Conflict(f"Job {lease.job_id} was taken meanwhile.", code="job.taken")
    return lease


def attach_run(conn: Connection, lease: Lease, run_id: str) -> None:
    """Note on the job which run its lease holder is making (the reaper closes it)."""
    conn.execute(_ATTACH, {"job": lease.job_id, "run": run_id})


# --- while it runs ---------------------------------------------------------------


def require_lease(conn: Connection, lease: Lease) -> None:
    """Lock the job and check ``lease`` still holds it; else :class:`LeaseLost`.

    Every write of a run's outcome starts with this, in the same transaction.
    """
    held = conn.execute(_HELD, {"job": lease.job_id, "lease": lease.lease_id}).first()
    if held is None:
        raise _lost(lease)


def end_lease(conn: Connection, lease: Lease, state: str) -> None:
    """End a job's lease as ``done`` or ``failed``, if ``lease`` still holds it; else
    :class:`LeaseLost`. The fenced write and the release are one update (use it first
    in the transaction that records the outcome, in place of :func:`require_lease`)."""
    values = {"job": lease.job_id, "lease": lease.lease_id, "to": state, "now": utcnow()}
    ended = conn.execute(_END_DONE if state == "done" else _END, values).rowcount
    if ended != 1:
        raise _lost(lease)


def _lost(lease: Lease) -> LeaseLost:
    return LeaseLost(
        f"Job {lease.job_id} is no longer this worker's (its lease expired or was "
        "taken over): its outcome is not recorded.",
        job_id=lease.job_id,
    )


@dataclass(frozen=True)
class Beat:
    """What one heartbeat learned."""

    held: bool  # the lease was renewed
    cancel_requested: bool


def renew(db: Database, lease: Lease, settings: QueueSettings) -> Beat:
    """Push ``lease``'s expiry forward; say whether it still holds and if cancel was asked."""
    now = utcnow()
    with db.transaction() as conn:
        renewed = conn.execute(
            _RENEW,
            {
                "job": lease.job_id,
                "lease": lease.lease_id,
                "expires": now + timedelta(seconds=settings.lease_seconds),
            },
        ).rowcount
        asked = conn.execute(_CANCEL_ASKED, {"job": lease.job_id}).scalar()
    return Beat(held=renewed == 1, cancel_requested=asked is not None)


def report_progress(db: Database, lease: Lease, fraction: float, stage: str) -> None:
    """Write a running job's progress (ignored once the lease is gone)."""
    fraction = min(max(float(fraction), 0.0), 1.0)
    with db.transaction() as conn:
        conn.execute(
            update(jobs)
            .where(jobs.c.id == lease.job_id, jobs.c.lease_id == lease.lease_id)
            .values(progress=fraction, stage=stage[:200])
        )


def release(
    conn: Connection, lease_or_job: Lease | str, state: str, *, available_at: datetime | None = None
) -> None:
    """End a job's lease, leaving it ``state`` (``queued`` again after a failure, with
    ``available_at`` its back-off; or ``done``, ``failed``, ``cancelled``)."""
    job_id = lease_or_job.job_id if isinstance(lease_or_job, Lease) else lease_or_job
    values: dict[str, Any] = {"job": job_id, "to": state, "now": utcnow()}
    if state == "queued":
        conn.execute(_REQUEUE, {**values, "available": available_at})
    else:
        conn.execute(_RELEASE_DONE if state == "done" else _RELEASE, values)


class Stopped(Exception):
    """Raised inside a running backend (at a progress report) when its job must stop."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # cancelled | time_limit | lease_lost


@dataclass
class Watch:
    """What the heartbeat learned about a running job: whether, and why, it must stop."""

    reason: str | None = None
    _event: threading.Event = field(default_factory=threading.Event, repr=False)

    def halt(self, reason: str) -> None:
        """Ask the run to stop (the first reason given stands)."""
        if self.reason is None:
            self.reason = reason
        self._event.set()

    @property
    def stopped(self) -> bool:
        """Whether the run has been asked to stop."""
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early (``True``) when asked to stop."""
        return self._event.wait(seconds)

    def check(self) -> None:
        """Raise :class:`Stopped` if the run has been asked to stop."""
        if self.reason is not None:
            raise Stopped(self.reason)


class Heartbeat:
    """Renews a lease while the backend runs, and watches for a stop.

    Sets the :class:`Watch` on a cancel request, on the time limit, or when the
    lease was lost. Use as a context manager around the run. With ``beats``
    (a worker's :class:`Heartbeats`) the worker's one heartbeat thread renews
    the lease; without, a thread of its own does, for as long as the run lasts.
    """

    def __init__(
        self,
        db: Database,
        lease: Lease,
        settings: QueueSettings,
        watch: Watch | None = None,
        *,
        beats: Heartbeats | None = None,
    ) -> None:
        self.lease = lease
        self.watch = watch or Watch()
        self._beats = beats if beats is not None else Heartbeats(db, settings, linger=False)

    def __enter__(self) -> Watch:
        self._beats.hold(self.lease, self.watch)
        return self.watch

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._beats.let_go(self.lease)


@dataclass
class _Held:
    lease: Lease
    watch: Watch
    since: float  # time.monotonic() when the run started


class Heartbeats:
    """One thread that renews the leases of every job a worker holds.

    Every ``heartbeat_seconds`` it renews each lease held (:func:`renew`) and
    halts a run whose job was cancelled, whose lease was lost, or that passed
    the time limit. A worker keeps one for its whole life rather than starting
    a thread per job: the thread stops after a whole heartbeat period with
    nothing held (``linger``) and starts again with the next job. Without
    ``linger`` it stops as soon as nothing is held (one run's own heartbeat).
    """

    def __init__(self, db: Database, settings: QueueSettings, *, linger: bool = True) -> None:
        self.db, self.settings, self.linger = db, settings, linger
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()  # look again now (something was let go)
        self._thread: threading.Thread | None = None

    def hold(self, lease: Lease, watch: Watch) -> None:
        """Renew ``lease`` from now on, halting ``watch`` when its run must stop."""
        with self._lock:
            self._held[lease.lease_id] = _Held(lease, watch, time.monotonic())
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._beat, name=f"heartbeat-{lease.job_id}", daemon=True
                )
                self._thread.start()

    def let_go(self, lease: Lease) -> None:
        """Stop renewing ``lease`` (its run ended); without ``linger``, wait for the
        thread to stop once nothing is held."""
        with self._lock:
            self._held.pop(lease.lease_id, None)
            thread = None if self.linger or self._held else self._thread
        if thread is not None:
            self._wake.set()
            thread.join()

    def _beat(self) -> None:
        quiet = False  # the last period ended with nothing held
        while True:
            woke = self._wake.wait(self.settings.heartbeat_seconds)
            with self._lock:
                self._wake.clear()
                held = list(self._held.values())
                if not held and (quiet or not self.linger):
                    self._thread = None
                    return
            quiet = not held
            if not woke:
                for one in held:
                    self._renew(one)

    def _renew(self, held: _Held) -> None:
        try:
            beat = renew(self.db, held.lease, self.settings)
        except Exception:  # a database hiccup: try again at the next beat
            log.warning("heartbeat of %s failed", held.lease.job_id, exc_info=True)
            return
        if not beat.held:
            held.watch.halt("lease_lost")
            with self._lock:  # nothing more to renew for it
                if self._held.get(held.lease.lease_id) is held:
                    del self._held[held.lease.lease_id]
        elif beat.cancel_requested:
            held.watch.halt("cancelled")
        elif time.monotonic() - held.since > self.settings.time_limit_seconds:
            held.watch.halt("time_limit")


def progress_writer(
    db: Database, lease: Lease, watch: Watch, settings: QueueSettings
) -> Callable[[float, str], None]:
    """The backend's progress callback: stops the run when asked, and writes the
    latest fraction and stage to the job at most every ``progress_seconds``.

    A run shorter than that writes none (the job says 1.0 when it is done), so
    quick jobs pay no extra commits for progress nobody could watch.
    """
    last = [time.monotonic()]

    def progress(fraction: float, stage: str) -> None:
        watch.check()
        now = time.monotonic()
        if now - last[0] >= settings.progress_seconds:
            last[0] = now
            report_progress(db, lease, fraction, stage)

    return progress


# --- the reaper --------------------------------------------------------------------


@dataclass(frozen=True)
class LostLease:
    """A running job whose worker stopped renewing its lease."""

    job_id: str
    request_id: str
    run_id: str | None
    owner: str | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    expired_at: datetime


def expired_leases(conn: Connection, *, now: datetime | None = None) -> list[LostLease]:
    """Running jobs whose lease ran out, locked for the caller to deal with."""
    j = jobs.c
    query = select(jobs).where(j.state == "running", j.lease_expires_at < (now or utcnow()))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [
        LostLease(
            job_id=row.id,
            request_id=row.request_id,
            run_id=row.run_id,
            owner=row.lease_owner,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            cancel_requested=row.cancel_requested_at is not None,
            expired_at=row.lease_expires_at,
        )
        for row in conn.execute(query)
    ]


# --- cancelling, priorities, reading --------------------------------------------------


def request_cancel(conn: Connection, job_id: str, by: str) -> None:
    """Ask a running job's worker to stop (it sees this at its next heartbeat)."""
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.cancel_requested_at.is_(None))
        .values(cancel_requested_at=utcnow(), cancel_requested_by=by)
    )


def make_available(conn: Connection, job_id: str) -> None:
    """Let a job waiting out a retry back-off be claimed at once."""
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(available_at=None))


def set_priority(conn: Connection, access: Access, production_id: str, priority: int) -> None:
    """Set a production's queue priority (higher runs first; 0 is the default).

    Producers of the production and admins may; the studio's shows share the
    workers, so this is a scheduling decision, not a creative one.
    """
    get_production(conn, production_id)
    access.require_read(production_id)
    if not access.roles_in(production_id) & {Role.PRODUCER, Role.ADMIN}:
        raise Forbidden(
            "Only the production's producers or an admin set its queue priority.",
            code="queue.not_allowed",
            reason="role",
        )
    by = access.person.id
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise InvalidInput(
            f"A queue priority is a whole number from {MIN_PRIORITY} to {MAX_PRIORITY} "
            f"(higher runs first, 0 is the default), not {priority}.",
            code="queue.bad_priority",
        )
    row = {"production_id": production_id, "priority": priority, "set_by": by, "set_at": utcnow()}
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = make(queue_priorities).values(**row)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[queue_priorities.c.production_id],
            set_={k: statement.excluded[k] for k in ("priority", "set_by", "set_at")},
        )
    )


def get_priority(conn: Connection, production_id: str) -> int:
    """A production's queue priority (0 unless set)."""
    found = conn.execute(
        select(queue_priorities.c.priority).where(queue_priorities.c.production_id == production_id)
    ).scalar()
    return int(found or 0)


def waiting_count(conn: Connection) -> int:
    """How many jobs a worker could run, now or after their back-off."""
    return int(conn.execute(_runnable(select(func.count()))).scalar_one())


# --- statements ----------------------------------------------------------------------
# Built once: every job claims, renews and releases, and building these per call cost
# more than running them.

_j = jobs.c
_PICK = (
    _runnable(
        select(_j.id, _j.request_id, _j.attempts, _j.max_attempts, _j.created_at), priorities=True
    )
    .where(or_(_j.available_at.is_(None), _j.available_at <= bindparam("now")))
    .order_by(func.coalesce(queue_priorities.c.priority, 0).desc(), _j.created_at, _j.id)
    .limit(1)
)
_PICK_SKIP_LOCKED = _PICK.with_for_update(skip_locked=True, of=jobs)
_JOB_OF_REQUEST = (
    select(_j.id, _j.request_id, _j.attempts, _j.max_attempts, _j.state, _j.created_at)
    .where(_j.request_id == bindparam("request"))
    .with_for_update()
)
_TAKE = (
    update(jobs)
    .where(_j.id == bindparam("job"), _j.state == "queued")
    .values(
        state="running",
        attempts=bindparam("attempt"),
        lease_id=bindparam("lease"),
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("expires"),
        run_id=bindparam("run"),
        progress=0.0,
        stage="starting",
        updated_at=bindparam("now"),
    )
)
_ATTACH = update(jobs).where(_j.id == bindparam("job")).values(run_id=bindparam("run"))
_HELD = (
    select(_j.id)
    .where(_j.id == bindparam("job"), _j.lease_id == bindparam("lease"), _j.state == "running")
    .with_for_update()
)
_RENEW = (
    update(jobs)
    .where(_j.id == bindparam("job"), _j.lease_id == bindparam("lease"), _j.state == "running")
    .values(lease_expires_at=bindparam("expires"))
)
_CANCEL_ASKED = select(_j.cancel_requested_at).where(_j.id == bindparam("job"))
_UNLEASED: dict[str, Any] = {
    "state": bindparam("to"),
    "updated_at": bindparam("now"),
    "lease_id": None,
    "lease_owner": None,
    "lease_expires_at": None,
    "run_id": None,
}
_RELEASE = update(jobs).where(_j.id == bindparam("job")).values(**_UNLEASED, stage=bindparam("to"))
_RELEASE_DONE = _RELEASE.values(progress=1.0)
_REQUEUE = (
    update(jobs)
    .where(_j.id == bindparam("job"))
    .values(
        **_UNLEASED,
        available_at=bindparam("available"),
        progress=None,
        stage="waiting to retry",
    )
)
_END = _RELEASE.where(_j.lease_id == bindparam("lease"), _j.state == "running")
_END_DONE = _END.values(progress=1.0)
