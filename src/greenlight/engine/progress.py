"""A request's progress as it waits and runs: what the SSE stream and the CLI show.

One small read per look (the request's state, its job's attempt, progress
fraction and stage), so following a request costs the database little.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, select

from greenlight.accounts import Access
from greenlight.core.enums import RequestState
from greenlight.core.errors import NotFound
from greenlight.engine.platform import Platform
from greenlight.engine.requests import get_request
from greenlight.store.schema import generation_requests, jobs

# While a request is in one of these, there is more progress to come.
MOVING = frozenset({RequestState.QUEUED.value, RequestState.RUNNING.value})


@dataclass(frozen=True)
class ProgressUpdate:
    """Where a request stands: its state, and its job's attempt, fraction and stage."""

    request_id: str
    state: str
    job_state: str | None
    attempt: int
    progress: float | None
    stage: str | None
    cancel_requested: bool

    @property
    def moving(self) -> bool:
        """Whether the request is still queued or running."""
        return self.state in MOVING

    def to_json(self) -> dict[str, Any]:
        """The update as JSON (the SSE event's data)."""
        return asdict(self)


def read_progress(conn: Connection, request_id: str) -> ProgressUpdate:
    """The request's progress now (no access check: see :func:`follow`)."""
    row = conn.execute(
        select(
            generation_requests.c.state,
            jobs.c.state.label("job_state"),
            jobs.c.attempts,
            jobs.c.progress,
            jobs.c.stage,
            jobs.c.cancel_requested_at,
        )
        .select_from(generation_requests.outerjoin(jobs, jobs.c.request_id == request_id))
        .where(generation_requests.c.id == request_id)
    ).first()
    if row is None:
        raise NotFound(f"There is no request {request_id!r}.", code="request.not_found")
    return ProgressUpdate(
        request_id=request_id,
        state=row.state,
        job_state=row.job_state,
        attempt=int(row.attempts or 0),
        progress=row.progress,
        stage=row.stage,
        cancel_requested=row.cancel_requested_at is not None,
    )


def first_look(platform: Platform, access: Access, request_id: str) -> ProgressUpdate:
    """The request's progress, if the caller may see the request (else 403/404)."""
    with platform.db.read() as conn:
        get_request(conn, access, request_id)
        return read_progress(conn, request_id)


def follow(
    platform: Platform,
    access: Access,
    request_id: str,
    *,
    every: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[ProgressUpdate]:
    """Each change in a request's progress, from now until it is neither queued nor
    running (the last update says where it ended)."""
    last = first_look(platform, access, request_id)
    yield last
    while last.moving:
        sleep(every)
        with platform.db.read() as conn:
            now = read_progress(conn, request_id)
        if now != last:
            yield now
        last = now
