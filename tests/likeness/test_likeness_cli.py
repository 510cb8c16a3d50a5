"""`greenlight likeness enroll`, `templates` and `scan`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from greenlight.cli import app
from greenlight.core import Settings
from greenlight.engine.platform import Platform
from greenlight.workflows import seed
from tests.likeness import photos

runner = CliRunner()
LEGAL = "lena@studio.example"


@pytest.fixture
def seeded(env: Settings) -> Iterator[Platform]:
    platform = Platform.open(env)
    seed(platform)
    yield platform
    platform.close()


def test_legal_enrolls_a_performer_and_a_scan_finds_her(seeded: Platform, tmp_path: Path) -> None:
    photo = tmp_path / "maya.png"
    photo.write_bytes(photos.png(photos.astronaut()))
    enrolled = runner.invoke(app, ["likeness", "enroll", "Maya Okafor", str(photo), "--as", LEGAL])
    assert enrolled.exit_code == 0, enrolled.output
    assert "1 new template(s)" in enrolled.output

    listed = runner.invoke(app, ["likeness", "templates", "Maya Okafor", "--as", LEGAL])
    assert listed.exit_code == 0 and "face" in listed.output

    frame = tmp_path / "frame.png"
    frame.write_bytes(photos.png(photos.augmented()["in_720p_frame"]))
    scanned = runner.invoke(
        app, ["likeness", "scan", str(frame), "--production", "NL", "--json", "--as", LEGAL]
    )
    assert scanned.exit_code == 0, scanned.output
    (match,) = json.loads(scanned.output)["matches"]
    assert match["name"] == "Maya Okafor" and match["confidence"] > 0.9
    assert match["frame"] == 0 and match["time"] == 0.0
    left, top, width, _ = match["box"]
    assert 760 <= left <= 800 and 160 <= top <= 200 and 80 <= width <= 100


def test_others_may_neither_read_templates_nor_scan(seeded: Platform, tmp_path: Path) -> None:
    frame = tmp_path / "frame.png"
    frame.write_bytes(photos.png(photos.astronaut()))
    listed = runner.invoke(
        app, ["likeness", "templates", "Maya Okafor", "--as", "ari@studio.example"]
    )
    assert listed.exit_code == 2 and "likeness.templates_legal_only" in listed.output
    scanned = runner.invoke(
        app, ["likeness", "scan", str(frame), "--production", "NL", "--as", "ari@studio.example"]
    )
    assert scanned.exit_code == 2 and "likeness.scan_not_allowed" in scanned.output


def test_enrolling_a_photo_with_no_face_is_refused(seeded: Platform, tmp_path: Path) -> None:
    from skimage import data

    empty = tmp_path / "coffee.png"
    empty.write_bytes(photos.png(data.coffee()))
    refused = runner.invoke(app, ["likeness", "enroll", "Maya Okafor", str(empty), "--as", LEGAL])
    assert refused.exit_code == 2 and "likeness.face.none" in refused.output
