"""Submitting by token and by browser: the same answers and refusals, in the same order (SQLite).

A bearer-token submission with a JSON draft and no Idempotency-Key is taken
without FastAPI's dependency resolution; everything else goes the general way.
These tests hold the two to the same answers.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.api.studio import API, PASSWORD, Studio, cleanup_draft, error_code, plate_png, upload

# What differs between two otherwise equal submissions.
_UNIQUE = {"id", "request_id", "created_at", "updated_at", "now", "index", "leaf_hash"}


def _plate(studio: Studio) -> str:
    response = upload(studio.client("artist"), studio.production_id, plate_png())
    assert response.status_code == 201, response.text
    asset_id: str = response.json()["id"]
    return asset_id


def _signed_in(studio: Studio) -> tuple[TestClient, str]:
    browser = studio.client()
    signed_in = browser.post(
        f"{API}/auth/login", json={"email": "artist@studio.example", "password": PASSWORD}
    )
    assert signed_in.status_code == 200
    csrf: str = signed_in.json()["csrf_token"]
    return browser, csrf


def _shape(value: Any) -> Any:
    """``value`` without what is unique to one submission (ids, times, ledger positions)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k not in _UNIQUE}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


def test_a_draft_is_judged_the_same_by_token_and_by_browser(sqlite_studio: Studio) -> None:
    draft = cleanup_draft(sqlite_studio, _plate(sqlite_studio), intent="final_deliverable")
    by_token = sqlite_studio.client("artist").post(f"{API}/requests", json=draft)
    browser, csrf = _signed_in(sqlite_studio)
    by_browser = browser.post(f"{API}/requests", json=draft, headers={"X-CSRF-Token": csrf})
    charset = sqlite_studio.client("artist").post(
        f"{API}/requests",
        content=json.dumps(draft).encode(),
        headers={"content-type": "application/json; charset=utf-8"},
    )

    assert by_token.status_code == by_browser.status_code == charset.status_code == 201
    assert by_token.headers["content-type"] == by_browser.headers["content-type"]
    token_answer = by_token.json()
    assert token_answer["request"]["state"] == "awaiting_approval"
    assert [e["event_type"] for e in token_answer["events"]] == [
        "request.submitted",
        "policy.needs_approval",
    ]
    assert _shape(token_answer) == _shape(by_browser.json()) == _shape(charset.json())


def test_a_token_is_checked_before_the_draft(sqlite_studio: Studio) -> None:
    draft = {**cleanup_draft(sqlite_studio, "ast_x"), "budget": 100}
    anonymous = sqlite_studio.client()

    nobody = anonymous.post(f"{API}/requests", json=draft)
    forged = anonymous.post(
        f"{API}/requests", json=draft, headers={"Authorization": "Bearer glt_forged"}
    )
    empty = anonymous.post(f"{API}/requests", json=draft, headers={"Authorization": "Bearer "})

    assert (nobody.status_code, error_code(nobody)) == (401, "auth.required")
    assert (forged.status_code, error_code(forged)) == (401, "auth.bad_token")
    assert forged.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert (empty.status_code, error_code(empty)) == (401, "auth.bad_scheme")


def test_a_body_that_is_no_draft_is_refused_by_token_as_by_browser(sqlite_studio: Studio) -> None:
    artist = sqlite_studio.client("artist")
    browser, csrf = _signed_in(sqlite_studio)
    bodies = [b"[1, 2]", b"", b'"text"', b"\xff\xfe", b'{"production_id": 7}']
    for body in bodies:
        by_token = artist.post(
            f"{API}/requests", content=body, headers={"content-type": "application/json"}
        )
        by_browser = browser.post(
            f"{API}/requests",
            content=body,
            headers={"content-type": "application/json", "X-CSRF-Token": csrf},
        )
        assert by_token.status_code in (400, 422), body
        assert by_token.status_code == by_browser.status_code, body
        assert by_token.json() == by_browser.json(), body


def test_a_refusal_of_the_draft_itself_is_the_same_by_token_and_by_browser(
    sqlite_studio: Studio,
) -> None:
    draft = cleanup_draft(sqlite_studio, "ast_missing")
    by_token = sqlite_studio.client("artist").post(f"{API}/requests", json=draft)
    browser, csrf = _signed_in(sqlite_studio)
    by_browser = browser.post(f"{API}/requests", json=draft, headers={"X-CSRF-Token": csrf})
    assert by_token.status_code == by_browser.status_code == 404
    assert by_token.json() == by_browser.json()
