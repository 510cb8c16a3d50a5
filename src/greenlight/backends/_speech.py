"""What the text-to-speech backends share: what to say, how it sounds, and writing it out.

A TTS backend turns text into a generic synthetic voice: one utterance from a
``text`` input (a UTF-8 text file) or one per cue from a ``subtitles`` input
(SubRip, WebVTT or TTML). Each is written as a 16-bit mono WAV at the voice's own sample rate.

Every generic voice here is disclosed as such: the run's usage carries
``voice_kind: "generic"`` and the capabilities declare it, so the lifecycle can
label the output. A voice that imitates a performer would declare
``voice_kind: "imitated"``; the guardrails must then require that performer's
``ConsentKind.VOICE`` consent before the run is queued (the same place the
lifecycle checks replica and alteration consent), which none of these backends
needs.
"""

from __future__ import annotations

import re
import wave
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from greenlight.backends.base import (
    BackendInput,
    BackendOutput,
    BackendResult,
    Progress,
    all_or_nothing,
)
from greenlight.core.errors import InvalidInput
from greenlight.timedtext.io import read_track
from greenlight.timedtext.model import Track

Samples = npt.NDArray[np.float32]

VOICE_KIND = "generic"
"""What every voice of these backends is: a stock synthetic voice imitating nobody."""

TEXT_TYPES = ("text/plain",)
SUBTITLE_TYPES = ("application/x-subrip", "text/vtt", "application/ttml+xml")
MEDIA_IN = {"text": TEXT_TYPES, "subtitles": SUBTITLE_TYPES}
MEDIA_OUT = ("audio/wav",)

MAX_UTTERANCE_CHARS = 2000
"""Longest text said in one go; a subtitle cue is far shorter, a script page is not."""


_MARKUP = re.compile(r"<[^>]*>|\{\\[^}]*\}")


@dataclass(frozen=True)
class Speech:
    """Synthesized speech: mono samples from -1 to 1 at ``rate`` Hz."""

    samples: Samples
    rate: int

    @property
    def seconds(self) -> float:
        """How long it lasts."""
        return len(self.samples) / self.rate


class Voice(Protocol):
    """One ready voice of a TTS engine, in one language."""

    @property
    def name(self) -> str:
        """The engine's name for it (``"es"``, ``"en_US-joe-medium"``)."""
        ...

    @property
    def language(self) -> str:
        """The BCP 47 language it speaks."""
        ...

    @property
    def model(self) -> str:
        """The engine, as the run records it."""
        ...

    @property
    def model_version(self) -> str:
        """The engine's (and voice's) version, as the run records it."""
        ...

    def say(self, text: str) -> Speech:
        """``text`` spoken (markup already removed, never empty)."""
        ...


def spoken_text(text: str) -> str:
    """What is said for a cue's text: markup dropped, display lines joined by spaces."""
    plain = _MARKUP.sub("", text)
    return " ".join(part for part in plain.split() if part)


def utterance(backend: str, text: str) -> str:
    """``text`` ready to be said, or a refusal when there is nothing to say or too much."""
    said = spoken_text(text)
    if not said:
        raise InvalidInput(
            "There is no text to say (it is empty or only markup); give the line to speak.",
            code=f"backend.{backend}.empty_text",
        )
    if len(said) > MAX_UTTERANCE_CHARS:
        raise InvalidInput(
            f"The text is {len(said)} characters long, more than {MAX_UTTERANCE_CHARS} said "
            "in one go; split it into lines or subtitle cues.",
            code=f"backend.{backend}.text_too_long",
        )
    return said


# Reading what to say.


def read_text(path: Path) -> str:
    """A text file's content, whatever common encoding it was saved in."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Subtitles from older Windows tools; cp1252 decodes most bytes, so try it last.
        return data.decode("cp1252", errors="replace")


def read_subtitles(backend: str, path: Path, language: str) -> Track:
    """A subtitle file (SRT, WebVTT, TTML) as a :class:`Track` in ``language``.

    Read by :mod:`greenlight.timedtext.io`; its refusal comes back under the
    backend's code, ``backend.<name>.unreadable``, with the reader's code as
    ``reason``, rather than dropping events silently.
    """
    try:
        return read_track(path, language=language)
    except InvalidInput as refused:
        raise InvalidInput(
            refused.message, code=f"backend.{backend}.unreadable", reason=refused.code
        ) from None


# Writing it out.


def write_wav(path: Path, speech: Speech) -> None:
    """``speech`` as a 16-bit mono PCM WAV."""
    pcm = np.clip(np.round(speech.samples * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(speech.rate)
        out.writeframes(pcm.tobytes())


def pcm16(data: bytes) -> Samples:
    """Little-endian 16-bit PCM bytes as float samples."""
    samples: Samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    return samples


@dataclass(frozen=True)
class Script:
    """What one run says: utterances, each with the input it came from and its file name."""

    lines: tuple[tuple[str, int, str], ...]
    """``(text to say, input position, output stem)``."""


def plan_script(backend: str, inputs: Sequence[BackendInput], language: str) -> Script:
    """Check the inputs and list every utterance to say, refusing empty ones up front."""
    if not inputs:
        raise InvalidInput(
            "Nothing to say: send a 'text' file or a 'subtitles' file (SRT, WebVTT, TTML).",
            code=f"backend.{backend}.no_input",
        )
    lines: list[tuple[str, int, str]] = []
    stems: set[str] = set()
    for at, item in enumerate(inputs):
        if item.part not in MEDIA_IN or item.media_type not in MEDIA_IN[item.part]:
            raise InvalidInput(
                f"{backend} takes 'text' (text/plain) and 'subtitles' (SRT, WebVTT, TTML) "
                f"inputs, not {item.part!r} as {item.media_type}.",
                code=f"backend.{backend}.unsupported_input",
                part=item.part,
                media_type=item.media_type,
            )
        if item.path.stem in stems:
            raise InvalidInput(
                f"Two inputs are both named {item.path.stem!r}; give each its own name.",
                code=f"backend.{backend}.duplicate_input_name",
            )
        stems.add(item.path.stem)
        if item.part == "text":
            lines.append((utterance(backend, read_text(item.path)), at, item.path.stem))
            continue
        track = read_subtitles(backend, item.path, language)
        for number, cue in enumerate(track.cues, start=1):
            said = spoken_text(cue.text)
            if said:  # an empty event has nothing to dub; the others keep their numbers
                lines.append((utterance(backend, said), at, f"{item.path.stem}_{number:04d}"))
        if not any(line[1] == at for line in lines):
            raise InvalidInput(
                f"Every event of {item.path.name} is empty; there is nothing to say.",
                code=f"backend.{backend}.empty_text",
            )
    return Script(tuple(lines))


def speak_script(
    voice: Voice,
    script: Script,
    out_dir: Path,
    progress: Progress,
    parameters: Mapping[str, Any],
    describe: Callable[[], dict[str, Any]] = dict,
) -> BackendResult:
    """Say every line of ``script`` with ``voice`` into WAVs in ``out_dir``; the run's result.

    Files are written under temporary names and renamed once all are done, so a
    failed run leaves nothing behind.
    """
    outputs: list[BackendOutput] = []
    seconds = 0.0
    with all_or_nothing(out_dir) as staged:
        for done, (text, at, stem) in enumerate(script.lines, start=1):
            speech = voice.say(text)
            seconds += speech.seconds
            write_wav(staged.path(f"{stem}.wav"), speech)
            outputs.append(BackendOutput(out_dir / f"{stem}.wav", "audio/wav", (at,)))
            progress(done / len(script.lines), f"line {done} of {len(script.lines)}")
    usage: dict[str, Any] = {
        "voice_kind": VOICE_KIND,
        "voice": voice.name,
        "language": voice.language,
        "utterances": len(script.lines),
        "characters": sum(len(text) for text, _, _ in script.lines),
        "audio_seconds": round(seconds, 3),
        **describe(),
    }
    return BackendResult(
        outputs=tuple(outputs),
        model=voice.model,
        model_version=voice.model_version,
        parameters=dict(parameters),
        seed=None,
        usage=usage,
        cost_usd=Decimal("0"),  # runs on our own machine
        kind="generated",
    )
