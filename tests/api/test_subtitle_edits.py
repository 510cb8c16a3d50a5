"""Post-edit over HTTP: a request's subtitle edits, a new edit (201, or a stable code), and
a production's post-edit figures."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from greenlight.accounts import create_api_token
from greenlight.api import create_app
from greenlight.core.settings import Settings
from tests.localization.subtitled import (
    hire_localization_manager,
    subtitle_output,
    translated_in_review,
)
from tests.world import World, build_world, opened_platform

API = "/api/v1"


def _no_server_errors(response: httpx.Response) -> None:
    if response.status_code >= 500:
        response.read()
        raise AssertionError(response.text)


@pytest.fixture
def world(sqlite_settings: Settings) -> Iterator[World]:
    with opened_platform(sqlite_settings) as platform:
        world = build_world(platform)
        hire_localization_manager(world)
        yield world


def client(world: World, who: str) -> TestClient:
    with world.platform.db.transaction() as conn:
        token, _ = create_api_token(conn, world.people[who].id, f"{who} laptop")
    http = TestClient(create_app(world.platform, run_inline=True, secure_cookies=False))
    http.event_hooks["response"] = [_no_server_errors]
    http.headers["Authorization"] = f"Bearer {token}"
    return http


def test_an_edit_posted_is_201_and_listed_with_who_before_after_and_distance(
    world: World,
) -> None:
    detail = translated_in_review(world)
    out = subtitle_output(detail)
    lou = client(world, "loc")
    url = f"{API}/requests/{detail.request.id}/subtitle-edits"

    made = lou.post(
        url, json={"output_asset_id": out.id, "event": 2, "text": "La casa es roja, sí."}
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["warnings"] == []
    assert body["edit"]["before"] == "La casa es roja."
    assert body["edit"]["after"] == "La casa es roja, sí."
    assert (body["edit"]["char_distance"], body["edit"]["word_distance"]) == (4, 2)
    assert body["edit"]["edited_by"] == world.people["loc"].id

    listed = client(world, "artist").get(url)
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()["items"]] == [body["edit"]["id"]]

    figures = lou.get(f"{API}/productions/{world.production.id}/localization-metrics").json()
    assert figures["events"] == 3 and figures["events_edited"] == 1
    assert figures["mean_char_distance"] == 4 and figures["untouched_share"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        ("artist", {"event": 1, "text": "Hola"}, 403, "post_edit.not_editor"),
        ("outsider", {"event": 1, "text": "Hola"}, 403, "access.no_role"),
        ("loc", {"event": 0, "text": "Hola"}, 422, "post_edit.bad_event"),
        ("loc", {"event": 4, "text": "Hola"}, 422, "post_edit.bad_event"),
        ("loc", {"event": "1", "text": "Hola"}, 422, "input.invalid"),
        ("loc", {"event": 1, "text": "   "}, 422, "post_edit.empty_text"),
        ("loc", {"event": 1, "text": "Hola", "colour": "red"}, 422, "input.invalid"),
        (
            "loc",
            {"event": 1, "text": "Hola", "output_asset_id": "ast_x"},
            404,
            "post_edit.no_such_output",
        ),
    ],
)
def test_bad_edits_are_refused_with_stable_codes(
    world: World, who: str, body: dict[str, object], status: int, code: str
) -> None:
    detail = translated_in_review(world)
    out = subtitle_output(detail)
    url = f"{API}/requests/{detail.request.id}/subtitle-edits"
    answer = client(world, who).post(url, json={"output_asset_id": out.id, **body})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert client(world, "loc").get(url).json()["items"] == []


def test_figures_of_a_production_nobody_may_see_are_refused(world: World) -> None:
    answer = client(world, "outsider").get(
        f"{API}/productions/{world.production.id}/localization-metrics"
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "access.no_role"
