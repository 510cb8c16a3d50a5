"""Every run's prompt log: sealed prompts, timings, hashes, cost, and its OTLP export."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from greenlight.core.enums import RequestState
from greenlight.core.errors import Forbidden, ProvenanceError
from greenlight.core.settings import Settings
from greenlight.engine import otlp, requests, runs
from greenlight.engine.platform import Platform
from greenlight.engine.prompt_key import KEY_FILE, prompt_key
from greenlight.engine.prompt_log import production_prompt_log, request_prompt_log
from greenlight.engine.rate_cards import RateCardDraft, set_rate_card
from greenlight.provenance import prompt_digest
from greenlight.store.schema import ledger_entries, prompt_logs
from tests.expect import refused
from tests.world import World, build_world

PROMPT = "paint out the rig wire above Maya's head in the flashback"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    platform = Platform.open(settings)
    yield build_world(platform)
    platform.close()


def _ran(world: World, **changes: object) -> str:
    """A cleanup request by the artist, run to review; its id."""
    plate = world.upload_plate()
    draft = world.cleanup(plate, prompt=PROMPT, **changes)
    submitted = requests.submit(world.platform, world.access("artist"), draft)
    ran = runs.run_request(world.platform, submitted.request.id)
    assert ran.request.state is RequestState.IN_REVIEW
    return ran.request.id


def _log(world: World, request_id: str, who: str = "artist") -> Any:
    with world.platform.db.read() as conn:
        return request_prompt_log(conn, world.platform, world.access(who), request_id)


def test_prompt_is_sealed_in_the_database_and_readable_by_the_requester(world: World) -> None:
    request_id = _ran(world)
    with world.platform.db.read() as conn:
        row = conn.execute(select(prompt_logs)).mappings().one()
    # The raw row holds ciphertext and the digest the credentials carry, never the words.
    assert PROMPT.encode() not in row["prompt_sealed"]
    assert b"rig wire" not in row["prompt_sealed"]
    assert row["prompt_sha256"] == prompt_digest(PROMPT)
    key_file = world.platform.settings.keys_dir / KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert row["key_id"] == prompt_key(world.platform.settings.keys_dir).key_id

    (entry,) = _log(world, request_id).runs
    assert entry.prompt == PROMPT
    assert entry.prompt_sha256 == prompt_digest(PROMPT)
    # A reviewer on the production may see the request, and so its prompt.
    assert _log(world, request_id, "vfx").runs[0].prompt == PROMPT


def test_someone_outside_the_production_cannot_read_the_prompt_log(world: World) -> None:
    request_id = _ran(world)
    with refused("access.no_role", Forbidden):
        _log(world, request_id, "outsider")
    # A vendor's people see only work made with their own vendor's tools.
    with refused("access.other_vendor", Forbidden):
        _log(world, request_id, "vendor")
    with world.platform.db.read() as conn:
        seen = production_prompt_log(conn, world.platform, world.access("vendor"))
    assert seen == []


def test_a_sealed_prompt_opens_only_for_its_own_run_and_key(tmp_path: Any) -> None:
    key = prompt_key(tmp_path / "keys")
    sealed = key.seal("de-age Maya by twenty years", run_id="run_a", field="prompt")
    assert key.open(sealed, key_id=key.key_id, run_id="run_a", field="prompt") == (
        "de-age Maya by twenty years"
    )
    with refused("prompt_log.unreadable", ProvenanceError):
        key.open(sealed, key_id=key.key_id, run_id="run_b", field="prompt")
    with refused("prompt_log.unreadable", ProvenanceError):
        key.open(sealed, key_id=key.key_id, run_id="run_a", field="negative_prompt")
    with refused("prompt_log.unreadable", ProvenanceError):
        key.open(sealed, key_id="0" * 16, run_id="run_a", field="prompt")
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with refused("prompt_log.unreadable", ProvenanceError):
        key.open(flipped, key_id=key.key_id, run_id="run_a", field="prompt")
    # The same directory gives the same key: made once, on first use.
    assert prompt_key(tmp_path / "keys").key_id == key.key_id


def test_run_records_tool_timings_hashes_and_worker_host(world: World) -> None:
    request_id = _ran(world)
    (entry,) = _log(world, request_id).runs
    with world.platform.db.read() as conn:
        detail = requests.get_request(conn, world.access("artist"), request_id)
    assert entry.status == "succeeded"
    assert entry.tool.id == world.studio_tool.id
    assert (entry.tool.name, entry.tool.version) == ("OpenCV inpaint", "4.14")
    assert entry.tool.vendor == "Studio Pipeline"
    assert entry.backend == world.studio_tool.backend
    assert entry.model == "opencv.inpaint.telea" and entry.model_version
    assert entry.parameters["regions"] == [[0, 30, 96, 3]]
    plate = detail.request.inputs[0]
    assert [(i.sha256, i.part) for i in entry.inputs] == [
        (next(a.sha256 for a in _assets(world, plate.asset_id)), "plate")
    ]
    assert [o.sha256 for o in entry.outputs] == [o.sha256 for o in detail.outputs]
    assert entry.queued_at is not None and entry.queued_at <= entry.started_at
    assert entry.finished_at is not None and entry.started_at <= entry.finished_at
    assert entry.queue_wait_ms is not None and entry.queue_wait_ms >= 0
    assert entry.run_ms is not None and entry.run_ms >= 0
    assert entry.gpu_seconds == Decimal("0")  # OpenCV inpainting runs on the CPU
    assert entry.worker_host == socket.gethostname()
    # No rate card: the backend's own figure for work on our machine.
    assert entry.cost_usd == Decimal("0") and entry.cost_source == "backend"


def _assets(world: World, asset_id: str) -> Any:
    from greenlight.engine.assets import load_asset

    with world.platform.db.read() as conn:
        yield load_asset(conn, asset_id)


def test_cost_comes_from_the_tools_rate_card(world: World) -> None:
    with world.platform.db.transaction() as conn:
        card = set_rate_card(
            conn,
            world.access("legal"),
            world.studio_tool.id,
            RateCardDraft(
                per_run_usd=Decimal("0.50"),
                per_output_usd=Decimal("0.25"),
                per_gpu_second_usd=Decimal("0.002"),
            ),
        )
    assert card.updated_by == world.people["legal"].id
    request_id = _ran(world)
    (entry,) = _log(world, request_id).runs
    assert entry.cost_source == "rate_card"
    assert entry.cost_usd == Decimal("0.750000")  # one run, one output, no GPU time
    with world.platform.db.read() as conn:
        detail = requests.get_request(conn, world.access("artist"), request_id)
        body = conn.execute(
            select(ledger_entries.c.body).where(ledger_entries.c.event_type == "run.succeeded")
        ).scalar_one()
    assert detail.job is not None and detail.job.runs[0].cost_usd == Decimal("0.75")
    # The ledger's run.succeeded event carries the settled cost and where it came from.
    assert b'"cost_source":"rate_card"' in body and b'"cost_usd":"0.750000"' in body


def test_only_legal_or_an_admin_sets_a_rate_card(world: World) -> None:
    with world.platform.db.transaction() as conn, refused("vendor.oversight_only", Forbidden):
        set_rate_card(
            conn, world.access("artist"), world.studio_tool.id, RateCardDraft(per_run_usd=1)
        )


def test_a_run_that_fails_is_logged_as_failed_and_priced_without_outputs(world: World) -> None:
    with world.platform.db.transaction() as conn:
        set_rate_card(
            conn,
            world.access("legal"),
            world.studio_tool.id,
            RateCardDraft(per_run_usd=Decimal("0.10"), per_output_usd=Decimal("5")),
        )
    plate = world.upload_plate()
    submitted = requests.submit(
        world.platform, world.access("artist"), world.cleanup(plate, prompt=PROMPT)
    )
    # The stored plate is damaged on disk: the worker refuses it when it reads it back.
    path = world.platform.blobs.path(plate.sha256)
    path.chmod(0o644)
    path.write_bytes(b"\x89PNG damaged")
    failed = runs.run_request(world.platform, submitted.request.id)
    assert failed.request.state is RequestState.FAILED
    (entry,) = _log(world, submitted.request.id).runs
    assert entry.status == "failed" and entry.error
    assert entry.outputs == ()
    assert entry.cost_usd == Decimal("0.100000") and entry.cost_source == "rate_card"
    assert entry.worker_host == socket.gethostname()
    (span,) = _spans(otlp.traces([entry], service_version="test"))
    assert span["status"]["code"] == otlp.STATUS_ERROR and span["status"]["message"]
    assert _attributes(span)["error.type"] == {"stringValue": entry.error.split("]")[0][1:]}


def _spans(document: dict[str, Any]) -> list[dict[str, Any]]:
    (resource,) = document["resourceSpans"]
    (scope,) = resource["scopeSpans"]
    spans: list[dict[str, Any]] = scope["spans"]
    return spans


def _attributes(span: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for attribute in span["attributes"]:
        assert set(attribute) == {"key", "value"}
        (kind,) = attribute["value"]  # exactly one of stringValue, intValue...
        assert kind in {"stringValue", "intValue", "doubleValue", "boolValue", "arrayValue"}
        found[attribute["key"]] = attribute["value"]
    return found


def test_otlp_export_is_one_span_per_run_with_genai_attribute_names(world: World) -> None:
    request_id = _ran(world, parameters={"regions": [[0, 30, 96, 3]]})
    (entry,) = _log(world, request_id).runs
    document = otlp.traces([entry], service_version="1.2.3")

    (resource,) = document["resourceSpans"]
    assert _attributes(resource["resource"])["service.name"] == {"stringValue": "greenlight"}
    (scope,) = resource["scopeSpans"]
    assert scope["scope"] == {"name": "greenlight.prompt_log", "version": "1.2.3"}
    (span,) = scope["spans"]
    assert _HEX32.match(span["traceId"]) and span["traceId"] != "0" * 32
    assert _HEX16.match(span["spanId"]) and span["spanId"] != "0" * 16
    assert span["traceId"] == otlp.trace_id(request_id)
    assert span["kind"] == 1 and span["status"] == {"code": 1}
    assert span["name"] == "generate_content OpenCV inpaint"
    # Unix nanoseconds as decimal strings, exact to the microsecond we keep.
    start, end = span["startTimeUnixNano"], span["endTimeUnixNano"]
    assert isinstance(start, str) and start.isdigit() and isinstance(end, str) and end.isdigit()
    assert int(start) == int(entry.started_at.timestamp()) * 10**9 + (
        entry.started_at.microsecond * 1000
    )
    assert int(end) >= int(start)

    found = _attributes(span)
    assert found["gen_ai.operation.name"] == {"stringValue": "generate_content"}
    assert found["gen_ai.provider.name"] == {"stringValue": "Studio Pipeline"}
    assert found["gen_ai.system"] == found["gen_ai.provider.name"]
    assert found["gen_ai.request.model"] == {"stringValue": "OpenCV inpaint"}
    assert found["gen_ai.response.model"] == {"stringValue": "opencv.inpaint.telea"}
    assert found["gen_ai.response.id"] == {"stringValue": entry.run_id}
    assert found["gen_ai.output.type"] == {"stringValue": "image"}
    assert "gen_ai.request.seed" not in found  # OpenCV inpainting takes no seed
    assert found["greenlight.request.id"] == {"stringValue": request_id}
    assert found["greenlight.tool.version"] == {"stringValue": "4.14"}
    assert found["greenlight.prompt.sha256"] == {"stringValue": prompt_digest(PROMPT)}
    assert found["greenlight.queue.wait_ms"] == {"intValue": str(entry.queue_wait_ms)}
    assert found["greenlight.gpu.seconds"] == {"doubleValue": 0.0}
    assert found["greenlight.input.sha256"] == {
        "arrayValue": {"values": [{"stringValue": entry.inputs[0].sha256}]}
    }
    assert found["greenlight.output.sha256"]["arrayValue"]["values"] == [
        {"stringValue": entry.outputs[0].sha256}
    ]
    assert found["greenlight.worker.host"] == {"stringValue": socket.gethostname()}
    assert found["greenlight.cost.source"] == {"stringValue": "backend"}
    assert PROMPT in found["gen_ai.input.messages"]["stringValue"]

    # Without the prompts (or for a reader who may not see them): digests only.
    with world.platform.db.read() as conn:
        (hidden,) = production_prompt_log(
            conn, world.platform, world.access("artist"), with_prompts=False
        )
    hidden_attributes = _attributes(_spans(otlp.traces([hidden], service_version="1"))[0])
    assert "gen_ai.input.messages" not in hidden_attributes
    assert hidden_attributes["greenlight.prompt.sha256"] == found["greenlight.prompt.sha256"]


def test_otlp_values_are_encoded_as_the_json_protobuf_mapping_says() -> None:
    assert otlp.any_value(2**62) == {"intValue": str(2**62)}
    assert otlp.any_value(True) == {"boolValue": True}
    assert otlp.any_value(Decimal("0.75")) == {"doubleValue": 0.75}
    assert otlp.any_value(["a"]) == {"arrayValue": {"values": [{"stringValue": "a"}]}}
    assert otlp.attributes({"a": None, "b": [], "c": 0}) == [
        {"key": "c", "value": {"intValue": "0"}}
    ]
