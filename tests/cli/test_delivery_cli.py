"""An auditor takes a delivered request's bundle away and checks it with the key alone."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from greenlight.cli import app
from greenlight.core.enums import Verdict
from greenlight.core.settings import Settings
from greenlight.engine import requests, runs
from greenlight.engine.platform import Platform
from tests.world import build_world


def test_bundle_written_then_verified_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("GREENLIGHT_DATA_DIR", str(data))
    platform = Platform.open(Settings.from_env())
    world = build_world(platform)
    made = requests.submit(platform, world.access("artist"), world.cleanup(world.upload_plate()))
    runs.run_request(platform, made.request.id)
    requests.review(platform, world.access("vfx"), made.request.id, Verdict.ACCEPT)
    key = platform.ledger.verifier_key
    platform.close()

    runner = CliRunner()
    zipped = tmp_path / "bundle.zip"
    wrote = runner.invoke(
        app, ["delivery", "bundle", made.request.id, "-o", str(zipped), "--as", "auditor@nl.test"]
    )
    assert wrote.exit_code == 0, wrote.output
    assert zipped.is_file()
    assert "outputs/plate_clean.png" in zipfile.ZipFile(zipped).namelist()

    monkeypatch.setenv("GREENLIGHT_DATA_DIR", str(tmp_path / "elsewhere"))  # no database needed
    checked = runner.invoke(app, ["delivery", "verify", str(zipped), "--key", key])
    assert checked.exit_code == 0, checked.output
    assert "Verified" in checked.output and "plate_clean.png" in checked.output

    outsider = runner.invoke(app, ["delivery", "verify", str(zipped), "--key", key[:-4] + "AAAA"])
    assert outsider.exit_code == 2
    assert not (tmp_path / "elsewhere").exists()
