"""Timed text: subtitle tracks, their formats, and a streamer's QC rules.

The model is small on purpose: a :class:`Track` of :class:`Cue` objects with
times in whole milliseconds and text as display lines (``"\\n"`` between
lines, ``<i>…</i>`` for italics), so ASR, machine translation, post-editing,
QC and dubbing all hand the same thing to each other, and every format reads
into it and writes out of it.
"""

from greenlight.timedtext.model import Cue, FrameRate, Track

__all__ = ["Cue", "FrameRate", "Track"]
