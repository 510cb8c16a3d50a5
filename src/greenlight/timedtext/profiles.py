"""Named, versioned QC profiles: a streamer's timed-text numbers, per language.

The English default follows the streamer's published English template and
general requirements (42 characters a line, 2 lines, 17 characters a second for
adult programs and 13 for children's, events from 5/6 s to 7 s, 2 frames
between events, gaps of 12 frames or less chained to 2 frames, and the
shot-change zones). A language profile starts from it and overrides numbers.
A profile's ``version`` changes whenever one of its numbers does, so a QC
report says exactly which rules it was judged by.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from greenlight.core.errors import InvalidInput
from greenlight.timedtext.model import FrameRate

DEFAULT_FRAME_RATE = FrameRate(Fraction(24000, 1001))


@dataclass(frozen=True)
class QCProfile:
    """The numbers subtitles are checked against.

    Frame counts are given at 24 fps where the guide scales them with the frame
    rate (shot-change zones); the minimum gap is in frames at any rate.
    """

    name: str
    version: str
    description: str
    max_chars_per_line: float = 42
    max_lines: int = 2
    max_cps: float = 17
    min_duration: Fraction = Fraction(5, 6)  # seconds
    max_duration: Fraction = Fraction(7)  # seconds
    min_gap_frames: int = 2
    chaining_gap_frames: int = 12  # gaps up to this many frames close to min_gap_frames
    shot_change_window_frames: int = 12  # at 24 fps: half a second, scaled with the rate
    shot_change_red_zone_frames: int = 7  # at 24 fps: an in-time this close snaps to the cut
    half_width_counts_half: bool = False  # CJK guides count half-width characters as 0.5

    def min_duration_frames(self, frame_rate: FrameRate) -> int:
        """The shortest event in whole frames: 20 at 23.976 and 24, 25 at 29.97."""
        exact = self.min_duration * frame_rate.rate
        return int(exact) if exact.denominator == 1 else int(exact) + 1

    def max_duration_frames(self, frame_rate: FrameRate) -> int:
        """The longest event in whole frames (7 s rounded down to a frame)."""
        return int(self.max_duration * frame_rate.rate)

    def scaled_frames(self, frames_at_24: int, frame_rate: FrameRate) -> int:
        """A shot-change zone given at 24 fps, in frames at ``frame_rate`` (12 → 15 at 30)."""
        return round(Fraction(frames_at_24, 24) * frame_rate.rate)

    def derive(self, name: str, version: str, description: str, **numbers: object) -> QCProfile:
        """A profile that overrides some of this one's numbers."""
        return replace(self, name=name, version=version, description=description, **numbers)  # type: ignore[arg-type]


ENGLISH = QCProfile(
    name="en",
    version="1",
    description="English template, adult programs: 42 chars/line, 2 lines, 17 cps.",
)
ENGLISH_CHILDREN = ENGLISH.derive(
    "en-children", "1", "English template, children's programs: reading speed 13 cps.", max_cps=13
)
JAPANESE = ENGLISH.derive(
    "ja",
    "1",
    "Japanese, horizontal: 13 full-width characters a line (half-width count 0.5), 4 cps.",
    max_chars_per_line=13,
    max_cps=4,
    half_width_counts_half=True,
)

PROFILES: dict[str, QCProfile] = {p.name: p for p in (ENGLISH, ENGLISH_CHILDREN, JAPANESE)}
DEFAULT_PROFILE = ENGLISH.name


def qc_profile(name: str | None = None) -> QCProfile:
    """The profile called ``name`` (the English default when None), or a clear refusal."""
    key = name or DEFAULT_PROFILE
    try:
        return PROFILES[key]
    except KeyError:
        raise InvalidInput(
            f"There is no QC profile {key!r}; choose one of {', '.join(sorted(PROFILES))}.",
            code="subtitles.unknown_profile",
        ) from None
