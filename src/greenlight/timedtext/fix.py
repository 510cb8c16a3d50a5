"""The safe QC fixes: what a subtitler would do without asking anyone.

* chain small gaps: a gap of 12 frames or less closes to 2 frames;
* open gaps under 2 frames by ending the earlier event sooner (never below its
  minimum duration);
* extend events that are too short, or too fast to read, into free space after
  them (never into the next event's 2-frame gap, never across a shot change);
* re-break lines that are too long or too many at a natural point: after
  punctuation, before a conjunction or preposition, with balanced lengths;
* delete events with no text.

Words are never changed, added or removed, and an event never starts earlier
(in-times follow the audio). Overlaps, long events and text too long for the
lines it may use are left for a person: QC still reports them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from greenlight.timedtext.io import balance_italics
from greenlight.timedtext.model import Cue, FrameRate, Track
from greenlight.timedtext.profiles import DEFAULT_FRAME_RATE, QCProfile, qc_profile
from greenlight.timedtext.qc import visible, width

# Words a line may start with (a natural break before them) and words it should not end
# with (an article or possessive left dangling at the end of the top line).
_BREAK_BEFORE = frozenset(
    [
        "and",
        "but",
        "or",
        "nor",
        "so",
        "yet",
        "because",
        "although",
        "though",
        "while",
        "when",
        "where",
        "whereas",
        "if",
        "unless",
        "until",
        "since",
        "that",
        "which",
        "who",
        "whom",
        "whose",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "from",
        "with",
        "without",
        "about",
        "into",
        "onto",
        "over",
        "under",
        "after",
        "before",
        "between",
        "through",
        "during",
        "than",
        "as",
    ]
)
_NEVER_LAST = frozenset(
    [
        "a",
        "an",
        "the",
        "my",
        "your",
        "his",
        "her",
        "its",
        "our",
        "their",
        "this",
        "that",
        "these",
        "those",
    ]
)
_PUNCTUATION_END = re.compile(r"[.,;:!?…)\"”’]$")


@dataclass(frozen=True)
class FixReport:
    """The fixed track and, in words, each change made to it."""

    track: Track
    changes: tuple[str, ...]


def break_lines(text: str, profile: QCProfile) -> str | None:
    """``text`` re-broken into at most ``profile.max_lines`` lines that fit, or None.

    One line when it fits; otherwise two lines broken where a reader expects:
    after punctuation, before a conjunction or preposition, not after an
    article, with the lengths as even as the words allow. Dialogue (lines each
    starting with a dash) keeps its one line per speaker.
    """
    lines = text.split("\n")
    if len(lines) > 1 and all(visible(line).lstrip().startswith("-") for line in lines):
        return None
    joined = balance_italics("\n".join(lines)).replace("</i>\n<i>", " ").replace("\n", " ")
    words = joined.split()
    if not words:
        return None
    limit = profile.max_chars_per_line

    def line_width(tokens: Sequence[str]) -> float:
        return width(visible(" ".join(tokens)), profile)

    if line_width(words) <= limit:
        return balance_italics(" ".join(words))
    if profile.max_lines < 2:
        return None
    best: tuple[float, int] | None = None
    for k in range(1, len(words)):
        top, bottom = line_width(words[:k]), line_width(words[k:])
        if top > limit or bottom > limit:
            continue
        last, first = visible(words[k - 1]), visible(words[k]).lower().strip("\"'“‘(")
        cost = abs(top - bottom)
        if _PUNCTUATION_END.search(last):
            cost -= 20
        elif first in _BREAK_BEFORE:
            cost -= 8
        if last.lower() in _NEVER_LAST:
            cost += 20
        if last[:1].isupper() and first[:1].isupper() and not _PUNCTUATION_END.search(last):
            cost += 8  # likely a first name and a last name
        if best is None or cost < best[0]:
            best = (cost, k)
    if best is None:
        return None
    k = best[1]
    return balance_italics(" ".join(words[:k]) + "\n" + " ".join(words[k:]))


def fix_track(
    track: Track,
    profile: QCProfile | str | None = None,
    *,
    frame_rate: FrameRate | None = None,
    shot_changes_ms: Sequence[int] = (),
) -> FixReport:
    """Apply the safe fixes to ``track``; a pure function, the input is not changed."""
    rules = profile if isinstance(profile, QCProfile) else qc_profile(profile)
    fps = frame_rate or track.frame_rate or DEFAULT_FRAME_RATE
    changes: list[str] = []
    cues: list[Cue] = []
    for number, cue in enumerate(track.cues, 1):
        if not any(visible(line).strip() for line in cue.lines):
            changes.append(f"event {number}: deleted (no text)")
            continue
        lines = [visible(line) for line in cue.lines]
        too_long = any(width(line, rules) > rules.max_chars_per_line for line in lines)
        if too_long or len(lines) > rules.max_lines:
            rebroken = break_lines(cue.text, rules)
            if rebroken is not None and rebroken != cue.text:
                changes.append(f"event {number}: lines re-broken")
                cue = replace(cue, text=rebroken)
        cues.append(cue)
    cues.sort(key=lambda c: (c.start_ms, c.end_ms))
    cues = _fix_timing(
        cues, rules, fps, sorted(fps.frame_of(ms) for ms in shot_changes_ms), changes
    )
    return FixReport(track=replace(track, cues=tuple(cues)), changes=tuple(changes))


def _fix_timing(
    cues: list[Cue], rules: QCProfile, fps: FrameRate, cuts: list[int], changes: list[str]
) -> list[Cue]:
    gap = rules.min_gap_frames
    min_frames = rules.min_duration_frames(fps)
    max_frames = rules.max_duration_frames(fps)
    starts = [fps.frame_of(c.start_ms) for c in cues]
    out: list[Cue] = []
    for i, cue in enumerate(cues):
        start, end = starts[i], fps.frame_of(cue.end_ms)
        original_end = end
        next_start = starts[i + 1] if i + 1 < len(cues) else None
        room = start + max_frames if next_start is None else next_start - gap
        for cut in cuts:
            if end < cut <= room:
                room = min(room, cut - gap)  # free space stops before the next shot change
                break
        # Too short, or too fast to read: extend into the free space after the event.
        chars = sum(width(visible(line), rules) for line in cue.lines)
        reading = -(-chars * fps.rate.numerator // (rules.max_cps * fps.rate.denominator))
        needed = min(max(min_frames, int(reading)), max_frames)
        if end - start < needed and room > end:
            end = min(start + needed, room)
        if next_start is not None:
            between = next_start - end
            if (
                gap < between <= rules.chaining_gap_frames
                and next_start - gap - start <= max_frames
            ):
                end = next_start - gap  # chain: close the small gap to the minimum
            elif 0 <= between < gap and next_start - gap - start >= min_frames:
                end = next_start - gap  # open the gap to the minimum
        if end != original_end:
            what = "extended" if end > original_end else "shortened"
            chained = next_start is not None and next_start - end == gap
            changes.append(
                f"event {i + 1}: out-time {what} by {abs(end - original_end)} frames "
                f"({'chained to the next event' if chained else 'into free space'})"
            )
            cue = replace(cue, end_ms=fps.ms_of(end))
        out.append(cue)
    return out
