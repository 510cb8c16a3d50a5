"""QC on hand-made files with known violations, the safe fixes, and an episode-length file."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest

from greenlight.core.errors import InvalidInput
from greenlight.timedtext.fix import break_lines, fix_track
from greenlight.timedtext.model import Cue, FrameRate, Track
from greenlight.timedtext.profiles import ENGLISH, qc_profile
from greenlight.timedtext.qc import check_track, visible

FPS = FrameRate(Fraction(24000, 1001))


def at(frame: int) -> int:
    return FPS.ms_of(frame)


def track_of(*spans: tuple[int, int, str]) -> Track:
    """Events given in frames at 23.976."""
    return Track(tuple(Cue(at(a), at(b), text) for a, b, text in spans), "en", FPS)


def rules_broken(
    track: Track, profile: str | None = None, **kwargs: object
) -> set[tuple[int, str]]:
    report = check_track(track, profile, **kwargs)  # type: ignore[arg-type]
    return {(v.event, v.rule) for v in report.violations}


def episode(events: int = 1500) -> Track:
    """A 46-minute episode at 23.976: clean two-line events with 2-frame gaps."""
    cues, frame = [], 0
    for n in range(events):
        text = f"Line {n}, spoken\nclearly."
        cues.append(Cue(at(frame), at(frame + 42), text))
        frame += 44
    return Track(tuple(cues), "en", FPS)


def test_a_clean_file_has_no_violations() -> None:
    track = track_of((0, 48, "Hello there."), (50, 110, "We meet again,\nold friend."))
    assert check_track(track).clean


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([(0, 100, "x" * 43)], {(1, "line_length")}),
        ([(0, 100, "one\ntwo\nthree")], {(1, "line_count")}),
        ([(0, 24, "Far too many words\nto read in one second.")], {(1, "reading_speed")}),
        ([(0, 19, "Hi.")], {(1, "min_duration")}),
        ([(0, 180, "Too long.")], {(1, "max_duration")}),
        ([(0, 48, "One."), (40, 90, "Two.")], {(2, "overlap")}),
        ([(0, 48, "One."), (49, 90, "Two.")], {(1, "min_gap")}),
        ([(0, 48, "One."), (55, 90, "Two.")], {(1, "chaining_gap")}),
        ([(0, 48, "  ")], {(1, "empty_event")}),
    ],
    ids=[
        "line_length",
        "line_count",
        "reading_speed",
        "min_duration",
        "max_duration",
        "overlap",
        "min_gap",
        "chaining_gap",
        "empty_event",
    ],
)
def test_each_rule_is_reported_on_the_event_that_breaks_it(
    spans: list[tuple[int, int, str]], expected: set[tuple[int, str]]
) -> None:
    assert rules_broken(track_of(*spans)) == expected


def test_minimum_duration_is_twenty_frames_at_23976_and_25_at_2997() -> None:
    assert ENGLISH.min_duration_frames(FPS) == 20
    assert ENGLISH.min_duration_frames(FrameRate(Fraction(30000, 1001), True)) == 25
    assert rules_broken(track_of((0, 20, "Hi."))) == set()


def test_a_gap_of_thirteen_frames_is_left_alone_but_twelve_is_chained() -> None:
    assert rules_broken(track_of((0, 48, "One."), (61, 110, "Two."))) == set()
    assert rules_broken(track_of((0, 48, "One."), (60, 110, "Two."))) == {(1, "chaining_gap")}


def test_childrens_profile_reads_slower_than_adult() -> None:
    text = "Fifteen chars a second here."  # 28 characters over 2 s: 14 cps
    track = track_of((0, 48, text))
    assert rules_broken(track, "en") == set()
    assert rules_broken(track, "en-children") == {(1, "reading_speed")}


def test_japanese_profile_counts_full_width_characters_and_allows_fewer_a_line() -> None:
    line = "今日はとても良い天気ですね、散歩"  # 16 full-width characters
    track = track_of((0, 200, line))
    assert (1, "line_length") in rules_broken(track, "ja")
    assert (1, "line_length") not in rules_broken(track, "en")
    half = track_of((0, 200, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))  # 26 half-width = 13
    assert (1, "line_length") not in rules_broken(half, "ja")


def test_unknown_profile_is_refused_with_the_choices() -> None:
    with pytest.raises(InvalidInput) as refused:
        qc_profile("klingon")
    assert refused.value.code == "subtitles.unknown_profile" and "en-children" in str(refused.value)


def test_shot_change_rules_apply_only_when_cuts_are_given() -> None:
    track = track_of((95, 150, "Starts five frames before the cut."), (200, 245, "Ends near one."))
    cuts = [at(100), at(250)]
    assert rules_broken(track) == set()
    broken = rules_broken(track, shot_changes_ms=cuts)
    assert broken == {(1, "shot_change_in"), (2, "shot_change_out")}
    report = check_track(track, shot_changes_ms=cuts)
    in_time = next(v for v in report.violations if v.rule == "shot_change_in")
    assert "00:00:04:04" in in_time.suggestion  # the cut itself (red zone)


def test_violations_carry_event_time_code_rule_message_and_fix() -> None:
    report = check_track(track_of((0, 48, "One."), (2400, 2410, "Short.")))
    (violation,) = report.violations
    assert violation.event == 2 and violation.rule == "min_duration"
    assert violation.start == pytest.approx(100.1, abs=0.001)
    assert violation.timecode == "00:01:40:00"
    assert "10 frames" in violation.message and "00:01:40:20" in violation.suggestion


def test_line_breaking_prefers_punctuation_and_never_changes_words() -> None:
    text = "I told you already, and you never listen to a word I say."
    broken = break_lines(text, ENGLISH)
    assert broken == "I told you already,\nand you never listen to a word I say."
    long = "We should go to the old lighthouse before the storm comes in tonight"
    broken = break_lines(long, ENGLISH)
    assert broken is not None and broken.replace("\n", " ") == long
    assert all(len(line) <= 42 for line in broken.split("\n"))
    assert not broken.split("\n")[0].endswith(" the")


def test_line_breaking_keeps_italics_on_each_line_and_leaves_dialogue_alone() -> None:
    broken = break_lines(
        "<i>We should go to the old lighthouse before the storm comes</i>", ENGLISH
    )
    assert broken is not None
    assert all(line.startswith("<i>") and line.endswith("</i>") for line in broken.split("\n"))
    assert break_lines("-Are you coming?\n-No.", ENGLISH) is None


def test_safe_fixes_clear_gaps_durations_and_line_breaks_without_touching_words() -> None:
    track = track_of(
        (0, 10, "Hi."),  # too short, free space after it
        (30, 130, "We should go to the old lighthouse before the storm comes in"),
        (137, 180, "Chained."),  # the 7-frame gap before it closes to 2
        (181, 230, "Too close."),  # the 1-frame gap before it opens to 2
        (290, 350, ""),  # empty: deleted
    )
    before = check_track(track)
    assert {v.rule for v in before.violations} == {
        "min_duration",
        "line_length",
        "chaining_gap",
        "min_gap",
        "empty_event",
    }
    fixed = fix_track(track)
    assert check_track(fixed.track).clean, check_track(fixed.track).violations
    words = [visible(c.text).split() for c in fixed.track.cues]
    assert words == [visible(c.text).split() for c in track.cues if c.text]
    assert [c.start_ms for c in fixed.track.cues] == [c.start_ms for c in track.cues][:4]
    assert len(fixed.changes) == 5


def test_fix_never_extends_into_the_next_event_or_across_a_cut() -> None:
    track = track_of((0, 10, "Hi."), (14, 60, "Next."))
    fixed = fix_track(track).track
    assert FPS.frame_of(fixed.cues[0].end_ms) == 12  # 2 frames before the next, still short
    assert (1, "min_duration") in rules_broken(fixed)
    cut = fix_track(track_of((0, 10, "Hi.")), shot_changes_ms=[at(15)]).track
    assert FPS.frame_of(cut.cues[0].end_ms) == 13


def test_qc_of_a_1500_event_episode_is_clean_and_fast() -> None:
    track = episode()
    check_track(track)  # warm up caches
    began = time.perf_counter()
    report = check_track(track)
    elapsed = time.perf_counter() - began
    assert report.clean and report.events == 1500
    assert elapsed < 0.05, f"{elapsed * 1000:.1f} ms"
