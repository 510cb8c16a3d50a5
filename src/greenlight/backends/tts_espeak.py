"""Text-to-speech in any of espeak-ng's languages: a generic, clearly synthetic voice.

Debian's ``espeak-ng`` (installed system-wide, GPL-3, run as a program) speaks
over a hundred languages. Its formant voice sounds robotic, which suits a
temp dub or a guide track and is never mistaken for a performer.

Inputs: ``text`` (a text file, said as one utterance) or ``subtitles`` (SRT,
WebVTT or TTML, one utterance per non-empty event). Parameters: ``language`` (BCP
47, default ``"en"``), ``voice`` (one of espeak-ng's voices, ``es`` or
``en-us``, optionally with a variant: ``es+f3``; default the language's own),
``speed`` (80 to 450 words a minute, default 175). Outputs: ``<stem>.wav`` per
text, ``<stem>_0001.wav`` per subtitle event (numbered as in the file), 16-bit
mono at 22,050 Hz. The same text always gives the same samples.

The usage records ``voice_kind: "generic"`` (see :mod:`greenlight.backends._speech`
for where the consent rule for imitated voices hooks in).
"""

from __future__ import annotations

import functools
import io
import re
import shutil
import subprocess
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from greenlight.backends._speech import (
    MEDIA_IN,
    MEDIA_OUT,
    VOICE_KIND,
    Speech,
    pcm16,
    plan_script,
    speak_script,
    utterance,
)
from greenlight.backends.base import (
    BackendInput,
    BackendResult,
    Capabilities,
    CheckedBackend,
    Parameter,
    Task,
    check_parameters,
)
from greenlight.core.errors import InvalidInput, Unavailable

PROGRAM = "espeak-ng"
DEFAULT_SPEED = 175  # espeak-ng's own default, words a minute
_TIMEOUT_S = 60


@dataclass(frozen=True)
class Installed:
    """The espeak-ng voices on this machine: language voices and variants."""

    version: str
    voices: dict[str, str]
    """Voice name (lower case) -> the voice name espeak-ng takes."""
    languages: dict[str, str]
    """Language code (lower case, also the ones a voice lists as "other") -> voice name."""
    variants: tuple[str, ...]


@functools.cache
def installed() -> Installed:
    """What ``espeak-ng --voices`` lists; ``Unavailable`` when the program is missing."""
    if shutil.which(PROGRAM) is None:
        raise Unavailable(
            "espeak-ng is not installed on this machine; install the Debian package "
            "'espeak-ng' (make install-system does).",
            code="backend.tts-espeak.not_installed",
        )
    version_text = _program_output("--version")
    found = re.search(r"(\d+\.\d+(?:\.\d+)?)", version_text)
    voices: dict[str, str] = {}
    languages: dict[str, str] = {}
    ranked: dict[str, list[tuple[int, str]]] = {}
    for row in _program_output("--voices").splitlines()[1:]:
        fields = row.split()
        if len(fields) < 5:
            continue
        name = fields[1]
        voices[name.lower()] = name
        languages.setdefault(name.lower(), name)
        for other, priority in re.findall(r"\(([^ )]+) (\d+)\)", row):
            # Several voices may speak "fr"; the lowest number is espeak-ng's first choice.
            ranked.setdefault(other.lower(), []).append((int(priority), name))
    for other, choices in ranked.items():
        languages.setdefault(other, min(choices)[1])
    variants = []
    for row in _program_output("--voices=variant").splitlines()[1:]:
        fields = row.split()
        if len(fields) >= 5 and fields[-1].startswith("!v/"):
            variants.append(fields[-1][3:])
    return Installed(found.group(1) if found else "unknown", voices, languages, tuple(variants))


def _program_output(*arguments: str) -> str:
    done = subprocess.run(
        [PROGRAM, *arguments], capture_output=True, text=True, timeout=_TIMEOUT_S, check=True
    )
    return done.stdout


@dataclass(frozen=True)
class EspeakVoice:
    """One espeak-ng voice, ready to speak."""

    name: str
    language: str
    speed: int
    model_version: str
    model: str = "espeak-ng"

    def say(self, text: str) -> Speech:
        """``text`` spoken: 22,050 Hz mono samples."""
        # Text goes in on stdin, so a line starting with "-" is never read as an option.
        done = subprocess.run(
            [PROGRAM, "-v", self.name, "-s", str(self.speed), "-b", "1", "--stdout"],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0 or len(done.stdout) <= 44:
            raise RuntimeError(
                f"espeak-ng failed on voice {self.name}: {done.stderr.decode(errors='replace')}"
            )
        # Written to a pipe, the header cannot know the length; read what is there.
        with wave.open(io.BytesIO(done.stdout)) as spoken:
            rate = spoken.getframerate()
            data = spoken.readframes(spoken.getnframes())
        return Speech(pcm16(data), rate)


class EspeakBackend(CheckedBackend):
    """Says text or subtitle events with espeak-ng, one WAV per utterance."""

    name = "tts-espeak"

    def __init__(self) -> None:
        try:
            found: Installed | None = installed()
        except Unavailable:
            found = None  # still listable; a run says what to install
        self.capabilities = Capabilities(
            tasks=("text_to_speech",),
            media_in=MEDIA_IN,
            media_out=MEDIA_OUT,
            parameters=(
                Parameter("language", "str", "the language to speak (BCP 47)", default="en"),
                Parameter(
                    "voice",
                    "str",
                    "an espeak-ng voice, optionally with a variant ('es', 'es+f3'); "
                    "default: the language's own",
                ),
                Parameter(
                    "speed",
                    "int",
                    "speaking rate in words a minute",
                    default=DEFAULT_SPEED,
                    minimum=80,
                    maximum=450,
                ),
            ),
            extra={
                "voice_kind": VOICE_KIND,
                "languages": sorted(found.languages) if found else [],
                "voices": sorted(found.voices.values()) if found else [],
                "variants": list(found.variants) if found else [],
            },
        )

    def voice_for(
        self, language: str, voice: str | None = None, speed: int = DEFAULT_SPEED
    ) -> EspeakVoice:
        """The voice that speaks ``language``: ``voice`` when given and known, else its own.

        Refuses (``backend.tts-espeak.unknown_voice`` / ``unknown_language``)
        with the list of what is installed.
        """
        found = installed()
        if voice is None:
            name = _language_voice(found, language)
            if name is None:
                raise InvalidInput(
                    f"espeak-ng has no voice for language {language!r}; choose one of "
                    f"{', '.join(sorted(found.languages))}.",
                    code=f"backend.{self.name}.unknown_language",
                    language=language,
                    languages=sorted(found.languages),
                )
        else:
            base, _, variant = voice.partition("+")
            named = found.voices.get(base.lower())
            if named is None:
                raise InvalidInput(
                    f"espeak-ng has no voice {base!r}; choose one of "
                    f"{', '.join(sorted(found.voices.values()))}.",
                    code=f"backend.{self.name}.unknown_voice",
                    voice=voice,
                    voices=sorted(found.voices.values()),
                )
            if variant and variant not in found.variants:
                # espeak-ng itself would quietly fall back to its default variant.
                raise InvalidInput(
                    f"espeak-ng has no voice variant {variant!r}; choose one of "
                    f"{', '.join(found.variants)}.",
                    code=f"backend.{self.name}.unknown_voice",
                    voice=voice,
                    variants=list(found.variants),
                )
            name = named + (f"+{variant}" if variant else "")
        return EspeakVoice(name=name, language=language, speed=speed, model_version=found.version)

    def check(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Refuse a request this backend cannot do; return its normalized parameters."""
        effective = check_parameters(self.name, self.capabilities, parameters)
        voice = self.voice_for(effective["language"], effective.get("voice"), effective["speed"])
        effective["voice"] = voice.name
        plan_script(self.name, inputs, voice.language)
        return effective

    def work(self, task: Task) -> BackendResult:
        """Say every utterance of the inputs into WAV files in ``out_dir``."""
        inputs, effective, out_dir, _, progress = task
        voice = self.voice_for(effective["language"], effective["voice"], effective["speed"])
        script = plan_script(self.name, inputs, voice.language)
        return speak_script(voice, script, out_dir, progress, effective)

    def say(self, text: str, language: str = "en", voice: str | None = None) -> Speech:
        """One line spoken (a convenience for callers outside the engine)."""
        return self.voice_for(language, voice).say(utterance(self.name, text))


def _language_voice(found: Installed, language: str) -> str | None:
    """espeak-ng's voice for a BCP 47 tag: the tag itself, then shorter prefixes."""
    parts = language.lower().replace("_", "-").split("-")
    while parts:
        named = found.languages.get("-".join(parts))
        if named is not None:
            return named
        parts.pop()
    return None
