"""Finding and recognising faces on real photos, and in video frames."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from greenlight.core.errors import InvalidInput
from greenlight.likeness import faces
from greenlight.likeness.scan import face_hits
from greenlight.likeness.templates import Gallery
from tests.expect import refused
from tests.likeness import photos


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return np.stack(faces.encode_reference(photos.astronaut()))


def _rates(reference: np.ndarray, negatives: int) -> tuple[float, float, dict[str, float]]:
    """True-match rate on the augmented astronaut, false-match rate on LFW strangers."""
    nearest = {}
    for name, view in photos.augmented().items():
        found = faces.find_faces(view)
        nearest[name] = min(
            (float(faces.distances(f.encoding, reference).min()) for f in found), default=9.0
        )
    true_rate = sum(d <= faces.THRESHOLD for d in nearest.values()) / len(nearest)
    strangers = [
        float(faces.distances(photos.lfw_encoding(img), reference).min())
        for img in photos.lfw_faces()[:negatives]
    ]
    false_rate = sum(d <= faces.THRESHOLD for d in strangers) / len(strangers)
    print(
        f"\nthreshold {faces.THRESHOLD}: true-match {true_rate:.3f} over {len(nearest)} views "
        f"(worst {max(nearest.values()):.3f}); false-match {false_rate:.3f} over "
        f"{len(strangers)} strangers (nearest {min(strangers):.3f})"
    )
    return true_rate, false_rate, nearest


def test_the_astronaut_is_recognised_through_edits_and_strangers_are_not(
    reference: np.ndarray,
) -> None:
    true_rate, false_rate, nearest = _rates(reference, negatives=10)
    assert true_rate == 1.0, nearest
    assert false_rate == 0.0


@pytest.mark.slow
def test_match_rates_on_all_hundred_lfw_strangers(reference: np.ndarray) -> None:
    true_rate, false_rate, _ = _rates(reference, negatives=100)
    assert true_rate == 1.0
    assert false_rate <= 0.01


def test_faces_under_80_pixels_are_found_only_at_full_size_with_upsampling() -> None:
    # The HOG window is 80 px: at the default detection size (640 px wide, doubled
    # once) a 720p frame's faces must be about 80 px across to be seen.
    frame = photos.small_in_720p()
    assert faces.find_faces(frame) == []
    (face,) = faces.find_faces(frame, detect_width=None, upsample=1)
    assert 40 <= face.box.width <= 60


def test_confidence_is_one_half_at_the_threshold_and_high_for_the_same_face() -> None:
    assert faces.confidence(faces.THRESHOLD) == pytest.approx(0.5)
    assert faces.confidence(0.2) > 0.99
    assert faces.confidence(0.75) < 0.01


def test_a_reference_photo_without_a_face_is_refused() -> None:
    from skimage import data

    with refused("likeness.face.none", InvalidInput):
        faces.encode_reference(np.ascontiguousarray(data.coffee()))


def test_a_reference_photo_with_two_people_is_refused() -> None:
    with refused("likeness.face.several", InvalidInput):
        faces.encode_reference(photos.two_people())


def test_an_unreadable_image_is_refused() -> None:
    with refused("likeness.image.unreadable", InvalidInput):
        faces.read_image(b"not an image at all")


def test_the_face_is_found_in_the_frames_that_show_it(
    tmp_path: Path, reference: np.ndarray
) -> None:
    video = photos.clip(tmp_path / "clip.mp4", fps=12, seconds=4, face_from=12, face_to=36)
    sampled = list(faces.sample_frames(video, every_seconds=1.0))
    # One a second (0, 12, 24, 36) and the first frame of each new shot (12, 36).
    assert [f.index for f in sampled] == [0, 12, 24, 36]
    assert [f.index for f in sampled if f.shot_change] == [12, 36]
    gallery = Gallery("face", faces.MODEL, ("talent_astronaut",) * len(reference), reference)
    hits = list(face_hits(video, gallery, every_seconds=0.5))
    assert sorted(h.frame for h in hits if h.frame is not None) == [12, 18, 24, 30]
    assert all(h.talent_id == "talent_astronaut" and h.confidence > 0.9 for h in hits)
    skimmed = {h.frame for h in face_hits(video, gallery, every_seconds=0.5, skim=True)}
    assert skimmed and all(f is not None and 12 <= f < 36 for f in skimmed)
    first = min(hits, key=lambda h: h.frame or 0)
    assert first.time == pytest.approx(1.0)
    assert first.box is not None and 120 <= first.box.left <= 240


def test_the_evidence_frame_has_the_box_drawn() -> None:
    image = photos.astronaut()
    (face,) = faces.find_faces(image)
    evidence = faces.read_image(faces.draw_box(image, face.box, "talent_x 0.99"))
    assert evidence.shape == image.shape
    edge = evidence[face.box.top + face.box.height // 2, face.box.left]
    assert tuple(edge) == (255, 0, 0)  # red, in RGB


def test_a_face_still_in_its_place_keeps_its_encoding_and_a_moved_one_is_encoded() -> None:
    image = photos.astronaut()
    (face,) = faces.find_faces(image)
    marker = np.full(128, 0.25, np.float32)  # not an encoding the network would give
    stayed = faces.Face(box=face.box, score=1.0, encoding=marker)
    (again,) = faces.find_faces(image, known=[stayed])
    assert again.encoding is marker  # the encoder did not run again
    elsewhere = faces.Face(
        box=faces.Box(0, 0, face.box.width // 2, face.box.height // 2), score=1.0, encoding=marker
    )
    (fresh,) = faces.find_faces(image, known=[elsewhere])
    assert np.allclose(fresh.encoding, face.encoding)


def test_box_overlap_is_intersection_over_union() -> None:
    box = faces.Box(10, 10, 100, 100)
    assert faces.overlap(box, box) == 1.0
    assert faces.overlap(box, faces.Box(200, 200, 50, 50)) == 0.0
    assert faces.overlap(box, faces.Box(60, 10, 100, 100)) == pytest.approx(50 / 150)


@pytest.mark.slow  # two spawned processes load the face models
def test_a_long_video_scanned_in_stretches_side_by_side_finds_the_same_frames(
    tmp_path: Path, reference: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from greenlight.likeness import scan

    monkeypatch.setattr(scan, "SPLIT_SECONDS", 1.5)  # a 4 s clip counts as long here
    video = photos.clip(tmp_path / "clip.mp4", fps=12, seconds=4, face_from=12, face_to=36)
    gallery = Gallery("face", faces.MODEL, ("talent_astronaut",) * len(reference), reference)
    alone = list(face_hits(video, gallery, every_seconds=0.5))
    split = list(face_hits(video, gallery, every_seconds=0.5, processes=2))
    assert [h.frame for h in split] == [h.frame for h in alone] == [12, 18, 24, 30]
    assert [h.box for h in split] == [h.box for h in alone]
    # One best sighting per stretch keeps its frame for the evidence; the rest do not.
    assert sum(h.image is not None for h in split) == 2


def test_a_still_picture_leaves_nothing_to_look_at_again() -> None:
    still = faces.blocks(photos.small_in_720p())
    assert faces.changed_region(still, still.copy(), (1280, 720), known=()) is None


def test_a_change_is_looked_at_with_a_margin_and_with_every_face_it_touches() -> None:
    before = photos.small_in_720p()
    after = before.copy()
    after[96:128, 608:640] = 255  # four blocks of 16 px light up
    region = faces.changed_region(faces.blocks(before), faces.blocks(after), (1280, 720), ())
    margin = faces.CHANGE_MARGIN
    assert region == faces.Box(608 - margin, 96 - margin, 32 + 2 * margin, 32 + 2 * margin)
    # A known face the change reaches into is looked at again whole, not cut in two.
    face = faces.Face(box=faces.Box(650, 150, 120, 120), score=1.0, encoding=np.zeros(128))
    grown = faces.changed_region(faces.blocks(before), faces.blocks(after), (1280, 720), [face])
    assert grown is not None
    assert grown.left + grown.width >= 770 and grown.top + grown.height >= 270
    # A picture that changed nearly everywhere is looked at whole.
    flipped = np.ascontiguousarray(255 - before)
    whole = faces.changed_region(faces.blocks(before), faces.blocks(flipped), (1280, 720), ())
    assert whole == faces.Box(0, 0, 1280, 720)


def test_a_performer_stepping_into_a_still_shot_is_found_at_the_next_sample(
    tmp_path: Path, reference: np.ndarray
) -> None:
    head = photos.astronaut()[20:220, 110:310]  # her face, about 90 px, with some room
    path = tmp_path / "still.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for index in range(24):
            frame = np.full((360, 640, 3), (70, 70, 70), np.uint8)
            if index >= 9:  # she steps in at 2.25 s, mid-shot: no cut
                frame[80:280, 380:580] = head
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    sampled = list(faces.sample_frames(path))
    assert [f.index for f in sampled] == [0, 4, 8, 12, 16, 20]
    assert not any(f.shot_change for f in sampled)
    gallery = Gallery("face", faces.MODEL, ("talent_astronaut",) * len(reference), reference)
    seen = [h.frame for h in face_hits(path, gallery)]
    # Frame 12 is neither a cut nor a refresh: the change test sends the detector there.
    assert seen == [12, 16, 20]
