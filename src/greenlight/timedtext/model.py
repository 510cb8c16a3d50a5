"""Cues, tracks and frame rates."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True)
class FrameRate:
    """A video frame rate as an exact fraction (24000/1001 for 23.976), and whether its
    timecodes drop frame numbers (29.97 and 59.94 broadcast timecode)."""

    rate: Fraction
    drop_frame: bool = False

    def frame_of(self, ms: int) -> int:
        """The frame a time in milliseconds falls in (frames counted from zero).

        Whole milliseconds are a rounded clock: ``ms_of`` may land up to half a
        millisecond before a frame's true start (83 ms for frame 2 at 23.976,
        whose start is 83.42 ms), so the half millisecond is given back here and
        ``frame_of(ms_of(n)) == n`` for every frame at every rate up to 1000 fps.
        """
        return math.floor((Fraction(ms) + Fraction(1, 2)) * self.rate / 1000)

    def ms_of(self, frame: int) -> int:
        """The start of ``frame`` in whole milliseconds (rounded to nearest)."""
        return round(Fraction(frame) / self.rate * 1000)


@dataclass(frozen=True)
class Cue:
    """One subtitle event: shown from ``start_ms`` to ``end_ms`` (exclusive).

    ``text`` holds the display lines joined by ``"\\n"``, italics marked
    ``<i>…</i>``. ``position`` is ``"top"`` for a raised event, ``None`` for the
    default bottom placement.
    """

    start_ms: int
    end_ms: int
    text: str
    position: str | None = None

    @property
    def lines(self) -> list[str]:
        """The display lines, markup included."""
        return self.text.split("\n")

    @property
    def duration_ms(self) -> int:
        """How long the event is on screen."""
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class Track:
    """A language's subtitles for one title, in time order."""

    cues: tuple[Cue, ...]
    language: str  # BCP 47 ("en", "es-419")
    frame_rate: FrameRate | None = None
    metadata: dict[str, str] = field(default_factory=dict)
