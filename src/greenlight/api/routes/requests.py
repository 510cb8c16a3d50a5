"""Generation requests: ask for work, approve it, review it, deliver it.

Each POST is one step of a request's life (see DESIGN.md) and answers with the
whole request as it then stands (``RequestDetail``): its policy decision,
approvals, job and runs, outputs, reviews and ledger entries. POSTs that
create work accept an ``Idempotency-Key`` header for safe retries.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greenlight.accounts import Access, api_token_access
from greenlight.api.auth import CurrentAccess, PlatformDep, bearer_token
from greenlight.api.idempotency import (
    HEADER,
    IdempotencyKey,
    OptionalKey,
    model_response,
    once,
)
from greenlight.core.enums import RequestState, Role, Verdict
from greenlight.core.errors import Conflict, Forbidden, GreenlightError
from greenlight.core.models import GenerationRequest, RequestDetail, RequestDraft
from greenlight.engine import progress as progress_of
from greenlight.engine import queue, runs
from greenlight.engine import requests as flow
from greenlight.engine.platform import Platform
from greenlight.engine.runs import run_request
from greenlight.rights import get_tool

log = logging.getLogger("greenlight.api")
router = APIRouter(tags=["requests"])

MAX_PAGE = flow.MAX_PAGE
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page (1 to 200).")]
Cursor = Annotated[
    str | None,
    Query(max_length=64, description="The next_cursor of the previous page; omit for the first."),
]


class RequestPage(BaseModel):
    """One page of requests, newest first; pass ``next_cursor`` to get the next."""

    items: list[GenerationRequest]
    next_cursor: str | None


class ApprovalDraft(BaseModel):
    """A written approval or refusal, in one of the caller's roles."""

    model_config = ConfigDict(extra="forbid")

    approved: bool
    note: str = Field(default="", max_length=5000)
    role: Role | None = Field(
        default=None, description="Approve in this role; default: any role the request waits for."
    )


class ReviewDraft(BaseModel):
    """A reviewer's verdict; rejections and change requests say why in ``note``."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    note: str = Field(default="", max_length=5000)


class DeliveryDraft(BaseModel):
    """Where accepted outputs go (``editorial``, ``vendor:lumen``...)."""

    model_config = ConfigDict(extra="forbid")

    destination: str = Field(min_length=1, max_length=200)
    note: str = Field(default="", max_length=5000)


# --- running ------------------------------------------------------------------

# How often the progress stream looks at the database, and sends a keep-alive.
PROGRESS_EVERY = 0.5
KEEP_ALIVE_EVERY = 15.0


def _runs_here(platform: Platform, detail: RequestDetail) -> bool:
    """Whether a request is queued for a tool this installation runs itself."""
    if detail.request.state is not RequestState.QUEUED:
        return False
    with platform.db.read() as conn:
        return get_tool(conn, detail.request.tool_id).backend is not None


def _run_or_schedule(
    request: Request, platform: Platform, detail: RequestDetail, background: BackgroundTasks
) -> RequestDetail:
    """Queued work waits for a worker (``greenlight serve`` runs one, ``greenlight
    worker`` more); with ``run_inline`` (tests) it runs before the answer."""
    if not request.app.state.run_inline or not _runs_here(platform, detail):
        return detail
    request_id = detail.request.id
    try:
        return run_request(platform, request_id)
    except GreenlightError:
        # Someone else started it first: the request stands as they left it.
        log.warning("inline run of %s refused", request_id, exc_info=True)
        with platform.db.read() as conn:
            return flow.load_detail(conn, request_id)


# --- routes -------------------------------------------------------------------

# A step that records something (a request, an approval, a clearance, a review...).
_RECORDS_A_STEP: dict[str, Any] = {
    "response_model": RequestDetail,
    "status_code": status.HTTP_201_CREATED,
}


def _once_created(
    platform: Platform, access: Access, key: IdempotencyKey | None, step: Callable[[], BaseModel]
) -> Response:
    """Take ``step`` once per idempotency key and answer 201 with what it returns."""
    return once(platform, access.person.id, key, lambda: (status.HTTP_201_CREATED, step()))


async def submit_request(
    draft: RequestDraft,
    request: Request,
    background: BackgroundTasks,
    access: CurrentAccess,
    platform: PlatformDep,
    key: OptionalKey,
) -> Response:
    """Ask for generative work; policy judges it at once.

    The answer's ``request.state`` says what happened: ``denied`` (the decision
    names the rules and reasons), ``awaiting_approval`` (the decision lists the
    roles that must approve) or ``queued``. Queued work for a tool this
    installation runs starts right away; poll GET /requests/{id} until it is
    ``in_review`` (or ``failed``). Vendors may use only their own tools; auditors
    and legal cannot submit (403 ``access.read_only`` / ``access.cannot_submit``).
    """

    def step() -> RequestDetail:
        detail = flow.submit(platform, access, draft)
        return _run_or_schedule(request, platform, detail, background)

    if key is not None:
        return await run_in_threadpool(_once_created, platform, access, key, step)
    # The common case, kept off worker threads: the checks and the policy run
    # here on the event loop (registry reads come from memory), and the commit,
    # batched with other submissions by the committer thread, is awaited.
    submission = flow.prepare(platform, access, draft)
    detail = submission.written(await platform.commits.write_async(submission.unit))
    if detail.request.state is RequestState.QUEUED:
        detail = await run_in_threadpool(_run_or_schedule, request, platform, detail, background)
    return model_response(detail, status.HTTP_201_CREATED)


async def _submit_directly(request: Request) -> Response | None:
    """:func:`submit_request` for its common case, or None to take the general way.

    The common case is a bearer token, a JSON body that is a valid draft and no
    ``Idempotency-Key``: it is authenticated and judged in one read transaction,
    without FastAPI's dependency resolution (a fifth of a submission's time).
    Anything else, and every body FastAPI would refuse, goes the general way,
    which answers exactly as before; a refusal of the token or of the draft
    itself is the same error either way.
    """
    headers = request.headers
    token = bearer_token(request)
    if token is None or headers.get("content-type") != "application/json" or HEADER in headers:
        return None
    try:
        fields = json.loads(await request.body())
    except ValueError:
        return None
    platform: Platform = request.app.state.platform
    with platform.db.read() as conn:
        registry = platform.registry.at(conn)
        access = api_token_access(conn, token, registry)
        try:
            # As FastAPI validates a body: the decoded JSON, in Python mode.
            draft = RequestDraft.model_validate(fields)
        except ValidationError:
            return None
        submission = flow.prepare(platform, access, draft, reading=(conn, registry))
    detail = submission.written(await platform.commits.write_async(submission.unit))
    background = BackgroundTasks()
    if detail.request.state is RequestState.QUEUED:
        detail = await run_in_threadpool(_run_or_schedule, request, platform, detail, background)
    response = model_response(detail, status.HTTP_201_CREATED)
    if background.tasks:
        response.background = background
    return response


class _DirectSubmitRoute(APIRoute):
    """The submit route: its common case directly, anything else through FastAPI.

    The OpenAPI document still comes from :func:`submit_request`'s signature.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler for the route, behind :func:`_submit_directly`."""
        general = super().get_route_handler()

        async def handle(request: Request) -> Response:
            answer = await _submit_directly(request)
            return answer if answer is not None else await general(request)

        return handle


router.add_api_route(
    "/requests",
    submit_request,
    methods=["POST"],
    route_class_override=_DirectSubmitRoute,
    **_RECORDS_A_STEP,
)


@router.get("/requests", response_model=RequestPage)
def requests(
    access: CurrentAccess,
    platform: PlatformDep,
    production_id: Annotated[str | None, Query(max_length=64)] = None,
    state: RequestState | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> RequestPage:
    """Requests the caller may see, newest first, a page at a time.

    Vendors see only requests made with their own tools. Filter by
    ``production_id`` and ``state``; follow ``next_cursor`` until it is null.
    """
    with platform.db.read() as conn:
        items, next_cursor = flow.list_requests(
            conn, access, production_id=production_id, state=state, limit=limit, cursor=cursor
        )
    return RequestPage(items=items, next_cursor=next_cursor)


@router.get("/requests/{request_id}", response_model=RequestDetail)
def request_detail(request_id: str, access: CurrentAccess, platform: PlatformDep) -> RequestDetail:
    """A request with its decision, approvals, job and runs, outputs, reviews and ledger
    entries. Another vendor's request is 403 ``access.other_vendor``."""
    with platform.db.read() as conn:
        return flow.get_request(conn, access, request_id)


@router.post("/requests/{request_id}/approvals", **_RECORDS_A_STEP)
def approve(
    request_id: str,
    body: ApprovalDraft,
    request: Request,
    background: BackgroundTasks,
    access: CurrentAccess,
    platform: PlatformDep,
    key: OptionalKey,
) -> Response:
    """Approve (or refuse) a request that is ``awaiting_approval``.

    Only someone holding a role the decision names may approve (403
    ``approval.wrong_role`` otherwise), never the person who asked. When every
    requirement is met the request is queued (and runs, as after submitting);
    one refusal denies it.
    """

    def step() -> RequestDetail:
        detail = flow.approve(
            platform, access, request_id, approved=body.approved, note=body.note, role=body.role
        )
        return _run_or_schedule(request, platform, detail, background)

    return _once_created(platform, access, key, step)


class ClearanceDraft(BaseModel):
    """Legal's written reason for releasing quarantined outputs to review."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=5000)


@router.post("/requests/{request_id}/clearance", **_RECORDS_A_STEP)
def clear(
    request_id: str,
    body: ClearanceDraft,
    access: CurrentAccess,
    platform: PlatformDep,
    key: OptionalKey,
) -> Response:
    """Legal releases a ``quarantined`` request's outputs to ``in_review``, with a note.

    Outputs are quarantined when they show a performer without covering consent
    or when a consent they relied on was revoked. Only the production's legal
    team clears them (403 ``clearance.not_legal``); another state is 409.
    """

    return _once_created(
        platform, access, key, lambda: flow.clear(platform, access, request_id, body.note)
    )


@router.post("/requests/{request_id}/reviews", **_RECORDS_A_STEP)
def review(
    request_id: str,
    body: ReviewDraft,
    access: CurrentAccess,
    platform: PlatformDep,
    key: OptionalKey,
) -> Response:
    """Accept, reject or ask for changes on a request that is ``in_review``.

    Any reviewing role may review; accepting a final deliverable takes the
    showrunner or director. Anything but ``accept`` needs a note. A request in
    another state is 409.
    """

    return _once_created(
        platform,
        access,
        key,
        lambda: flow.review(platform, access, request_id, body.verdict, body.note),
    )


@router.post("/requests/{request_id}/deliveries", **_RECORDS_A_STEP)
def deliver(
    request_id: str,
    body: DeliveryDraft,
    access: CurrentAccess,
    platform: PlatformDep,
    key: OptionalKey,
) -> Response:
    """Send an ``accepted`` request's outputs on, with their credentials and proofs."""

    return _once_created(
        platform,
        access,
        key,
        lambda: flow.deliver(platform, access, request_id, body.destination, body.note),
    )


@router.post(
    "/requests/{request_id}/run",
    response_model=RequestDetail,
    responses={202: {"model": RequestDetail, "description": "Next in line for a worker"}},
)
def run(
    request_id: str,
    request: Request,
    access: CurrentAccess,
    platform: PlatformDep,
) -> Response | RequestDetail:
    """Hurry a ``queued`` request's job (admins and reviewing roles).

    For work waiting out a retry back-off: it becomes claimable at once and
    the answer is 202 (follow ``GET /requests/{id}/progress``). When the server
    runs work inline (tests) it runs before the answer, 200.
    A request that is not queued is 409 ``run.not_queued``; a tool its vendor
    runs is 409 ``run.no_backend``.
    """
    with platform.db.read() as conn:
        detail = flow.get_request(conn, access, request_id)
        tool = get_tool(conn, detail.request.tool_id)
    _require_runner(access, detail.request.production_id)
    if detail.request.state is not RequestState.QUEUED:
        raise Conflict(
            f"Request {request_id} is {detail.request.state.value}; only queued work runs.",
            code="run.not_queued",
            state=detail.request.state.value,
        )
    if tool.backend is None:
        raise Conflict(
            f"{tool.name} has no backend on this installation: its vendor delivers the work.",
            code="run.no_backend",
        )
    if request.app.state.run_inline:
        return run_request(platform, request_id, actor=access.person.id)
    with platform.db.transaction() as conn:
        if detail.job is not None:
            queue.make_available(conn, detail.job.id)  # no back-off wait: next in line
    return model_response(detail, status.HTTP_202_ACCEPTED)


@router.post(
    "/requests/{request_id}/cancel",
    response_model=RequestDetail,
    responses={202: {"model": RequestDetail, "description": "Asked to stop; still running"}},
)
def cancel(request_id: str, access: CurrentAccess, platform: PlatformDep) -> Response:
    """Cancel a ``queued`` or ``running`` request (its requester, a producer or an admin).

    Queued work is ``cancelled`` at once (200). Running work is asked to stop
    (202): its worker sees that at its next heartbeat, stops the backend,
    discards what it made and records ``cancelled``; follow it on
    ``GET /requests/{id}/progress``. Other states are 409 ``cancel.not_cancellable``.
    """
    detail = runs.cancel(platform, access, request_id)
    code = status.HTTP_200_OK
    if detail.request.state is RequestState.RUNNING:
        code = status.HTTP_202_ACCEPTED
    return model_response(detail, code)


@router.get(
    "/requests/{request_id}/progress",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}},
)
async def progress(request_id: str, access: CurrentAccess, platform: PlatformDep) -> Response:
    """A request's progress as server-sent events, until it leaves queued and running.

    Each ``progress`` event's data is JSON: ``state``, ``job_state``, ``attempt``,
    ``progress`` (0 to 1 or null), ``stage`` and ``cancel_requested``. The first
    event says where it stands now; one follows each change; the stream ends
    with an ``end`` event once the request is neither queued nor running.
    """
    first = await run_in_threadpool(progress_of.first_look, platform, access, request_id)
    return StreamingResponse(
        _progress_events(platform, first),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _progress_events(
    platform: Platform, first: progress_of.ProgressUpdate
) -> AsyncIterator[str]:
    def look() -> progress_of.ProgressUpdate:
        with platform.db.read() as conn:
            return progress_of.read_progress(conn, first.request_id)

    last, quiet = first, 0.0
    yield _event("progress", last)
    while last.moving:
        await asyncio.sleep(PROGRESS_EVERY)
        now = await run_in_threadpool(look)
        if now != last:
            yield _event("progress", now)
            last, quiet = now, 0.0
        else:
            quiet += PROGRESS_EVERY
            if quiet >= KEEP_ALIVE_EVERY:  # a comment line keeps proxies from closing it
                yield ": still here\n\n"
                quiet = 0.0
    yield _event("end", last)


def _event(name: str, update: progress_of.ProgressUpdate) -> str:
    return f"event: {name}\ndata: {json.dumps(update.to_json())}\n\n"


class QueuePriority(BaseModel):
    """A production's place in the shared job queue: higher runs first, 0 by default."""

    model_config = ConfigDict(extra="forbid")

    priority: int = Field(ge=queue.MIN_PRIORITY, le=queue.MAX_PRIORITY)


@router.get("/productions/{production_id}/queue-priority", response_model=QueuePriority)
def queue_priority(
    production_id: str, access: CurrentAccess, platform: PlatformDep
) -> QueuePriority:
    """A production's queue priority (anyone on the production may read it)."""
    access.require_read(production_id)
    with platform.db.read() as conn:
        return QueuePriority(priority=queue.get_priority(conn, production_id))


@router.put("/productions/{production_id}/queue-priority", response_model=QueuePriority)
def set_queue_priority(
    production_id: str, body: QueuePriority, access: CurrentAccess, platform: PlatformDep
) -> QueuePriority:
    """Set a production's queue priority (its producers or an admin; 403 otherwise).

    The studio's productions share the workers: jobs of a higher-priority
    production are claimed first, ties by age. Takes effect for jobs already queued.
    """
    with platform.db.transaction() as conn:
        queue.set_priority(conn, access, production_id, body.priority)
    return body


def _require_runner(access: Access, production_id: str) -> None:
    if access.review_roles(production_id) or Role.ADMIN in access.roles_in(production_id):
        return
    raise Forbidden(
        "Running work by hand takes an admin or a reviewing role on this production.",
        code="run.not_allowed",
        production_id=production_id,
        reason="role",
    )


@router.get("/review-queue", response_model=RequestPage)
def review_queue(
    access: CurrentAccess, platform: PlatformDep, limit: Limit = 50, cursor: Cursor = None
) -> RequestPage:
    """Requests ``in_review`` on productions where the caller holds a reviewing role,
    newest first, a page at a time."""
    found: list[GenerationRequest] = []
    with platform.db.read() as conn:
        while True:
            page, cursor = flow.list_requests(
                conn, access, state=RequestState.IN_REVIEW, limit=MAX_PAGE, cursor=cursor
            )
            found.extend(r for r in page if access.review_roles(r.production_id))
            if len(found) > limit or cursor is None:
                break
    more = len(found) > limit
    return RequestPage(items=found[:limit], next_cursor=found[limit - 1].id if more else None)
