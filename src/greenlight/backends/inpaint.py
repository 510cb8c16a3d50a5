"""Inpainting for VFX cleanup: fill part of a plate in from the pixels around it.

Removes what should not be in frame (dust, scratches, a wire, the tip of a boom
mic) with OpenCV's classical inpainting: no model weights, runs locally, and the
same inputs always give the same output.

Inputs: one ``plate`` (PNG, JPEG, TIFF or WebP; 8 or 16 bits; grey, colour, with
or without alpha) and what to fill, given either as one ``mask`` image of the
plate's size (non-zero pixels are filled) or as the ``regions`` parameter, a list
of ``[x, y, w, h]`` rectangles in pixels. Parameters: ``method`` (``"telea"``, the
default, or ``"navier_stokes"``), ``radius`` (1 to 50, default 3: how far around
each filled pixel to look). Output: ``<plate stem>_clean.png``, the plate's size
and depth, with its alpha channel left as it was.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from greenlight.backends.base import (
    BackendInput,
    BackendOutput,
    BackendResult,
    Capabilities,
    Parameter,
    Progress,
    no_progress,
)
from greenlight.core.errors import InvalidInput

MAX_PIXELS = 80_000_000
"""Largest image (width x height) decoded; checked from the header, before decoding."""

METHODS = {"telea": cv2.INPAINT_TELEA, "navier_stokes": cv2.INPAINT_NS}
"""The inpainting algorithms, by the name the ``method`` parameter takes."""

DEFAULT_METHOD = "telea"
DEFAULT_RADIUS = 3
MAX_RADIUS = 50
MAX_REGIONS = 1000

PARAMETERS = frozenset({"method", "radius", "regions"})
"""Every parameter name the backend accepts."""

# Declared media type -> the format Pillow must find in the content. MPO is how
# Pillow names the multi-picture JPEGs many cameras write.
_FORMATS = {
    "image/png": {"PNG"},
    "image/jpeg": {"JPEG", "MPO"},
    "image/tiff": {"TIFF"},
    "image/webp": {"WEBP"},
}
_EXIF_ORIENTATION = 0x0112

Pixels = npt.NDArray[Any]


class InpaintBackend:
    """Fills a mask, or rectangles, of a plate in from the surrounding pixels."""

    name = "inpaint"
    capabilities = Capabilities(
        tasks=("inpaint",),
        media_in={"plate": tuple(_FORMATS), "mask": tuple(_FORMATS)},
        media_out=("image/png",),
        parameters=(
            Parameter(
                "method",
                "str",
                "the inpainting algorithm",
                default=DEFAULT_METHOD,
                choices=tuple(METHODS),
            ),
            Parameter(
                "radius",
                "int",
                "how far around each filled pixel to look, in pixels",
                default=DEFAULT_RADIUS,
                minimum=1,
                maximum=MAX_RADIUS,
            ),
            Parameter("regions", "json", "rectangles to fill, [[x, y, w, h], ...]"),
        ),
    )

    def check(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Refuse a request this backend cannot do; return its normalized parameters.

        Reads only image headers (size, format, orientation), so it is cheap
        enough to run before the work is queued.
        """
        plate_at, mask_at = _roles(inputs)
        effective = _parameters(parameters)
        width, height = _header(inputs[plate_at])
        if mask_at is None and "regions" not in effective:
            raise InvalidInput(
                "Nothing to fill: give a 'mask' image (non-zero pixels are filled) or "
                "the 'regions' parameter, a list of [x, y, w, h] rectangles.",
                code="backend.inpaint.no_mask",
            )
        if mask_at is not None and "regions" in effective:
            raise InvalidInput(
                "Both a 'mask' image and 'regions' were given; send only one of them, "
                "so the area to fill is never ambiguous.",
                code="backend.inpaint.mask_and_regions",
            )
        if mask_at is not None:
            mask_size = _header(inputs[mask_at])
            if mask_size != (width, height):
                raise InvalidInput(
                    f"The mask is {mask_size[0]}x{mask_size[1]} pixels but the plate is "
                    f"{width}x{height}; export the mask at the plate's size.",
                    code="backend.inpaint.mask_size_mismatch",
                    plate_size=[width, height],
                    mask_size=list(mask_size),
                )
        else:
            _check_regions_fit(effective["regions"], width, height)
        return effective

    def run(
        self,
        inputs: Sequence[BackendInput],
        parameters: Mapping[str, Any],
        out_dir: Path,
        *,
        seed: int | None = None,
        progress: Progress = no_progress,
    ) -> BackendResult:
        """Inpaint the plate and write ``<plate stem>_clean.png`` into ``out_dir``."""
        started = time.perf_counter()
        effective = self.check(inputs, parameters)
        plate_at, mask_at = _roles(inputs)
        plate = _decode(inputs[plate_at])
        height, width = plate.shape[:2]
        if mask_at is not None:
            mask = _mask_from_image(_decode(inputs[mask_at]))
        else:
            mask = _mask_from_regions(effective["regions"], width, height)
        masked = int(np.count_nonzero(mask))
        if masked == 0:
            raise InvalidInput(
                "The mask marks no pixel to fill (it is all black or transparent); paint "
                "the area to remove in white and try again.",
                code="backend.inpaint.empty_mask",
            )
        if masked == width * height:
            # Inpainting borrows from unmasked pixels; with none left it invents noise.
            raise InvalidInput(
                "The mask covers the whole plate, leaving nothing to fill it from; mask "
                "only the area to remove.",
                code="backend.inpaint.mask_covers_plate",
            )
        cleaned = _fill(plate, mask, effective["radius"], METHODS[effective["method"]])

        ok, encoded = cv2.imencode(".png", cleaned)
        if not ok:  # pragma: no cover - PNG takes every depth and channel count we pass
            raise RuntimeError("OpenCV could not encode the cleaned plate as PNG")
        out_dir.mkdir(parents=True, exist_ok=True)
        out_path = out_dir / f"{inputs[plate_at].path.stem}_clean.png"
        out_path.write_bytes(encoded.tobytes())

        parents = (plate_at,) if mask_at is None else (plate_at, mask_at)
        return BackendResult(
            outputs=(BackendOutput(path=out_path, media_type="image/png", parents=parents),),
            model=f"opencv.inpaint.{effective['method']}",
            model_version=cv2.__version__,
            parameters=effective,
            seed=None,
            usage={"pixels": width * height, "masked_pixels": masked},
            duration_ms=round((time.perf_counter() - started) * 1000),
            cost_usd=Decimal("0"),  # runs on our own machine
            kind="edited",
        )


# Checking the request.


def _roles(inputs: Sequence[BackendInput]) -> tuple[int, int | None]:
    """Positions of the plate and of the mask (if any) among the inputs."""
    plates = [i for i, item in enumerate(inputs) if item.part == "plate"]
    masks = [i for i, item in enumerate(inputs) if item.part == "mask"]
    others = sorted({item.part for item in inputs} - {"plate", "mask"})
    if others:
        raise InvalidInput(
            f"Inpainting takes a 'plate' and optionally a 'mask', not {', '.join(others)}; "
            "remove the other inputs.",
            code="backend.inpaint.unexpected_input",
            parts=others,
        )
    if not plates:
        raise InvalidInput(
            "No plate was given; send the image to clean as the input named 'plate'.",
            code="backend.inpaint.missing_plate",
        )
    if len(plates) > 1 or len(masks) > 1:
        raise InvalidInput(
            "Inpainting cleans one plate with at most one mask per request; send the "
            "others as separate requests.",
            code="backend.inpaint.too_many_inputs",
        )
    return plates[0], masks[0] if masks else None


def _parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters with defaults filled in, checked and in JSON-ready form."""
    unknown = sorted(str(key) for key in parameters if key not in PARAMETERS)
    if unknown:
        raise _bad_parameter(
            f"Unknown parameter {', '.join(unknown)}; inpainting takes "
            f"{', '.join(sorted(PARAMETERS))}."
        )
    method = parameters.get("method", DEFAULT_METHOD)
    if not isinstance(method, str) or method not in METHODS:
        raise _bad_parameter(
            f"'method' must be one of {', '.join(repr(m) for m in METHODS)}, not {method!r}."
        )
    radius = parameters.get("radius", DEFAULT_RADIUS)
    # bool is an int in Python; True is not a radius.
    if isinstance(radius, bool) or not isinstance(radius, int) or not 1 <= radius <= MAX_RADIUS:
        raise _bad_parameter(
            f"'radius' must be a whole number of pixels from 1 to {MAX_RADIUS}, not {radius!r}."
        )
    effective: dict[str, Any] = {"method": method, "radius": radius}
    if "regions" in parameters:
        effective["regions"] = _regions(parameters["regions"])
    return effective


def _regions(value: Any) -> list[list[int]]:
    """``regions`` as ``[x, y, w, h]`` lists of ints (checked against the plate later)."""
    shape_hint = "a list of [x, y, w, h] rectangles in whole pixels, e.g. [[10, 20, 30, 4]]"
    if not isinstance(value, list | tuple) or not value:
        raise _bad_parameter(f"'regions' must be {shape_hint}.")
    if len(value) > MAX_REGIONS:
        raise _bad_parameter(
            f"'regions' lists {len(value)} rectangles, more than {MAX_REGIONS}; send a mask "
            "image instead."
        )
    regions = []
    for rect in value:
        if (
            not isinstance(rect, list | tuple)
            or len(rect) != 4
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in rect)
        ):
            raise _bad_parameter(f"'regions' must be {shape_hint}; got {rect!r}.")
        x, y, w, h = rect
        if x < 0 or y < 0 or w < 1 or h < 1:
            raise _bad_parameter(
                f"A region's x and y must be at least 0 and its width and height at least 1; "
                f"got {list(rect)}."
            )
        regions.append([x, y, w, h])
    return regions


def _check_regions_fit(regions: list[list[int]], width: int, height: int) -> None:
    for x, y, w, h in regions:
        if x + w > width or y + h > height:
            raise InvalidInput(
                f"The region {[x, y, w, h]} reaches outside the {width}x{height} plate; "
                "keep every rectangle inside the image.",
                code="backend.inpaint.region_outside_plate",
                region=[x, y, w, h],
                plate_size=[width, height],
            )


def _bad_parameter(message: str) -> InvalidInput:
    return InvalidInput(message, code="backend.inpaint.bad_parameter")


def _header(item: BackendInput) -> tuple[int, int]:
    """Width and height from the image's header, after checking it is safe to decode."""
    formats = _FORMATS.get(item.media_type)
    if formats is None:
        raise _unsupported_type(item)
    try:
        with warnings.catch_warnings():
            # The size is checked below against our own, lower limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(item.path) as image:  # reads the header only
                width, height = image.size
                found = image.format
                if width * height > MAX_PIXELS:
                    raise _too_large(item, width, height)
                orientation = _orientation(image)
    except Image.DecompressionBombError:
        raise _too_large(item, None, None) from None
    except InvalidInput:
        raise
    except Exception as exc:  # Pillow raises many types on bad or missing files
        raise _unreadable(item) from exc
    if found not in formats:
        raise _unsupported_type(item)
    if orientation != 1:
        # Pixels are read as stored; the cleaned PNG would show turned or mirrored.
        raise InvalidInput(
            f"The {item.part} is stored turned or mirrored and relies on an EXIF "
            "orientation tag to display upright; export it with the rotation applied "
            "and try again.",
            code="backend.inpaint.rotated_image",
            part=item.part,
        )
    return width, height


def _orientation(image: Image.Image) -> int:
    # A PNG may keep its EXIF after the pixel data, and Pillow would decode the whole
    # image to reach it; an orientation tag there is rare enough to leave unread.
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    return int(image.getexif().get(_EXIF_ORIENTATION, 1))


def _unsupported_type(item: BackendInput) -> InvalidInput:
    return InvalidInput(
        f"The {item.part} must be a PNG, JPEG, TIFF or WebP image (sent as "
        f"{item.media_type}); convert it to one of these and try again.",
        code="backend.inpaint.unsupported_type",
        part=item.part,
        media_type=item.media_type,
    )


def _too_large(item: BackendInput, width: int | None, height: int | None) -> InvalidInput:
    size = f" ({width}x{height})" if width is not None else ""
    return InvalidInput(
        f"The {item.part} has more than {MAX_PIXELS} pixels{size}, too many to decode "
        "safely; send a smaller image.",
        code="backend.inpaint.image_too_large",
        part=item.part,
        max_pixels=MAX_PIXELS,
    )


def _unreadable(item: BackendInput) -> InvalidInput:
    return InvalidInput(
        f"The {item.part} is missing, damaged or not an image and cannot be read; export "
        "it again and send the new file.",
        code="backend.inpaint.unreadable_image",
        part=item.part,
    )


# Doing the work.


def _decode(item: BackendInput) -> Pixels:
    """The image's pixels as stored: OpenCV channel order (BGR/BGRA), depth kept."""
    # imdecode on bytes, because imread fails on some non-ASCII paths.
    data = np.frombuffer(item.path.read_bytes(), dtype=np.uint8)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None:
        raise _unreadable(item)
    return np.asarray(image)


def _mask_from_image(image: Pixels) -> Pixels:
    """Fill where any colour channel is non-zero (and, with alpha, not transparent).

    The alpha rule lets a mask painted white on a transparent layer work whatever
    colour its transparent pixels happen to store.
    """
    if image.ndim == 2:
        marked = image != 0
    elif image.shape[2] in (2, 4):
        marked = np.any(image[..., :-1] != 0, axis=2) & (image[..., -1] != 0)
    else:
        marked = np.any(image != 0, axis=2)
    mask: Pixels = marked.astype(np.uint8) * 255
    return mask


def _mask_from_regions(regions: list[list[int]], width: int, height: int) -> Pixels:
    mask = np.zeros((height, width), dtype=np.uint8)
    for x, y, w, h in regions:
        mask[y : y + h, x : x + w] = 255
    return mask


def _fill(plate: Pixels, mask: Pixels, radius: int, method: int) -> Pixels:
    """The plate with the masked pixels inpainted; alpha and depth kept."""
    if plate.dtype not in (np.uint8, np.uint16) or (plate.ndim == 3 and plate.shape[2] > 4):
        raise InvalidInput(
            f"The plate's pixel format ({plate.dtype}, "
            f"{1 if plate.ndim == 2 else plate.shape[2]} channels) is not supported; "
            "send 8- or 16-bit grey, grey with alpha, RGB or RGBA.",
            code="backend.inpaint.unsupported_pixel_format",
        )
    has_alpha = plate.ndim == 3 and plate.shape[2] in (2, 4)
    colour = np.ascontiguousarray(plate[..., :-1] if has_alpha else plate)
    if colour.ndim == 3 and colour.shape[2] == 1:
        colour = colour[..., 0]
    if colour.dtype == np.uint8:
        filled = cv2.inpaint(colour, mask, radius, method)
    else:
        # OpenCV inpaints 16 bits one channel at a time only; channels are filled
        # independently anyway, so this matches its 8-bit colour result exactly.
        channels = [colour] if colour.ndim == 2 else [colour[..., c] for c in range(3)]
        layers = [cv2.inpaint(np.ascontiguousarray(ch), mask, radius, method) for ch in channels]
        filled = layers[0] if colour.ndim == 2 else np.stack(layers, axis=2)
    if not has_alpha:
        return np.asarray(filled)
    out = plate.copy()
    out[..., :-1] = filled.reshape(*filled.shape[:2], -1)
    return out
