"""The HTTP layer itself: error shapes, limits, OpenAPI, keys and background runs (SQLite)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from sqlalchemy import insert

from greenlight.api import create_app
from greenlight.api.idempotency import fingerprint
from greenlight.core.clock import utcnow
from greenlight.engine.executors import LocalExecutor
from greenlight.engine.workers import Worker
from greenlight.store.schema import idempotency_keys
from tests.api.studio import API, Studio, cleanup_draft, error_code, plate_png, upload


def test_a_body_that_is_not_json_is_400_with_a_code(sqlite_studio: Studio) -> None:
    response = sqlite_studio.client("artist").post(
        f"{API}/requests",
        content=b'{"production_id": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert error_code(response) == "input.malformed_json"
    assert response.json()["error"]["message"].startswith("The body is not valid JSON;")


def test_an_unknown_field_is_422_naming_the_field(sqlite_studio: Studio) -> None:
    draft = {**cleanup_draft(sqlite_studio, "ast_x"), "budget": 100}
    response = sqlite_studio.client("artist").post(f"{API}/requests", json=draft)
    assert response.status_code == 422
    assert error_code(response) == "input.invalid"
    errors = response.json()["error"]["details"]["errors"]
    assert errors == [
        {
            "loc": ["body", "budget"],
            "msg": "Extra inputs are not permitted",
            "type": "extra_forbidden",
        }
    ]


def test_a_password_is_never_echoed_in_a_validation_error(sqlite_studio: Studio) -> None:
    response = sqlite_studio.client().post(
        f"{API}/auth/login", json={"email": ["x"], "password": "hunter2-secret"}
    )
    assert response.status_code == 422
    assert "hunter2-secret" not in response.text


def test_unknown_routes_and_methods_answer_in_json(sqlite_studio: Studio) -> None:
    client = sqlite_studio.client("artist")
    missing = client.get(f"{API}/storyboards")
    assert missing.status_code == 404
    assert error_code(missing) == "not_found"
    wrong = client.delete(f"{API}/productions")
    assert wrong.status_code == 405
    assert error_code(wrong) == "method_not_allowed"
    assert "GET" in wrong.headers["allow"]


def test_a_json_body_over_a_mebibyte_is_413(sqlite_studio: Studio) -> None:
    client = sqlite_studio.client("artist")
    big = json.dumps({**cleanup_draft(sqlite_studio, "ast_x"), "prompt": "x" * (1 << 20)})
    declared = client.post(
        f"{API}/requests", content=big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert error_code(declared) == "input.too_large"

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        data = big.encode()
        for start in range(0, len(data), 65536):
            yield data[start : start + 65536]

    streamed = client.post(
        f"{API}/requests", content=chunked(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert error_code(streamed) == "input.too_large"


def test_the_openapi_document_lists_every_resource(sqlite_studio: Studio) -> None:
    client = sqlite_studio.client()
    spec = client.get(f"{API}/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in (
        "/api/v1/auth/login",
        "/api/v1/auth/tokens/{token_id}",
        "/api/v1/people",
        "/api/v1/productions/{production_id}/members",
        "/api/v1/productions/{production_id}/consents",
        "/api/v1/productions/{production_id}/assets",
        "/api/v1/requests/{request_id}/approvals",
        "/api/v1/review-queue",
        "/api/v1/assets/{asset_id}/content",
        "/api/v1/ledger/proofs/consistency",
    ):
        assert path in paths, path
    submit = paths["/api/v1/requests"]["post"]
    assert "policy judges it" in submit["description"]
    upload_body = paths["/api/v1/productions/{production_id}/assets"]["post"]["requestBody"]
    assert "multipart/form-data" in upload_body["content"]
    assert client.get(f"{API}/docs").status_code == 200


def test_an_unexpected_failure_is_500_without_a_traceback(sqlite_studio: Studio) -> None:
    def broken(name: str) -> Any:
        raise RuntimeError("secret internals /srv/greenlight/backends.py line 42")

    sqlite_studio.platform.backends = broken
    admin = TestClient(sqlite_studio.app, raise_server_exceptions=False)
    admin.headers["Authorization"] = f"Bearer {sqlite_studio.tokens['admin']}"
    response = admin.post(
        f"{API}/vendors/{sqlite_studio.lumen_vendor_id}/tools",
        json={
            "name": "X",
            "version": "1",
            "hosting": "studio",
            "backend": "inpaint-opencv",
            "use_cases": ["vfx_cleanup"],
        },
    )
    assert response.status_code == 500
    assert error_code(response) == "internal"
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert response.json()["error"]["details"]["incident"]


def test_a_bad_idempotency_key_is_refused_before_any_work(sqlite_studio: Studio) -> None:
    client = sqlite_studio.client("artist")
    for key in ("x" * 201, "cl\xe9".encode("latin-1"), b"tab\tkey"):
        response = client.post(
            f"{API}/requests",
            json=cleanup_draft(sqlite_studio, "ast_x"),
            headers={"Idempotency-Key": key},
        )
        assert response.status_code == 422
        assert error_code(response) == "idempotency.bad_key"


def test_a_key_still_being_worked_on_is_409(sqlite_studio: Studio) -> None:
    body = json.dumps(cleanup_draft(sqlite_studio, "ast_x")).encode()
    path = f"{API}/requests"
    with sqlite_studio.platform.db.transaction() as conn:
        conn.execute(
            insert(idempotency_keys).values(
                person_id=sqlite_studio.people["artist"],
                key="nl-103",
                fingerprint=fingerprint("POST", path, hashlib.sha256(body).hexdigest()),
                status_code=0,
                response={},
                created_at=utcnow(),
            )
        )
    response = sqlite_studio.client("artist").post(
        path,
        content=body,
        headers={"content-type": "application/json", "Idempotency-Key": "nl-103"},
    )
    assert response.status_code == 409
    assert error_code(response) == "idempotency.in_progress"


def test_the_server_queues_work_and_a_worker_runs_it(sqlite_studio: Studio) -> None:
    server = create_app(sqlite_studio.platform, secure_cookies=False)  # run_inline=False
    artist, supervisor = (
        TestClient(server, headers={"Authorization": f"Bearer {sqlite_studio.tokens[who]}"})
        for who in ("artist", "vfx_supervisor")
    )
    plate = upload(artist, sqlite_studio.production_id, plate_png()).json()["id"]
    submitted = artist.post(f"{API}/requests", json=cleanup_draft(sqlite_studio, plate))
    assert submitted.status_code == 201
    assert submitted.json()["request"]["state"] == "queued"
    request_id = submitted.json()["request"]["id"]
    assert artist.get(f"{API}/requests/{request_id}").json()["request"]["state"] == "queued"
    # A worker (`greenlight serve` runs one, `greenlight worker` more) takes it from the queue.
    Worker(sqlite_studio.platform, LocalExecutor()).run(until_idle=True)
    assert artist.get(f"{API}/requests/{request_id}").json()["request"]["state"] == "in_review"

    queue = supervisor.get(f"{API}/review-queue").json()
    assert [r["id"] for r in queue["items"]] == [request_id]
    assert artist.get(f"{API}/review-queue").json()["items"] == []

    again = supervisor.post(f"{API}/requests/{request_id}/run")
    assert again.status_code == 409
    assert error_code(again) == "run.not_queued"


def test_queued_work_is_run_by_hand_only_by_a_reviewer_and_only_if_it_can_run(
    sqlite_studio: Studio,
) -> None:
    artist, supervisor = sqlite_studio.client("artist"), sqlite_studio.client("vfx_supervisor")
    plate = upload(artist, sqlite_studio.production_id, plate_png()).json()["id"]
    delivered = artist.post(
        f"{API}/requests",
        json=cleanup_draft(sqlite_studio, plate, tool_id=sqlite_studio.delivered_tool_id),
    ).json()["request"]["id"]

    by_artist = artist.post(f"{API}/requests/{delivered}/run")
    assert by_artist.status_code == 403
    assert error_code(by_artist) == "run.not_allowed"
    by_supervisor = supervisor.post(f"{API}/requests/{delivered}/run")
    assert by_supervisor.status_code == 409
    assert error_code(by_supervisor) == "run.no_backend"


def test_the_web_pages_are_mounted_at_the_root_beside_the_api(sqlite_studio: Studio) -> None:
    pages = APIRouter()

    @pages.get("/", response_class=HTMLResponse)
    def home() -> str:
        return "<h1>Greenlight</h1>"

    app = create_app(sqlite_studio.platform, pages=pages)
    assert app.state.platform is sqlite_studio.platform
    client = TestClient(app)
    assert client.get("/").text == "<h1>Greenlight</h1>"
    assert client.get(f"{API}/openapi.json").status_code == 200
