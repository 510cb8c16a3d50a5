"""Both inpainting backends on clips and frame sequences: a boom mic painted out of every
frame, the timing, timecode and sound kept, and damaged or oversized footage refused."""

from __future__ import annotations

import io
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from greenlight.backends import BackendInput, OpenCVInpaintBackend, PatchMatchInpaintBackend
from greenlight.backends import _plates as plates
from greenlight.backends.inpaint_opencv import inpaint_near_matte
from greenlight.core.enums import RequestState
from greenlight.core.errors import InvalidInput
from greenlight.core.models import InputRef
from greenlight.core.settings import Settings
from greenlight.engine import assets, requests, runs
from greenlight.engine.platform import Platform
from tests.expect import refused
from tests.media import make_clip, make_image
from tests.world import World, build_world

WIDTH, HEIGHT, FRAMES = 64, 48, 6
MIC = (20, 0, 16, 6)  # x, y, w, h: the tip of a boom mic dipping into the top of frame
BOOM = [[18, 0, 20, 8]]  # the region an artist marks: the mic and a little around it


def plate(path: Path, media_type: str = "video/mp4") -> BackendInput:
    return BackendInput(path=path, part="plate", media_type=media_type)


def mask(path: Path, media_type: str = "image/png") -> BackendInput:
    return BackendInput(path=path, part="mask", media_type=media_type)


def scene(i: int) -> np.ndarray:
    """Frame ``i`` of a smooth panning RGB shot, as it would look without the mic."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack([(x * 3 + i * 4) % 256, y * 4, (x + y) * 2], -1).astype(np.uint8)


def boomed(count: int = FRAMES, drift: int = 0) -> list[np.ndarray]:
    """The shot with a black boom mic at the top, moving ``drift`` pixels right a frame."""
    frames = []
    for i in range(count):
        picture = scene(i)
        x0, y0, w, h = MIC
        picture[y0 : y0 + h, x0 + i * drift : x0 + i * drift + w] = 0
        frames.append(picture)
    return frames


def error(picture: np.ndarray, truth: np.ndarray, rows: slice, columns: slice) -> float:
    """Mean absolute difference per channel value over an area."""
    return float(np.abs(picture[rows, columns].astype(int) - truth[rows, columns]).mean())


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def describe(path: Path) -> dict[str, Any]:
    """What an editor's tools would read about a clip."""
    with av.open(str(path)) as container:
        picture = container.streams.video[0]
        sound = container.streams.audio[0] if container.streams.audio else None
        audio_packets = (
            [bytes(p) for p in container.demux(sound) if p.size] if sound is not None else []
        )
        container.seek(0)
        return {
            "codec": picture.codec_context.name,
            "profile": picture.codec_context.profile,
            "pix_fmt": picture.codec_context.pix_fmt,
            "frames": picture.frames,
            "rate": picture.average_rate,
            "time_base": picture.time_base,
            "timecode": plates.source_timecode(picture),
            "audio_codec": sound.codec_context.name if sound is not None else None,
            "audio": audio_packets,
        }


@pytest.fixture
def boom_clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "sh020_plate.mp4", pictures=boomed(), timecode="01:02:03:04")


# Clips.


def test_a_boom_mic_is_painted_out_of_every_frame_of_a_clip(
    tmp_path: Path, boom_clip: Path
) -> None:
    seen: list[tuple[float, str]] = []

    result = OpenCVInpaintBackend().run(
        [plate(boom_clip)],
        {"regions": BOOM},
        tmp_path / "out",
        progress=lambda done, stage: seen.append((done, stage)),
    )

    (output,) = result.outputs
    assert output.path == tmp_path / "out" / "sh020_plate_clean.mov"
    assert output.media_type == "video/quicktime"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["sh020_plate_clean.mov"]
    x0, y0, w, h = MIC
    before, after = decoded(boom_clip), decoded(output.path)
    assert len(after) == FRAMES
    mic = (slice(y0, y0 + h), slice(x0, x0 + w))
    for number, (dark, clean) in enumerate(zip(before, after, strict=True)):
        assert error(dark, scene(number), *mic) > 40  # the mic is there
        # And then it is not; what remains is the shading inpainting cannot know
        # (the shot darkens towards the top edge, where the mic hides it).
        assert error(clean, scene(number), *mic) < 12  # measured: 9.5
        # Elsewhere the frame is the source, give or take one generation of ProRes.
        assert error(clean, dark, slice(10, None), slice(None)) < 2
    assert result.usage == {
        "pixels": WIDTH * HEIGHT * FRAMES,
        "masked_pixels": 20 * 8 * FRAMES,
        "frames": FRAMES,
    }
    assert [stage for _, stage in seen] == [f"frame {n} of {FRAMES}" for n in range(1, 7)]
    assert [done for done, _ in seen] == pytest.approx([n / FRAMES for n in range(1, 7)])


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_a_clean_clip_keeps_its_timing_timecode_and_sound(tmp_path: Path, suffix: str) -> None:
    source = make_clip(tmp_path / f"sh030{suffix}", rate=25, timecode="10:00:00:00")
    media_type = "video/mp4" if suffix == ".mp4" else "video/quicktime"

    result = OpenCVInpaintBackend().run(
        [plate(source, media_type)], {"regions": [[2, 2, 4, 4]]}, tmp_path / "out"
    )

    was, now = describe(source), describe(result.outputs[0].path)
    assert (now["codec"], now["profile"], now["pix_fmt"]) == ("prores", "HQ", "yuv422p10le")
    assert now["frames"] == was["frames"] == FRAMES
    assert now["rate"] == was["rate"] == 25
    assert now["time_base"] == was["time_base"]
    assert now["timecode"] == was["timecode"] == "10:00:00:00"
    assert now["audio_codec"] == "aac"
    assert now["audio"] == was["audio"] and len(now["audio"]) > 5  # the same packets, bit for bit


def test_a_clip_without_timecode_or_sound_comes_back_without_them(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "silent.mp4", timecode=None, audio=False)

    result = OpenCVInpaintBackend().run([plate(source)], {"regions": BOOM}, tmp_path / "out")

    now = describe(result.outputs[0].path)
    assert now["timecode"] is None and now["audio_codec"] is None
    assert now["frames"] == FRAMES


def test_a_moving_mask_follows_the_mic_from_frame_to_frame(tmp_path: Path) -> None:
    pictures = boomed(drift=2)
    mattes = []
    for i in range(FRAMES):  # a roto artist's matte, a little wider than the mic
        matte = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        matte[0:8, 18 + 2 * i : 38 + 2 * i] = 255
        mattes.append(matte)
    source = make_clip(tmp_path / "drift.mp4", pictures=pictures)
    moving = make_clip(tmp_path / "drift_mask.mp4", pictures=mattes, timecode=None, audio=False)

    result = OpenCVInpaintBackend().run(
        [plate(source), mask(moving, "video/mp4")], {}, tmp_path / "out"
    )

    assert result.outputs[0].parents == (0, 1)
    assert result.usage["masked_pixels"] == pytest.approx(8 * 20 * FRAMES, rel=0.1)
    for i, clean in enumerate(decoded(result.outputs[0].path)):
        assert error(clean, scene(i), slice(0, 6), slice(20 + 2 * i, 36 + 2 * i)) < 12


def test_opencv_on_a_crop_around_the_mask_matches_the_whole_frame() -> None:
    rng = np.random.default_rng(7)
    picture = cv2.GaussianBlur(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8), (0, 0), 3)
    marks = np.zeros((90, 120), np.uint8)
    cv2.line(marks, (30, 20), (70, 60), 255, 5)
    cv2.circle(marks, (100, 75), 6, 255, -1)
    matte = plates.Matte.of(marks)

    for method in (cv2.INPAINT_TELEA, cv2.INPAINT_NS):
        for radius in (1, 3, 9):
            whole = cv2.inpaint(picture, marks, radius, method)
            assert np.array_equal(inpaint_near_matte(picture, matte, radius, method), whole)


# Frame sequences.


def test_a_frame_sequence_is_cleaned_frame_by_frame_in_the_order_sent(tmp_path: Path) -> None:
    frames = [
        make_image(tmp_path / f"sh040.{1001 + i}.png", size=(WIDTH, HEIGHT), seed=i)
        for i in range(3)
    ]
    inputs = [plate(path, "image/png") for path in reversed(frames)]
    seen: list[str] = []

    result = OpenCVInpaintBackend().run(
        inputs, {"regions": BOOM}, tmp_path / "out", progress=lambda _, s: seen.append(s)
    )

    assert [o.path.name for o in result.outputs] == [
        "sh040.1003_clean.png",
        "sh040.1002_clean.png",
        "sh040.1001_clean.png",
    ]
    assert [o.parents for o in result.outputs] == [(0,), (1,), (2,)]
    assert result.usage["frames"] == 3
    assert seen == ["frame 1 of 3", "frame 2 of 3", "frame 3 of 3"]


def test_frames_of_different_sizes_do_not_make_a_sequence(tmp_path: Path) -> None:
    a = make_image(tmp_path / "a.png", size=(WIDTH, HEIGHT))
    b = make_image(tmp_path / "b.png", size=(WIDTH, HEIGHT + 2))

    with refused("backend.inpaint-opencv.frame_size_mismatch", InvalidInput):
        OpenCVInpaintBackend().check([plate(a, "image/png"), plate(b, "image/png")], {})


# PatchMatch.


def test_patchmatch_gives_the_same_pixels_for_the_same_seed(tmp_path: Path) -> None:
    damaged = make_image(tmp_path / "dust.png", size=(WIDTH, HEIGHT))
    backend = PatchMatchInpaintBackend()
    runs_ = [
        backend.run([plate(damaged, "image/png")], {"regions": BOOM}, tmp_path / str(n), seed=seed)
        for n, seed in enumerate((11, 11, 12))
    ]
    pixels = [cv2.imread(str(r.outputs[0].path)) for r in runs_]

    assert np.array_equal(pixels[0], pixels[1])
    assert not np.array_equal(pixels[0], pixels[2])
    assert [r.seed for r in runs_] == [11, 11, 12]
    assert runs_[0].parameters == {"patch_size": 7, "regions": BOOM}
    assert runs_[0].model == "patchmatch_cython.inpaint_pyramid"
    assert backend.capabilities.seeded


def test_patchmatch_picks_and_records_a_seed_when_given_none(tmp_path: Path) -> None:
    damaged = make_image(tmp_path / "dust.png", size=(WIDTH, HEIGHT))
    backend = PatchMatchInpaintBackend()

    first = backend.run([plate(damaged, "image/png")], {"regions": BOOM}, tmp_path / "a")
    again = backend.run(
        [plate(damaged, "image/png")], {"regions": BOOM}, tmp_path / "b", seed=first.seed
    )

    assert first.seed is not None and again.seed == first.seed
    assert (tmp_path / "a" / "dust_clean.png").read_bytes() == (
        tmp_path / "b" / "dust_clean.png"
    ).read_bytes()


def test_patchmatch_fills_a_hole_in_texture_with_texture(tmp_path: Path) -> None:
    y, x = np.mgrid[0:64, 0:96]
    tiles = np.where((x // 4 + y // 4) % 2 == 1, 200, 0).astype(np.uint8)  # a tiled wall
    tiles = np.dstack([tiles] * 3)
    damaged = tiles.copy()
    damaged[20:44, 36:60] = 90  # a grey crate in front of it
    path = tmp_path / "wall.png"
    cv2.imwrite(str(path), damaged)
    hole = {"regions": [[36, 20, 24, 24]], "patch_size": 5}

    by_patches = PatchMatchInpaintBackend().run(
        [plate(path, "image/png")], hole, tmp_path / "a", seed=3
    )
    by_smearing = OpenCVInpaintBackend().run(
        [plate(path, "image/png")], {"regions": hole["regions"]}, tmp_path / "b"
    )

    middle = (slice(24, 40), slice(40, 56))
    patched = cv2.imread(str(by_patches.outputs[0].path))
    smeared = cv2.imread(str(by_smearing.outputs[0].path))
    assert patched[middle].std() > 70 > 30 > smeared[middle].std()  # tiles, not a blur of them
    assert error(patched, tiles, *middle) < error(smeared, tiles, *middle) / 3
    assert np.array_equal(patched[:20], tiles[:20])


def test_patchmatch_keeps_sixteen_bits_outside_the_mask(tmp_path: Path) -> None:
    deep = np.indices((HEIGHT, WIDTH)).sum(axis=0)[..., None] * np.array([300, 500, 700])
    deep = (deep % 65536).astype(np.uint16)
    path = tmp_path / "log.png"
    cv2.imwrite(str(path), deep)

    result = PatchMatchInpaintBackend().run(
        [plate(path, "image/png")], {"regions": BOOM}, tmp_path / "out", seed=1
    )

    cleaned = cv2.imread(str(result.outputs[0].path), cv2.IMREAD_UNCHANGED)
    assert cleaned.dtype == np.uint16
    assert np.array_equal(cleaned[8:], deep[8:])


def test_patchmatch_cleans_a_clip_too(tmp_path: Path, boom_clip: Path) -> None:
    result = PatchMatchInpaintBackend().run(
        [plate(boom_clip)], {"regions": BOOM}, tmp_path / "out", seed=5
    )

    after = decoded(result.outputs[0].path)
    assert len(after) == FRAMES
    mic = (slice(0, 6), slice(20, 36))
    for number, (dark, clean) in enumerate(zip(decoded(boom_clip), after, strict=True)):
        assert error(clean, scene(number), *mic) < error(dark, scene(number), *mic) / 2


@pytest.mark.parametrize(
    "parameters", [{"patch_size": 6}, {"patch_size": 1}, {"patch_size": 23}, {"radius": 3}]
)
def test_patchmatch_refuses_a_bad_patch_size(tmp_path: Path, parameters: dict[str, Any]) -> None:
    damaged = make_image(tmp_path / "dust.png", size=(WIDTH, HEIGHT))

    with refused("backend.inpaint-patchmatch.bad_parameter", InvalidInput):
        PatchMatchInpaintBackend().check(
            [plate(damaged, "image/png")], {"regions": BOOM, **parameters}
        )


# What is refused about clips, before anything is kept.


def test_garbage_sent_as_a_video_is_refused(tmp_path: Path) -> None:
    (tmp_path / "junk.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"not a movie" * 50)

    with refused("backend.inpaint-opencv.unreadable_video", InvalidInput):
        OpenCVInpaintBackend().check([plate(tmp_path / "junk.mp4")], {"regions": BOOM})


def test_a_clip_damaged_halfway_is_refused_and_leaves_nothing_behind(
    tmp_path: Path, boom_clip: Path
) -> None:
    data = bytearray(boom_clip.read_bytes())
    # Keep the header (moov, written last by this muxer) and wreck the picture data.
    start = data.index(b"mdat") + 8
    data[start : start + 2000] = bytes(2000)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))

    with refused("backend.inpaint-opencv.unreadable_video", InvalidInput):
        OpenCVInpaintBackend().run([plate(damaged)], {"regions": BOOM}, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_still_mask_of_another_size_than_the_clip_is_refused(
    tmp_path: Path, boom_clip: Path
) -> None:
    small = make_image(tmp_path / "m.png", size=(WIDTH // 2, HEIGHT // 2))

    with refused("backend.inpaint-opencv.mask_size_mismatch", InvalidInput):
        OpenCVInpaintBackend().run([plate(boom_clip), mask(small)], {}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_moving_mask_shorter_than_the_clip_is_refused(tmp_path: Path, boom_clip: Path) -> None:
    short = make_clip(tmp_path / "m.mp4", frames=FRAMES - 2, audio=False)

    with refused("backend.inpaint-opencv.mask_length_mismatch", InvalidInput):
        OpenCVInpaintBackend().check([plate(boom_clip), mask(short, "video/mp4")], {})


def test_a_moving_mask_needs_a_moving_plate(tmp_path: Path, boom_clip: Path) -> None:
    still = make_image(tmp_path / "p.png", size=(WIDTH, HEIGHT))

    with refused("backend.inpaint-opencv.mask_is_video", InvalidInput):
        OpenCVInpaintBackend().check([plate(still, "image/png"), mask(boom_clip, "video/mp4")], {})


def test_two_videos_in_one_request_are_refused(tmp_path: Path, boom_clip: Path) -> None:
    other = make_clip(tmp_path / "other.mp4")

    with refused("backend.inpaint-opencv.too_many_inputs", InvalidInput):
        OpenCVInpaintBackend().check([plate(boom_clip), plate(other)], {"regions": BOOM})


def test_an_over_long_clip_is_refused_from_its_header(
    tmp_path: Path, boom_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plates, "MAX_FRAMES", FRAMES - 1)  # instead of making ten minutes

    with refused("backend.inpaint-opencv.clip_too_long", InvalidInput):
        OpenCVInpaintBackend().check([plate(boom_clip)], {"regions": BOOM})


def test_an_oversized_frame_is_refused_from_its_header(
    tmp_path: Path, boom_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plates, "MAX_FRAME_PIXELS", WIDTH * HEIGHT - 1)

    with refused("backend.inpaint-patchmatch.frame_too_large", InvalidInput):
        PatchMatchInpaintBackend().check([plate(boom_clip)], {"regions": BOOM})


# End to end: a clip through the engine comes back signed.


@pytest.fixture
def world(sqlite_settings: Settings) -> Iterator[World]:
    platform = Platform.open(sqlite_settings)
    yield build_world(platform)
    platform.close()


def test_a_clip_cleaned_through_the_engine_is_signed_and_stored(
    world: World, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "sh050.mov", pictures=boomed(), timecode="01:00:10:00")
    uploaded, _ = assets.upload(
        world.platform,
        world.access("artist"),
        world.production.id,
        "sh050.mov",
        io.BytesIO(clip.read_bytes()),
        "video/quicktime",
    )
    draft = world.cleanup(
        uploaded,
        inputs=[InputRef(asset_id=uploaded.id, part="plate")],
        parameters={"regions": BOOM},
    )
    submitted = requests.submit(world.platform, world.access("artist"), draft)

    ran = runs.run_request(world.platform, submitted.request.id)

    assert ran.request.state is RequestState.IN_REVIEW, ran.events[-1].payload
    (output,) = ran.outputs
    assert output.media_type == "video/quicktime" and output.parents == (uploaded.id,)
    assert assets.credentials(world.platform, output).trusted
    signed = tmp_path / "signed.mov"
    signed.write_bytes(world.platform.blobs.read_bytes(output.sha256))
    now = describe(signed)
    assert (now["frames"], now["timecode"], now["time_base"]) == (
        FRAMES,
        "01:00:10:00",
        Fraction(1, 12288),
    )
