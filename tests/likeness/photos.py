"""Real faces that ship in packages, and the changes an output puts them through.

scikit-image ships one full-resolution portrait (``astronaut``: Eileen Collins)
and ``lfw_subset``: 100 faces of other people from Labeled Faces in the Wild,
as 25x25 grey crops. No other package installed here ships a face photo (the
face-recognition-models wheel holds only models; Pillow's test images are not
in its wheel), so the astronaut is the one performer and LFW the strangers.
"""

from __future__ import annotations

import functools
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

from greenlight.likeness import faces


def astronaut() -> faces.Image:
    """Eileen Collins, 512x512 RGB; her face is at about (175, 76, 91, 91)."""
    return np.ascontiguousarray(data.astronaut())


def png(image: faces.Image) -> bytes:
    """``image`` (RGB) as PNG bytes."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


def _jpeg(image: faces.Image, quality: int) -> faces.Image:
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return np.ascontiguousarray(cv2.cvtColor(cv2.imdecode(encoded, 1), cv2.COLOR_BGR2RGB))


def augmented() -> dict[str, faces.Image]:
    """The astronaut as outputs might show her: cropped, scaled, blurred, recompressed,
    relit, turned, noisy, mirrored, in a 720p frame (her face 91 px across)."""
    a = astronaut()
    canvas = np.full((720, 1280, 3), 40, np.uint8)
    canvas[100:612, 600:1112] = a
    noise = np.random.default_rng(7).normal(0, 12, a.shape)
    views = {
        "crop": a[30:300, 100:360],
        "half_size": cv2.resize(a, (256, 256), interpolation=cv2.INTER_AREA),
        "double_size": cv2.resize(a, (1024, 1024), interpolation=cv2.INTER_CUBIC),
        "blur_1.5px": cv2.GaussianBlur(a, (0, 0), 1.5),
        "blur_2.5px": cv2.GaussianBlur(a, (0, 0), 2.5),
        "jpeg_q20": _jpeg(a, 20),
        "jpeg_q8": _jpeg(a, 8),
        "darker": np.clip(a * 0.5, 0, 255),
        "brighter": np.clip(a * 1.4 + 20, 0, 255),
        "gamma_1.8": 255 * (a / 255.0) ** 1.8,
        "greyscale": np.dstack([cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)] * 3),
        "turned_10deg": cv2.warpAffine(a, cv2.getRotationMatrix2D((220, 120), 10, 1.0), (512, 512)),
        "noise": np.clip(a + noise, 0, 255),
        "mirrored": a[:, ::-1],
        "in_720p_frame": canvas,
    }
    return {k: np.ascontiguousarray(v.astype(np.uint8)) for k, v in views.items()}


@functools.cache
def lfw_faces() -> tuple[faces.Image, ...]:
    """The 100 LFW faces of scikit-image's subset, enlarged to 150x150 RGB."""
    patches = np.load(Path(data.__file__).parent / "lfw_subset.npy")[:100]
    return tuple(
        np.ascontiguousarray(
            np.dstack(
                [cv2.resize((p * 255).astype(np.uint8), (150, 150), interpolation=cv2.INTER_CUBIC)]
                * 3
            )
        )
        for p in patches
    )


def lfw_encoding(image: faces.Image) -> faces.Encoding:
    """An LFW crop is the face itself: encode it without detection (HOG misses most
    faces this small)."""
    return faces.encode_face(image, faces.Box(0, 0, image.shape[1], image.shape[0]))


def two_people() -> faces.Image:
    """The astronaut beside a stranger: a reference photo that is not one person's."""
    a = astronaut()
    stranger = cv2.resize(lfw_faces()[3], (120, 120))
    both = a.copy()
    both[300:420, 330:450] = stranger
    return both


def clip(
    path: Path, *, fps: int = 12, seconds: int = 4, face_from: int = 12, face_to: int = 36
) -> Path:
    """A 640x360 H.264 clip of three shots: an empty grey room, the astronaut (frames
    ``face_from`` to ``face_to`` - 1), an empty blue room."""
    face = cv2.resize(astronaut(), (300, 300), interpolation=cv2.INTER_AREA)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for index in range(fps * seconds):
            frame = np.full((360, 640, 3), (70, 70, 70), np.uint8)
            if face_from <= index < face_to:
                frame[:] = (150, 120, 90)
                left = 120 + 4 * (index - face_from)  # a slow pan
                frame[30:330, left : left + 300] = face
            elif index >= face_to:
                frame[:] = (30, 60, 160)
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            for packet in stream.encode(picture):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def small_in_720p() -> faces.Image:
    """The astronaut at half size in a 720p frame: her face is 45 px across."""
    small = np.full((720, 1280, 3), 90, np.uint8)
    small[300:556, 200:456] = cv2.resize(astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    return small
