"""The inpaint-opencv backend cleaning real images built on the spot, and what it refuses."""

from __future__ import annotations

import json
import struct
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from greenlight.backends import (
    BACKENDS,
    Backend,
    BackendInput,
    BackendResult,
    OpenCVInpaintBackend,
    backend_for,
)
from greenlight.core.errors import InvalidInput, NotFound
from tests.expect import refused
from tests.media import make_image

HEIGHT, WIDTH = 120, 160
SCRATCH = ((10, 15), (150, 100))  # a diagonal from near one corner to near the other


def gradient(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A smooth, noise-free BGR plate: what inpainting can restore almost exactly."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [x * 255 / (width - 1), y * 255 / (height - 1), (x + y) * 255 / (width + height)]
    return np.stack(channels, axis=2).round().astype(np.uint8)


def scratched(plate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The plate with a bright scratch across it, and a mask that covers the scratch."""
    damaged = plate.copy()
    white = (65535,) * 3 if plate.dtype == np.uint16 else (255,) * 3
    cv2.line(damaged, *SCRATCH, white, 2)
    mask = np.zeros(plate.shape[:2], dtype=np.uint8)
    cv2.line(mask, *SCRATCH, 255, 4)  # a little wider than the scratch, as an artist paints it
    return damaged, mask


def write(path: Path, pixels: np.ndarray) -> Path:
    ok, encoded = cv2.imencode(path.suffix, pixels)
    assert ok
    path.write_bytes(encoded.tobytes())
    return path


def read(path: Path) -> np.ndarray:
    return np.asarray(cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), -1))


def plate(path: Path, media_type: str = "image/png") -> BackendInput:
    return BackendInput(path=path, part="plate", media_type=media_type)


def mask(path: Path) -> BackendInput:
    return BackendInput(path=path, part="mask", media_type="image/png")


def error_in_area(image: np.ndarray, truth: np.ndarray, area: np.ndarray) -> float:
    """Mean absolute difference per channel value, over the pixels where ``area`` is set."""
    return float(np.abs(image.astype(np.int64) - truth)[area > 0].mean())


def clean(tmp_path: Path, inputs: list[BackendInput], **parameters: Any) -> BackendResult:
    return OpenCVInpaintBackend().run(inputs, parameters, tmp_path / "out")


@pytest.fixture
def scratched_plate(tmp_path: Path) -> tuple[np.ndarray, np.ndarray, list[BackendInput]]:
    """(the clean original, the scratch mask, inputs of the damaged plate and its mask)."""
    original = gradient()
    damaged, scratch = scratched(original)
    inputs = [
        plate(write(tmp_path / "sh010_plate.png", damaged)),
        mask(write(tmp_path / "sh010_mask.png", scratch)),
    ]
    return original, scratch, inputs


# What it does.


@pytest.mark.parametrize("method", ["telea", "navier_stokes"])
def test_a_scratch_across_a_plate_is_painted_out(
    tmp_path: Path, scratched_plate: tuple[np.ndarray, np.ndarray, list[BackendInput]], method: str
) -> None:
    original, scratch, inputs = scratched_plate
    damaged = read(inputs[0].path)

    result = clean(tmp_path, inputs, method=method)

    cleaned = read(result.outputs[0].path)
    before = error_in_area(damaged, original, scratch)
    after = error_in_area(cleaned, original, scratch)
    assert before > 50  # the scratch is plainly visible
    assert after < 3  # measured: 1.5 (telea), 0.9 (navier_stokes)
    assert before / after > 20
    # Nothing outside the mask is touched.
    assert np.array_equal(cleaned[scratch == 0], damaged[scratch == 0])
    assert result.model == f"opencv.inpaint.{method}"


def test_the_result_says_what_was_done_and_where_it_came_from(
    tmp_path: Path, scratched_plate: tuple[np.ndarray, np.ndarray, list[BackendInput]]
) -> None:
    _, scratch, inputs = scratched_plate
    mask_first = [inputs[1], inputs[0]]  # lineage follows positions, not roles
    backend = backend_for("inpaint-opencv")

    parameters = backend.check(mask_first, {})  # when the request is made
    result = backend.run(mask_first, parameters, tmp_path / "out")  # later, in a worker

    (output,) = result.outputs
    assert output.path == tmp_path / "out" / "sh010_plate_clean.png"
    assert output.media_type == "image/png"
    assert output.parents == (1, 0)
    assert result.model == "opencv.inpaint.telea"
    assert result.model_version == cv2.__version__
    assert parameters == result.parameters == {"method": "telea", "radius": 3}
    assert json.loads(json.dumps(result.parameters)) == result.parameters
    assert result.usage == {"pixels": WIDTH * HEIGHT, "masked_pixels": np.count_nonzero(scratch)}
    assert result.seed is None
    assert result.cost_usd == Decimal("0")
    assert result.kind == "edited"
    assert 0 <= result.duration_ms < 5000


def test_rectangles_fill_exactly_as_a_mask_of_the_same_rectangles(tmp_path: Path) -> None:
    damaged = gradient()
    rectangles = [[20, 30, 6, 6], [100, 70, 12, 3]]  # two specks of dust
    painted = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    for x, y, w, h in rectangles:
        damaged[y : y + h, x : x + w] = (0, 0, 255)
        painted[y : y + h, x : x + w] = 255
    plate_in = plate(write(tmp_path / "dust.png", damaged))

    by_regions = clean(tmp_path / "a", [plate_in], regions=rectangles, radius=5)
    by_mask = clean(tmp_path / "b", [plate_in, mask(write(tmp_path / "m.png", painted))], radius=5)

    assert np.array_equal(read(by_regions.outputs[0].path), read(by_mask.outputs[0].path))
    assert by_regions.parameters == {"method": "telea", "radius": 5, "regions": rectangles}
    assert by_regions.outputs[0].parents == (0,)
    assert by_regions.usage["masked_pixels"] == 6 * 6 + 12 * 3


def test_the_alpha_channel_comes_out_untouched(tmp_path: Path) -> None:
    damaged, scratch = scratched(gradient())
    alpha = np.tile(np.linspace(0, 255, WIDTH).astype(np.uint8), (HEIGHT, 1))  # a soft matte
    plate_in = plate(write(tmp_path / "matte.png", np.dstack([damaged, alpha])))

    result = clean(tmp_path, [plate_in, mask(write(tmp_path / "m.png", scratch))])

    cleaned = read(result.outputs[0].path)
    assert cleaned.shape == (HEIGHT, WIDTH, 4)
    assert np.array_equal(cleaned[..., 3], alpha)
    assert error_in_area(cleaned[..., :3], gradient(), scratch) < 3


def test_a_sixteen_bit_plate_stays_sixteen_bit(tmp_path: Path) -> None:
    original = gradient().astype(np.uint16) * 257
    damaged, scratch = scratched(original)
    plate_in = plate(write(tmp_path / "log.png", damaged))

    result = clean(tmp_path, [plate_in, mask(write(tmp_path / "m.png", scratch))])

    cleaned = read(result.outputs[0].path)
    assert cleaned.dtype == np.uint16
    assert cleaned.shape == original.shape
    assert error_in_area(cleaned, original, scratch) < 3 * 257


def test_a_grey_jpeg_plate_comes_out_as_a_grey_png(tmp_path: Path) -> None:
    damaged, scratch = scratched(gradient())
    grey = cv2.cvtColor(damaged, cv2.COLOR_BGR2GRAY)
    plate_in = plate(write(tmp_path / "grey.jpg", grey), "image/jpeg")

    result = clean(tmp_path, [plate_in, mask(write(tmp_path / "m.png", scratch))])

    assert read(result.outputs[0].path).shape == (HEIGHT, WIDTH)
    assert result.outputs[0].path.name == "grey_clean.png"


def test_a_mask_painted_white_on_a_transparent_layer_fills_only_the_strokes(
    tmp_path: Path,
) -> None:
    stroke = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    stroke[40:44, 30:90] = 255
    # Paint apps often store white under fully transparent pixels: those are not strokes.
    layer = np.dstack([np.full((HEIGHT, WIDTH, 3), 255, np.uint8), stroke])
    plate_in = plate(make_image(tmp_path / "frame.png", size=(WIDTH, HEIGHT)))

    result = clean(tmp_path, [plate_in, mask(write(tmp_path / "layer.png", layer))])

    assert result.usage["masked_pixels"] == 4 * 60


def test_a_plate_under_a_non_ascii_path_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "plans_été_東京"
    folder.mkdir()
    plate_in = plate(make_image(folder / "plaque_01.png", size=(WIDTH, HEIGHT)))

    result = clean(folder, [plate_in], regions=[[5, 5, 4, 4]])

    assert read(result.outputs[0].path).shape == (HEIGHT, WIDTH, 3)


def test_inpaint_opencv_is_found_by_name() -> None:
    backend: Backend = backend_for("inpaint-opencv")

    assert isinstance(backend, OpenCVInpaintBackend)
    assert backend.name == "inpaint-opencv"
    assert "inpaint-opencv" in BACKENDS


def test_an_unknown_backend_is_not_found_and_the_known_ones_are_named() -> None:
    with pytest.raises(NotFound) as caught:
        backend_for("nope")

    assert caught.value.code == "backend.unknown"
    assert "inpaint-opencv" in caught.value.message


# What it refuses, before any work is queued.


def test_a_mask_of_another_size_is_refused(tmp_path: Path) -> None:
    plate_in = plate(make_image(tmp_path / "p.png", size=(WIDTH, HEIGHT)))
    small = mask(write(tmp_path / "m.png", np.full((HEIGHT // 2, WIDTH // 2), 255, np.uint8)))

    with refused("backend.inpaint-opencv.mask_size_mismatch", InvalidInput):
        OpenCVInpaintBackend().check([plate_in, small], {})
    with refused("backend.inpaint-opencv.mask_size_mismatch", InvalidInput):
        clean(tmp_path, [plate_in, small])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "parameters",
    [
        {"regions": [[0, 0, 2, 2]], "strength": 0.8},  # not a parameter of inpainting
        {"regions": [[0, 0, 2, 2]], "method": "Telea"},  # names are exact
        {"regions": [[0, 0, 2, 2]], "method": True},  # a choice is a string, not a switch
        {"regions": [[0, 0, 2, 2]], "radius": 0},
        {"regions": [[0, 0, 2, 2]], "radius": 51},
        {"regions": [[0, 0, 2, 2]], "radius": 3.0},
        {"regions": [[0, 0, 2, 2]], "radius": True},
        {"regions": []},
        {"regions": [[0, 0, 2]]},
        {"regions": [[0, 0, 2, 2.5]]},
        {"regions": [[0, 0, 0, 2]]},
        {"regions": [[-1, 0, 2, 2]]},
        {"regions": "0,0,2,2"},
    ],
)
def test_a_bad_parameter_is_refused(tmp_path: Path, parameters: dict[str, Any]) -> None:
    plate_in = plate(make_image(tmp_path / "p.png", size=(WIDTH, HEIGHT)))

    with refused("backend.inpaint-opencv.bad_parameter", InvalidInput):
        OpenCVInpaintBackend().check([plate_in], parameters)


def test_a_region_reaching_off_the_plate_is_refused(tmp_path: Path) -> None:
    plate_in = plate(make_image(tmp_path / "p.png", size=(WIDTH, HEIGHT)))

    with refused("backend.inpaint-opencv.region_outside_plate", InvalidInput):
        OpenCVInpaintBackend().check([plate_in], {"regions": [[WIDTH - 4, 0, 5, 5]]})


def test_garbage_bytes_sent_as_a_plate_are_refused(tmp_path: Path) -> None:
    (tmp_path / "p.png").write_bytes(b"\x89PNG but then not an image at all" * 10)

    with refused("backend.inpaint-opencv.unreadable_image", InvalidInput):
        OpenCVInpaintBackend().check([plate(tmp_path / "p.png")], {"regions": [[0, 0, 1, 1]]})


def test_a_truncated_plate_whose_header_is_intact_is_refused_when_run(tmp_path: Path) -> None:
    whole = make_image(tmp_path / "whole.png", size=(WIDTH, HEIGHT)).read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])  # a copy that stopped halfway
    cut = plate(tmp_path / "cut.png")
    OpenCVInpaintBackend().check([cut], {"regions": [[0, 0, 1, 1]]})  # the header alone looks fine

    with refused("backend.inpaint-opencv.unreadable_image", InvalidInput):
        clean(tmp_path, [cut], regions=[[0, 0, 1, 1]])


def png_header_claiming(path: Path, width: int, height: int) -> Path:
    """A few dozen bytes of valid PNG header that announce a ``width`` x ``height`` image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize(
    ("width", "height"),
    [(10_000, 8_500), (100_000, 100_000)],  # over our limit; far over Pillow's too
)
def test_an_image_claiming_huge_dimensions_is_refused_before_decoding(
    tmp_path: Path, width: int, height: int
) -> None:
    bomb = plate(png_header_claiming(tmp_path / "bomb.png", width, height))

    with refused("backend.inpaint-opencv.image_too_large", InvalidInput):
        OpenCVInpaintBackend().check([bomb], {"regions": [[0, 0, 1, 1]]})


def test_a_plate_that_needs_an_exif_rotation_to_look_right_is_refused(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, shown turned 90 degrees
    path = make_image(tmp_path / "phone.jpg", size=(WIDTH, HEIGHT), exif=exif)

    with refused("backend.inpaint-opencv.rotated_image", InvalidInput):
        OpenCVInpaintBackend().check([plate(path, "image/jpeg")], {"regions": [[0, 0, 1, 1]]})


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("p.gif", "image/gif"), ("p.gif", "image/png"), ("p.png", "application/octet-stream")],
)
def test_a_plate_that_is_not_png_jpeg_tiff_or_webp_is_refused(
    tmp_path: Path, name: str, media_type: str
) -> None:
    path = tmp_path / name
    Image.new("RGB", (8, 8)).save(path, "GIF" if name.endswith(".gif") else "PNG")

    with refused("backend.inpaint-opencv.unsupported_type", InvalidInput):
        OpenCVInpaintBackend().check([plate(path, media_type)], {"regions": [[0, 0, 1, 1]]})


def test_inputs_must_be_plates_and_at_most_one_mask(tmp_path: Path) -> None:
    p = plate(make_image(tmp_path / "p.png", size=(WIDTH, HEIGHT)))
    m = mask(write(tmp_path / "m.png", np.full((HEIGHT, WIDTH), 255, np.uint8)))
    reference = BackendInput(path=p.path, part="reference", media_type="image/png")
    backend = OpenCVInpaintBackend()

    with refused("backend.inpaint-opencv.missing_plate", InvalidInput):
        backend.check([m], {})
    with refused("backend.inpaint-opencv.too_many_inputs", InvalidInput):
        backend.check([p, m, m], {})
    with refused("backend.inpaint-opencv.duplicate_frame_name", InvalidInput):
        backend.check([p, p, m], {})  # a sequence's frames each need their own name
    with refused("backend.inpaint-opencv.unexpected_input", InvalidInput):
        backend.check([p, m, reference], {})
    with refused("backend.inpaint-opencv.no_mask", InvalidInput):
        backend.check([p], {})
    with refused("backend.inpaint-opencv.mask_and_regions", InvalidInput):
        backend.check([p, m], {"regions": [[0, 0, 1, 1]]})


@pytest.mark.parametrize(
    ("fill", "code"),
    [(0, "backend.inpaint-opencv.empty_mask"), (255, "backend.inpaint-opencv.mask_covers_plate")],
)
def test_a_mask_that_marks_nothing_or_everything_is_refused(
    tmp_path: Path, fill: int, code: str
) -> None:
    p = plate(make_image(tmp_path / "p.png", size=(WIDTH, HEIGHT)))
    m = mask(write(tmp_path / "m.png", np.full((HEIGHT, WIDTH), fill, np.uint8)))

    with refused(code, InvalidInput):
        clean(tmp_path, [p, m])
