"""`greenlight runs export`, `requests deliver-vendor` and `rights tools rate-card`."""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from greenlight.accounts import find_person, load_access
from greenlight.cli import app
from greenlight.cli._opening import find_tool
from greenlight.core import Settings
from greenlight.core.models import InputRef, RequestDraft, ToolDraft
from greenlight.engine.assets import upload
from greenlight.engine.platform import Platform
from greenlight.engine.requests import submit
from greenlight.productions import find_production
from greenlight.rights import allow_tool, create_tool, list_vendors
from greenlight.workflows import seed

runner = CliRunner()


@pytest.fixture
def seeded(env: Settings) -> Iterator[Platform]:
    """Northern Lights seeded, plus a Lumen Post service whose work Lumen delivers."""
    platform = Platform.open(env)
    seed(platform)
    with platform.db.transaction() as conn:
        lumen = next(v for v in list_vendors(conn) if v.name == "Lumen Post")
        tool = create_tool(
            conn,
            lumen.id,
            ToolDraft(
                name="Lumen Roto",
                version="2026.1",
                hosting="vendor_enclosed",
                use_cases=["vfx_cleanup"],
            ),
        )
        producer = find_person(conn, "priya@studio.example")
        assert producer is not None
        allow_tool(conn, find_production(conn, "NL").id, tool.id, by=producer.id)
    yield platform
    platform.close()


@pytest.fixture
def plate(tmp_path: Path) -> Path:
    image = np.full((64, 96, 3), 128, np.uint8)
    image[30:33] = 255
    path = tmp_path / "plate.png"
    assert cv2.imwrite(str(path), image)
    return path


def _ok(command: str) -> str:
    result = runner.invoke(app, shlex.split(command))
    assert result.exit_code == 0, result.output
    return result.output


def _refused(code: str, command: str) -> str:
    result = runner.invoke(app, shlex.split(command))
    assert result.exit_code == 2, result.output
    assert f"[{code}]" in result.output
    return result.output


def _submit(plate: Path, tool: str, extra: str = "") -> str:
    output = _ok(
        "requests submit --as ari@studio.example --production NL --use-case vfx_cleanup "
        f"--tool '{tool}' --intent temporary --prompt 'lose the wire' "
        f"--input {shlex.quote(str(plate))}:plate {extra}"
    )
    found = re.search(r"Request (req_\w+)", output)
    assert found, output
    return found.group(1)


def _spans(path: Path) -> list[dict[str, Any]]:
    document = json.loads(path.read_text())
    spans: list[dict[str, Any]] = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    return spans


def test_runs_export_writes_otlp_traces_without_prompts_unless_asked(
    seeded: Platform, plate: Path, tmp_path: Path
) -> None:
    _submit(plate, "OpenCV inpaint", "--param 'regions=[[0,30,96,3]]'")
    out = tmp_path / "runs.json"
    assert "Wrote 1 run" in _ok(f"runs export --otlp {out} --production NL --since 2020-01-01")
    (span,) = _spans(out)
    keys = {a["key"] for a in span["attributes"]}
    assert "gen_ai.input.messages" not in keys and "greenlight.prompt.sha256" in keys
    assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"])

    _refused("cli.output_exists", f"runs export --otlp {out}")
    _ok(f"runs export --otlp {out} --prompts --force --as ari@studio.example")
    (span,) = _spans(out)
    messages = next(a for a in span["attributes"] if a["key"] == "gen_ai.input.messages")
    assert "lose the wire" in messages["value"]["stringValue"]

    assert "Wrote 0 runs" in _ok(f"runs export --otlp {out} --force --since 2999-01-01T00:00:00Z")
    _refused("cli.bad_since", f"runs export --otlp {out} --force --since yesterday")
    _refused("cli.bad_since", f"runs export --otlp {out} --force --since 2026-01-01T10:00:00")


def test_a_vendor_delivers_from_the_command_line(
    seeded: Platform, plate: Path, tmp_path: Path
) -> None:
    # Submitted through the services: `requests submit` tries to run queued work at once.
    with seeded.db.read() as conn:
        ari = find_person(conn, "ari@studio.example")
        assert ari is not None
        access = load_access(conn, ari)
        production_id = find_production(conn, "NL").id
        tool_id = find_tool(conn, "Lumen Roto").id
    asset, _ = upload(
        seeded, access, production_id, "plate.png", io.BytesIO(plate.read_bytes()), "image/png"
    )
    draft = RequestDraft(
        production_id=production_id,
        use_case="vfx_cleanup",
        tool_id=tool_id,
        intent="temporary",
        prompt="lose the wire",
        inputs=[InputRef(asset_id=asset.id, part="plate")],
    )
    request_id = submit(seeded, access, draft).request.id
    clean = tmp_path / "clean.png"
    assert cv2.imwrite(str(clean), np.full((64, 96, 3), 128, np.uint8))
    log = tmp_path / "log.json"
    log.write_text(
        json.dumps(
            {
                "tool_id": tool_id,
                "prompt": "lose the wire, keep the grain",
                "started_at": "2026-01-05T10:00:00Z",
                "finished_at": "2026-01-05T10:05:00Z",
                "cost_usd": 12,
            }
        )
    )
    command = f"requests deliver-vendor {request_id} --output {clean} --log {log}"
    _refused("vendor_delivery.not_allowed", f"{command} --as lena@studio.example")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    _refused(
        "vendor_delivery.bad_log",
        f"requests deliver-vendor {request_id} --output {clean} --log {bad} "
        "--as vera@lumenpost.example",
    )
    assert "in_review" in _ok(f"{command} --as vera@lumenpost.example")
    _refused("vendor_delivery.not_queued", f"{command} --as vera@lumenpost.example")


def test_rights_tools_rate_card_shows_and_sets_prices(seeded: Platform) -> None:
    assert "has no rate card" in _ok("rights tools rate-card 'OpenCV inpaint'")
    _refused(
        "vendor.oversight_only",
        "rights tools rate-card 'OpenCV inpaint' --per-run 1 --as ari@studio.example",
    )
    shown = _ok(
        "rights tools rate-card 'OpenCV inpaint' --per-run 0.40 --per-gpu-second 0.0021 "
        "--as lena@studio.example"
    )
    assert "$0.4 per run" in shown and "$0.0021 per GPU-second" in shown
    kept = _ok("rights tools rate-card 'OpenCV inpaint' --per-output 0.1")
    assert "$0.4 per run, $0.1 per output" in kept
    _refused("cli.bad_price", "rights tools rate-card 'OpenCV inpaint' --per-run cheap")
