"""Prompt logs, vendor deliveries and rate cards over HTTP."""

from __future__ import annotations

import json
from typing import Any

from tests.api.studio import API, Studio, cleanup_draft, error_code, plate_png, upload


def _queued(studio: Studio, tool_id: str, prompt: str = "remove the safety wire") -> str:
    artist = studio.client("artist")
    plate = upload(artist, studio.production_id, plate_png()).json()["id"]
    draft = cleanup_draft(studio, plate, tool_id=tool_id, prompt=prompt)
    if tool_id == studio.delivered_tool_id:
        draft["parameters"] = {}
    response = artist.post(f"{API}/requests", json=draft)
    assert response.status_code == 201, response.text
    request_id: str = response.json()["request"]["id"]
    return request_id


def _log(studio: Studio, **changes: Any) -> str:
    return json.dumps(
        {
            "tool_id": studio.delivered_tool_id,
            "model": "Lumen Roto",
            "model_version": "9",
            "prompt": "roto out the safety wire",
            "seed": 7,
            "started_at": "2026-01-05T10:00:00Z",
            "finished_at": "2026-01-05T10:02:30Z",
            "cost_usd": "4.20",
            **changes,
        }
    )


def test_the_prompt_log_is_read_as_json_or_otlp_by_those_who_may_see_it(studio: Studio) -> None:
    request_id = _queued(studio, studio.studio_tool_id, prompt="paint out the wire, keep grain")
    artist = studio.client("artist")
    log = artist.get(f"{API}/requests/{request_id}/prompt-log")
    assert log.status_code == 200, log.text
    (run,) = log.json()["runs"]
    assert run["prompt"] == "paint out the wire, keep grain"
    assert run["tool"]["id"] == studio.studio_tool_id and run["status"] == "succeeded"

    traces = artist.get(f"{API}/requests/{request_id}/prompt-log", params={"format": "otlp"})
    assert traces.status_code == 200
    (span,) = traces.json()["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert span["spanId"] and span["startTimeUnixNano"].isdigit()
    keys = {a["key"] for a in span["attributes"]}
    assert {"gen_ai.operation.name", "gen_ai.request.model", "gen_ai.input.messages"} <= keys

    outsider = studio.client("outsider").get(f"{API}/requests/{request_id}/prompt-log")
    assert outsider.status_code == 403 and error_code(outsider) == "access.no_role"
    bad = artist.get(f"{API}/requests/{request_id}/prompt-log", params={"format": "xml"})
    assert bad.status_code == 422


def test_a_vendor_delivers_its_work_over_http(studio: Studio) -> None:
    request_id = _queued(studio, studio.delivered_tool_id)
    vendor = studio.client("vendor")
    delivered = vendor.post(
        f"{API}/requests/{request_id}/vendor-deliveries",
        files=[("output", ("clean.png", plate_png(seed=3), "image/png"))],
        data={"log": _log(studio)},
    )
    assert delivered.status_code == 201, delivered.text
    detail = delivered.json()
    assert detail["request"]["state"] == "in_review"
    (output,) = detail["outputs"]
    credentials = vendor.get(f"{API}/assets/{output['id']}/credentials")
    assert credentials.status_code == 200 and credentials.json()["trusted"]
    (run,) = vendor.get(f"{API}/requests/{request_id}/prompt-log").json()["runs"]
    assert run["backend"] == "vendor-delivery" and run["cost_source"] == "vendor"
    assert run["cost_usd"] == "4.200000" and run["delivered_by"] == studio.people["vendor"]

    again = vendor.post(
        f"{API}/requests/{request_id}/vendor-deliveries",
        files=[("output", ("clean.png", plate_png(seed=3), "image/png"))],
        data={"log": _log(studio)},
    )
    assert again.status_code == 409 and error_code(again) == "vendor_delivery.not_queued"


def test_a_bad_vendor_delivery_is_refused_with_its_code(studio: Studio) -> None:
    request_id = _queued(studio, studio.delivered_tool_id)
    vendor = studio.client("vendor")
    url = f"{API}/requests/{request_id}/vendor-deliveries"
    png = ("output", ("clean.png", plate_png(seed=4), "image/png"))
    cases = [
        ({"log": "{not json"}, [png], 422, "vendor_delivery.bad_log"),
        ({}, [png], 422, "vendor_delivery.bad_log"),
        (
            {"log": _log(studio, tool_id=studio.studio_tool_id)},
            [png],
            422,
            "vendor_delivery.wrong_tool",
        ),
        ({"log": _log(studio)}, [], 422, "vendor_delivery.no_outputs"),
        (
            {"log": _log(studio)},
            [("output", ("clean.png", b"GIF89a not a png", "image/png"))],
            422,
            "upload.unsupported_type",
        ),
    ]
    for data, files, status, code in cases:
        response = vendor.post(url, data=data, files=files or None)
        assert response.status_code == status, (code, response.text)
        assert error_code(response) == code
    legal = studio.client("legal").post(url, data={"log": _log(studio)}, files=[png])
    assert legal.status_code == 403 and error_code(legal) == "vendor_delivery.not_allowed"
    still = vendor.get(f"{API}/requests/{request_id}").json()
    assert still["request"]["state"] == "queued" and still["job"]["runs"] == []


def test_legal_sets_a_tools_rate_card_and_runs_are_priced_by_it(studio: Studio) -> None:
    url = f"{API}/tools/{studio.studio_tool_id}/rate-card"
    artist = studio.client("artist")
    assert artist.get(url).status_code == 404
    refused = artist.put(url, json={"per_run_usd": "1"})
    assert refused.status_code == 403 and error_code(refused) == "vendor.oversight_only"
    card = studio.client("legal").put(url, json={"per_run_usd": "0.40", "per_output_usd": "0.10"})
    assert card.status_code == 200, card.text
    assert card.json()["updated_by"] == studio.people["legal"]
    assert artist.get(url).json()["per_output_usd"] == "0.100000"
    negative = studio.client("legal").put(url, json={"per_run_usd": "-1"})
    assert negative.status_code == 422

    request_id = _queued(studio, studio.studio_tool_id)
    (run,) = artist.get(f"{API}/requests/{request_id}/prompt-log").json()["runs"]
    assert run["cost_usd"] == "0.500000" and run["cost_source"] == "rate_card"
