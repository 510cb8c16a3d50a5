"""Subtitle QC: a track judged against a profile's timed-text rules, as a pure function.

Each :class:`Violation` names the event (1-based, in time order), the rule, where
it is (seconds and time code), what is wrong and what would fix it. Timing rules
are judged in whole frames of the picture's rate, as the guides state them.

Rule ids: ``empty_event``, ``line_length``, ``line_count``, ``reading_speed``,
``min_duration``, ``max_duration``, ``overlap``, ``min_gap``, ``chaining_gap``
and, when shot changes are known, ``shot_change_in`` and ``shot_change_out``.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from greenlight.timedtext.model import Cue, FrameRate, Track
from greenlight.timedtext.profiles import DEFAULT_FRAME_RATE, QCProfile, qc_profile
from greenlight.timedtext.timecode import timecode

RULES = (
    "empty_event",
    "line_length",
    "line_count",
    "reading_speed",
    "min_duration",
    "max_duration",
    "overlap",
    "min_gap",
    "chaining_gap",
    "shot_change_in",
    "shot_change_out",
)
_MARKUP = re.compile(r"</?i>")
_Report = Callable[[int, str, str, str], None]  # (event index, rule, message, suggestion)
_TimecodeOf = Callable[[int], str]


@dataclass(frozen=True)
class Violation:
    """One broken rule at one event."""

    event: int  # 1-based, in time order
    rule: str
    start: float  # the event's start, seconds
    timecode: str
    message: str
    suggestion: str

    def to_json(self) -> dict[str, object]:
        """The violation as the JSON object ``subtitles qc --json`` prints."""
        return {
            "event": self.event,
            "rule": self.rule,
            "start": self.start,
            "timecode": self.timecode,
            "message": self.message,
            "suggestion": self.suggestion,
        }


@dataclass(frozen=True)
class QCReport:
    """What QC found in a track, and the profile and frame rate it was judged by."""

    profile: QCProfile
    frame_rate: FrameRate
    events: int
    violations: tuple[Violation, ...]

    @property
    def clean(self) -> bool:
        """No rule is broken."""
        return not self.violations


def visible(line: str) -> str:
    """A display line without its markup: what the viewer reads."""
    return _MARKUP.sub("", line)


@lru_cache(maxsize=4096)
def _weighted_width(text: str) -> float:
    return sum(1.0 if unicodedata.east_asian_width(ch) in "FW" else 0.5 for ch in text)


def width(text: str, profile: QCProfile) -> float:
    """Characters as the profile counts them (half-width as 0.5 in CJK profiles)."""
    return _weighted_width(text) if profile.half_width_counts_half else float(len(text))


def check_track(
    track: Track,
    profile: QCProfile | str | None = None,
    *,
    frame_rate: FrameRate | None = None,
    shot_changes_ms: Sequence[int] = (),
) -> QCReport:
    """Judge ``track`` against ``profile`` (the English default when None).

    ``frame_rate`` is the picture's; without it the track's own is used, else
    23.976. ``shot_changes_ms`` are the cuts (any order), when known.
    """
    rules = profile if isinstance(profile, QCProfile) else qc_profile(profile)
    fps = frame_rate or track.frame_rate or DEFAULT_FRAME_RATE
    num, den = fps.rate.numerator, fps.rate.denominator
    cues = track.cues

    # Frame of each time, in integers: FrameRate.frame_of without Fractions (QC of an
    # episode must stay well under 50 ms).
    def frame(ms: int) -> int:
        return ((2 * ms + 1) * num) // (2000 * den)

    starts = [frame(c.start_ms) for c in cues]
    ends = [frame(c.end_ms) for c in cues]
    found: list[Violation] = []

    def report(index: int, rule: str, message: str, suggestion: str) -> None:
        cue = cues[index]
        found.append(
            Violation(
                event=index + 1,
                rule=rule,
                start=cue.start_ms / 1000,
                timecode=timecode(cue.start_ms, fps),
                message=message,
                suggestion=suggestion,
            )
        )

    def tc_frame(n: int) -> str:
        return timecode(fps.ms_of(n), fps)

    min_frames = rules.min_duration_frames(fps)
    max_frames = rules.max_duration_frames(fps)
    gap = rules.min_gap_frames
    for i, cue in enumerate(cues):
        _check_text(i, cue, rules, report)
        frames = ends[i] - starts[i]
        seconds = cue.duration_ms / 1000
        if frames < min_frames:
            report(
                i,
                "min_duration",
                f"on screen {frames} frames ({seconds:.3f} s); at least {min_frames} frames "
                f"({float(rules.min_duration):.3f} s)",
                f"extend the out-time to {tc_frame(starts[i] + min_frames)}",
            )
        elif frames > max_frames:
            report(
                i,
                "max_duration",
                f"on screen {seconds:.3f} s; at most {float(rules.max_duration):g} s",
                f"split the event or end it by {tc_frame(starts[i] + max_frames)}",
            )
        chars = sum(width(visible(line), rules) for line in cue.lines)
        if chars and (seconds <= 0 or chars / seconds > rules.max_cps):
            needed = chars / rules.max_cps
            speed = f"{chars / seconds:.1f}" if seconds > 0 else "unbounded"
            report(
                i,
                "reading_speed",
                f"{speed} characters a second ({chars:g} characters in {seconds:.3f} s); "
                f"at most {rules.max_cps:g}",
                f"extend the event to {needed:.2f} s "
                f"(out-time {tc_frame(starts[i] + _ceil_frames(needed, fps))}) "
                "or condense the text",
            )
        if i + 1 < len(cues):
            between = starts[i + 1] - ends[i]
            if between < 0:
                report(
                    i + 1,
                    "overlap",
                    f"starts {-between} frames before event {i + 1} ends",
                    f"end event {i + 1} at {tc_frame(starts[i + 1] - gap)} or merge the two",
                )
            elif between < gap:
                report(
                    i,
                    "min_gap",
                    f"{between} frames before the next event; at least {gap}",
                    f"end it at {tc_frame(starts[i + 1] - gap)}",
                )
            elif gap < between <= rules.chaining_gap_frames:
                report(
                    i,
                    "chaining_gap",
                    f"a {between}-frame gap to the next event; gaps of "
                    f"{rules.chaining_gap_frames} frames or less close to {gap}",
                    f"extend the out-time to {tc_frame(starts[i + 1] - gap)}",
                )
    if shot_changes_ms:
        cuts = sorted({frame(ms) for ms in shot_changes_ms})
        _check_shot_changes(starts, ends, cuts, rules, fps, report, tc_frame)
    found.sort(key=lambda v: (v.event, RULES.index(v.rule)))
    return QCReport(profile=rules, frame_rate=fps, events=len(cues), violations=tuple(found))


def _ceil_frames(seconds: float, fps: FrameRate) -> int:
    exact = seconds * fps.rate.numerator / fps.rate.denominator
    return int(exact) + (0 if exact == int(exact) else 1)


def _check_text(index: int, cue: Cue, rules: QCProfile, report: _Report) -> None:
    lines = [visible(line) for line in cue.lines]
    if not any(line.strip() for line in lines):
        report(index, "empty_event", "the event has no text", "delete the event")
        return
    if len(lines) > rules.max_lines:
        report(
            index,
            "line_count",
            f"{len(lines)} lines; at most {rules.max_lines}",
            f"re-break into {rules.max_lines} lines or split the event",
        )
    for number, line in enumerate(lines, 1):
        chars = width(line, rules)
        if chars > rules.max_chars_per_line:
            report(
                index,
                "line_length",
                f"line {number} has {chars:g} characters; at most {rules.max_chars_per_line:g}",
                "re-break the lines at a natural point, or condense",
            )


def _check_shot_changes(
    starts: list[int],
    ends: list[int],
    cuts: list[int],
    rules: QCProfile,
    fps: FrameRate,
    report: _Report,
    tc_frame: _TimecodeOf,
) -> None:
    """In-times near a cut snap to it or keep clear; out-times near one end 2 frames before."""
    window = rules.scaled_frames(rules.shot_change_window_frames, fps)
    red = rules.scaled_frames(rules.shot_change_red_zone_frames, fps)
    gap = rules.min_gap_frames
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        at = bisect_left(cuts, start)
        after_start = cuts[at] if at < len(cuts) else None  # first cut at or after the in-time
        before_start = cuts[at - 1] if at > 0 else None
        if after_start is not None and after_start != start:
            early = after_start - start
            if early <= red:
                report(
                    i,
                    "shot_change_in",
                    f"in-time {early} frames before a shot change",
                    f"move the in-time to the cut at {tc_frame(after_start)}",
                )
            elif early < window:
                report(
                    i,
                    "shot_change_in",
                    f"in-time {early} frames before a shot change",
                    f"move the in-time to {tc_frame(after_start - window)}, "
                    f"{window} frames before the cut",
                )
        if before_start is not None and 0 < start - before_start <= red:
            report(
                i,
                "shot_change_in",
                f"in-time {start - before_start} frames after a shot change",
                f"move the in-time to the cut at {tc_frame(before_start)}",
            )
        near = bisect_left(cuts, end - window + 1)
        while near < len(cuts) and cuts[near] < end + window:
            cut = cuts[near]
            near += 1
            if cut <= start:
                continue
            to_cut = cut - end
            if to_cut != gap:
                where = "after" if to_cut < 0 else "before"
                report(
                    i,
                    "shot_change_out",
                    f"out-time {abs(to_cut)} frames {where} a shot change",
                    f"end it at {tc_frame(cut - gap)}, {gap} frames before the cut",
                )
            break
