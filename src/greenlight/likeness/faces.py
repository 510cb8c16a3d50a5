"""Faces: find them, and turn each into a 128-number encoding that says whose it is.

dlib does the work (the ``dlib-bin`` wheel): its HOG detector finds faces, the
5-point landmark model lines each one up, and the ResNet model from
``face-recognition-models`` turns the aligned face into a 128-d encoding. Two
encodings of the same person lie close together (Euclidean distance); the
model's authors tuned it so that 0.6 separates people on LFW. The model files
are loaded by path from that package's folder, which is found without
importing it (its ``__init__`` needs ``pkg_resources``, gone from setuptools 82).
The 68-point landmark model it also ships is not used: its training data rules
out commercial use.

Video is scanned by sampled frames: one every ``every_seconds`` and the first
frame of each new shot (a cheap frame-difference test on a small grey
thumbnail). Detection runs on a copy scaled down to ``detect_width`` pixels;
each face found is encoded from the full-resolution frame. Within a shot, a
sample is compared with the one before it block by block, and the detector
looks again only where the picture changed (:func:`changed_region`); the
faces elsewhere are the ones already found there.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from greenlight.core.errors import InvalidInput, Unavailable

MODEL = "dlib-resnet-v1/hog/5pt"
# Distance at or under which two encodings are taken for the same person. dlib's
# own figure is 0.6; tests/likeness/test_faces.py measures this value on real
# photos (augmented positives, LFW negatives) and the note reports the rates.
THRESHOLD = 0.55
# How soft the distance -> confidence curve is around the threshold (0.5 there).
_SOFTNESS = 0.04
# HOG scores under this are mostly textures that look like faces (a glove, a patch
# of fabric); real faces in our test photos score above 0.9.
MIN_DETECTION_SCORE = 0.3
DETECT_WIDTH = 640
# Within one shot, a face found a second later in much the same place is taken to
# be the same face (its encoding is reused). HOG boxes come in pyramid steps (175
# then 209 px for one face) and a face drifts between samples a second apart, so
# the same face overlaps itself by about half; two people would rarely swap into
# each other's place that closely within a second, and every face is encoded
# afresh at each cut and every few samples anyway.
SAME_FACE_OVERLAP = 0.4
# The change test between two samples of a shot: the picture is averaged over
# blocks of CHANGE_BLOCK x CHANGE_BLOCK pixels, and a block whose mean moved by
# more than CHANGE_LEVEL (of 255) changed. Grain and compression noise average
# out over a block (under 2 in our clips); a face moving or turning changes its
# blocks by 10 and more. The region looked at again is the changed blocks'
# bounding box, widened by CHANGE_MARGIN pixels for the detector's window and
# by every known face it touches; over CHANGE_SHARE of the frame, the whole
# frame is looked at.
CHANGE_BLOCK = 16
CHANGE_LEVEL = 6.0
CHANGE_MARGIN = 48
CHANGE_SHARE = 0.6

Encoding = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]  # H x W x 3, RGB


@dataclass(frozen=True)
class Box:
    """A face's place in the full-resolution image, in pixels."""

    left: int
    top: int
    width: int
    height: int

    def as_list(self) -> list[int]:
        """``[left, top, width, height]``, as stored and shown."""
        return [self.left, self.top, self.width, self.height]


@dataclass(frozen=True)
class Face:
    """One face found in an image: where, how sure the detector was, and its encoding."""

    box: Box
    score: float
    encoding: Encoding


@dataclass(frozen=True)
class Frame:
    """A frame taken from a video for scanning: its number, its time and its pixels."""

    index: int
    time: float
    image: Image
    shot_change: bool


# --- models ----------------------------------------------------------------------


def models_dir() -> Path:
    """The folder of ``face-recognition-models``' model files, or Unavailable."""
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        folder = Path(location) / "models"
        if (folder / "dlib_face_recognition_resnet_model_v1.dat").exists():
            return folder
    raise Unavailable(
        "The face models are not installed; pip install face-recognition-models dlib-bin.",
        code="likeness.face.models_missing",
    )


def available() -> bool:
    """Whether dlib and the face models are installed here."""
    try:
        _models()
    except Unavailable:
        return False
    return True


@functools.cache
def _models() -> tuple[Any, Any, Any]:
    """(detector, 5-point predictor, ResNet encoder), loaded once per process."""
    try:
        import dlib
    except ImportError:
        raise Unavailable(
            "dlib is not installed; pip install dlib-bin.", code="likeness.face.models_missing"
        ) from None
    folder = models_dir()
    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat")),
        dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat")),
    )


# --- images ------------------------------------------------------------------------


def read_image(data: bytes | Path) -> Image:
    """An RGB image from PNG, JPEG, WebP or TIFF bytes (or a file), or InvalidInput."""
    from PIL import Image as PILImage
    from PIL import ImageOps, UnidentifiedImageError

    try:
        source = io.BytesIO(data) if isinstance(data, bytes) else data
        with PILImage.open(source) as opened:
            # Phones store portraits sideways with an EXIF turn: faces must be upright.
            upright = ImageOps.exif_transpose(opened)
            return np.asarray(upright.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidInput(
            f"The image cannot be read ({exc}); send a PNG, JPEG, WebP or TIFF file.",
            code="likeness.image.unreadable",
        ) from None


def find_faces(
    image: Image,
    *,
    upsample: int = 1,
    detect_width: int | None = DETECT_WIDTH,
    min_score: float = MIN_DETECTION_SCORE,
    known: Sequence[Face] = (),
    within: Box | None = None,
) -> list[Face]:
    """Every face in ``image`` (RGB) with its box, detector score and encoding.

    Detection runs on a copy at most ``detect_width`` wide (``None``: full
    size), ``upsample`` times enlarged (each doubling finds faces half as big,
    at four times the cost); encodings always come from the full image.

    ``known`` are faces already encoded earlier in the same shot: a face whose
    box overlaps one of them closely (:data:`SAME_FACE_OVERLAP`) takes its
    encoding instead of running the encoder again, the scan's costliest step.

    ``within`` limits the detector to that part of the image (the part that
    changed since ``known`` were found, see :func:`changed_region`); the known
    faces outside it are kept as they are.
    """
    detector, predictor, encoder = _models()
    import dlib

    height, width = image.shape[:2]
    scale = 1.0
    if detect_width is not None and width > detect_width:
        scale = width / detect_width
    left0, top0, part = 0, 0, image
    kept: list[Face] = []
    if within is not None:
        left0, top0 = within.left, within.top
        part = image[top0 : top0 + within.height, left0 : left0 + within.width]
        kept = [f for f in known if not _inside(f.box, within)]
    part_height, part_width = part.shape[:2]
    small = part
    if scale != 1.0:
        size = (max(1, round(part_width / scale)), max(1, round(part_height / scale)))
        small = np.asarray(cv2.resize(part, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    rects, scores, _ = detector.run(np.ascontiguousarray(small), upsample, 0.0)
    faces = list(kept)
    for rect, score in zip(rects, scores, strict=True):
        if score < min_score:
            continue
        left = max(0, left0 + round(rect.left() * scale))
        top = max(0, top0 + round(rect.top() * scale))
        right = min(width - 1, left0 + round(rect.right() * scale))
        bottom = min(height - 1, top0 + round(rect.bottom() * scale))
        if right <= left or bottom <= top:
            continue
        box = Box(left, top, right - left + 1, bottom - top + 1)
        same = next((f for f in known if overlap(f.box, box) >= SAME_FACE_OVERLAP), None)
        if same is not None:
            encoding = same.encoding
        else:
            encoding = _encode(image, dlib.rectangle(left, top, right, bottom), predictor, encoder)
        faces.append(Face(box=box, score=float(score), encoding=encoding))
    return faces


def blocks(image: Image) -> npt.NDArray[np.float32]:
    """The picture's brightness averaged over :data:`CHANGE_BLOCK`-pixel blocks."""
    height, width = image.shape[:2]
    size = (max(1, width // CHANGE_BLOCK), max(1, height // CHANGE_BLOCK))
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), dtype=np.float32)


def changed_region(
    before: npt.NDArray[np.float32],
    after: npt.NDArray[np.float32],
    image_size: tuple[int, int],
    known: Sequence[Face],
) -> Box | None:
    """The part of a frame to look at again, given the blocks of the sample before.

    ``None`` when nothing changed (the known faces stand), the whole frame when
    most of it did, else the changed blocks' bounding box widened by
    :data:`CHANGE_MARGIN` and by every known face it touches, so that each known
    face is either wholly looked at again or wholly kept.
    """
    width, height = image_size
    whole = Box(0, 0, width, height)
    if before.shape != after.shape:
        return whole
    rows, columns = np.nonzero(np.abs(after - before) > CHANGE_LEVEL)
    if len(rows) == 0:
        return None
    block_h, block_w = height / after.shape[0], width / after.shape[1]
    left = max(0, math.floor(columns.min() * block_w) - CHANGE_MARGIN)
    top = max(0, math.floor(rows.min() * block_h) - CHANGE_MARGIN)
    right = min(width, math.ceil((columns.max() + 1) * block_w) + CHANGE_MARGIN)
    bottom = min(height, math.ceil((rows.max() + 1) * block_h) + CHANGE_MARGIN)
    region = Box(left, top, right - left, bottom - top)
    grown = True
    while grown:
        grown = False
        for face in known:
            if overlap(face.box, region) > 0 and not _inside(face.box, region):
                region = _union(region, face.box)
                grown = True
    if region.width * region.height > CHANGE_SHARE * width * height:
        return whole
    return region


def _inside(box: Box, region: Box) -> bool:
    return (
        box.left >= region.left
        and box.top >= region.top
        and box.left + box.width <= region.left + region.width
        and box.top + box.height <= region.top + region.height
    )


def _union(a: Box, b: Box) -> Box:
    left, top = min(a.left, b.left), min(a.top, b.top)
    right = max(a.left + a.width, b.left + b.width)
    bottom = max(a.top + a.height, b.top + b.height)
    return Box(left, top, right - left, bottom - top)


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (1: the same box, 0: apart)."""
    width = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
    height = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    shared = width * height
    return shared / (a.width * a.height + b.width * b.height - shared)


def encode_face(image: Image, box: Box) -> Encoding:
    """The encoding of the face known to fill ``box`` (no detection: for face crops)."""
    import dlib

    _, predictor, encoder = _models()
    rect = dlib.rectangle(box.left, box.top, box.left + box.width - 1, box.top + box.height - 1)
    return _encode(image, rect, predictor, encoder)


def _encode(image: Image, rect: Any, predictor: Any, encoder: Any) -> Encoding:
    shape = predictor(image, rect)
    return np.asarray(encoder.compute_face_descriptor(image, shape), dtype=np.float32)


def encode_reference(image: Image) -> list[Encoding]:
    """The encodings a reference photo gives: its one face, and the face mirrored.

    The mirror counts as a second view (a face seen from the other side), which
    helps with outputs that flip a plate. A photo with no face, or with more
    than one (whose would it be?), is refused with InvalidInput
    ``likeness.face.none`` / ``likeness.face.several``.
    """
    faces = find_faces(image, upsample=1, detect_width=1600)
    if not faces:
        raise InvalidInput(
            "No face was found in the reference photo; send a photo where the performer's "
            "face is clearly visible, at least about 80 pixels across.",
            code="likeness.face.none",
        )
    if len(faces) > 1:
        raise InvalidInput(
            f"The reference photo shows {len(faces)} faces; send one with the performer "
            "alone, so the template is theirs and no one else's.",
            code="likeness.face.several",
            faces=[f.box.as_list() for f in faces],
        )
    (face,) = faces
    mirrored = np.ascontiguousarray(image[:, ::-1])
    width = image.shape[1]
    box = face.box
    flipped = Box(width - box.left - box.width, box.top, box.width, box.height)
    return [face.encoding, encode_face(mirrored, flipped)]


# --- matching ------------------------------------------------------------------------


def distances(encoding: Encoding, gallery: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Euclidean distance from ``encoding`` to each row of ``gallery`` (N x 128)."""
    if len(gallery) == 0:
        return np.zeros(0, dtype=np.float32)
    return np.asarray(np.linalg.norm(gallery - encoding, axis=1), dtype=np.float32)


def confidence(distance: float) -> float:
    """How sure a match is, 0..1: 0.5 at :data:`THRESHOLD`, near 1 for the same photo."""
    return 1.0 / (1.0 + math.exp((distance - THRESHOLD) / _SOFTNESS))


# --- video ---------------------------------------------------------------------------

# Mean absolute difference (0..255) between consecutive grey thumbnails above which
# a new shot starts; a cut between two shots gives 30 and more, a pan under 10.
SHOT_CHANGE = 24.0
_THUMB = (48, 27)


def sample_frames(
    path: Path,
    *,
    every_seconds: float = 1.0,
    shot_changes: bool = True,
    skim: bool = False,
    start: float = 0.0,
    end: float | None = None,
) -> Iterator[Frame]:
    """The frames of a video to scan: one every ``every_seconds`` and the first of
    each new shot, in order, with their numbers and times (seconds).

    Every frame is decoded (a cut can fall anywhere), but only the grey
    thumbnail of most is looked at; only sampled frames are converted to RGB.
    ``skim`` decodes only the frames others are predicted from (about half of an
    H.264 stream's; all of an intra-only one's), so a sample or a cut may be
    taken a frame or two late; decoding is then about twice as fast.

    ``start`` and ``end`` (seconds) scan only that stretch: decoding starts at
    the key frame before ``start``, so stretches can be scanned side by side.
    """
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise InvalidInput(
            f"The video cannot be read ({exc}).", code="likeness.video.unreadable"
        ) from None
    with container:
        if not container.streams.video:
            raise InvalidInput("The file has no video stream.", code="likeness.video.unreadable")
        stream = container.streams.video[0]
        # One decoding thread: FFmpeg's frame threads cost nearly twice the CPU per
        # frame here (0.50 against 0.27 ms for skimmed 720p H.264) and were no
        # faster, since the detector, not decoding, sets the pace; and a long
        # film is scanned by one process per core.
        stream.thread_count = 1
        if skim:
            stream.codec_context.skip_frame = "NONREF"
        rate = float(stream.average_rate or stream.guessed_rate or 24)
        base = stream.time_base
        next_due = start
        previous: npt.NDArray[np.int16] | None = None
        first = 0
        if start > 0 and base:
            container.seek(int(start / base), stream=stream, backward=True)
            first = -1  # numbers come from times once decoding starts mid-file
        for count, frame in enumerate(container.decode(stream)):
            time = float(frame.pts * base) if frame.pts is not None and base else count / rate
            if time < start - 1e-6:
                continue
            if end is not None and time >= end - 1e-6:
                break
            # Skimming or seeking skips frames: the frame's number comes from its time.
            index = round(time * rate) if skim or first < 0 else count
            changed = False
            if shot_changes:
                grey = _thumbnail(frame)
                if previous is not None:
                    changed = float(np.abs(grey - previous).mean()) > SHOT_CHANGE
                previous = grey
            if time + 1e-6 >= next_due or changed:
                next_due = time + every_seconds
                rgb = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
                yield Frame(index, time, rgb, changed)


# 8-bit formats whose first plane is the picture's luma, one byte a pixel.
_LUMA_FIRST = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "gray"}
)


def _thumbnail(frame: Any) -> npt.NDArray[np.int16]:
    """A coarse grey picture of ``frame`` (about 48 x 27) for the cut test.

    Read straight off the luma plane on a grid, with no scaling pass: that pass
    cost more than decoding the frame did. Other pixel formats are scaled.
    """
    plane = frame.planes[0] if frame.format.name in _LUMA_FIRST else None
    if plane is not None and plane.buffer_size >= plane.height * plane.line_size:
        step = max(1, plane.width // _THUMB[0])
        size = plane.height * plane.line_size
        luma = np.frombuffer(plane, np.uint8, count=size).reshape(plane.height, plane.line_size)
        return luma[::step, : plane.width : step].astype(np.int16)
    thumb = frame.reformat(width=_THUMB[0], height=_THUMB[1], format="gray")
    return np.asarray(thumb.to_ndarray(), dtype=np.int16)


def draw_box(image: Image, box: Box, label: str) -> bytes:
    """``image`` as PNG with ``box`` drawn and labelled: the evidence legal looks at."""
    marked = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    thickness = max(2, image.shape[1] // 400)
    corner = (box.left, box.top)
    cv2.rectangle(
        marked, corner, (box.left + box.width, box.top + box.height), (0, 0, 255), thickness
    )
    cv2.putText(
        marked,
        label,
        (box.left, max(12, box.top - 6)),
        cv2.FONT_HERSHEY_SIMPLEX,
        max(0.4, image.shape[1] / 1600),
        (0, 0, 255),
        max(1, thickness // 2),
    )
    ok, png = cv2.imencode(".png", marked)
    assert ok  # encoding an 8-bit BGR image to PNG does not fail
    return png.tobytes()
