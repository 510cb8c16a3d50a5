"""Likeness scan of 720p video: the scanner's sampled, downscaled detection vs a naive loop.

The clip is made here: 30 s of 1280x720 H.264 at 24 fps, five shots of 6 s,
the astronaut (scikit-image's portrait; her face about 180 px across) in shots
2 and 4. The gallery holds 100 enrolled performers: the astronaut's two
reference encodings and 99 others with four synthetic encodings each (random
directions at the norm of real encodings), so matching costs what it would.

- ``scanner``: ``likeness.scan.face_hits`` as the lifecycle runs it: the video
  skimmed (PyAV, one decoding thread, reference frames only), a 48x27 grey
  thumbnail of each for the cut test, one frame a second plus the first of each
  shot converted to RGB, detection at 640 px wide, encodings from the full
  frame; within a shot, the detector looks again only where the picture
  changed since the sample before (the whole frame at each cut and every
  fourth sample); with one doubling (``up=1``, the default: faces from 80 px)
  and without (``up=0``: faces from 160 px);
- ``naive``: decode every frame, detect at full resolution (HOG, no doubling: the
  same smallest face as ``up=1``, 80 px), encode every face, match. Timed on
  ``NAIVE_FRAMES`` frames around a cut into a shot with the face.

Extrapolates both to a 2-hour feature (172,800 frames), scanned at one frame a
second (7,200 frames), in one process and in two: ``face_hits(...,
processes=2)`` cuts a long film in halves scanned side by side, and its steady
pace is measured here by running two scans of the clip at once (a worker's
start-up, about 2 s, is nothing next to a feature). Goal: under 5 minutes.
Run: ``.venv/bin/python bench/bench_likeness.py``.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.likeness.photos import astronaut

from greenlight.likeness import faces
from greenlight.likeness.scan import face_hits
from greenlight.likeness.templates import Gallery

WIDTH, HEIGHT, RATE, SECONDS, SHOT = 1280, 720, 24, 30, 6
FEATURE_SECONDS = 2 * 3600
NAIVE_FRAMES = 72
TALENT = 100


def make_clip(path: Path) -> Path:
    """Five shots; the astronaut drifts across shots 2 and 4."""
    face = cv2.resize(astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)[:700, 200:900]
    backgrounds = [(60, 60, 60), (140, 110, 80), (30, 70, 150), (120, 130, 90), (200, 190, 170)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for index in range(RATE * SECONDS):
            shot = index // (RATE * SHOT)
            frame = np.full((HEIGHT, WIDTH, 3), backgrounds[shot], np.uint8)
            if shot in (1, 3):
                left = 100 + 2 * (index % (RATE * SHOT))
                frame[10:710, left : left + 700] = face
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def gallery() -> Gallery:
    """The astronaut's reference encodings and 99 synthetic performers'."""
    real = np.stack(faces.encode_reference(astronaut()))
    norm = float(np.linalg.norm(real[0]))
    rng = np.random.default_rng(0)
    others = rng.normal(size=((TALENT - 1) * 4, 128)).astype(np.float32)
    others *= norm / np.linalg.norm(others, axis=1, keepdims=True)
    owners = ("astronaut",) * len(real) + tuple(f"talent_{i // 4:02d}" for i in range(len(others)))
    return Gallery("face", faces.MODEL, owners, np.concatenate([real, others]))


def scan(path: Path, found: Gallery, upsample: int) -> tuple[float, int, list[int]]:
    """(seconds, frames sampled, frames where the astronaut was seen) for one scan."""
    sampled = sum(1 for _ in faces.sample_frames(path, skim=True))  # not timed
    start = time.perf_counter()
    hits = face_hits(path, found, every_seconds=1.0, upsample=upsample, skim=True)
    seen = sorted({h.frame or 0 for h in hits})
    return time.perf_counter() - start, sampled, seen


def decode_only(path: Path) -> float:
    """Seconds to skim the clip and make each decoded frame's thumbnail (no detection)."""
    start = time.perf_counter()
    for _ in faces.sample_frames(path, every_seconds=10**9, skim=True):
        pass
    return time.perf_counter() - start


def naive(path: Path, found: Gallery) -> tuple[float, int]:
    """Seconds per frame of detect-everything-at-full-size over ``NAIVE_FRAMES`` frames
    around the first cut into a shot with the face (half without, half with), and
    how many faces it matched."""
    first = RATE * SHOT - NAIVE_FRAMES // 2
    matched = 0
    start = 0.0
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == first:
                start = time.perf_counter()
            if index < first:
                continue
            if index == first + NAIVE_FRAMES:
                break
            image = frame.to_ndarray(format="rgb24")
            for face in faces.find_faces(image, upsample=0, detect_width=None):
                if faces.distances(face.encoding, found.vectors).min() <= faces.THRESHOLD:
                    matched += 1
    return (time.perf_counter() - start) / NAIVE_FRAMES, matched


def _scan_seconds(args: tuple[Path, Gallery, int]) -> float:
    return scan(*args)[0]


def main() -> None:
    found = gallery()
    frames = RATE * FEATURE_SECONDS
    decoded = RATE * SECONDS
    with tempfile.TemporaryDirectory() as tmp:
        path = make_clip(Path(tmp) / "feature.mp4")
        faces.find_faces(astronaut())  # load the models before timing
        decoding = decode_only(path)
        rows = []
        for upsample in (1, 0):
            seconds, sampled, seen = scan(path, found, upsample)
            with multiprocessing.get_context("fork").Pool(2) as pool:
                start = time.perf_counter()
                pool.map(_scan_seconds, [(path, found, upsample)] * 2)
                two = time.perf_counter() - start
            per_sampled = max(seconds - decoding, 0.0) / sampled
            one = FEATURE_SECONDS / SECONDS * decoding + FEATURE_SECONDS * per_sampled
            # Two scans at once did twice the work in ``two`` seconds.
            rows.append(
                (upsample, sampled, seen, seconds, per_sampled, one, one * two / 2 / seconds)
            )
        per_naive, naive_matched = naive(path, found)

    shots = list(range(0, decoded, RATE * SHOT))
    print(f"clip: {SECONDS} s of {WIDTH}x{HEIGHT} H.264 at {RATE} fps; {TALENT} enrolled")
    print(f"skim + cut test: {decoded / decoding:.0f} video frames/s (shots start at {shots})")
    for upsample, _, seen, *_ in rows:
        print(f"scanner upsample={upsample}: astronaut seen in sampled frames {seen}")
    print()
    head = ("", "up=1 @640", "up=0 @640", "naive")
    print(f"{head[0]:34}{head[1]:>12}{head[2]:>12}{head[3]:>12}")
    looked = [r[1] for r in rows]
    print(f"{'frames looked at (clip)':34}{looked[0]:>12}{looked[1]:>12}{decoded:>12}")
    rates = [1 / r[4] for r in rows]
    label = "detect + match, frames/s"
    print(f"{label:34}{rates[0]:>12.1f}{rates[1]:>12.1f}{1 / per_naive:>12.1f}")
    clip = [r[3] for r in rows]
    print(f"{'clip scanned in, s':34}{clip[0]:>12.2f}{clip[1]:>12.2f}{per_naive * decoded:>12.1f}")
    naive_feature = frames * per_naive
    ones = [r[5] / 60 for r in rows]
    twos = [r[6] / 60 for r in rows]
    label = "2-hour feature, 1 process, min"
    print(f"{label:34}{ones[0]:>12.1f}{ones[1]:>12.1f}{naive_feature / 60:>12.0f}")
    label = "2-hour feature, 2 processes, min"
    print(f"{label:34}{twos[0]:>12.1f}{twos[1]:>12.1f}{naive_feature / 120:>12.0f}")
    print(
        f"ratio naive / scanner, 1 process: {naive_feature / 60 / ones[0]:.0f}x (up=1), "
        f"{naive_feature / 60 / ones[1]:.0f}x (up=0); naive matched {naive_matched} faces "
        f"in its {NAIVE_FRAMES} frames"
    )


if __name__ == "__main__":
    main()
