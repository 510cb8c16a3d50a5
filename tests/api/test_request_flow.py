"""A request's life over HTTP, on SQLite and PostgreSQL: who may do what, and what it leaves."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from greenlight.engine.delivery import verify_bundle
from greenlight.store.schema import generation_requests
from tests.api.studio import API, Studio, cleanup_draft, error_code, plate_png, upload


def _plate(studio: Studio, who: str = "artist", seed: int = 0) -> str:
    response = upload(studio.client(who), studio.production_id, plate_png(seed=seed))
    assert response.status_code == 201, response.text
    asset_id: str = response.json()["id"]
    return asset_id


def _submit(studio: Studio, who: str, draft: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = studio.client(who).post(f"{API}/requests", json=draft, headers=headers)
    assert response.status_code == 201, response.text
    detail: dict[str, Any] = response.json()
    return detail


def _request_rows(studio: Studio) -> int:
    with studio.platform.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(generation_requests)).scalar())


def test_a_wire_removal_goes_from_plate_to_delivery(studio: Studio) -> None:
    artist, supervisor = studio.client("artist"), studio.client("vfx_supervisor")
    plate = _plate(studio)

    detail = _submit(studio, "artist", cleanup_draft(studio, plate))
    request_id = detail["request"]["id"]
    assert detail["decision"]["outcome"] == "allow"
    assert detail["request"]["state"] == "in_review"  # run inline before the answer
    assert len(detail["outputs"]) == 1
    output = detail["outputs"][0]
    assert output["parents"] == [plate]

    first = artist.get(f"{API}/assets/{output['id']}/content")
    assert first.status_code == 200
    assert first.headers["etag"] == f'"{output["sha256"]}"'
    assert first.headers["cache-control"] == "private"
    assert first.headers["content-type"] == output["media_type"]
    assert int(first.headers["content-length"]) == len(first.content) == output["size"]
    assert first.headers["content-disposition"].startswith("attachment;")
    again = artist.get(
        f"{API}/assets/{output['id']}/content", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""

    credentials = artist.get(f"{API}/assets/{output['id']}/credentials").json()
    assert credentials["state"] == "Trusted" and credentials["trusted"] is True
    assert credentials["governance"]["request_id"] == request_id
    assert credentials["actions"]

    accepted = supervisor.post(f"{API}/requests/{request_id}/reviews", json={"verdict": "accept"})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["request"]["state"] == "accepted"
    delivered = supervisor.post(
        f"{API}/requests/{request_id}/deliveries", json={"destination": "editorial"}
    )
    assert delivered.status_code == 201, delivered.text
    final = delivered.json()
    assert final["request"]["state"] == "delivered"
    assert final["delivery"]["destination"] == "editorial"
    assert [e["event_type"] for e in final["events"]] == [
        "request.submitted",
        "policy.allowed",
        "run.started",
        "run.succeeded",
        "likeness.clear",
        "review.accepted",
        "delivery.made",
    ]

    # The delivery bundle checks out offline with nothing but the ledger key.
    bundle = studio.client("auditor").get(f"{API}/requests/{request_id}/bundle")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"] == "application/zip"
    report = verify_bundle(bundle.content, studio.platform.ledger.verifier_key)
    assert report.request_id == request_id and report.entries == 7


def test_a_final_deliverable_waits_for_the_showrunner_not_an_artist(studio: Studio) -> None:
    plate = _plate(studio, who="vfx_supervisor")
    draft = cleanup_draft(studio, plate, intent="final_deliverable")
    detail = _submit(studio, "vfx_supervisor", draft)
    request_id = detail["request"]["id"]
    assert detail["request"]["state"] == "awaiting_approval"
    assert sorted(detail["decision"]["required"][0]["roles"]) == ["director", "showrunner"]

    refused = studio.client("artist").post(
        f"{API}/requests/{request_id}/approvals", json={"approved": True}
    )
    assert refused.status_code == 403
    assert error_code(refused) == "approval.wrong_role"

    approved = studio.client("showrunner").post(
        f"{API}/requests/{request_id}/approvals",
        json={"approved": True, "note": "Clean it up for the finale."},
    )
    assert approved.status_code == 201, approved.text
    after = approved.json()
    assert after["approvals"][0]["role"] == "showrunner"
    assert after["request"]["state"] == "in_review"  # queued, then run inline


def test_a_performer_without_consent_is_denied_with_the_rule_named(studio: Studio) -> None:
    plate = _plate(studio)
    changed = {"alteration_purpose": "performance_change"}  # not an exempt purpose
    draft = cleanup_draft(studio, plate, talent_ids=[studio.talent_id], disclosure=changed)
    detail = _submit(studio, "artist", draft)
    assert detail["request"]["state"] == "denied"
    assert detail["decision"]["outcome"] == "deny"
    assert "alteration-needs-consent" in detail["decision"]["rules"]
    assert detail["outputs"] == [] and detail["job"] is None


def test_a_vendor_sees_only_its_own_requests(studio: Studio) -> None:
    studio_plate = _plate(studio)
    ours = _submit(studio, "artist", cleanup_draft(studio, studio_plate))["request"]["id"]
    lumen_plate = _plate(studio, who="vendor", seed=1)
    theirs = _submit(
        studio, "vendor", cleanup_draft(studio, lumen_plate, tool_id=studio.lumen_tool_id)
    )["request"]["id"]
    vendor = studio.client("vendor")

    listed = vendor.get(f"{API}/requests").json()
    assert [r["id"] for r in listed["items"]] == [theirs]
    other = vendor.get(f"{API}/requests/{ours}")
    assert other.status_code == 403
    assert error_code(other) == "access.other_vendor"
    assert vendor.get(f"{API}/requests/{theirs}").status_code == 200

    everyone = studio.client("vfx_supervisor").get(f"{API}/requests").json()
    assert {r["id"] for r in everyone["items"]} == {ours, theirs}


def test_an_auditor_reads_everything_but_changes_nothing(studio: Studio) -> None:
    plate = _plate(studio)
    request_id = _submit(studio, "artist", cleanup_draft(studio, plate))["request"]["id"]
    auditor = studio.client("auditor")

    assert auditor.get(f"{API}/requests/{request_id}").status_code == 200
    assert auditor.get(f"{API}/assets/{plate}").status_code == 200
    assert [r["id"] for r in auditor.get(f"{API}/requests").json()["items"]] == [request_id]
    refused = auditor.post(f"{API}/requests", json=cleanup_draft(studio, plate))
    assert refused.status_code == 403
    assert error_code(refused) == "access.read_only"
    assert _request_rows(studio) == 1


def test_someone_without_a_role_on_the_production_is_refused(studio: Studio) -> None:
    plate = _plate(studio)
    request_id = _submit(studio, "artist", cleanup_draft(studio, plate))["request"]["id"]
    outsider = studio.client("outsider")

    for response in (
        outsider.get(f"{API}/requests/{request_id}"),
        outsider.get(f"{API}/productions/{studio.production_id}"),
        outsider.post(f"{API}/requests", json=cleanup_draft(studio, plate)),
    ):
        assert response.status_code == 403
        assert error_code(response) == "access.no_role"
    assert outsider.get(f"{API}/requests").json() == {"items": [], "next_cursor": None}


def test_an_unknown_request_is_404_and_a_wrong_step_is_409(studio: Studio) -> None:
    supervisor = studio.client("vfx_supervisor")
    missing = supervisor.get(f"{API}/requests/req_01JD3Q8Z5W8M6T4V9K2X7N1R0P")
    assert missing.status_code == 404
    assert error_code(missing) == "request.not_found"

    plate = _plate(studio)
    queued = _submit(
        studio, "artist", cleanup_draft(studio, plate, tool_id=studio.delivered_tool_id)
    )
    assert queued["request"]["state"] == "queued"
    early = supervisor.post(
        f"{API}/requests/{queued['request']['id']}/reviews", json={"verdict": "accept"}
    )
    assert early.status_code == 409
    assert error_code(early) == "review.not_in_review"
    assert queued == supervisor.get(f"{API}/requests/{queued['request']['id']}").json()


def test_a_retried_submission_with_its_key_answers_the_first_result(studio: Studio) -> None:
    plate = _plate(studio)
    draft = cleanup_draft(studio, plate)
    artist = studio.client("artist")
    key = {"Idempotency-Key": "nl-101-wire-1"}

    first = artist.post(f"{API}/requests", json=draft, headers=key)
    second = artist.post(f"{API}/requests", json=draft, headers=key)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert second.json()["request"]["id"] == first.json()["request"]["id"]
    assert _request_rows(studio) == 1

    reused = artist.post(
        f"{API}/requests", json={**draft, "prompt": "something else entirely"}, headers=key
    )
    assert reused.status_code == 422
    assert error_code(reused) == "idempotency.key_reused"
    assert _request_rows(studio) == 1


def test_a_refused_request_frees_its_key_for_the_corrected_one(studio: Studio) -> None:
    plate = _plate(studio)
    artist = studio.client("artist")
    key = {"Idempotency-Key": "nl-102-wire"}
    wrong = artist.post(
        f"{API}/requests", json=cleanup_draft(studio, plate, parameters={}), headers=key
    )
    assert wrong.status_code == 422
    assert error_code(wrong) == "backend.inpaint-opencv.no_mask"
    fixed = artist.post(f"{API}/requests", json=cleanup_draft(studio, plate), headers=key)
    assert fixed.status_code == 201, fixed.text

    other = studio.client("vfx_supervisor").post(
        f"{API}/requests", json=cleanup_draft(studio, plate), headers=key
    )
    assert other.status_code == 201  # keys belong to their person
    assert other.json()["request"]["id"] != fixed.json()["request"]["id"]


def test_pages_walk_every_request_once(studio: Studio) -> None:
    plate = _plate(studio)
    made = {
        _submit(studio, "artist", cleanup_draft(studio, plate, intent="final_deliverable"))[
            "request"
        ]["id"]
        for _ in range(7)
    }
    artist = studio.client("artist")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, "production_id": studio.production_id}
        if cursor:
            params["cursor"] = cursor
        page = artist.get(f"{API}/requests", params=params).json()
        pages += 1
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == made
    assert seen == sorted(seen, reverse=True)  # newest first
    waiting = artist.get(f"{API}/requests", params={"state": "awaiting_approval"}).json()
    assert len(waiting["items"]) == 7
