"""A vendor's delivery enters the lifecycle as a run of its tool, or is refused whole."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from greenlight.core.clock import utcnow
from greenlight.core.enums import RequestState, Verdict
from greenlight.core.errors import GreenlightError
from greenlight.core.settings import Settings
from greenlight.engine import assets, requests
from greenlight.engine.platform import Platform
from greenlight.engine.prompt_log import request_prompt_log
from greenlight.engine.vendor_delivery import DeliveredFile, VendorLog, deliver, parse_log
from greenlight.provenance import prompt_digest
from greenlight.store.schema import ledger_entries, prompt_logs, runs
from tests.expect import refused
from tests.world import World, build_world, plate_png

VENDOR_PROMPT = "roto the crane arm out of frames 1001-1040, keep the grain"


@dataclass
class Delivery:
    world: World
    tool_id: str
    request_id: str

    def log(self, **changes: Any) -> VendorLog:
        now = utcnow()
        fields: dict[str, Any] = {
            "tool_id": self.tool_id,
            "model": "Lumen RotoNet",
            "model_version": "7.2",
            "prompt": VENDOR_PROMPT,
            "parameters": {"feather": 2},
            "seed": 1234,
            "started_at": (now - timedelta(minutes=10)).isoformat(),
            "finished_at": (now - timedelta(minutes=4)).isoformat(),
            "gpu_seconds": 312.5,
            "cost_usd": "18.40",
            "worker_host": "render-07.lumen.example",
            **changes,
        }
        return parse_log(_json(fields))


def _json(fields: dict[str, Any]) -> str:
    return json.dumps(fields)


def _png() -> bytes:
    image = np.full((64, 96, 3), 120, np.uint8)
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return bytes(encoded.tobytes())


def _jpeg() -> bytes:
    ok, encoded = cv2.imencode(".jpg", np.full((8, 8, 3), 90, np.uint8))
    assert ok
    return bytes(encoded.tobytes())


def _file(name: str = "clean_plate.png", data: bytes | None = None, kind: str = "image/png") -> Any:
    return DeliveredFile(filename=name, content_type=kind, stream=io.BytesIO(data or _png()))


@pytest.fixture
def delivery(settings: Settings) -> Iterator[Delivery]:
    platform = Platform.open(settings)
    world = build_world(platform)
    tool = world.add_tool(
        "Lumen Roto Service", version="2026.1", hosting="vendor_enclosed", use_cases=["vfx_cleanup"]
    )
    plate = world.upload_plate()
    submitted = requests.submit(
        platform,
        world.access("artist"),
        world.cleanup(plate, tool_id=tool.id, parameters={}, prompt="remove the crane arm"),
    )
    assert submitted.request.state is RequestState.QUEUED
    yield Delivery(world, tool.id, submitted.request.id)
    platform.close()


def _written(world: World) -> tuple[int, int, int, int]:
    with world.platform.db.read() as conn:
        counts = [
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (runs, prompt_logs, ledger_entries)
        ]
    blobs = sum(1 for p in (world.platform.settings.data_dir / "blobs").rglob("*") if p.is_file())
    return counts[0], counts[1], counts[2], blobs


def test_vendor_delivery_runs_through_review_to_a_verifiable_output(delivery: Delivery) -> None:
    world = delivery.world
    log = delivery.log()
    detail = deliver(world.platform, world.access("vendor"), delivery.request_id, [_file()], log)
    assert detail.request.state is RequestState.IN_REVIEW
    (output,) = detail.outputs
    assert output.media_type == "image/png"
    assert output.parents == (detail.request.inputs[0].asset_id,)

    # Signed like a backend's output, carrying the digest of the prompt the vendor ran.
    report = assets.credentials(world.platform, output)
    assert report.trusted
    governance = report.manifest.governance
    assert governance is not None and governance.prompt_sha256 == prompt_digest(VENDOR_PROMPT)
    assert detail.job is not None
    assert governance.prompt_log_id == detail.job.runs[0].id

    with world.platform.db.read() as conn:
        (entry,) = request_prompt_log(
            conn, world.platform, world.access("artist"), delivery.request_id
        ).runs
    assert entry.backend == "vendor-delivery" and entry.status == "succeeded"
    assert (entry.model, entry.model_version, entry.seed) == ("Lumen RotoNet", "7.2", 1234)
    assert entry.prompt == VENDOR_PROMPT
    assert entry.cost_usd == Decimal("18.40") and entry.cost_source == "vendor"
    assert entry.gpu_seconds == Decimal("312.500")
    assert entry.worker_host == "render-07.lumen.example"
    assert entry.delivered_by == world.people["vendor"].id
    assert entry.started_at == log.started_at and entry.finished_at == log.finished_at
    assert entry.run_ms == 6 * 60 * 1000
    assert [o.sha256 for o in entry.outputs] == [output.sha256]

    accepted = requests.review(
        world.platform, world.access("vfx"), delivery.request_id, Verdict.ACCEPT
    )
    assert accepted.request.state is RequestState.ACCEPTED
    done = requests.deliver(
        world.platform, world.access("producer"), delivery.request_id, "editorial"
    )
    assert done.request.state is RequestState.DELIVERED
    events = [e.event_type for e in done.events]
    assert events[2:5] == ["run.started", "run.succeeded", "likeness.clear"]


def test_the_requester_or_a_producer_may_deliver_for_the_vendor(delivery: Delivery) -> None:
    world = delivery.world
    detail = deliver(
        world.platform, world.access("artist"), delivery.request_id, [_file()], delivery.log()
    )
    assert detail.request.state is RequestState.IN_REVIEW


Refusal = Callable[[Delivery], tuple[str, list[Any], VendorLog]]


def _case(who: str, files: Callable[[], list[Any]] | None = None, **log: Any) -> Refusal:
    # Files are made per test: a stream read by one test is spent for the next.
    return lambda d: (who, files() if files is not None else [_file()], d.log(**log))


# Each bad delivery, and the code it is refused with.
BAD_DELIVERIES: list[tuple[str, Refusal]] = [
    ("vendor_delivery.wrong_tool", _case("vendor", tool_id="tool_01M7YMFX8T40Y6ZQF87SM47ERZ")),
    ("vendor_delivery.not_allowed", _case("vfx")),
    ("vendor_delivery.not_allowed", _case("auditor")),
    ("access.no_role", _case("outsider")),
    ("vendor_delivery.unknown_input", _case("vendor", inputs=["ab" * 32])),
    (
        "vendor_delivery.bad_timings",
        _case("vendor", finished_at=(utcnow() + timedelta(hours=2)).isoformat()),
    ),
    (
        "vendor_delivery.bad_timings",
        _case("vendor", started_at=utcnow().isoformat(), finished_at="2020-01-01T00:00:00Z"),
    ),
    ("vendor_delivery.no_outputs", _case("vendor", files=lambda: [])),
    ("upload.type_mismatch", _case("vendor", files=lambda: [_file(data=_jpeg())])),
    (
        "upload.type_mismatch",
        _case("vendor", files=lambda: [_file("plate.jpg", kind="image/jpeg")]),
    ),
    (
        "upload.type_mismatch",
        _case("vendor", files=lambda: [_file("plate.jpg", data=_png(), kind="image/png")]),
    ),
    ("upload.unsupported_type", _case("vendor", files=lambda: [_file(data=b"hello", kind="")])),
    ("upload.corrupt", _case("vendor", files=lambda: [_file(data=_png()[:60])])),
    ("vendor_delivery.unsupported_type", _case("vendor", files=lambda: [_file("notes.txt")])),
    ("upload.bad_filename", _case("vendor", files=lambda: [_file("../plate.png")])),
    ("vendor_delivery.duplicate_name", _case("vendor", files=lambda: [_file(), _file()])),
]


def test_every_bad_delivery_is_refused_and_writes_nothing(delivery: Delivery) -> None:
    world = delivery.world
    before = _written(world)
    for code, case in BAD_DELIVERIES:
        who, files, log = case(delivery)
        with refused(code, GreenlightError):
            deliver(world.platform, world.access(who), delivery.request_id, files, log)
        assert _written(world) == before, code
    scratch = world.platform.settings.data_dir / "work"
    assert not scratch.exists() or not list(scratch.iterdir())
    with world.platform.db.read() as conn:
        state = requests.load_request(conn, delivery.request_id).state
    assert state is RequestState.QUEUED


def test_work_is_delivered_once_and_only_for_vendor_delivered_tools(delivery: Delivery) -> None:
    world = delivery.world
    deliver(world.platform, world.access("vendor"), delivery.request_id, [_file()], delivery.log())
    with refused("vendor_delivery.not_queued"):
        deliver(
            world.platform, world.access("vendor"), delivery.request_id, [_file()], delivery.log()
        )
    # A tool that runs here is run, not delivered.
    plate = world.upload_plate(data=plate_png(height=80))
    queued = requests.submit(world.platform, world.access("artist"), world.cleanup(plate))
    with refused("vendor_delivery.runs_here"):
        deliver(
            world.platform,
            world.access("artist"),
            queued.request.id,
            [_file()],
            delivery.log(tool_id=world.studio_tool.id),
        )


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        '{"tool_id": "t"}',
        '{"tool_id": "t", "prompt": "", "started_at": "2026-01-01T00:00:00",'
        ' "finished_at": "2026-01-01T00:01:00Z"}',
        '{"tool_id": "t", "prompt": "", "started_at": "2026-01-01T00:00:00Z",'
        ' "finished_at": "2026-01-01T00:01:00Z", "secret_sauce": true}',
        '{"tool_id": "t", "prompt": "", "started_at": "2026-01-01T00:00:00Z",'
        ' "finished_at": "2026-01-01T00:01:00Z", "cost_usd": -3}',
    ],
)
def test_a_malformed_prompt_log_is_refused(raw: str) -> None:
    with refused("vendor_delivery.bad_log"):
        parse_log(raw)
