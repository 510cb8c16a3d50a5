"""``inpaint-opencv`` on a 10 s 1080p clip vs a plain OpenCV loop over the same frames.

The clip is made here: 240 frames of 1920x1080 H.264 at 24 fps with a stereo AAC
track and a start timecode. Both sides paint out the same boom mic (a still
mask, 240x140 pixels at the top of frame) with Telea, radius 3, and encode
ProRes 422 HQ (FFmpeg's prores_aw, yuv422p10le) into a QuickTime file:

- ``inpaint-opencv``: the backend's ``run`` (header checks, per-frame progress,
  audio packets and timecode carried, temporary name renamed at the end);
- ``plain loop``: PyAV decode -> ``to_ndarray("bgr24")`` -> ``cv2.inpaint`` on the
  whole frame -> ``from_ndarray`` -> encode, what one would write by hand (no
  audio, no timecode).

Each side runs ``RUNS`` times, alternating so drift on a shared machine hits
both alike; the best time counts. Run: ``.venv/bin/python bench/bench_inpaint.py``.
Prints frames/s of each and the ratio (backend / plain; above 1: the backend is faster).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

from greenlight.backends import BackendInput, backend_for

# The bench shares the test suite's media makers; run from anywhere in the repo.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.media import make_clip

WIDTH, HEIGHT, RATE, SECONDS = 1920, 1080, 24, 10
FRAMES = RATE * SECONDS
BOOM = (840, 0, 240, 140)  # x, y, w, h
RUNS = 2


def backend_run(clip: Path, mask: Path, out: Path) -> int:
    inputs = [
        BackendInput(clip, "plate", "video/mp4"),
        BackendInput(mask, "mask", "image/png"),
    ]
    result = backend_for("inpaint-opencv").run(inputs, {}, out)
    return int(result.usage["frames"])


def plain_loop(clip: Path, mask: Path, out: Path) -> int:
    matte = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
    out.mkdir(parents=True, exist_ok=True)
    frames = 0
    with av.open(str(clip)) as source, av.open(str(out / "plain.mov"), "w") as target:
        picture = source.streams.video[0]
        encoder = target.add_stream("prores_aw", rate=picture.average_rate)
        encoder.width, encoder.height = WIDTH, HEIGHT
        encoder.pix_fmt = "yuv422p10le"
        encoder.options = {"profile": "3"}
        for frame in source.decode(picture):
            cleaned = cv2.inpaint(frame.to_ndarray(format="bgr24"), matte, 3, cv2.INPAINT_TELEA)
            for packet in encoder.encode(av.VideoFrame.from_ndarray(cleaned, format="bgr24")):
                target.mux(packet)
            frames += 1
        for packet in encoder.encode():
            target.mux(packet)
    return frames


def timed(step: Callable[[Path, Path, Path], int], clip: Path, mask: Path, out: Path) -> float:
    started = time.perf_counter()
    frames = step(clip, mask, out)
    elapsed = time.perf_counter() - started
    assert frames == FRAMES, frames
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        print(f"making a {SECONDS} s {WIDTH}x{HEIGHT} clip at {RATE} fps with audio...")
        clip = make_clip(work / "sh010_plate.mp4", frames=FRAMES, size=(WIDTH, HEIGHT), rate=RATE)
        matte = np.zeros((HEIGHT, WIDTH), np.uint8)
        x, y, w, h = BOOM
        matte[y : y + h, x : x + w] = 255
        mask = work / "boom.png"
        cv2.imwrite(str(mask), matte)

        sides: dict[str, Callable[[Path, Path, Path], int]] = {
            "inpaint-opencv": backend_run,
            "plain loop": plain_loop,
        }
        best = dict.fromkeys(sides, float("inf"))
        for run in range(RUNS):
            for name, step in sides.items():
                elapsed = timed(step, clip, mask, work / f"{name}-{run}")
                best[name] = min(best[name], elapsed)

    print(f"\n{'side':<16}{'frames':>8}{'seconds':>10}{'frames/s':>10}")
    for name, seconds in best.items():
        print(f"{name:<16}{FRAMES:>8}{seconds:>10.2f}{FRAMES / seconds:>10.1f}")
    ratio = best["plain loop"] / best["inpaint-opencv"]
    print(f"\nratio (backend frames/s / plain frames/s): {ratio:.2f}")


if __name__ == "__main__":
    main()
