"""Frame rates and SMPTE time codes, as subtitle editors and delivery specs write them.

``23.976`` is 24000/1001 and ``29.97`` is 30000/1001: the decimal names are
labels, never the arithmetic. Drop-frame time codes (``29.97df``, written with
``;`` before the frames) skip frame numbers 00 and 01 at the start of every
minute except each tenth, so the clock on the label keeps up with the wall clock.
"""

from __future__ import annotations

import re
from fractions import Fraction

from greenlight.core.errors import InvalidInput
from greenlight.timedtext.model import FrameRate

# Below 1 or above 120 frames per second no picture a subtitle is timed to exists;
# a value out there is a typo (2397 for 23.976) or a file that is not what it says.
LOWEST_RATE = Fraction(1)
HIGHEST_RATE = Fraction(120)

# The decimal labels people type, and the NTSC fractions they mean.
_NTSC = {
    "23.976": Fraction(24000, 1001),
    "23.98": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001),
    "47.952": Fraction(48000, 1001),
    "59.94": Fraction(60000, 1001),
    "119.88": Fraction(120000, 1001),
}
_DROP_FRAME_RATES = {Fraction(30000, 1001): 2, Fraction(60000, 1001): 4}
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\d+/\d+)\s*(df|ndf)?\s*$", re.IGNORECASE)
_TIMECODE_RE = re.compile(r"^\s*(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})\s*$")


def parse_frame_rate(text: str) -> FrameRate:
    """A frame rate from how people write it: ``25``, ``23.976``, ``24000/1001``, ``29.97df``.

    Refuses, with code ``subtitles.bad_frame_rate``, anything that is not a number,
    is outside 1–120 fps, or asks for drop frame at a rate that has none.
    """
    found = _RATE_RE.match(text)
    if found is None:
        raise _bad_rate(text, "it is not a number like 25, 23.976, 24000/1001 or 29.97df")
    number, suffix = found.group(1), (found.group(2) or "").lower()
    try:
        rate = _NTSC.get(number) or Fraction(number)
    except (ValueError, ZeroDivisionError):
        raise _bad_rate(text, "it is not a number") from None
    return checked_frame_rate(rate, drop_frame=suffix == "df", given=text)


def checked_frame_rate(rate: Fraction, *, drop_frame: bool = False, given: str = "") -> FrameRate:
    """``FrameRate(rate, drop_frame)`` after checking it is a rate a picture can have."""
    label = given or str(rate)
    if not LOWEST_RATE <= rate <= HIGHEST_RATE:
        raise _bad_rate(label, "subtitled video runs between 1 and 120 frames per second")
    if drop_frame and rate not in _DROP_FRAME_RATES:
        raise _bad_rate(label, "drop-frame time code exists only at 29.97 and 59.94")
    return FrameRate(rate, drop_frame)


def _bad_rate(given: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"The frame rate {given!r} cannot be used: {why}. Give the picture's rate, "
        "e.g. 23.976, 24, 25, 29.97df or 30000/1001.",
        code="subtitles.bad_frame_rate",
    )


def nominal_fps(frame_rate: FrameRate) -> int:
    """The frames per time-code second: 24 for 23.976, 30 for 29.97."""
    return round(frame_rate.rate)


def timecode(ms: int, frame_rate: FrameRate) -> str:
    """``HH:MM:SS:FF`` for the frame ``ms`` falls in (``;`` before FF when drop frame).

    Times before zero are shown as ``-`` and the time code of their magnitude.
    """
    if ms < 0:
        return "-" + timecode(-ms, frame_rate)
    frame = frame_rate.frame_of(ms)
    fps = nominal_fps(frame_rate)
    dropped = _DROP_FRAME_RATES.get(frame_rate.rate, 0) if frame_rate.drop_frame else 0
    if dropped:
        frame = _drop_frame_label(frame, frame_rate.rate, dropped)
    ff = frame % fps
    seconds = frame // fps
    separator = ";" if dropped else ":"
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{separator}{ff:02d}"


def _drop_frame_label(frame: int, rate: Fraction, dropped: int) -> int:
    """The frame number a drop-frame time code shows for a real frame count."""
    per_ten_minutes = round(rate * 600)  # 17982 at 29.97
    per_minute = round(rate) * 60 - dropped  # 1798: every minute but the tenth drops frames
    tens, rest = divmod(frame, per_ten_minutes)
    skipped = 9 * dropped * tens
    if rest > dropped:
        skipped += dropped * ((rest - dropped) // per_minute)
    return frame + skipped


def parse_timecode(text: str, frame_rate: FrameRate) -> int:
    """Milliseconds at the start of the frame an ``HH:MM:SS:FF`` time code names.

    ``HH:MM:SS.mmm`` and ``HH:MM:SS,mmm`` are read as clock times. Refuses a
    malformed code, a frame number past the rate and a drop-frame label that
    does not exist, with code ``subtitles.bad_timecode``.
    """
    found = _TIMECODE_RE.match(text)
    if found is None:
        raise _bad_timecode(text, "it is not HH:MM:SS:FF")
    hh, mm, ss, sep, tail = found.groups()
    if int(mm) > 59 or int(ss) > 59:
        raise _bad_timecode(text, "minutes and seconds run 00–59")
    if sep in ".,":
        return ((int(hh) * 60 + int(mm)) * 60 + int(ss)) * 1000 + int(tail.ljust(3, "0"))
    fps = nominal_fps(frame_rate)
    ff = int(tail)
    if ff >= fps:
        raise _bad_timecode(text, f"frames run 00–{fps - 1:02d} at this rate")
    label = ((int(hh) * 60 + int(mm)) * 60 + int(ss)) * fps + ff
    dropped = _DROP_FRAME_RATES.get(frame_rate.rate, 0) if frame_rate.drop_frame else 0
    if dropped:
        total_minutes = int(hh) * 60 + int(mm)
        if int(ss) == 0 and ff < dropped and total_minutes % 10:
            raise _bad_timecode(text, "drop-frame time code skips that frame number")
        label -= dropped * (total_minutes - total_minutes // 10)
    return frame_rate.ms_of(label)


def _bad_timecode(given: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"The time code {given!r} cannot be read: {why}.", code="subtitles.bad_timecode"
    )
