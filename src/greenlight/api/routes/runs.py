"""Runs: a request's prompt log (JSON or OTLP traces), vendor deliveries, tools' rate cards.

The prompt log of a request is readable by whoever may see the request, with
its prompts; the OTLP form (``?format=otlp``) is an OTLP/JSON ``TracesData``
document any OpenTelemetry collector's file receiver or OTLP/HTTP endpoint
accepts. A vendor delivers work it made on its own systems with a multipart
POST: the outputs (repeated field ``output``) and its prompt log (field
``log``, JSON).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

import greenlight
from greenlight.api.auth import CurrentAccess, PlatformDep
from greenlight.api.idempotency import model_response
from greenlight.api.limits import multipart_body
from greenlight.core.errors import InvalidInput, NotFound
from greenlight.core.models import RequestDetail
from greenlight.engine import otlp
from greenlight.engine.prompt_log import RequestPromptLog, request_prompt_log
from greenlight.engine.rate_cards import RateCard, RateCardDraft, get_rate_card, set_rate_card
from greenlight.engine.vendor_delivery import MAX_OUTPUTS, DeliveredFile, deliver, parse_log
from greenlight.rights import get_tool

router = APIRouter(tags=["runs"])


@router.get(
    "/requests/{request_id}/prompt-log",
    response_model=RequestPromptLog,
    responses={
        200: {
            "content": {"application/json": {}},
            "description": "The prompt log (format=json) or OTLP/JSON traces (format=otlp)",
        }
    },
)
def prompt_log(
    request_id: str,
    access: CurrentAccess,
    platform: PlatformDep,
    format_: Annotated[
        Literal["json", "otlp"],
        Query(
            alias="format",
            description="json: the prompt log; otlp: OTLP/JSON traces, one span per run.",
        ),
    ] = "json",
) -> Response:
    """Every run of a request: tool, model and version, backend, prompt and negative
    prompt, parameters, seed, input and output hashes, queue wait, run time,
    GPU-seconds, cost and its source (``vendor``, ``rate_card`` or ``backend``),
    worker host. 404/403 for a request the caller may not see."""
    with platform.db.read() as conn:
        found = request_prompt_log(conn, platform, access, request_id)
    if format_ == "otlp":
        document = otlp.traces(found.runs, service_version=greenlight.__version__)
        return JSONResponse(document)
    return model_response(found, status.HTTP_200_OK)


def _delivery_body() -> dict[str, Any]:
    return multipart_body(
        {
            "output": {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "description": f"The outputs (1 to {MAX_OUTPUTS} files).",
            },
            "log": {
                "type": "string",
                "description": "The vendor's prompt log, JSON (VendorLog).",
            },
        }
    )


@router.post(
    "/requests/{request_id}/vendor-deliveries",
    response_model=RequestDetail,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_delivery_body(),
)
async def vendor_delivery(
    request_id: str, request: Request, access: CurrentAccess, platform: PlatformDep
) -> Response:
    """Deliver a vendor's outputs and prompt log for a ``queued`` request whose tool
    the vendor runs itself (its ``backend`` is null).

    The log (``tool_id``, ``model``, ``model_version``, ``prompt``,
    ``negative_prompt``, ``parameters``, ``seed``, ``started_at``,
    ``finished_at``, ``gpu_seconds``, ``cost_usd``, ``usage``, ``kind``,
    ``inputs``, ``worker_host``) must name the request's tool. The outputs are
    checked, signed and stored like a backend's and the request moves to
    ``in_review`` (201 with the request). Who may deliver: the tool's vendor's
    people, the requester or a producer. Refused with nothing written:
    ``vendor_delivery.not_allowed`` (403), ``.not_queued``, ``.runs_here`` (409),
    ``.bad_log``, ``.wrong_tool``, ``.bad_timings``, ``.unknown_input``,
    ``.no_outputs``, ``.duplicate_name``, ``.unsupported_type`` and the upload
    checks' ``upload.*`` codes (422). Retrying a delivery that went through is 409
    ``vendor_delivery.not_queued``.
    """
    form = await request.form(max_files=MAX_OUTPUTS + 1, max_fields=1)
    try:
        files = [
            DeliveredFile(part.filename or "", part.content_type, part.file)
            for part in form.getlist("output")
            if isinstance(part, UploadFile)
        ]
        if len(files) != len(form.getlist("output")):
            raise InvalidInput(
                "Send each output as a file in the multipart field 'output'.",
                code="vendor_delivery.no_outputs",
            )
        log = await _log_field(form.get("log"))

        def work() -> RequestDetail:
            return deliver(platform, access, request_id, files, log)

        detail = await run_in_threadpool(work)
        return model_response(detail, status.HTTP_201_CREATED)
    finally:
        await form.close()


async def _log_field(value: Any) -> Any:
    """The ``log`` field, sent as text or as a JSON file, parsed."""
    if isinstance(value, UploadFile):
        raw: bytes | str = await value.read()
    elif isinstance(value, str):
        raw = value
    else:
        raise InvalidInput(
            "Send the vendor's prompt log as JSON in the multipart field 'log'.",
            code="vendor_delivery.bad_log",
        )
    return parse_log(raw)


@router.get("/tools/{tool_id}/rate-card", response_model=RateCard)
def rate_card(tool_id: str, access: CurrentAccess, platform: PlatformDep) -> RateCard:
    """What a tool costs per run, per output and per GPU-second (USD); 404
    ``rate_card.none`` when no price was agreed. A vendor's people see only their
    own vendor's tools' prices."""
    with platform.db.read() as conn:
        tool = get_tool(conn, tool_id)
        access.require_vendor_visible(tool.vendor_id)
        found = get_rate_card(conn, tool_id)
    if found is None:
        raise NotFound(
            f"No rate card is recorded for {tool.name} {tool.version}; runs of it are priced "
            "by what the vendor reports, if anything.",
            code="rate_card.none",
        )
    return found


@router.put("/tools/{tool_id}/rate-card", response_model=RateCard)
def put_rate_card(
    tool_id: str, body: RateCardDraft, access: CurrentAccess, platform: PlatformDep
) -> RateCard:
    """Record or replace a tool's rate card (legal or a platform admin). Runs that
    finish afterwards are priced with it; runs already recorded keep their cost."""
    with platform.db.transaction() as conn:
        return set_rate_card(conn, access, tool_id, body)
