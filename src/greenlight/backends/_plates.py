"""What the inpainting backends share: reading plates and mattes, and writing clean ones.

A request sends what to clean as ``plate`` inputs and what to fill as one
``mask`` input or as the ``regions`` parameter:

- one still plate (PNG, JPEG, TIFF or WebP; 8 or 16 bits; grey or colour, with or
  without alpha) gives one ``<plate stem>_clean.png``;
- several still plates are a frame sequence, cleaned in the order the request lists
  them, all with the same mask; each gives its own ``<plate stem>_clean.png`` (the
  plates must be the same size and have distinct names);
- one video plate (MP4 or QuickTime) gives ``<plate stem>_clean.mov``: ProRes 422 HQ
  (10 bits, 4:2:2), with every frame at its source timestamp, the source's time
  base and frame rate, its timecode, and its audio packets copied unchanged. Its
  mask is a still (the same matte on every frame) or a video of the same size and
  frame count (a moving matte, white where to fill).

Every check that needs only headers runs in :func:`plan_cleanup`, before work is
queued; the rest (truncated files, a clip ending early) is found while decoding.
Outputs are written under temporary names and renamed once everything succeeded,
so a refused or failed run leaves nothing behind. Refusals are ``InvalidInput``
with codes ``backend.<backend name>.<what>``.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from greenlight.backends.base import (
    BackendInput,
    BackendOutput,
    Progress,
    all_or_nothing,
    bad_parameter,
)
from greenlight.core.errors import InvalidInput

Pixels = npt.NDArray[Any]

MAX_PIXELS = 80_000_000
"""Largest still (width x height) decoded; checked from the header, before decoding."""

MAX_FRAME_PIXELS = 4096 * 2160
"""Largest video frame (DCI 4K), checked from the header."""

MAX_FRAMES = 15_000
"""Longest clip or frame sequence: ten minutes at 25 frames a second."""

MAX_REGIONS = 1000

# Declared media type -> the format Pillow must find in the content. MPO is how
# Pillow names the multi-picture JPEGs many cameras write.
STILLS = {
    "image/png": {"PNG"},
    "image/jpeg": {"JPEG", "MPO"},
    "image/tiff": {"TIFF"},
    "image/webp": {"WEBP"},
}
VIDEOS = ("video/mp4", "video/quicktime")
MEDIA_IN = (*STILLS, *VIDEOS)
MEDIA_OUT = ("image/png", "video/quicktime")

# FFmpeg's "prores" (prores_aw) encoder: standard ProRes any editorial or VFX tool reads,
# about five times faster than prores_ks on 1080p here (bench/bench_inpaint.py).
CLIP_CODEC = "prores_aw"
CLIP_PROFILE = "3"  # ProRes 422 HQ
CLIP_PIXEL_FORMAT = "yuv422p10le"

_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Matte:
    """What to fill on one frame: 255 where to fill, 0 elsewhere, and where that is."""

    pixels: Pixels
    marked: int
    box: tuple[int, int, int, int]
    """``x0, y0, x1, y1`` (end-exclusive) around every marked pixel; empty when none is."""

    @classmethod
    def of(cls, pixels: Pixels) -> Matte:
        """The matte of a 0/255 ``uint8`` image."""
        marked = int(np.count_nonzero(pixels))
        if not marked:
            return cls(pixels, 0, (0, 0, 0, 0))
        x, y, w, h = cv2.boundingRect(pixels)
        return cls(pixels, marked, (x, y, x + w, y + h))


Fill = Callable[[Pixels, Matte], Pixels]
"""Inpaints the colour channels of one frame (grey or BGR, 8 or 16 bits) under a matte."""


@dataclass(frozen=True)
class Clip:
    """What a video's header says about its picture."""

    width: int
    height: int
    frames: int
    rate: Fraction | None
    high_bit_depth: bool


@dataclass(frozen=True)
class Cleanup:
    """One checked request: which inputs are plates, what to fill, and at what size."""

    backend: str
    plates: tuple[int, ...]
    mask_at: int | None
    regions: list[list[int]] | None
    width: int
    height: int
    clip: Clip | None
    """The plate's header when it is a video."""
    mask_clip: Clip | None
    """The mask's header when it is a video."""

    def parents(self, plate_at: int) -> tuple[int, ...]:
        """Input positions an output made from ``plate_at`` comes from."""
        return (plate_at,) if self.mask_at is None else (plate_at, self.mask_at)


# Checking the request.


def regions_parameter(backend: str, value: Any) -> list[list[int]]:
    """``regions`` as ``[x, y, w, h]`` lists of ints (checked against the plate later)."""
    shape_hint = "a list of [x, y, w, h] rectangles in whole pixels, e.g. [[10, 20, 30, 4]]"
    if not isinstance(value, list | tuple) or not value:
        raise bad_parameter(backend, f"'regions' must be {shape_hint}.")
    if len(value) > MAX_REGIONS:
        raise bad_parameter(
            backend,
            f"'regions' lists {len(value)} rectangles, more than {MAX_REGIONS}; send a mask "
            "image instead.",
        )
    regions = []
    for rect in value:
        if (
            not isinstance(rect, list | tuple)
            or len(rect) != 4
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in rect)
        ):
            raise bad_parameter(backend, f"'regions' must be {shape_hint}; got {rect!r}.")
        x, y, w, h = rect
        if x < 0 or y < 0 or w < 1 or h < 1:
            raise bad_parameter(
                backend,
                "A region's x and y must be at least 0 and its width and height at least 1; "
                f"got {list(rect)}.",
            )
        regions.append([x, y, w, h])
    return regions


def plan_cleanup(
    backend: str, inputs: Sequence[BackendInput], regions: list[list[int]] | None
) -> Cleanup:
    """Check the inputs from their headers alone and say what the run will do.

    Cheap enough to run before work is queued: no frame is decoded.
    """
    plates, mask_at = _roles(backend, inputs)
    clip = None
    if any(inputs[i].media_type in VIDEOS for i in plates):
        if len(plates) > 1:
            raise InvalidInput(
                "A video plate is cleaned on its own; send one video, or a sequence of "
                "still frames, per request.",
                code=f"backend.{backend}.too_many_inputs",
            )
        clip = _clip_header(backend, inputs[plates[0]])
        width, height = clip.width, clip.height
    else:
        if len(plates) > MAX_FRAMES:
            raise InvalidInput(
                f"The sequence has {len(plates)} frames, more than {MAX_FRAMES}; split it "
                "into several requests.",
                code=f"backend.{backend}.clip_too_long",
                frames=len(plates),
                max_frames=MAX_FRAMES,
            )
        width, height = still_size(backend, inputs[plates[0]])
        names: set[str] = set()
        for at in plates:
            item = inputs[at]
            size = still_size(backend, item) if at != plates[0] else (width, height)
            if size != (width, height):
                raise InvalidInput(
                    f"The frames of a sequence must all be one size: {item.path.name} is "
                    f"{size[0]}x{size[1]}, the first is {width}x{height}.",
                    code=f"backend.{backend}.frame_size_mismatch",
                    frame=item.path.name,
                )
            if item.path.stem in names:
                raise InvalidInput(
                    f"Two frames of the sequence are both named {item.path.stem!r}; give each "
                    "frame its own name (sh010.1001.png, sh010.1002.png...).",
                    code=f"backend.{backend}.duplicate_frame_name",
                    frame=item.path.stem,
                )
            names.add(item.path.stem)
    if mask_at is None and regions is None:
        raise InvalidInput(
            "Nothing to fill: give a 'mask' image (non-zero pixels are filled) or "
            "the 'regions' parameter, a list of [x, y, w, h] rectangles.",
            code=f"backend.{backend}.no_mask",
        )
    if mask_at is not None and regions is not None:
        raise InvalidInput(
            "Both a 'mask' image and 'regions' were given; send only one of them, "
            "so the area to fill is never ambiguous.",
            code=f"backend.{backend}.mask_and_regions",
        )
    mask_clip = None
    if mask_at is not None:
        mask = inputs[mask_at]
        if mask.media_type in VIDEOS:
            if clip is None:
                raise InvalidInput(
                    "A moving mask (a video) goes with a video plate; for still frames send "
                    "the mask as an image.",
                    code=f"backend.{backend}.mask_is_video",
                )
            mask_clip = _clip_header(backend, mask)
            mask_size = (mask_clip.width, mask_clip.height)
        else:
            mask_size = still_size(backend, mask)
        if mask_size != (width, height):
            raise InvalidInput(
                f"The mask is {mask_size[0]}x{mask_size[1]} pixels but the plate is "
                f"{width}x{height}; export the mask at the plate's size.",
                code=f"backend.{backend}.mask_size_mismatch",
                plate_size=[width, height],
                mask_size=list(mask_size),
            )
        if mask_clip is not None and clip is not None and mask_clip.frames != clip.frames:
            raise InvalidInput(
                f"The moving mask has {mask_clip.frames} frames but the plate has "
                f"{clip.frames}; export the mask over the plate's whole range.",
                code=f"backend.{backend}.mask_length_mismatch",
                plate_frames=clip.frames,
                mask_frames=mask_clip.frames,
            )
    else:
        assert regions is not None
        _check_regions_fit(backend, regions, width, height)
    return Cleanup(backend, tuple(plates), mask_at, regions, width, height, clip, mask_clip)


def _roles(backend: str, inputs: Sequence[BackendInput]) -> tuple[list[int], int | None]:
    """Positions of the plates and of the mask (if any) among the inputs."""
    plates = [i for i, item in enumerate(inputs) if item.part == "plate"]
    masks = [i for i, item in enumerate(inputs) if item.part == "mask"]
    others = sorted({item.part for item in inputs} - {"plate", "mask"})
    if others:
        raise InvalidInput(
            f"Inpainting takes 'plate' inputs and optionally a 'mask', not "
            f"{', '.join(others)}; remove the other inputs.",
            code=f"backend.{backend}.unexpected_input",
            parts=others,
        )
    if not plates:
        raise InvalidInput(
            "No plate was given; send the image or video to clean as the input named 'plate'.",
            code=f"backend.{backend}.missing_plate",
        )
    if len(masks) > 1:
        raise InvalidInput(
            "Inpainting takes at most one mask per request; send the others as separate requests.",
            code=f"backend.{backend}.too_many_inputs",
        )
    for at in [*plates, *masks]:
        if inputs[at].media_type not in MEDIA_IN:
            raise _unsupported_type(backend, inputs[at])
    return plates, masks[0] if masks else None


def _check_regions_fit(backend: str, regions: list[list[int]], width: int, height: int) -> None:
    for x, y, w, h in regions:
        if x + w > width or y + h > height:
            raise InvalidInput(
                f"The region {[x, y, w, h]} reaches outside the {width}x{height} plate; "
                "keep every rectangle inside the image.",
                code=f"backend.{backend}.region_outside_plate",
                region=[x, y, w, h],
                plate_size=[width, height],
            )


def still_size(
    backend: str,
    item: BackendInput,
    stills: Mapping[str, set[str]] = STILLS,
    accepted: str = "a PNG, JPEG, TIFF or WebP image or an MP4 or QuickTime video",
) -> tuple[int, int]:
    """Width and height from the image's header, after checking it is safe to decode:
    a type among ``stills`` (declared type -> the formats Pillow must find), not too
    large, readable, and stored upright. Refusals name what is ``accepted``."""
    formats = stills.get(item.media_type)
    if formats is None:
        raise _unsupported_type(backend, item, accepted)
    try:
        width, height, found, orientation = _still_header(item.path)
    except Image.DecompressionBombError:
        raise _too_large(backend, item, None, None, MAX_PIXELS) from None
    except Exception as exc:  # Pillow raises many types on bad or missing files
        raise _unreadable(backend, item) from exc
    if width * height > MAX_PIXELS:
        raise _too_large(backend, item, width, height, MAX_PIXELS)
    if found not in formats:
        raise _unsupported_type(backend, item, accepted)
    if orientation != 1:
        # Pixels are read as stored; the cleaned PNG would show turned or mirrored.
        raise InvalidInput(
            f"The {item.part} is stored turned or mirrored and relies on an EXIF "
            "orientation tag to display upright; export it with the rotation applied "
            "and try again.",
            code=f"backend.{backend}.rotated_image",
            part=item.part,
        )
    return width, height


# What a still's header says, by file identity: every submission naming a plate
# checks it, and opening it with Pillow is most of a submission's parameter check.
# A file changed in place (new size or mtime) is read again; blobs never are.
_HEADERS: OrderedDict[tuple[str, int, int, int], tuple[int, int, str | None, int]] = OrderedDict()
_HEADERS_LOCK = threading.Lock()
MAX_HEADERS = 4096


def _still_header(path: Path) -> tuple[int, int, str | None, int]:
    """Width, height, Pillow's format name and the EXIF orientation of the still at ``path``."""
    stat = path.stat()
    key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _HEADERS_LOCK:
        known = _HEADERS.get(key)
    if known is not None:
        return known
    with warnings.catch_warnings():
        # The size is checked by the caller against our own, lower limit.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as image:  # reads the header only
            width, height = image.size
            # Past our limit the orientation is never needed (and may cost a decode).
            orientation = _orientation(image) if width * height <= MAX_PIXELS else 1
            header = (width, height, image.format, orientation)
    with _HEADERS_LOCK:
        _HEADERS[key] = header
        if len(_HEADERS) > MAX_HEADERS:
            _HEADERS.popitem(last=False)
    return header


def _orientation(image: Image.Image) -> int:
    # A PNG may keep its EXIF after the pixel data, and Pillow would decode the whole
    # image to reach it; an orientation tag there is rare enough to leave unread.
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    return int(image.getexif().get(_EXIF_ORIENTATION, 1))


def _clip_header(backend: str, item: BackendInput) -> Clip:
    """What the video's container says about its picture, checked against our limits."""
    try:
        with av.open(str(item.path)) as container:
            if container.format.name.split(",")[0] != "mov":  # the MP4/QuickTime family
                raise _unsupported_type(backend, item)
            if not container.streams.video:
                raise _unreadable(backend, item)
            stream = container.streams.video[0]
            context = stream.codec_context
            width, height, pixel_format = context.width, context.height, context.format
            rate = stream.average_rate or stream.guessed_rate
            frames = int(stream.frames)
            if not frames and stream.duration is not None and stream.time_base and rate:
                frames = round(stream.duration * stream.time_base * rate)
    except InvalidInput:
        raise
    except Exception as exc:  # PyAV raises its own errors, OSError and more on bad files
        raise _unreadable(backend, item) from exc
    if not width or not height or pixel_format is None:
        raise _unreadable(backend, item)
    if width * height > MAX_FRAME_PIXELS:
        raise _too_large(backend, item, width, height, MAX_FRAME_PIXELS)
    if frames > MAX_FRAMES:
        raise InvalidInput(
            f"The {item.part} has {frames} frames, more than {MAX_FRAMES}; cut it into "
            "shorter clips and send each as its own request.",
            code=f"backend.{backend}.clip_too_long",
            part=item.part,
            frames=frames,
            max_frames=MAX_FRAMES,
        )
    if any(c.is_alpha for c in pixel_format.components):
        raise InvalidInput(
            f"The {item.part} carries an alpha channel, which the ProRes 422 HQ it comes "
            "back as cannot keep; send it without alpha, or as a sequence of PNG frames.",
            code=f"backend.{backend}.unsupported_pixel_format",
            part=item.part,
        )
    deep = max(c.bits for c in pixel_format.components) > 8
    return Clip(width, height, frames, Fraction(rate) if rate else None, deep)


def _unsupported_type(
    backend: str,
    item: BackendInput,
    accepted: str = "a PNG, JPEG, TIFF or WebP image or an MP4 or QuickTime video",
) -> InvalidInput:
    return InvalidInput(
        f"The {item.part} must be {accepted} (sent as {item.media_type}, or its content "
        "is another type); convert it and try again.",
        code=f"backend.{backend}.unsupported_type",
        part=item.part,
        media_type=item.media_type,
    )


def _too_large(
    backend: str, item: BackendInput, width: int | None, height: int | None, limit: int
) -> InvalidInput:
    size = f" ({width}x{height})" if width is not None else ""
    what = "frame" if item.media_type in VIDEOS else "image"
    return InvalidInput(
        f"The {item.part} has more than {limit} pixels per {what}{size}, too many to "
        f"decode safely; send a smaller {what}.",
        code=f"backend.{backend}.{what}_too_large",
        part=item.part,
        max_pixels=limit,
    )


def _unreadable(backend: str, item: BackendInput) -> InvalidInput:
    if item.media_type in VIDEOS:
        return InvalidInput(
            f"The {item.part} video is missing, damaged or has no picture and cannot be "
            "read; export it again and send the new file.",
            code=f"backend.{backend}.unreadable_video",
            part=item.part,
        )
    return InvalidInput(
        f"The {item.part} is missing, damaged or not an image and cannot be read; export "
        "it again and send the new file.",
        code=f"backend.{backend}.unreadable_image",
        part=item.part,
    )


# Doing the work.


def clean_plates(
    cleanup: Cleanup,
    inputs: Sequence[BackendInput],
    out_dir: Path,
    fill: Fill,
    progress: Progress,
) -> tuple[tuple[BackendOutput, ...], dict[str, Any]]:
    """Fill every plate of ``cleanup`` with ``fill``; the outputs written and the usage.

    Nothing is left in ``out_dir`` unless every output was written.
    """
    with all_or_nothing(out_dir) as staged:
        written = staged.pairs  # (temporary, final), renamed together at the end
        if cleanup.clip is not None:
            outputs, usage = _clean_clip(cleanup, inputs, out_dir, fill, progress, written)
        else:
            outputs, usage = _clean_stills(cleanup, inputs, out_dir, fill, progress, written)
    return outputs, usage


def _clean_stills(
    cleanup: Cleanup,
    inputs: Sequence[BackendInput],
    out_dir: Path,
    fill: Fill,
    progress: Progress,
    written: list[tuple[Path, Path]],
) -> tuple[tuple[BackendOutput, ...], dict[str, Any]]:
    backend = cleanup.backend
    matte = _still_matte(cleanup, inputs)
    outputs = []
    total = len(cleanup.plates)
    for done, plate_at in enumerate(cleanup.plates, start=1):
        plate = decode_still(backend, inputs[plate_at])
        cleaned = fill_plate(backend, plate, matte, fill)
        ok, encoded = cv2.imencode(".png", cleaned)
        if not ok:  # pragma: no cover - PNG takes every depth and channel count we pass
            raise RuntimeError("OpenCV could not encode the cleaned plate as PNG")
        final = out_dir / f"{inputs[plate_at].path.stem}_clean.png"
        temporary = out_dir / f".{final.name}.partial"
        written.append((temporary, final))
        temporary.write_bytes(encoded.tobytes())
        outputs.append(BackendOutput(final, "image/png", cleanup.parents(plate_at)))
        progress(done / total, f"frame {done} of {total}")
    pixels = cleanup.width * cleanup.height
    usage: dict[str, Any] = {"pixels": pixels * total, "masked_pixels": matte.marked * total}
    if total > 1:
        usage["frames"] = total
    return tuple(outputs), usage


def _still_matte(cleanup: Cleanup, inputs: Sequence[BackendInput]) -> Matte:
    """The one matte every frame is filled under, checked for leaving something to do."""
    if cleanup.mask_at is not None:
        pixels = mask_from_image(decode_still(cleanup.backend, inputs[cleanup.mask_at]))
    else:
        assert cleanup.regions is not None
        pixels = mask_from_regions(cleanup.regions, cleanup.width, cleanup.height)
    matte = Matte.of(pixels)
    if matte.marked == 0:
        raise InvalidInput(
            "The mask marks no pixel to fill (it is all black or transparent); paint "
            "the area to remove in white and try again.",
            code=f"backend.{cleanup.backend}.empty_mask",
        )
    _check_not_whole(cleanup.backend, matte)
    return matte


def _check_not_whole(backend: str, matte: Matte) -> None:
    if matte.marked == matte.pixels.size:
        # Inpainting borrows from unmasked pixels; with none left it invents noise.
        raise InvalidInput(
            "The mask covers the whole plate, leaving nothing to fill it from; mask "
            "only the area to remove.",
            code=f"backend.{backend}.mask_covers_plate",
        )


def decode_still(backend: str, item: BackendInput) -> Pixels:
    """The image's pixels as stored: OpenCV channel order (BGR/BGRA), depth kept."""
    # imdecode on bytes, because imread fails on some non-ASCII paths.
    data = np.frombuffer(item.path.read_bytes(), dtype=np.uint8)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None:
        raise _unreadable(backend, item)
    return np.asarray(image)


def mask_from_image(image: Pixels) -> Pixels:
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


def mask_from_regions(regions: list[list[int]], width: int, height: int) -> Pixels:
    """A matte with every rectangle of ``regions`` marked."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for x, y, w, h in regions:
        mask[y : y + h, x : x + w] = 255
    return mask


def fill_plate(backend: str, plate: Pixels, matte: Matte, fill: Fill) -> Pixels:
    """The plate with the matte's pixels filled by ``fill``; alpha and depth kept."""
    if plate.dtype not in (np.uint8, np.uint16) or (plate.ndim == 3 and plate.shape[2] > 4):
        raise InvalidInput(
            f"The plate's pixel format ({plate.dtype}, "
            f"{1 if plate.ndim == 2 else plate.shape[2]} channels) is not supported; "
            "send 8- or 16-bit grey, grey with alpha, RGB or RGBA.",
            code=f"backend.{backend}.unsupported_pixel_format",
        )
    if matte.marked == 0:
        return plate
    has_alpha = plate.ndim == 3 and plate.shape[2] in (2, 4)
    colour = np.ascontiguousarray(plate[..., :-1] if has_alpha else plate)
    if colour.ndim == 3 and colour.shape[2] == 1:
        colour = colour[..., 0]
    filled = fill(colour, matte)
    if not has_alpha:
        return filled
    out = plate.copy()
    out[..., :-1] = filled.reshape(*filled.shape[:2], -1)
    return out


# Clips.


def _clean_clip(
    cleanup: Cleanup,
    inputs: Sequence[BackendInput],
    out_dir: Path,
    fill: Fill,
    progress: Progress,
    written: list[tuple[Path, Path]],
) -> tuple[tuple[BackendOutput, ...], dict[str, Any]]:
    backend, clip = cleanup.backend, cleanup.clip
    assert clip is not None
    plate_at = cleanup.plates[0]
    source = inputs[plate_at]
    final = out_dir / f"{source.path.stem}_clean.mov"
    temporary = out_dir / f".{final.name}.partial"
    written.append((temporary, final))
    still = None if cleanup.mask_clip is not None else _still_matte(cleanup, inputs)
    mattes = _moving_mattes(cleanup, inputs) if still is None else None
    pixel_format = "bgr48le" if clip.high_bit_depth else "bgr24"
    frames = masked = 0
    try:
        container = av.open(str(source.path))
    except Exception as exc:
        raise _unreadable(backend, source) from exc
    try:
        with container, av.open(str(temporary), "w", format="mov") as out:
            picture = container.streams.video[0]
            sounds = list(container.streams.audio)
            encoder = _clip_encoder(out, picture)
            # Audio is copied packet by packet: never decoded, never changed.
            carried = {s.index: out.add_stream_from_template(s) for s in sounds}
            for packet in _demuxed(backend, source, container, picture, sounds):
                if packet.stream.type == "audio":
                    if packet.dts is not None:  # not the demuxer's empty end-of-stream packet
                        packet.stream = carried[packet.stream.index]
                        out.mux(packet)
                    continue
                for frame in _decoded(backend, source, packet):
                    frames += 1
                    if frames > clip.frames > 0 or frames > MAX_FRAMES:
                        raise _ends_differently(backend, source, clip.frames, frames)
                    matte = _next_matte(backend, mattes, frames) if mattes is not None else still
                    assert matte is not None
                    masked += matte.marked
                    stored = frame.to_ndarray(format=pixel_format)
                    cleaned = av.VideoFrame.from_ndarray(
                        fill_plate(backend, stored, matte, fill), format=pixel_format
                    )
                    cleaned.pts, cleaned.time_base = frame.pts, frame.time_base
                    for encoded in encoder.encode(cleaned):
                        out.mux(encoded)
                    total = max(clip.frames, frames)
                    progress(frames / total, f"frame {frames} of {total}")
            if frames < clip.frames or frames == 0:
                raise _ends_differently(backend, source, clip.frames, frames)
            for encoded in encoder.encode():
                out.mux(encoded)
    finally:
        if mattes is not None:
            mattes.close()  # and with it the mask video
    output = BackendOutput(final, "video/quicktime", cleanup.parents(plate_at))
    usage = {
        "pixels": clip.width * clip.height * frames,
        "masked_pixels": masked,
        "frames": frames,
    }
    return (output,), usage


def _clip_encoder(out: Any, picture: Any) -> Any:
    """A ProRes 422 HQ stream on the source's clock, timecode and colour tags."""
    rate = picture.average_rate or picture.guessed_rate
    encoder = out.add_stream(CLIP_CODEC, rate=rate)
    context = picture.codec_context
    encoder.width, encoder.height = context.width, context.height
    encoder.pix_fmt = CLIP_PIXEL_FORMAT
    encoder.time_base = picture.time_base
    encoder.options = {"profile": CLIP_PROFILE, "vendor": "apl0"}
    for tag in ("color_range", "colorspace", "color_primaries", "color_trc"):
        setattr(encoder.codec_context, tag, getattr(context, tag))
    timecode = source_timecode(picture)
    if timecode is not None:
        encoder.metadata["timecode"] = timecode  # the muxer writes it as a tmcd track
    return encoder


def source_timecode(picture: Any) -> str | None:
    """The clip's start timecode: on its picture, its timecode track, or the container."""
    container = picture.container
    for metadata in (
        picture.metadata,
        *(s.metadata for s in container.streams if s.type == "data"),
        container.metadata,
    ):
        if metadata.get("timecode"):
            return str(metadata["timecode"])
    return None


def _demuxed(
    backend: str, item: BackendInput, container: Any, picture: Any, sounds: list[Any]
) -> Iterator[Any]:
    packets = container.demux(picture, *sounds)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            raise _unreadable(backend, item) from exc
        yield packet


def _decoded(backend: str, item: BackendInput, packet: Any) -> list[Any]:
    try:
        return list(packet.decode())
    except av.FFmpegError as exc:
        raise _unreadable(backend, item) from exc


def _moving_mattes(
    cleanup: Cleanup, inputs: Sequence[BackendInput]
) -> Generator[Matte, None, None]:
    """The mask video's frames as mattes: filled where brighter than mid-grey.

    Mid-grey rather than non-zero because a compressed mask is never exactly black.
    """
    assert cleanup.mask_at is not None
    item = inputs[cleanup.mask_at]
    try:
        with av.open(str(item.path)) as container:
            for frame in container.decode(video=0):
                grey = frame.to_ndarray(format="gray")
                matte = Matte.of(np.where(grey > 127, 255, 0).astype(np.uint8))
                _check_not_whole(cleanup.backend, matte)
                yield matte
    except InvalidInput:
        raise
    except Exception as exc:
        raise _unreadable(cleanup.backend, item) from exc


def _next_matte(backend: str, mattes: Iterator[Matte], number: int) -> Matte:
    found = next(mattes, None)
    if found is None:
        raise InvalidInput(
            f"The moving mask ends before frame {number} of the plate; export the mask "
            "over the plate's whole range.",
            code=f"backend.{backend}.mask_length_mismatch",
        )
    return found


def _ends_differently(backend: str, item: BackendInput, expected: int, found: int) -> InvalidInput:
    return InvalidInput(
        f"The {item.part} video announces {expected} frames but {found} could be read; it is "
        "damaged or cut short. Export it again and send the new file.",
        code=f"backend.{backend}.unreadable_video",
        part=item.part,
        frames_expected=expected,
        frames_read=found,
    )
