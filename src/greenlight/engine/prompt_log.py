"""The prompt log: what every run was asked, ran on, took, cost and produced.

A run's record is its ``runs`` row (backend, model and version, effective
parameters, seed, start, end, duration, usage, cost, error) completed by its
``prompt_logs`` row: the tool, the prompt and negative prompt sealed at rest
(``prompt_key``) with their SHA-256 (the digest the content credentials carry),
the input hashes, when the job was queued, GPU-seconds, where the cost came from
and the worker host. Output hashes are the run's signed assets.

The engine writes it in two steps, inside the transactions that start and end
the run: :func:`record_start` and :func:`record_finish` (or
:func:`record_failure`). Readers get :class:`PromptLogEntry` records through
:func:`request_prompt_log` and :func:`production_prompt_log`; the prompt texts
are opened only for someone who may see the request, and
:mod:`greenlight.engine.otlp` turns entries into OTLP/JSON traces.

Cost, and where it came from (``cost_source``): what the vendor reports (the
bill of a vendor's service a remote backend called, or a vendor's delivery log)
is ``vendor``; otherwise the tool's rate card prices the run (``rate_card``);
without one, a backend's own figure for work on our machines (usually 0) is
``backend``; with none of these the cost is unknown (null). A failed run is
priced by the rate card too (per run and GPU-seconds; it made no outputs),
since the compute was spent.

GPU-seconds: the backend's ``usage["gpu_seconds"]`` when it reports it; else
the run's duration when it ran on a GPU (the backend's capabilities say it
needs one, or ``usage["device"]`` names a CUDA device); else 0.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, bindparam, func, insert, select, update

from greenlight.accounts import Access
from greenlight.backends import BackendResult
from greenlight.backends.base import Capabilities
from greenlight.core.clock import utcnow
from greenlight.core.errors import GreenlightError, InvalidInput
from greenlight.core.models import Asset, GenerationRequest, Tool
from greenlight.engine.platform import Platform
from greenlight.engine.prompt_key import prompt_key
from greenlight.engine.rate_cards import get_rate_card
from greenlight.engine.requests import get_request
from greenlight.provenance import prompt_digest
from greenlight.store.schema import (
    assets,
    generation_requests,
    jobs,
    prompt_logs,
    runs,
    tools,
    vendors,
)

CostSource = Literal["vendor", "rate_card", "backend"]
RunStatus = Literal["running", "succeeded", "failed"]

# The backend name of runs whose outputs a vendor delivered (engine/vendor_delivery.py).
VENDOR_DELIVERY = "vendor-delivery"
# Where backends that take one carry a negative prompt among their parameters.
NEGATIVE_PROMPT = "negative_prompt"
_MS = Decimal(1000)
# A cost the run row is not known to hold already (see _settle).
_UNWRITTEN = object()


# --- the record ------------------------------------------------------------------


class ToolRef(BaseModel):
    """The tool a run was for: id, name, version and its vendor."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    version: str
    vendor_id: str
    vendor: str


class InputHash(BaseModel):
    """An input the run was given: its SHA-256 and its part (``plate``, ``mask``...)."""

    model_config = ConfigDict(frozen=True)

    sha256: str
    part: str


class OutputHash(BaseModel):
    """A signed output the run made."""

    model_config = ConfigDict(frozen=True)

    asset_id: str
    sha256: str
    media_type: str


class PromptLogEntry(BaseModel):
    """One run's prompt log.

    ``prompt`` and ``negative_prompt`` are null when the reader may not see them
    (or the export leaves them out); their SHA-256 are always there. Timings are
    UTC; ``queue_wait_ms`` runs from the job being queued to the run starting.
    ``cost_source`` says where ``cost_usd`` came from: ``vendor``, ``rate_card`` or
    ``backend``.
    """

    model_config = ConfigDict(frozen=True)

    run_id: str
    request_id: str
    production_id: str
    job_id: str
    status: RunStatus
    tool: ToolRef
    backend: str
    model: str
    model_version: str
    prompt: str | None
    prompt_sha256: str | None
    negative_prompt: str | None
    negative_prompt_sha256: str | None
    parameters: dict[str, Any]
    seed: int | None
    inputs: tuple[InputHash, ...]
    outputs: tuple[OutputHash, ...]
    queued_at: datetime | None
    started_at: datetime
    finished_at: datetime | None
    queue_wait_ms: int | None
    run_ms: int | None
    gpu_seconds: Decimal | None
    cost_usd: Decimal | None
    cost_source: CostSource | None
    usage: dict[str, Any]
    worker_host: str | None
    delivered_by: str | None
    error: str | None


class RequestPromptLog(BaseModel):
    """Every run of one request, oldest first."""

    request_id: str
    runs: list[PromptLogEntry]


@dataclass(frozen=True)
class Priced:
    """What :func:`record_finish` settled: the run's cost, its source and GPU time."""

    cost_usd: Decimal | None
    cost_source: CostSource | None
    gpu_seconds: Decimal


@dataclass(frozen=True)
class RunOpened:
    """A run as the step that started it wrote it: what :func:`record_finish` would
    otherwise read back."""

    backend: str
    started_at: datetime
    tool_id: str


# --- writing ---------------------------------------------------------------------


def record_start(
    conn: Connection,
    platform: Platform,
    *,
    run_id: str,
    request: GenerationRequest,
    tool: Tool,
    job_id: str,
    inputs: Sequence[tuple[Asset, str]],
    prompt: str | None = None,
    negative_prompt: str | None = None,
    delivered_by: str | None = None,
    queued_at: datetime | None = None,
) -> None:
    """Open the run's prompt log (in the transaction that inserts the run).

    ``prompt`` defaults to the request's and ``negative_prompt`` to its
    ``negative_prompt`` parameter; a vendor's delivery gives its own.
    ``queued_at``, when the caller knows it (a first attempt: the job's
    creation), saves looking it up.
    """
    text = request.prompt if prompt is None else prompt
    if negative_prompt is None:
        given = request.parameters.get(NEGATIVE_PROMPT)
        negative_prompt = given if isinstance(given, str) and given else None
    conn.execute(
        _INSERT_LOG,
        {
            "run_id": run_id,
            "tool_id": tool.id,
            **_sealed(platform, run_id, text, negative_prompt),
            "inputs": [{"sha256": asset.sha256, "part": part} for asset, part in inputs],
            "queued_at": queued_at if queued_at is not None else _queued_at(conn, job_id),
            "delivered_by": delivered_by,
        },
    )


def _sealed(
    platform: Platform, run_id: str, prompt: str, negative_prompt: str | None
) -> dict[str, Any]:
    """The prompt log's columns for a run's prompt and negative prompt: sealed, and hashed."""
    key = prompt_key(platform.settings.keys_dir)
    return {
        "key_id": key.key_id,
        "prompt_sealed": key.seal(prompt, run_id=run_id, field="prompt"),
        "prompt_sha256": prompt_digest(prompt),
        "negative_prompt_sealed": (
            None
            if negative_prompt is None
            else key.seal(negative_prompt, run_id=run_id, field="negative_prompt")
        ),
        "negative_prompt_sha256": (
            None if negative_prompt is None else prompt_digest(negative_prompt)
        ),
    }


def _queued_at(conn: Connection, job_id: str) -> datetime | None:
    """When the job last entered the queue: its creation, or the end of its previous
    run when this run is a retry (the run being started has no end yet)."""
    created: datetime | None = conn.execute(
        select(jobs.c.created_at).where(jobs.c.id == job_id)
    ).scalar()
    retried: datetime | None = conn.execute(
        select(func.max(runs.c.finished_at)).where(runs.c.job_id == job_id)
    ).scalar()
    if created is None or retried is None:
        return created
    return max(created, retried)


def record_delivery(
    conn: Connection,
    platform: Platform,
    run_id: str,
    *,
    prompt: str,
    negative_prompt: str | None,
    started_at: datetime,
    delivered_by: str,
) -> None:
    """Make a just-started run's log a vendor's: the prompt it ran, who uploaded it,
    and when the vendor's own run started (in the transaction that started it)."""
    conn.execute(
        update(prompt_logs)
        .where(prompt_logs.c.run_id == run_id)
        .values(**_sealed(platform, run_id, prompt, negative_prompt), delivered_by=delivered_by)
    )
    conn.execute(update(runs).where(runs.c.id == run_id).values(started_at=started_at))


def record_finish(
    conn: Connection,
    platform: Platform,
    run_id: str,
    result: BackendResult,
    *,
    outputs: int,
    worker: str | None = None,
    vendor_reported: bool | None = None,
    opened: RunOpened | None = None,
    closed_with_result_cost: bool = False,
) -> Priced:
    """Close a successful run's prompt log: GPU-seconds, cost and its source, worker
    host; the run's ``cost_usd`` is set to the cost settled here. Call it in the
    transaction that records the outputs, after the run row is closed.
    ``closed_with_result_cost``: the run row was closed with ``result.cost_usd`` as its
    cost, so it is written again only when the settled cost differs.

    ``worker`` is the lease holder (``host:pid/label``); a backend that ran on
    another machine (a Ray node) names it in ``usage["worker_host"]``. The cost
    in ``result`` is the vendor's when the backend calls a vendor's service
    (its capabilities say ``remote``) or ``vendor_reported`` says so (a delivery).
    ``opened`` is the run as its start wrote it, when the caller has it at hand.
    """
    if opened is None or opened.backend == VENDOR_DELIVERY:
        # A delivery's start is the vendor's own (record_delivery), set after it opened.
        run: Any = conn.execute(_RUN_OPENED, {"run": run_id}).one()
    else:
        run = opened
    gpu = gpu_seconds(platform, run.backend, result.usage, result.duration_ms)
    remote = result.usage.get("worker_host")
    host = remote if isinstance(remote, str) and remote else worker_host(worker)
    if run.backend == VENDOR_DELIVERY:
        # The vendor's log gives its own timings and bill; the run ends when theirs did.
        vendor_reported = True
        ended = run.started_at + timedelta(milliseconds=result.duration_ms)
        conn.execute(update(runs).where(runs.c.id == run_id).values(finished_at=ended))
    if vendor_reported is None:
        # A remote backend's figure is the vendor's bill unless it says it priced the
        # run itself (openai-images: usage["cost_basis"] "tokens" or "per_image").
        capabilities = _capabilities(platform, run.backend)
        basis = result.usage.get("cost_basis")
        vendor_reported = (
            capabilities is not None and capabilities.remote and basis in (None, "reported")
        )
    return _settle(
        conn,
        run_id,
        gpu,
        outputs,
        result.cost_usd,
        vendor_reported,
        host,
        tool_id=opened.tool_id if opened else None,
        on_run=result.cost_usd if closed_with_result_cost else _UNWRITTEN,
    )


def record_failure(
    conn: Connection, platform: Platform, run_id: str, *, worker: str | None = None
) -> Priced:
    """Close a failed run's prompt log (in the transaction that records the failure)."""
    run = conn.execute(_RUN_OPENED, {"run": run_id}).one()
    elapsed = int((utcnow() - run.started_at).total_seconds() * 1000)
    gpu = gpu_seconds(platform, run.backend, {}, elapsed)
    return _settle(conn, run_id, gpu, 0, None, False, worker_host(worker))


def worker_host(worker: str | None) -> str:
    """The host part of a worker's name (``host:pid/label``); this host without one."""
    host = (worker or "").split(":", 1)[0].strip()
    return host or socket.gethostname()


def _settle(
    conn: Connection,
    run_id: str,
    gpu: Decimal,
    outputs: int,
    reported: Decimal | None,
    vendor_reported: bool,
    host: str,
    *,
    tool_id: str | None = None,
    on_run: object = _UNWRITTEN,
) -> Priced:
    """Price the run: the vendor's bill, else the rate card, else the backend's own
    figure for a run on our machines; record it with its source. ``tool_id``, the
    prompt log's, is read unless given; ``on_run``, the cost the run row already
    has, is not written again."""
    if tool_id is None:
        tool_id = conn.execute(_LOG_TOOL, {"run": run_id}).scalar()
    cost, source = _price(conn, tool_id, gpu, outputs, reported, vendor_reported)
    if tool_id is None:  # a run from before the prompt log: leave it as it was
        return Priced(cost, source, gpu)
    conn.execute(
        _SETTLE_LOG,
        {"run": run_id, "gpu_seconds": gpu, "cost_source": source, "worker_host": host[:255]},
    )
    if on_run is _UNWRITTEN or on_run != cost:
        conn.execute(_SETTLE_RUN, {"run": run_id, "cost_usd": cost})
    return Priced(cost, source, gpu)


def _price(
    conn: Connection,
    tool_id: str | None,
    gpu: Decimal,
    outputs: int,
    reported: Decimal | None,
    vendor_reported: bool,
) -> tuple[Decimal | None, CostSource | None]:
    if reported is not None and vendor_reported:
        return reported, "vendor"
    card = get_rate_card(conn, tool_id) if tool_id is not None else None
    if card is not None:
        return card.price(outputs=outputs, gpu_seconds=gpu), "rate_card"
    if reported is not None:
        return reported, "backend"
    return None, None


def _capabilities(platform: Platform, backend: str) -> Capabilities | None:
    try:
        found = platform.backends(backend)
    except GreenlightError:  # not a backend here (a vendor's delivery)
        return None
    capabilities = getattr(found, "capabilities", None)  # a wrapper may not declare them
    return capabilities if isinstance(capabilities, Capabilities) else None


def gpu_seconds(
    platform: Platform, backend: str, usage: Mapping[str, Any], duration_ms: int | None
) -> Decimal:
    """GPU time a run used: reported in ``usage``, else its duration on a GPU, else 0."""
    reported = usage.get("gpu_seconds")
    if isinstance(reported, int | float | Decimal) and not isinstance(reported, bool):
        value = Decimal(str(reported))
        if value.is_finite() and value >= 0:
            return value.quantize(Decimal("0.001"))
    device = usage.get("device")
    on_gpu = isinstance(device, str) and device.startswith("cuda")
    if not on_gpu:
        capabilities = _capabilities(platform, backend)
        on_gpu = capabilities is not None and capabilities.needs_gpu
    if not on_gpu or not duration_ms:
        return Decimal("0.000")
    return (Decimal(duration_ms) / _MS).quantize(Decimal("0.001"))


# --- reading ---------------------------------------------------------------------


def request_prompt_log(
    conn: Connection, platform: Platform, access: Access, request_id: str
) -> RequestPromptLog:
    """The prompt log of every run of a request the caller may see (with the prompts:
    whoever may see the request may see what it asked)."""
    get_request(conn, access, request_id)  # NotFound / Forbidden, vendors' scope included
    query = _entries().where(jobs.c.request_id == request_id)
    return RequestPromptLog(
        request_id=request_id,
        runs=_read(conn, platform, query, access, with_prompts=True),
    )


def production_prompt_log(
    conn: Connection,
    platform: Platform,
    access: Access,
    *,
    production_id: str | None = None,
    since: datetime | None = None,
    with_prompts: bool = True,
) -> list[PromptLogEntry]:
    """Finished runs (oldest first) on one production or every production the caller
    may see, started at or after ``since``; runs of requests the caller may not see
    are left out. ``with_prompts=False`` leaves every prompt text out (digests stay)."""
    query = _entries().where(runs.c.finished_at.is_not(None))
    if production_id is not None:
        access.require_read(production_id)
        query = query.where(generation_requests.c.production_id == production_id)
    if since is not None:
        if since.tzinfo is None:
            raise InvalidInput(
                "Give --since with a time zone, e.g. 2026-11-01T00:00:00Z.",
                code="prompt_log.naive_since",
            )
        query = query.where(runs.c.started_at >= since)
    return _read(conn, platform, query, access, with_prompts=with_prompts)


def may_read(access: Access, production_id: str, tool_vendor_id: str) -> bool:
    """Whether ``access`` may see a request (and so its prompt): a role on its
    production, and for a vendor's people, a request made with their own tools."""
    if not access.can_read(production_id):
        return False
    vendor = access.vendor_scope(production_id)
    return vendor is None or vendor == tool_vendor_id


def _entries() -> Any:
    return (
        select(
            runs,
            jobs.c.request_id,
            generation_requests.c.production_id,
            generation_requests.c.tool_id.label("request_tool_id"),
            prompt_logs.c.tool_id.label("log_tool_id"),
            prompt_logs.c.key_id,
            prompt_logs.c.prompt_sealed,
            prompt_logs.c.prompt_sha256,
            prompt_logs.c.negative_prompt_sealed,
            prompt_logs.c.negative_prompt_sha256,
            prompt_logs.c.inputs,
            prompt_logs.c.queued_at,
            prompt_logs.c.gpu_seconds,
            prompt_logs.c.cost_source,
            prompt_logs.c.worker_host,
            prompt_logs.c.delivered_by,
        )
        .join(jobs, jobs.c.id == runs.c.job_id)
        .join(generation_requests, generation_requests.c.id == jobs.c.request_id)
        .outerjoin(prompt_logs, prompt_logs.c.run_id == runs.c.id)
        .order_by(runs.c.id)
    )


def _read(
    conn: Connection, platform: Platform, query: Any, access: Access, *, with_prompts: bool
) -> list[PromptLogEntry]:
    rows = conn.execute(query).mappings().all()
    if not rows:
        return []
    tool_ids = {r["log_tool_id"] or r["request_tool_id"] for r in rows}
    found = {t.id: t for t in _tools(conn, tool_ids)}
    made = _outputs(conn, [r["id"] for r in rows])
    key = prompt_key(platform.settings.keys_dir) if with_prompts else None
    entries = []
    for row in rows:
        tool = found[row["log_tool_id"] or row["request_tool_id"]]
        if not may_read(access, row["production_id"], tool.vendor_id):
            continue
        entries.append(_entry(row, tool, made.get(row["id"], ()), key))
    return entries


def _tools(conn: Connection, tool_ids: Iterable[str]) -> list[ToolRef]:
    rows = conn.execute(
        select(tools.c.id, tools.c.name, tools.c.version, tools.c.vendor_id, vendors.c.name)
        .join(vendors, vendors.c.id == tools.c.vendor_id)
        .where(tools.c.id.in_(list(tool_ids)))
    )
    return [ToolRef(id=r[0], name=r[1], version=r[2], vendor_id=r[3], vendor=r[4]) for r in rows]


def _outputs(conn: Connection, run_ids: list[str]) -> dict[str, tuple[OutputHash, ...]]:
    found: dict[str, list[OutputHash]] = {}
    for chunk in range(0, len(run_ids), 500):  # keep IN lists within every database's limits
        rows = conn.execute(
            select(assets.c.run_id, assets.c.id, assets.c.sha256, assets.c.media_type)
            .where(assets.c.run_id.in_(run_ids[chunk : chunk + 500]))
            .order_by(assets.c.id)
        )
        for r in rows:
            found.setdefault(r.run_id, []).append(
                OutputHash(asset_id=r.id, sha256=r.sha256, media_type=r.media_type)
            )
    return {run_id: tuple(hashes) for run_id, hashes in found.items()}


def _entry(
    row: Mapping[Any, Any],
    tool: ToolRef,
    outputs: tuple[OutputHash, ...],
    key: Any,
) -> PromptLogEntry:
    run_id = row["id"]
    prompt = negative = None
    if key is not None and row["prompt_sealed"] is not None:
        prompt = key.open(row["prompt_sealed"], key_id=row["key_id"], run_id=run_id, field="prompt")
        if row["negative_prompt_sealed"] is not None:
            negative = key.open(
                row["negative_prompt_sealed"],
                key_id=row["key_id"],
                run_id=run_id,
                field="negative_prompt",
            )
    parameters = dict(row["parameters"])
    if key is None:
        # The negative prompt is prompt text too: left out with the prompts.
        parameters.pop(NEGATIVE_PROMPT, None)
    started, finished, queued = row["started_at"], row["finished_at"], row["queued_at"]
    run_ms = row["duration_ms"]
    if run_ms is None and finished is not None:
        run_ms = _ms(finished - started)
    status: RunStatus = (
        "failed" if row["error"] is not None else "running" if finished is None else "succeeded"
    )
    return PromptLogEntry(
        run_id=run_id,
        request_id=row["request_id"],
        production_id=row["production_id"],
        job_id=row["job_id"],
        status=status,
        tool=tool,
        backend=row["backend"],
        model=row["model"],
        model_version=row["model_version"],
        prompt=prompt,
        prompt_sha256=row["prompt_sha256"],
        negative_prompt=negative,
        negative_prompt_sha256=row["negative_prompt_sha256"],
        parameters=parameters,
        seed=row["seed"],
        inputs=tuple(InputHash(**i) for i in row["inputs"] or ()),
        outputs=outputs,
        queued_at=queued,
        started_at=started,
        finished_at=finished,
        queue_wait_ms=None if queued is None else max(0, _ms(started - queued)),
        run_ms=run_ms,
        gpu_seconds=row["gpu_seconds"],
        cost_usd=row["cost_usd"],
        cost_source=row["cost_source"],
        usage=dict(row["usage"]),
        worker_host=row["worker_host"],
        delivered_by=row["delivered_by"],
        error=row["error"],
    )


def _ms(delta: Any) -> int:
    return int(delta.total_seconds() * 1000)


# --- statements ----------------------------------------------------------------------
# Built once: every run writes its log, and building these per call cost more than
# running them. Updates set the columns named by the values they are given.

_INSERT_LOG = insert(prompt_logs)
_RUN_OPENED = select(runs.c.backend, runs.c.started_at).where(runs.c.id == bindparam("run"))
_LOG_TOOL = select(prompt_logs.c.tool_id).where(prompt_logs.c.run_id == bindparam("run"))
_SETTLE_LOG = update(prompt_logs).where(prompt_logs.c.run_id == bindparam("run"))
_SETTLE_RUN = update(runs).where(runs.c.id == bindparam("run"))
