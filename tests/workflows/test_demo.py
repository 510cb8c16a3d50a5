"""The sample production and its story, as `greenlight demo` runs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from greenlight.core import Settings
from greenlight.engine import assets
from greenlight.engine.platform import Platform
from greenlight.engine.requests import load_detail
from greenlight.workflows import (
    MARKER,
    SCENARIO_STEPS,
    DemoCast,
    DemoRow,
    plate_images,
    reset_demo_data,
    run_scenario,
    seed,
)
from tests.expect import refused


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    opened = Platform.open(settings)
    yield opened
    opened.close()


@pytest.fixture
def played(platform: Platform) -> tuple[DemoCast, list[DemoRow], list[str]]:
    cast = seed(platform)
    steps: list[str] = []
    return cast, run_scenario(platform, cast, steps.append), steps


def _demo_settings(data_dir: Path) -> Settings:
    return Settings.from_env({"GREENLIGHT_DATA_DIR": str(data_dir)})


def test_the_scenario_shows_allow_approval_and_deny(
    played: tuple[DemoCast, list[DemoRow], list[str]],
) -> None:
    _, rows, steps = played

    assert [(r.outcome, r.state) for r in rows] == [
        ("allow", "delivered"),
        ("needs_approval", "awaiting_approval"),
        ("deny", "denied"),
        ("needs_approval", "in_review"),
        ("needs_approval", "awaiting_approval"),
    ]
    assert [r.outputs for r in rows] == [1, 0, 0, 1, 0]
    assert len(steps) == SCENARIO_STEPS
    indexes = [r.ledger_index for r in rows]
    assert indexes == sorted(indexes) and len(set(indexes)) == 5


def test_the_watched_character_in_the_prompt_sends_it_to_legal(
    platform: Platform, played: tuple[DemoCast, list[DemoRow], list[str]]
) -> None:
    _, rows, _ = played
    with platform.db.read() as conn:
        watched = load_detail(conn, rows[4].request_id)
    assert watched.decision is not None
    assert "watchlist-hit-needs-legal" in watched.decision.rules
    assert {r for req in watched.decision.required for r in req.roles} == {"legal"}


def test_the_unconsented_performer_is_denied_by_the_consent_rule(
    platform: Platform, played: tuple[DemoCast, list[DemoRow], list[str]]
) -> None:
    _, rows, _ = played
    with platform.db.read() as conn:
        denied = load_detail(conn, rows[2].request_id)
        final = load_detail(conn, rows[1].request_id)
    assert denied.decision is not None
    assert denied.decision.rules == ("alteration-needs-consent",)
    assert final.decision is not None
    assert {r for req in final.decision.required for r in req.roles} == {"showrunner", "director"}


def test_the_delivered_cleanup_has_no_wire_and_trusted_credentials(
    platform: Platform, played: tuple[DemoCast, list[DemoRow], list[str]]
) -> None:
    cast, rows, _ = played
    with platform.db.read() as conn:
        detail = load_detail(conn, rows[0].request_id)
    assert detail.delivery is not None and detail.delivery.destination == "editorial"
    output = detail.outputs[0]
    assert set(output.parents) == {cast.plate.id, cast.mask.id}

    plate_png, mask_png = plate_images()
    mask = cv2.imdecode(np.frombuffer(mask_png, np.uint8), cv2.IMREAD_GRAYSCALE) > 0
    before = cv2.imdecode(np.frombuffer(plate_png, np.uint8), cv2.IMREAD_COLOR).astype(int)
    after = cv2.imdecode(
        np.frombuffer(platform.blobs.read_bytes(output.sha256), np.uint8), cv2.IMREAD_COLOR
    ).astype(int)
    # The wire was far brighter than the sky under it; after the paint-out it is gone.
    assert before[mask].max() >= 230
    assert after[mask].max() < 230
    assert (after[~mask] == before[~mask]).all()
    assert assets.credentials(platform, output).state == "Trusted"


def test_a_missing_data_dir_is_created_and_marked(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "demo"

    message = reset_demo_data(_demo_settings(data_dir))

    assert message == f"Creating the demo data in {data_dir}."
    assert (data_dir / MARKER).is_file()


def test_an_earlier_demo_is_wiped_and_the_dir_stays_marked(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    settings = _demo_settings(data_dir)
    reset_demo_data(settings)
    (data_dir / "blobs" / "sha256").mkdir(parents=True)
    (data_dir / "greenlight.db").write_bytes(b"old")

    message = reset_demo_data(settings)

    assert "Resetting the demo data" in message and "earlier `greenlight demo`" in message
    assert sorted(p.name for p in data_dir.iterdir()) == [MARKER]


def test_a_dir_with_other_data_is_refused_and_left_untouched(tmp_path: Path) -> None:
    data_dir = tmp_path / "studio"
    data_dir.mkdir()
    (data_dir / "greenlight.db").write_bytes(b"the studio's real database")

    with refused("demo.data_dir_in_use"):
        reset_demo_data(_demo_settings(data_dir))

    assert sorted(p.name for p in data_dir.iterdir()) == ["greenlight.db"]
    assert (data_dir / "greenlight.db").read_bytes() == b"the studio's real database"


def test_a_database_outside_the_data_dir_is_refused(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "GREENLIGHT_DATA_DIR": str(tmp_path / "demo"),
            "GREENLIGHT_DATABASE_URL": "postgresql+psycopg://studio@db.example/greenlight",
        }
    )

    with refused("demo.external_database"):
        reset_demo_data(settings)

    assert not (tmp_path / "demo").exists()
