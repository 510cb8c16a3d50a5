"""Prompt logs as OpenTelemetry traces, in the OTLP/JSON encoding (pure functions).

Each request is one trace and each run one span in it, so retries of a request
sit side by side. Ids are derived from ours (trace: SHA-256 of the request id,
first 16 bytes; span: of the run id, first 8 bytes), so exporting the same runs
twice gives the same spans and a collector can drop the repeats.

Encoding (OTLP specification, "JSON Protobuf Encoding"): lowerCamelCase keys,
trace and span ids as lower-case hex (not base64), 64-bit integers (times in
Unix nanoseconds, ``intValue``) as decimal strings, enums (span kind, status
code) as integers.

Attribute names follow the OpenTelemetry GenAI semantic conventions where one
exists (``gen_ai.operation.name``, ``gen_ai.provider.name`` and its deprecated
``gen_ai.system``, ``gen_ai.request.model``, ``gen_ai.response.model``,
``gen_ai.response.id``, ``gen_ai.request.seed``, ``gen_ai.output.type``,
``gen_ai.input.messages``, ``gen_ai.usage.*``, ``gen_ai.request.temperature``
and friends, ``error.type``) and ``greenlight.*`` for the rest: governance ids,
hashes, timings, GPU-seconds, cost and its source, worker host. The prompt goes
in ``gen_ai.input.messages`` (and the negative prompt in
``greenlight.negative_prompt``) only when the entry carries it, i.e. when the
reader may see it; the SHA-256 digests are always there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from greenlight.engine.prompt_log import PromptLogEntry

SCOPE = "greenlight.prompt_log"
# Content generation from a prompt and media: the GenAI conventions' multimodal operation.
OPERATION = "generate_content"
SPAN_KIND_INTERNAL = 1  # the work runs on our own workers (or was delivered), not a call out
STATUS_OK = 1
STATUS_ERROR = 2

# Backend parameters that have a GenAI attribute of their own.
_REQUEST_PARAMETERS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "max_tokens": "gen_ai.request.max_tokens",
    "n": "gen_ai.request.choice.count",
    "num_images": "gen_ai.request.choice.count",
    "num_images_per_prompt": "gen_ai.request.choice.count",
}
_USAGE = {
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
}


def trace_id(request_id: str) -> str:
    """The trace id (32 hex digits) of a request's runs."""
    return _hex_id(f"greenlight trace {request_id}", 16)


def span_id(run_id: str) -> str:
    """The span id (16 hex digits) of one run."""
    return _hex_id(f"greenlight span {run_id}", 8)


def traces(entries: Iterable[PromptLogEntry], *, service_version: str) -> dict[str, Any]:
    """An OTLP ``TracesData`` document (``{"resourceSpans": [...]}``) with one span per
    finished run in ``entries``; runs still going are left out (a span ends)."""
    spans = [span(e) for e in entries if e.finished_at is not None]
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": attributes(
                        {"service.name": "greenlight", "service.version": service_version}
                    )
                },
                "scopeSpans": [
                    {"scope": {"name": SCOPE, "version": service_version}, "spans": spans}
                ],
            }
        ]
    }


def span(entry: PromptLogEntry) -> dict[str, Any]:
    """One run as an OTLP span."""
    assert entry.finished_at is not None
    failed = entry.status == "failed"
    status: dict[str, Any] = {"code": STATUS_ERROR if failed else STATUS_OK}
    if failed and entry.error:
        status["message"] = entry.error
    return {
        "traceId": trace_id(entry.request_id),
        "spanId": span_id(entry.run_id),
        "name": f"{OPERATION} {entry.tool.name}",
        "kind": SPAN_KIND_INTERNAL,
        "startTimeUnixNano": unix_nano(entry.started_at),
        "endTimeUnixNano": unix_nano(entry.finished_at),
        "attributes": attributes(span_attributes(entry)),
        "status": status,
    }


def span_attributes(entry: PromptLogEntry) -> dict[str, Any]:
    """The attributes of a run's span, by name (None values are left out)."""
    found: dict[str, Any] = {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": entry.tool.vendor,
        "gen_ai.system": entry.tool.vendor,  # deprecated name, for older consumers
        "gen_ai.request.model": entry.tool.name,
        "gen_ai.response.model": entry.model,
        "gen_ai.response.id": entry.run_id,
        "gen_ai.request.seed": entry.seed,
        "gen_ai.output.type": _output_type(entry),
        "greenlight.request.id": entry.request_id,
        "greenlight.production.id": entry.production_id,
        "greenlight.job.id": entry.job_id,
        "greenlight.run.id": entry.run_id,
        "greenlight.run.status": entry.status,
        "greenlight.tool.id": entry.tool.id,
        "greenlight.tool.name": entry.tool.name,
        "greenlight.tool.version": entry.tool.version,
        "greenlight.vendor.id": entry.tool.vendor_id,
        "greenlight.backend": entry.backend,
        "greenlight.model.version": entry.model_version,
        "greenlight.request.parameters": _json(entry.parameters),
        "greenlight.prompt.sha256": entry.prompt_sha256,
        "greenlight.negative_prompt.sha256": entry.negative_prompt_sha256,
        "greenlight.input.sha256": [i.sha256 for i in entry.inputs],
        "greenlight.input.parts": [i.part for i in entry.inputs],
        "greenlight.output.sha256": [o.sha256 for o in entry.outputs],
        "greenlight.output.asset_ids": [o.asset_id for o in entry.outputs],
        "greenlight.output.media_types": [o.media_type for o in entry.outputs],
        "greenlight.queued_at": None if entry.queued_at is None else entry.queued_at.isoformat(),
        "greenlight.queue.wait_ms": entry.queue_wait_ms,
        "greenlight.run.duration_ms": entry.run_ms,
        "greenlight.gpu.seconds": entry.gpu_seconds,
        "greenlight.cost.usd": entry.cost_usd,
        "greenlight.cost.source": entry.cost_source,
        "greenlight.worker.host": entry.worker_host,
        "greenlight.delivered_by": entry.delivered_by,
        "greenlight.usage": _json(entry.usage) if entry.usage else None,
    }
    for name, attribute in _REQUEST_PARAMETERS.items():
        value = entry.parameters.get(name)
        if _number(value):
            found[attribute] = value
    for name, attribute in _USAGE.items():
        value = entry.usage.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            found[attribute] = value
    if entry.prompt is not None:
        found["gen_ai.input.messages"] = _json(
            [{"role": "user", "parts": [{"type": "text", "content": entry.prompt}]}]
        )
    if entry.negative_prompt is not None:
        found["greenlight.negative_prompt"] = entry.negative_prompt
    if entry.status == "failed":
        found["error.type"] = _error_code(entry.error)
    return found


def attributes(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``{name: value}`` as OTLP ``KeyValue``s; None values and empty lists are left out."""
    found = []
    for key, value in values.items():
        if value is None or (isinstance(value, list | tuple) and not value):
            continue
        found.append({"key": key, "value": any_value(value)})
    return found


def any_value(value: Any) -> dict[str, Any]:
    """One value as an OTLP ``AnyValue``: strings, booleans, 64-bit integers (as decimal
    strings), doubles, and arrays of those."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float | Decimal):
        return {"doubleValue": float(value)}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    return {"stringValue": _json(value)}


def unix_nano(moment: datetime) -> str:
    """A moment as Unix nanoseconds, a decimal string (exact: no float rounding)."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return str((delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000)


def _hex_id(seed: str, size: int) -> str:
    digest = hashlib.sha256(seed.encode()).digest()[:size]
    if not any(digest):  # all-zero ids are invalid in OTLP (never happens in practice)
        digest = b"\x01" * size
    return digest.hex()


def _output_type(entry: PromptLogEntry) -> str | None:
    kinds = {_kind(o.media_type) for o in entry.outputs}
    return kinds.pop() if len(kinds) == 1 else None


def _kind(media_type: str) -> str | None:
    if media_type.startswith("image/"):
        return "image"
    if media_type.startswith("audio/"):
        return "speech"
    if media_type == "application/json":
        return "json"
    if media_type.startswith("text/") or media_type in (
        "application/x-subrip",
        "application/ttml+xml",
    ):
        return "text"
    return None


def _error_code(error: str | None) -> str:
    # Run errors are recorded as "[code] message".
    if error and error.startswith("[") and "]" in error:
        return error[1 : error.index("]")]
    return "run.failed"


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def traces_json(entries: Sequence[PromptLogEntry], *, service_version: str) -> str:
    """:func:`traces` as compact JSON text."""
    return json.dumps(traces(entries, service_version=service_version), separators=(",", ":"))
