"""A request's whole life through the engine, on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from greenlight.core.enums import Outcome, RequestState, Verdict
from greenlight.core.errors import Conflict, Forbidden, InvalidInput
from greenlight.core.models import InputRef
from greenlight.core.settings import Settings
from greenlight.engine import assets, requests, runs
from greenlight.engine.platform import Platform
from greenlight.store.schema import generation_requests, ledger_entries, request_events
from tests.expect import refused
from tests.world import WIRE_ROW, World, build_world


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    platform = Platform.open(settings)
    yield build_world(platform)
    platform.close()


def _counts(world: World) -> tuple[int, int, int]:
    with world.platform.db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(generation_requests)).scalar_one(),
            conn.execute(select(func.count()).select_from(ledger_entries)).scalar_one(),
            conn.execute(select(func.count()).select_from(request_events)).scalar_one(),
        )


def test_wire_removal_is_run_signed_reviewed_and_delivered(world: World) -> None:
    plate = world.upload_plate()
    submitted = requests.submit(world.platform, world.access("artist"), world.cleanup(plate))
    assert submitted.request.state is RequestState.QUEUED
    assert submitted.decision is not None and submitted.decision.outcome is Outcome.ALLOW

    ran = runs.run_request(world.platform, submitted.request.id)
    assert ran.request.state is RequestState.IN_REVIEW
    (output,) = ran.outputs
    assert output.parents == (plate.id,)
    assert output.origin == "output" and output.media_type == "image/png"
    run = ran.job.runs[0] if ran.job else None
    assert run is not None and run.model == "opencv.inpaint.telea" and run.error is None
    assert run.usage["masked_pixels"] == 96 * 3

    # The wire is gone: the painted rows now sit on the gradient, not at 255.
    cleaned = cv2.imdecode(
        np.frombuffer(world.platform.blobs.read_bytes(output.sha256), np.uint8), cv2.IMREAD_COLOR
    )
    assert int(cleaned[WIRE_ROW + 1].max()) < 200

    # Signed before anyone could see it, pointing back at the grant in the ledger.
    report = assets.credentials(world.platform, output)
    assert report.trusted
    grant = next(e for e in ran.events if e.event_type == "policy.allowed")
    governance = report.manifest.governance
    assert governance is not None
    assert governance.request_id == submitted.request.id
    assert governance.ledger is not None and governance.ledger.index == grant.index
    assert governance.prompt_log_id == run.id

    accepted = requests.review(world.platform, world.access("vfx"), ran.request.id, Verdict.ACCEPT)
    assert accepted.request.state is RequestState.ACCEPTED
    delivered = requests.deliver(
        world.platform, world.access("producer"), ran.request.id, "editorial"
    )
    assert delivered.request.state is RequestState.DELIVERED
    assert [e.event_type for e in delivered.events] == [
        "request.submitted",
        "policy.allowed",
        "run.started",
        "run.succeeded",
        "likeness.clear",
        "review.accepted",
        "delivery.made",
    ]
    # Every timeline mark is the very ledger entry it names.
    for mark in delivered.events:
        assert world.platform.ledger.entry(mark.index).leaf_hash.hex() == mark.leaf_hash


def test_final_deliverable_waits_for_the_showrunner_or_director(world: World) -> None:
    plate = world.upload_plate()
    draft = world.cleanup(plate, intent="final_deliverable")
    waiting = requests.submit(world.platform, world.access("artist"), draft)
    assert waiting.request.state is RequestState.AWAITING_APPROVAL
    assert waiting.decision is not None
    assert waiting.decision.rules == ("final-deliverable-needs-creative-lead",)
    with refused("approval.wrong_role", Forbidden):
        requests.approve(world.platform, world.access("vfx"), waiting.request.id, approved=True)
    approved = requests.approve(
        world.platform, world.access("director"), waiting.request.id, approved=True, note="go"
    )
    assert approved.request.state is RequestState.QUEUED
    assert [a.role.value for a in approved.approvals] == ["director"]

    ran = runs.run_request(world.platform, waiting.request.id)
    report = assets.credentials(world.platform, ran.outputs[0])
    assert report.manifest.governance is not None
    assert report.manifest.governance.approval_ids == (approved.approvals[0].id,)

    # Only a creative lead accepts a final deliverable; others may still ask for changes.
    with refused("review.needs_creative_lead", Forbidden):
        requests.review(world.platform, world.access("vfx"), waiting.request.id, Verdict.ACCEPT)
    changed = requests.review(
        world.platform,
        world.access("vfx"),
        waiting.request.id,
        Verdict.CHANGES_REQUESTED,
        "soften the edge",
    )
    assert changed.request.state is RequestState.CHANGES_REQUESTED

    # The next iteration is a new request linked to this one, judged afresh.
    again = requests.submit(
        world.platform,
        world.access("artist"),
        world.cleanup(plate, intent="final_deliverable", previous_request_id=waiting.request.id),
    )
    assert again.request.iteration == 2
    assert again.request.previous_request_id == waiting.request.id
    assert again.request.state is RequestState.AWAITING_APPROVAL
    with refused("request.already_iterated", Conflict):
        requests.submit(
            world.platform,
            world.access("artist"),
            world.cleanup(plate, previous_request_id=waiting.request.id),
        )


def test_nobody_approves_their_own_request(world: World) -> None:
    plate = world.upload_plate("showrunner")
    draft = world.cleanup(plate, intent="final_deliverable")
    waiting = requests.submit(world.platform, world.access("showrunner"), draft)
    with refused("approval.own_request", Forbidden):
        requests.approve(
            world.platform, world.access("showrunner"), waiting.request.id, approved=True
        )


def test_a_refusal_denies_and_must_say_why(world: World) -> None:
    plate = world.upload_plate()
    waiting = requests.submit(
        world.platform, world.access("artist"), world.cleanup(plate, intent="final_deliverable")
    )
    with refused("approval.note_required", InvalidInput):
        requests.approve(
            world.platform, world.access("showrunner"), waiting.request.id, approved=False
        )
    denied = requests.approve(
        world.platform,
        world.access("showrunner"),
        waiting.request.id,
        approved=False,
        note="not for the final cut",
    )
    assert denied.request.state is RequestState.DENIED
    assert [e.event_type for e in denied.events][-2:] == ["approval.refused_by", "approval.refused"]


def test_replica_without_consent_is_denied(world: World) -> None:
    plate = world.upload_plate()
    draft = world.cleanup(plate, use_case="de_aging", talent_ids=[world.unconsented.id])
    denied = requests.submit(world.platform, world.access("artist"), draft)
    assert denied.request.state is RequestState.DENIED
    assert denied.decision is not None
    assert denied.decision.rules == ("alteration-needs-consent",)
    assert "consent" in denied.decision.reasons[0]
    assert denied.job is None


def test_consented_replica_needs_legal_and_credentials_name_the_consent(world: World) -> None:
    plate = world.upload_plate()
    draft = world.cleanup(plate, use_case="de_aging", talent_ids=[world.consented.id])
    waiting = requests.submit(world.platform, world.access("artist"), draft)
    assert waiting.decision is not None
    assert waiting.decision.rules == ("talent-likeness-needs-legal",)
    with refused("approval.wrong_role", Forbidden):
        requests.approve(
            world.platform, world.access("showrunner"), waiting.request.id, approved=True
        )
    requests.approve(world.platform, world.access("legal"), waiting.request.id, approved=True)
    ran = runs.run_request(world.platform, waiting.request.id)
    report = assets.credentials(world.platform, ran.outputs[0])
    assert report.manifest.governance is not None
    assert len(report.manifest.governance.consent_ids) == 1


def test_vendor_works_only_with_its_own_tools_and_sees_only_its_requests(world: World) -> None:
    vendor = world.access("vendor")
    plate = world.upload_plate("vendor")
    with refused("access.other_vendor_tool", Forbidden):
        requests.submit(world.platform, vendor, world.cleanup(plate))
    own = requests.submit(
        world.platform, vendor, world.cleanup(plate, tool_id=world.vendor_tool.id)
    )
    studio = requests.submit(
        world.platform, world.access("artist"), world.cleanup(world.upload_plate())
    )
    with world.platform.db.read() as conn:
        seen, _ = requests.list_requests(conn, vendor)
        assert [r.id for r in seen] == [own.request.id]
        with refused("access.other_vendor", Forbidden):
            requests.get_request(conn, vendor, studio.request.id)
        everything, _ = requests.list_requests(conn, world.access("auditor"))
        assert {r.id for r in everything} == {own.request.id, studio.request.id}


def test_auditor_reads_but_cannot_submit_and_outsider_sees_nothing(world: World) -> None:
    plate = world.upload_plate()
    with refused("access.read_only", Forbidden):
        requests.submit(world.platform, world.access("auditor"), world.cleanup(plate))
    made = requests.submit(world.platform, world.access("artist"), world.cleanup(plate))
    with world.platform.db.read() as conn:
        assert requests.get_request(conn, world.access("auditor"), made.request.id).request.id
        with refused("access.no_role", Forbidden):
            requests.get_request(conn, world.access("outsider"), made.request.id)
        assert requests.list_requests(conn, world.access("outsider")) == ([], None)


def test_refused_steps_write_nothing(world: World) -> None:
    plate = world.upload_plate()
    before = _counts(world)
    with refused("backend.inpaint-opencv.bad_parameter", InvalidInput):
        requests.submit(
            world.platform,
            world.access("artist"),
            world.cleanup(plate, parameters={"regions": [[0, 0, 4, 4]], "strength": 9}),
        )
    with refused("talent.not_found"):
        requests.submit(
            world.platform, world.access("artist"), world.cleanup(plate, talent_ids=["tal_nope"])
        )
    with refused("asset.not_found"):
        requests.submit(
            world.platform,
            world.access("artist"),
            world.cleanup(plate, inputs=[InputRef(asset_id="ast_missing")]),
        )
    assert _counts(world) == before

    queued = requests.submit(world.platform, world.access("artist"), world.cleanup(plate))
    before = _counts(world)
    with refused("review.not_in_review", Conflict):
        requests.review(world.platform, world.access("vfx"), queued.request.id, Verdict.ACCEPT)
    with refused("delivery.not_accepted", Conflict):
        requests.deliver(world.platform, world.access("vfx"), queued.request.id, "editorial")
    assert _counts(world) == before


def test_backend_failure_is_recorded_not_left_running(world: World) -> None:
    black = np.zeros((64, 96), np.uint8)
    ok, mask_png = cv2.imencode(".png", black)
    assert ok
    mask, _ = assets.upload(
        world.platform,
        world.access("artist"),
        world.production.id,
        "mask.png",
        io.BytesIO(mask_png.tobytes()),
        "image/png",
    )
    plate = world.upload_plate()
    draft = world.cleanup(
        plate,
        parameters={},
        inputs=[InputRef(asset_id=plate.id, part="plate"), InputRef(asset_id=mask.id, part="mask")],
    )
    queued = requests.submit(world.platform, world.access("artist"), draft)
    failed = runs.run_request(world.platform, queued.request.id)
    assert failed.request.state is RequestState.FAILED
    assert failed.job is not None and failed.job.state == "failed"
    assert failed.job.runs[0].error and "empty_mask" in failed.job.runs[0].error
    assert failed.outputs == ()
    assert failed.events[-1].event_type == "run.failed"
    with refused("run.not_queued", Conflict):
        runs.run_request(world.platform, queued.request.id)


def test_pages_walk_every_request_once(world: World) -> None:
    plate = world.upload_plate()
    made = {
        requests.submit(world.platform, world.access("artist"), world.cleanup(plate)).request.id
        for _ in range(7)
    }
    seen: list[str] = []
    cursor = None
    with world.platform.db.read() as conn:
        while True:
            page, cursor = requests.list_requests(
                conn, world.access("vfx"), limit=3, cursor=cursor, state=RequestState.QUEUED
            )
            seen += [r.id for r in page]
            if cursor is None:
                break
        with refused("page.bad_cursor", InvalidInput):
            requests.list_requests(conn, world.access("vfx"), cursor="../etc")
    assert len(seen) == 7 and set(seen) == made
    assert seen == sorted(seen, reverse=True)
