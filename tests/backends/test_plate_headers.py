"""A plate's header is read once per file: a file rewritten in place is read again."""

from __future__ import annotations

import os
from pathlib import Path

from greenlight.backends import BackendInput
from greenlight.backends._plates import MAX_PIXELS, still_size
from tests.api.studio import bomb_png
from tests.expect import refused
from tests.media import make_image


def test_a_plate_rewritten_in_place_is_measured_again(tmp_path: Path) -> None:
    plate = BackendInput(make_image(tmp_path / "plate.png", (64, 48)), "plate", "image/png")
    assert still_size("inpaint-opencv", plate) == (64, 48)
    assert still_size("inpaint-opencv", plate) == (64, 48)

    make_image(plate.path, (80, 40))
    os.utime(plate.path, ns=(1, 1))  # even with a clock too coarse to move the mtime
    assert still_size("inpaint-opencv", plate) == (80, 40)


def test_a_plate_refused_once_is_refused_every_time(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png())
    plate = BackendInput(bomb, "plate", "image/png")
    assert MAX_PIXELS < 100_000 * 100_000
    for _ in range(2):
        with refused("backend.inpaint-opencv.image_too_large"):
            still_size("inpaint-opencv", plate)
    mislabelled = BackendInput(make_image(tmp_path / "plate.png"), "plate", "image/jpeg")
    for _ in range(2):
        with refused("backend.inpaint-opencv.unsupported_type"):
            still_size("inpaint-opencv", mislabelled)
