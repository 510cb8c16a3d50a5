"""Inpainting for VFX cleanup with PatchMatch: fill a hole with texture copied from the plate.

Where OpenCV's inpainting smears the colours at the edge of the hole inwards
(right for a thin wire or a scratch), PatchMatch copies whole patches of the
plate into it, so grass, brick or film grain behind a removed object come back
as texture. It runs on the CPU from ``patchmatch-cython``, coarse to fine over
an image pyramid, with no model weights. Its patch search is random: the run
records the seed it used, and the same inputs, parameters and seed give the same
pixels; every frame of a clip or sequence is filled with that same seed.

Inputs and outputs are those of ``inpaint-opencv`` (stills, a sequence of stills
in request order, or one MP4/QuickTime video, with a ``mask`` or ``regions``;
see :mod:`greenlight.backends._plates`). Parameters: ``patch_size`` (an odd
number of pixels from 3 to 21, default 7: the side of the square patches
compared and copied) and ``regions``. A 16-bit plate is filled at 8-bit
precision (the library's) and scaled back; pixels outside the mask keep their
16 bits.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import patchmatch_cython  # type: ignore[import-untyped]

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
    bad_parameter,
    check_parameters,
)
from greenlight.core.errors import InvalidInput

DEFAULT_PATCH_SIZE = 7
MAX_PATCH_SIZE = 21
MAX_SEED = 2**32 - 1  # numpy's generators take any such seed


class PatchMatchInpaintBackend(CheckedBackend):
    """Fills a mask, or rectangles, of a plate with patches found elsewhere in it."""

    name = "inpaint-patchmatch"
    capabilities = Capabilities(
        tasks=("inpaint",),
        media_in={"plate": MEDIA_IN, "mask": MEDIA_IN},
        media_out=MEDIA_OUT,
        parameters=(
            Parameter(
                "patch_size",
                "int",
                "side of the square patches compared and copied, an odd number of pixels",
                default=DEFAULT_PATCH_SIZE,
                minimum=3,
                maximum=MAX_PATCH_SIZE,
            ),
            Parameter("regions", "json", "rectangles to fill, [[x, y, w, h], ...]"),
        ),
        seeded=True,
    )

    def check(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Refuse a request this backend cannot do; return its normalized parameters.

        Reads only headers (size, format, orientation, frame count), so it is cheap
        enough to run before the work is queued.
        """
        effective = check_parameters(self.name, self.capabilities, parameters)
        patch_size = effective["patch_size"]
        if patch_size % 2 == 0:
            raise bad_parameter(
                self.name,
                f"'patch_size' must be odd, so a patch has a centre pixel; not {patch_size}.",
            )
        if "regions" in effective:
            effective["regions"] = regions_parameter(self.name, effective["regions"])
        cleanup = plan_cleanup(self.name, inputs, effective.get("regions"))
        if min(cleanup.width, cleanup.height) < patch_size:
            raise InvalidInput(
                f"The plate ({cleanup.width}x{cleanup.height}) is smaller than one "
                f"{patch_size}x{patch_size} patch; use a smaller 'patch_size' or inpaint-opencv.",
                code=f"backend.{self.name}.plate_too_small",
            )
        return effective

    def work(self, task: Task) -> BackendResult:
        """Inpaint the plates with ``seed`` (one is drawn when ``None``) into ``out_dir``."""
        inputs, effective, out_dir, seed, progress = task
        if seed is None:
            seed = secrets.randbelow(MAX_SEED + 1)
        elif seed < 0:
            raise bad_parameter(self.name, f"The seed must be a whole number from 0, not {seed}.")
        cleanup = plan_cleanup(self.name, inputs, effective.get("regions"))
        # The engine's seeds run to 2**63-1; the generator takes 32 bits of them.
        patch_size, chosen = effective["patch_size"], seed % (MAX_SEED + 1)

        def fill(colour: Pixels, matte: Matte) -> Pixels:
            return fill_with_patches(colour, matte, patch_size, chosen)

        outputs, usage = clean_plates(cleanup, inputs, out_dir, fill, progress)
        return BackendResult(
            outputs=outputs,
            model="patchmatch_cython.inpaint_pyramid",
            model_version=patchmatch_cython.__version__,
            parameters=effective,
            seed=seed,
            usage=usage,
            cost_usd=Decimal("0"),  # runs on our own machine
            kind="edited",
        )


def fill_with_patches(colour: Pixels, matte: Matte, patch_size: int, seed: int) -> Pixels:
    """``colour`` (grey or BGR, 8 or 16 bits) with the matte's pixels filled by PatchMatch."""
    scale = 257.0 if colour.dtype == np.uint16 else 1.0
    # The library works in floats on a 0-255 scale and rounds to 8 bits at the end.
    working = colour.astype(np.float32) / np.float32(scale)
    filled = patchmatch_cython.inpaint_pyramid(
        working, matte.pixels, patch_size=patch_size, seed=seed
    )
    filled = filled.reshape(colour.shape)
    hole = matte.pixels > 0
    out = colour.copy()
    out[hole] = (filled[hole].astype(np.float32) * np.float32(scale)).round().astype(colour.dtype)
    return out
