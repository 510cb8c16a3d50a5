"""Vendor deliveries: work a vendor made on its own systems enters the lifecycle as a run.

A tool with no backend here (``tools.backend`` NULL) is one whose vendor does
the work elsewhere. Its requests are judged, approved and queued like any
other, but no worker takes them (the queue hands out only jobs with a
backend). The vendor then uploads the outputs with its prompt log
(:class:`VendorLog`: tool, model and version, prompt, parameters, seed,
timings, GPU-seconds, its cost), and :func:`deliver` records them exactly as a
backend's: a run (backend ``vendor-delivery``) is started on the request's job,
the outputs are signed with C2PA and stored by SHA-256 through the same
finishing step as every run (``runs.finish_run``), scanned for likeness, and
the request moves to ``in_review`` (or ``quarantined``). The run's prompt log
holds the vendor's prompt, sealed, and the vendor's cost (``cost_source``
``vendor``); its credentials carry the digest of that prompt.

Who may deliver: the person who asked for the work, a producer (or admin) on
the production, or someone working there for the tool's own vendor (the
``vendor`` role naming that vendor). Everything is checked before anything is
written; a refusal leaves no run, no blob and no ledger entry.
"""

from __future__ import annotations

import dataclasses
import json
import mimetypes
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from greenlight.accounts import Access
from greenlight.backends import BackendOutput, BackendResult
from greenlight.core.clock import utcnow
from greenlight.core.enums import RequestState, Role
from greenlight.core.errors import Conflict, Forbidden, InvalidInput, TooLarge
from greenlight.core.models import RequestDetail, Tool
from greenlight.engine import prompt_log, queue, runs
from greenlight.engine.platform import Platform
from greenlight.engine.queue import Heartbeat, LeaseLost, QueueSettings
from greenlight.engine.requests import load_detail, load_request
from greenlight.provenance import SUPPORTED_SUFFIXES, prompt_digest
from greenlight.rights import get_tool
from greenlight.store.blobs import (
    CHUNK,
    SNIFF_BYTES,
    check_image,
    safe_filename,
    sniff_media_type,
)
from greenlight.store.schema import assets

BACKEND = prompt_log.VENDOR_DELIVERY
MAX_OUTPUTS = 64
MAX_LOG_BYTES = 1 << 20
# A vendor's clock may run a little ahead of ours; beyond this a time is refused.
_CLOCK_SKEW = timedelta(minutes=5)
_USD = Field(default=None, ge=0, le=Decimal("999999.999999"), decimal_places=6)


class VendorLog(BaseModel):
    """What a vendor says it ran: its prompt log for one delivery.

    ``tool_id`` must be the request's tool. ``model`` and ``model_version``
    default to the tool's name and version. ``inputs`` lists the SHA-256 of the
    request's inputs the work was made from (default: all of them). ``kind``
    says whether the outputs alter those inputs (``edited``, the default when
    there are inputs) or were made from nothing (``generated``).
    """

    model_config = ConfigDict(extra="forbid")

    tool_id: str = Field(min_length=1, max_length=64)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    model_version: str | None = Field(default=None, min_length=1, max_length=100)
    prompt: str = Field(max_length=20_000)
    negative_prompt: str | None = Field(default=None, max_length=20_000)
    parameters: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    started_at: AwareDatetime
    finished_at: AwareDatetime
    gpu_seconds: float | None = Field(default=None, ge=0, le=1e9, allow_inf_nan=False)
    cost_usd: Decimal | None = _USD
    usage: dict[str, Any] = Field(default_factory=dict)
    kind: Literal["generated", "edited"] | None = None
    inputs: list[str] | None = Field(default=None, max_length=256)
    worker_host: str | None = Field(default=None, min_length=1, max_length=255)


@dataclass(frozen=True)
class DeliveredFile:
    """One uploaded output: the name and type the vendor gave it, and its bytes."""

    filename: str
    content_type: str | None
    stream: BinaryIO


def parse_log(raw: bytes | str) -> VendorLog:
    """A vendor's prompt log from JSON text; ``vendor_delivery.bad_log`` naming each
    problem when it is not valid JSON or not the shape :class:`VendorLog` describes."""
    if len(raw) > MAX_LOG_BYTES:
        raise InvalidInput(
            f"The prompt log is over {MAX_LOG_BYTES // 1024} KiB; send the log alone, "
            "without embedded files.",
            code="vendor_delivery.bad_log",
        )
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"The prompt log is not valid JSON ({exc}); send a JSON object with tool_id, "
            "prompt, started_at and finished_at at least.",
            code="vendor_delivery.bad_log",
        ) from None
    try:
        return VendorLog.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'log'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(
            f"The prompt log is not as expected: {problems}.",
            code="vendor_delivery.bad_log",
        ) from None


def deliver(
    platform: Platform,
    access: Access,
    request_id: str,
    files: Sequence[DeliveredFile],
    log: VendorLog,
    *,
    settings: QueueSettings | None = None,
) -> RequestDetail:
    """Record a vendor's outputs and prompt log as the run of a queued request.

    Returns the request as it then stands (``in_review``, or ``quarantined``
    when the likeness scan holds an output). Refusals, each before anything is
    written: 404/403 for a request the caller may not see, 403
    ``vendor_delivery.not_allowed`` for someone who may not deliver, 409
    ``vendor_delivery.not_queued`` and ``vendor_delivery.runs_here``, 422
    ``vendor_delivery.wrong_tool``, ``.unknown_input``, ``.bad_timings``,
    ``.no_outputs``, ``.too_many_outputs``, ``.duplicate_name``,
    ``.unsupported_type``, and the upload checks' own codes
    (``upload.type_mismatch``, ``upload.corrupt``...) for a file that is not what
    its name or type says.
    """
    settings = settings or QueueSettings()
    with platform.db.read() as conn:
        request = load_request(conn, request_id)
        tool = get_tool(conn, request.tool_id)
        _check_deliverer(access, request.production_id, request.requested_by, tool)
        _check_request(request.state, tool, log, request_id)
        hashes = [
            conn.execute(select(assets.c.sha256).where(assets.c.id == i.asset_id)).scalar_one()
            for i in request.inputs
        ]
    parents = _parents(log, hashes)
    _check_timings(log)
    if not files:
        raise InvalidInput(
            "Send at least one output file (multipart field 'output').",
            code="vendor_delivery.no_outputs",
        )
    if len(files) > MAX_OUTPUTS:
        raise InvalidInput(
            f"A delivery holds at most {MAX_OUTPUTS} outputs; deliver the rest as another "
            "iteration.",
            code="vendor_delivery.too_many_outputs",
        )
    staging = Path(tempfile.mkdtemp(prefix="delivery-", dir=platform.work_dir))
    try:
        outputs = _stage(platform, files, staging / "out", parents)
        return _record(platform, access, request_id, log, outputs, staging, settings)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def may_deliver(access: Access, production_id: str, requested_by: str, tool: Tool) -> bool:
    """Whether ``access`` may upload a vendor's delivery for a request: its requester,
    a producer or admin on its production, or someone there for the tool's vendor."""
    roles = access.roles_in(production_id)
    if not roles:
        return False
    vendor = access.vendor_of.get(production_id)
    if Role.VENDOR in roles and vendor == tool.vendor_id:
        return True
    if access.vendor_scope(production_id) is not None:
        return False  # someone there only for another vendor
    return requested_by == access.person.id or bool(roles & {Role.PRODUCER, Role.ADMIN})


def _check_deliverer(access: Access, production_id: str, requested_by: str, tool: Tool) -> None:
    access.require_read(production_id)
    if not may_deliver(access, production_id, requested_by, tool):
        raise Forbidden(
            f"Deliveries for {tool.name} come from its vendor's people, the person who asked "
            "for the work, or a producer on the production.",
            code="vendor_delivery.not_allowed",
            production_id=production_id,
            reason="role",
        )


def _check_request(state: RequestState, tool: Tool, log: VendorLog, request_id: str) -> None:
    if tool.backend is not None:
        raise Conflict(
            f"{tool.name} runs on this installation (backend {tool.backend}); its work is "
            "run here, not delivered.",
            code="vendor_delivery.runs_here",
        )
    if state is not RequestState.QUEUED:
        raise Conflict(
            f"Request {request_id} is {state.value}; a vendor delivers only for queued work "
            "(approved and not yet delivered).",
            code="vendor_delivery.not_queued",
            state=state.value,
        )
    if log.tool_id != tool.id:
        raise InvalidInput(
            f"The prompt log names tool {log.tool_id}, but request {request_id} is for "
            f"{tool.name} {tool.version} ({tool.id}); deliver the work made with that tool.",
            code="vendor_delivery.wrong_tool",
        )


def _parents(log: VendorLog, hashes: list[str]) -> tuple[int, ...]:
    """Positions of the request's inputs the work was made from."""
    if log.inputs is None:
        return tuple(range(len(hashes)))
    unknown = sorted(set(log.inputs) - set(hashes))
    if unknown:
        raise InvalidInput(
            f"The prompt log names inputs that are not this request's: {', '.join(unknown)}; "
            "list only the SHA-256 of the request's own inputs.",
            code="vendor_delivery.unknown_input",
        )
    wanted = set(log.inputs)
    return tuple(i for i, sha in enumerate(hashes) if sha in wanted)


def _check_timings(log: VendorLog) -> None:
    if log.finished_at < log.started_at:
        raise InvalidInput(
            "The prompt log's finished_at is before its started_at.",
            code="vendor_delivery.bad_timings",
        )
    if log.finished_at > utcnow() + _CLOCK_SKEW:
        raise InvalidInput(
            "The prompt log's finished_at is in the future; check the vendor's clock and "
            "give times with their UTC offset.",
            code="vendor_delivery.bad_timings",
        )


@dataclass(frozen=True)
class _Staged:
    path: Path
    media_type: str
    parents: tuple[int, ...]


def _stage(
    platform: Platform, files: Sequence[DeliveredFile], into: Path, parents: tuple[int, ...]
) -> list[_Staged]:
    """Copy each output to scratch and check it is what its name and type say."""
    staged = []
    names: set[str] = set()
    for number, delivered in enumerate(files):
        name = safe_filename(delivered.filename)
        if name.casefold() in names:
            raise InvalidInput(
                f"Two outputs are called {name}; give each output its own name.",
                code="vendor_delivery.duplicate_name",
            )
        names.add(name.casefold())
        suffix = Path(name).suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise InvalidInput(
                f"{name}: outputs carry content credentials, which Greenlight attaches to "
                f"{', '.join(SUPPORTED_SUFFIXES)} files; convert it to one of these.",
                code="vendor_delivery.unsupported_type",
            )
        target = into / str(number) / name
        target.parent.mkdir(parents=True)
        _copy(delivered.stream, target, platform.max_upload, name)
        with target.open("rb") as head_file:
            head = head_file.read(SNIFF_BYTES)
        media_type = sniff_media_type(head, delivered.content_type)
        by_name = mimetypes.guess_type(name)[0]
        if by_name is not None:
            # The name must agree with the content too: C2PA goes by the extension.
            sniff_media_type(head, by_name)
        if media_type.startswith("image/") and media_type != "image/x-exr":
            check_image(target)
        staged.append(_Staged(target, media_type, parents))
    return staged


def _copy(stream: BinaryIO, target: Path, limit: int, name: str) -> None:
    written = 0
    with target.open("wb") as out:
        while chunk := stream.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise TooLarge(
                    f"{name} is over the {limit // (1024 * 1024)} MiB upload limit.",
                    code="upload.too_large",
                )
            out.write(chunk)


def _record(
    platform: Platform,
    access: Access,
    request_id: str,
    log: VendorLog,
    outputs: list[_Staged],
    staging: Path,
    settings: QueueSettings,
) -> RequestDetail:
    """Start the run, then finish it through the same step as a backend's run."""
    host = log.worker_host or "vendor"
    owner = f"{host}:delivery/{access.person.id}"
    with platform.db.transaction() as conn:
        try:
            lease = queue.claim_request(conn, request_id, owner, settings)
        except Conflict:  # someone delivered (or cancelled) first
            state = load_request(conn, request_id).state
            raise Conflict(
                f"Request {request_id} is {state.value}; it was delivered or cancelled meanwhile.",
                code="vendor_delivery.not_queued",
                state=state.value,
            ) from None
        started = runs._start(conn, platform, lease, access.person.id, backend=BACKEND)
        prompt_log.record_delivery(
            conn,
            platform,
            started.run_id,
            prompt=log.prompt,
            negative_prompt=log.negative_prompt,
            started_at=log.started_at,
            delivered_by=access.person.id,
        )
    # The credentials carry the digest of the prompt the vendor ran.
    governance = started.governance.model_copy(update={"prompt_sha256": prompt_digest(log.prompt)})
    started = dataclasses.replace(started, governance=governance)
    tool = started.tool
    result = BackendResult(
        outputs=tuple(
            BackendOutput(path=o.path, media_type=o.media_type, parents=o.parents) for o in outputs
        ),
        model=log.model or tool.name,
        model_version=log.model_version or tool.version,
        parameters=dict(log.parameters),
        seed=log.seed,
        usage={
            **log.usage,
            **({"gpu_seconds": log.gpu_seconds} if log.gpu_seconds is not None else {}),
            "worker_host": host,
        },
        duration_ms=int((log.finished_at - log.started_at).total_seconds() * 1000),
        cost_usd=log.cost_usd,
        kind=log.kind or ("edited" if started.inputs else "generated"),
    )
    try:
        with Heartbeat(platform.db, started.lease, settings):
            try:
                inputs = runs._materialize(platform, started.inputs, staging / "in")
                return runs.finish_run(platform, started, inputs, result, staging / "signed")
            except LeaseLost:
                raise
            except Exception as exc:  # recorded like a backend's failure, never left running
                return runs.fail_run(platform, started, exc, settings)
    except LeaseLost:
        with platform.db.read() as conn:
            return load_detail(conn, request_id)
