"""Inpainting for VFX cleanup with OpenCV: fill part of a plate in from the pixels around it.

Removes what should not be in frame (dust, scratches, a wire, the tip of a boom
mic) with OpenCV's classical inpainting: no model weights, runs locally, and the
same inputs always give the same output.

Inputs: ``plate`` (a still, a sequence of stills in the order the request lists
them, or one MP4/QuickTime video) and what to fill, given either as one ``mask``
(an image of the plate's size whose non-zero pixels are filled, or for a video a
mask video of the same size and frame count, filled where brighter than
mid-grey) or as the ``regions`` parameter, a list of ``[x, y, w, h]`` rectangles
in pixels. Parameters: ``method`` (``"telea"``, the default, or
``"navier_stokes"``), ``radius`` (1 to 50, default 3: how far around each filled
pixel to look). Outputs: ``<plate stem>_clean.png`` per still (its size and
depth, alpha left as it was), or ``<plate stem>_clean.mov`` for a video (ProRes
422 HQ keeping the frame timing, timecode and audio). See
:mod:`greenlight.backends._plates` for how stills, sequences and clips are read
and written, and what is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import cv2
import numpy as np

from greenlight.backends._plates import (
    MEDIA_IN,
    MEDIA_OUT,
    Matte,
    Pixels,
    clean_plates,
    plan_cleanup,
    regions_parameter,
)
from greenlight.backends.base import (
    BackendInput,
    BackendResult,
    Capabilities,
    CheckedBackend,
    Parameter,
    Task,
    check_parameters,
)

METHODS = {"telea": cv2.INPAINT_TELEA, "navier_stokes": cv2.INPAINT_NS}
"""The inpainting algorithms, by the name the ``method`` parameter takes."""

DEFAULT_METHOD = "telea"
DEFAULT_RADIUS = 3
MAX_RADIUS = 50

# Both algorithms read known pixels within ``radius`` of a filled one, and the
# gradients next to those; past this margin, the rest of the frame cannot matter.
_MARGIN = 4


class OpenCVInpaintBackend(CheckedBackend):
    """Fills a mask, or rectangles, of a plate in from the surrounding pixels."""

    name = "inpaint-opencv"
    capabilities = Capabilities(
        tasks=("inpaint",),
        media_in={"plate": MEDIA_IN, "mask": MEDIA_IN},
        media_out=MEDIA_OUT,
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

        Reads only headers (size, format, orientation, frame count), so it is cheap
        enough to run before the work is queued.
        """
        effective = check_parameters(self.name, self.capabilities, parameters)
        if "regions" in effective:
            effective["regions"] = regions_parameter(self.name, effective["regions"])
        plan_cleanup(self.name, inputs, effective.get("regions"))
        return effective

    def work(self, task: Task) -> BackendResult:
        """Inpaint the plates and write the clean ones into ``out_dir``."""
        inputs, effective, out_dir, _, progress = task
        cleanup = plan_cleanup(self.name, inputs, effective.get("regions"))
        radius, method = effective["radius"], METHODS[effective["method"]]

        def fill(colour: Pixels, matte: Matte) -> Pixels:
            return inpaint_near_matte(colour, matte, radius, method)

        outputs, usage = clean_plates(cleanup, inputs, out_dir, fill, progress)
        return BackendResult(
            outputs=outputs,
            model=f"opencv.inpaint.{effective['method']}",
            model_version=cv2.__version__,
            parameters=effective,
            seed=None,
            usage=usage,
            cost_usd=Decimal("0"),  # runs on our own machine
            kind="edited",
        )


def inpaint_near_matte(colour: Pixels, matte: Matte, radius: int, method: int) -> Pixels:
    """``colour`` (grey or BGR, 8 or 16 bits) with the matte's pixels inpainted.

    Only the part of the frame around the matte is handed to OpenCV, which gives
    the same pixels as the whole frame (the algorithms look no further than
    ``radius``) in a fraction of the time on a large plate with a small matte.
    """
    height, width = colour.shape[:2]
    reach = radius + _MARGIN
    x0, y0, x1, y1 = matte.box
    x0, y0 = max(0, x0 - reach), max(0, y0 - reach)
    x1, y1 = min(width, x1 + reach), min(height, y1 + reach)
    area = np.ascontiguousarray(colour[y0:y1, x0:x1])
    mask = np.ascontiguousarray(matte.pixels[y0:y1, x0:x1])
    if area.dtype == np.uint8:
        filled = cv2.inpaint(area, mask, radius, method)
    else:
        # OpenCV inpaints 16 bits one channel at a time only; channels are filled
        # independently anyway, so this matches its 8-bit colour result exactly.
        channels = [area] if area.ndim == 2 else [area[..., c] for c in range(area.shape[2])]
        layers = [cv2.inpaint(np.ascontiguousarray(ch), mask, radius, method) for ch in channels]
        filled = layers[0] if area.ndim == 2 else np.stack(layers, axis=2)
    out = colour.copy()
    out[y0:y1, x0:x1] = filled
    return out
