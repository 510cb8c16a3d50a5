"""Dubbing: a translated subtitle track spoken, fitted to its events, and muxed with the video.

The flow, one function per step, read top to bottom in :func:`dub_video`:

1. :func:`programme` reads the video's header: how long it runs, its audio
   sample rate, that it has a picture at all.
2. :func:`speak_track` says every event with a generic synthetic voice
   (``tts-espeak`` or ``tts-piper``), time-fits each line into its event's slot
   and places it on a timeline at the programme's rate: the dialogue stem.
3. :func:`write_stem` writes the stem as a WAV; :func:`mux_dub` copies the
   video's picture (and, unless told otherwise, its audio) packet for packet
   and adds the stem as a new AAC stream tagged with the dub's language.

Time-fitting uses FFmpeg's ``atempo`` filter through PyAV's filter graph. It is
a WSOLA time-stretch (pitch kept, overlap-added at the best-matching offset)
written in C and shipped inside the PyAV wheel we already use for video: no new
dependency, no numpy re-implementation to maintain, and a fraction of a
millisecond per line. A line longer than its slot is sped up, but never past
``max_tempo`` (1.25x by default: faster starts to sound rushed); what still does
not fit is reported with the tempo it would have needed and by how much it runs
over. Such a line keeps playing into the silence after its event and is faded
out where the next event starts, so two lines never talk over each other. With
``fit="fill"`` a short line is also slowed, down to ``min_tempo``, to cover more
of its slot; the default, ``"natural"``, leaves short lines at their own pace.

The voice is always a generic one (``voice_kind: "generic"``), which the report
carries so the lifecycle can disclose it; a voice imitating a performer is not
offered here and would need that performer's voice consent (the guardrails).
"""

from __future__ import annotations

import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np

from greenlight.backends._speech import VOICE_KIND, Samples, Speech, Voice, spoken_text, utterance
from greenlight.backends.tts_espeak import EspeakBackend
from greenlight.backends.tts_piper import PiperBackend
from greenlight.core.errors import InvalidInput
from greenlight.timedtext.model import Track

Engine = Literal["espeak", "piper"]
ENGINES: tuple[str, ...] = ("espeak", "piper")
Fit = Literal["natural", "fill"]

DEFAULT_RATE = 48_000
"""The stem's sample rate when the video has no audio to match (broadcast audio's rate)."""

DUB_CODEC = "aac"
DUB_BIT_RATE = 128_000
CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}

LINE_PEAK = 10 ** (-3 / 20)
"""Each line is levelled to peak at -3 dBFS; TTS engines deliver anything from faint to full."""

CEILING = 10 ** (-1 / 20)
"""The stem never peaks above -1 dBFS, so it cannot clip in the encoder or the mix."""

_SILENCE = 10 ** (-50 / 20)  # below this, TTS padding is trimmed off a line's ends
_FADE_S = 0.005  # in and out of every line, so no line starts or stops with a click
_SLACK_MS = 5  # atempo's output length is exact to a few samples, not to the sample
_MAX_CUES = 20_000

# ISO 639-1 -> ISO 639-2/T, the three-letter codes MP4 and QuickTime store (Matroska too).
_ISO_639_2 = {
    "af": "afr", "am": "amh", "ar": "ara", "az": "aze", "be": "bel", "bg": "bul", "bn": "ben",
    "bs": "bos", "ca": "cat", "cs": "ces", "cy": "cym", "da": "dan", "de": "deu", "el": "ell",
    "en": "eng", "eo": "epo", "es": "spa", "et": "est", "eu": "eus", "fa": "fas", "fi": "fin",
    "fr": "fra", "ga": "gle", "gd": "gla", "gl": "glg", "gu": "guj", "he": "heb", "hi": "hin",
    "hr": "hrv", "hu": "hun", "hy": "hye", "id": "ind", "is": "isl", "it": "ita", "ja": "jpn",
    "ka": "kat", "kk": "kaz", "kn": "kan", "ko": "kor", "ku": "kur", "ky": "kir", "la": "lat",
    "lt": "lit", "lv": "lav", "mk": "mkd", "ml": "mal", "mn": "mon", "mr": "mar", "ms": "msa",
    "mt": "mlt", "my": "mya", "nb": "nob", "ne": "nep", "nl": "nld", "no": "nor", "or": "ori",
    "pa": "pan", "pl": "pol", "pt": "por", "ro": "ron", "ru": "rus", "si": "sin", "sk": "slk",
    "sl": "slv", "sq": "sqi", "sr": "srp", "sv": "swe", "sw": "swa", "ta": "tam", "te": "tel",
    "th": "tha", "tr": "tur", "uk": "ukr", "ur": "urd", "uz": "uzb", "vi": "vie", "zh": "zho",
}  # fmt: skip


@dataclass(frozen=True)
class Limits:
    """How far a line's tempo may be changed to fit its event."""

    min_tempo: float = 0.8
    max_tempo: float = 1.25
    fit: Fit = "natural"

    def checked(self) -> Limits:
        """These limits, or a refusal when they are not 0.5 <= min <= 1 <= max <= 2."""
        if not (0.5 <= self.min_tempo <= 1.0 <= self.max_tempo <= 2.0):
            raise InvalidInput(
                f"Tempo limits must run from 0.5 to 1 (slowest) and from 1 to 2 (fastest); "
                f"got {self.min_tempo:g} to {self.max_tempo:g}.",
                code="dub.bad_tempo_limits",
            )
        if self.fit not in ("natural", "fill"):
            raise InvalidInput(
                f"fit must be 'natural' or 'fill', not {self.fit!r}.", code="dub.bad_fit"
            )
        return self


@dataclass(frozen=True)
class CueFit:
    """How one event's line was fitted: the numbers a dubbing editor acts on."""

    event: int
    """The event's number in the track (1-based)."""
    start_ms: int
    end_ms: int
    speech_ms: int
    """How long the line runs at the voice's own pace (padding trimmed)."""
    needed_tempo: float
    """The tempo that would make the line exactly fill its event."""
    tempo: float
    """The tempo applied (1.0: untouched)."""
    overrun_ms: int
    """How far the line runs past its event's end after fitting (0 when it fits)."""
    cut_ms: int
    """How much of the line was faded out at the next event or the programme's end."""
    text: str

    @property
    def fits(self) -> bool:
        """Whether the line was said within its event."""
        return self.overrun_ms == 0


@dataclass(frozen=True)
class Programme:
    """What the video's header says: its length, audio rate and streams."""

    path: Path
    duration_ms: int
    sample_rate: int
    audio_streams: int
    start: Fraction
    """When the picture starts, in seconds (where the dub's time zero goes)."""


@dataclass(frozen=True)
class Stem:
    """The dialogue stem: mono samples at the programme's rate, and how each line fitted."""

    samples: Samples
    rate: int
    fits: tuple[CueFit, ...]
    voice: str
    engine: str
    language: str
    speech_seconds: float
    """Seconds spent synthesizing (the engine's share of the work)."""

    @property
    def unfit(self) -> tuple[CueFit, ...]:
        """The lines that could not be said within their events."""
        return tuple(fit for fit in self.fits if not fit.fits)


@dataclass(frozen=True)
class DubReport:
    """What ``greenlight dub`` did: the files, the fit of every line, and the disclosure."""

    output: Path
    stem_path: Path | None
    language: str
    language_tag: str
    engine: str
    voice: str
    duration_ms: int
    sample_rate: int
    fits: tuple[CueFit, ...]
    kept_original_audio: int
    seconds: float
    speech_seconds: float
    voice_kind: str = VOICE_KIND
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def unfit(self) -> tuple[CueFit, ...]:
        """The lines that could not be said within their events."""
        return tuple(fit for fit in self.fits if not fit.fits)

    def to_dict(self) -> dict[str, Any]:
        """JSON for the CLI's ``--json``, the lifecycle's usage and the prompt log."""
        return {
            "output": str(self.output),
            "stem": str(self.stem_path) if self.stem_path else None,
            "language": self.language,
            "language_tag": self.language_tag,
            "engine": self.engine,
            "voice": self.voice,
            "voice_kind": self.voice_kind,
            "duration_ms": self.duration_ms,
            "sample_rate": self.sample_rate,
            "lines": len(self.fits),
            "unfit": [
                {
                    "event": fit.event,
                    "start_ms": fit.start_ms,
                    "end_ms": fit.end_ms,
                    "needed_tempo": round(fit.needed_tempo, 3),
                    "tempo": round(fit.tempo, 3),
                    "overrun_ms": fit.overrun_ms,
                    "cut_ms": fit.cut_ms,
                }
                for fit in self.unfit
            ],
            "kept_original_audio": self.kept_original_audio,
            "seconds": round(self.seconds, 3),
            "speech_seconds": round(self.speech_seconds, 3),
            "warnings": list(self.warnings),
        }


# The whole flow.


def dub_video(
    video: Path,
    track: Track,
    output: Path,
    *,
    engine: str = "espeak",
    voice: str | None = None,
    stem_path: Path | None = None,
    limits: Limits = Limits(),
    keep_original_audio: bool = True,
) -> DubReport:
    """Dub ``video`` with ``track`` spoken in its language; write ``output`` (and the stem).

    Every check that needs no synthesis runs first, and files are written under
    temporary names renamed at the end, so a refused or failed dub leaves nothing.
    """
    started = time.perf_counter()
    limits = limits.checked()
    container = _container_for(output)
    if output.resolve() == video.resolve() or (
        stem_path is not None and stem_path.resolve() in (video.resolve(), output.resolve())
    ):
        raise InvalidInput(
            "The dubbed video and the stem must be new files, not the source video or each "
            "other; choose other output names.",
            code="dub.output_is_input",
        )
    show = programme(video)
    tag, warnings = language_tag(track.language)
    speaker = voice_for(engine, track.language, voice)
    stem = speak_track(track, speaker, engine, show.duration_ms, show.sample_rate, limits)
    written: list[tuple[Path, Path]] = []
    try:
        if stem_path is not None:
            temporary = stem_path.with_name(f".{stem_path.name}.partial")
            written.append((temporary, stem_path))
            write_stem(temporary, stem)
        temporary = output.with_name(f".{output.name}.partial{output.suffix}")
        written.append((temporary, output))
        kept = mux_dub(show, stem, temporary, tag, container, keep_original_audio)
        for temporary, final in written:
            temporary.replace(final)
    except BaseException:
        for temporary, final in written:
            temporary.unlink(missing_ok=True)
            final.unlink(missing_ok=True)
        raise
    return DubReport(
        output=output,
        stem_path=stem_path,
        language=track.language,
        language_tag=tag,
        engine=engine,
        voice=stem.voice,
        duration_ms=show.duration_ms,
        sample_rate=stem.rate,
        fits=stem.fits,
        kept_original_audio=kept,
        seconds=time.perf_counter() - started,
        speech_seconds=stem.speech_seconds,
        warnings=tuple(warnings),
    )


def voice_for(engine: str, language: str, voice: str | None = None) -> Voice:
    """The generic voice of ``engine`` (``"espeak"`` or ``"piper"``) speaking ``language``."""
    if engine == "espeak":
        return EspeakBackend().voice_for(language, voice)
    if engine == "piper":
        return PiperBackend().voice_for(language, voice)
    raise InvalidInput(
        f"There is no TTS engine {engine!r}; choose one of {', '.join(ENGINES)}.",
        code="dub.unknown_engine",
    )


def language_tag(language: str) -> tuple[str, list[str]]:
    """The three-letter code a container stores for a BCP 47 tag, and any warning about it."""
    primary = language.lower().replace("_", "-").split("-")[0]
    if len(primary) == 3 and primary.isalpha():
        return primary, []
    tag = _ISO_639_2.get(primary)
    if tag is None:
        return "und", [
            f"No ISO 639-2 code is known here for {language!r}; the dub is tagged 'und' "
            "(undetermined). Pass the three-letter code as the language to tag it."
        ]
    return tag, []


# Reading the video.


def programme(video: Path) -> Programme:
    """The video's length, audio sample rate and picture start, from its header."""
    try:
        container = av.open(str(video))
    except Exception as exc:
        raise InvalidInput(
            f"{video.name} cannot be read as a video; send an MP4, QuickTime or Matroska file.",
            code="dub.unreadable_video",
        ) from exc
    with container:
        if not container.streams.video:
            raise InvalidInput(
                f"{video.name} has no picture; a dub is muxed with the programme's video, "
                "so send the video file.",
                code="dub.no_picture",
            )
        picture = container.streams.video[0]
        sounds = list(container.streams.audio)
        start = _seconds(picture.start_time, picture.time_base) or Fraction(0)
        if picture.duration is not None:
            length = _seconds(picture.duration, picture.time_base) or Fraction(0)
        elif container.duration is not None:
            length = Fraction(container.duration, 1_000_000) - start
        else:
            length = Fraction(0)
        if length <= 0:
            raise InvalidInput(
                f"{video.name} does not say how long it runs; re-export it (remuxing it with "
                "FFmpeg usually fixes the header).",
                code="dub.unknown_duration",
            )
        rate = sounds[0].codec_context.sample_rate if sounds else DEFAULT_RATE
    return Programme(video, round(length * 1000), int(rate or DEFAULT_RATE), len(sounds), start)


def _seconds(value: int | None, time_base: Fraction | None) -> Fraction | None:
    if value is None or time_base is None:
        return None
    return Fraction(value) * time_base


# Speaking and fitting.


def speak_track(
    track: Track,
    voice: Voice,
    engine: str,
    programme_ms: int,
    rate: int,
    limits: Limits = Limits(),
) -> Stem:
    """Every event of ``track`` said by ``voice``, time-fitted and placed: the dialogue stem.

    The stem is exactly ``programme_ms`` long at ``rate``. Refuses a track with
    nothing to say and an event that starts after the programme ends (the
    subtitles are for another cut).
    """
    limits = limits.checked()
    if len(track.cues) > _MAX_CUES:
        raise InvalidInput(
            f"The track has {len(track.cues)} events, more than {_MAX_CUES}; split it.",
            code="dub.too_many_events",
        )
    spoken = [(n, cue) for n, cue in enumerate(track.cues, start=1) if spoken_text(cue.text)]
    if not spoken:
        raise InvalidInput(
            "Every event of the track is empty; there is nothing to dub.",
            code="dub.nothing_to_say",
        )
    for number, cue in spoken:
        if cue.start_ms >= programme_ms:
            raise InvalidInput(
                f"Event {number} starts at {cue.start_ms} ms, after the programme ends "
                f"({programme_ms} ms); these subtitles are for another cut or another video.",
                code="dub.event_after_end",
                event=number,
            )
    total = round(programme_ms * rate / 1000)
    stem = np.zeros(total, dtype=np.float32)
    fits: list[CueFit] = []
    synthesis = 0.0
    starts = sorted(cue.start_ms for _, cue in spoken)
    for number, cue in spoken:
        said = utterance("dub", cue.text)
        began = time.perf_counter()
        speech = voice.say(said)
        synthesis += time.perf_counter() - began
        line = _trimmed(speech)
        slot_ms = cue.duration_ms
        natural_ms = round(len(line) * 1000 / speech.rate)
        needed = natural_ms / slot_ms if natural_ms else 1.0
        tempo = _tempo(needed, limits)
        fitted = time_stretch(line, speech.rate, tempo) if tempo != 1.0 else line
        placed = _resampled(_levelled(fitted), speech.rate, rate)
        slot = round(slot_ms * rate / 1000)
        if needed <= limits.max_tempo and len(placed) > slot:
            # Stretching and resampling land within a few ms of the target, not on it.
            placed = _faded_out(placed[:slot], rate)
        # A line may run on into the silence after its event, up to the next event.
        following = next((s for s in starts if s > cue.start_ms), programme_ms)
        free_until = min(max(following, cue.end_ms), programme_ms)
        at = round(cue.start_ms * rate / 1000)
        room = round(free_until * rate / 1000) - at
        length_ms = round(len(placed) * 1000 / rate)
        cut = max(0, len(placed) - room)
        if cut:
            placed = _faded_out(placed[:room], rate)
        stem[at : at + len(placed)] += placed
        fits.append(
            CueFit(
                event=number,
                start_ms=cue.start_ms,
                end_ms=cue.end_ms,
                speech_ms=natural_ms,
                needed_tempo=needed,
                tempo=tempo,
                overrun_ms=_overrun(cue.start_ms + length_ms - cue.end_ms),
                cut_ms=round(cut * 1000 / rate),
                text=said,
            )
        )
    return Stem(
        samples=_limited(stem),
        rate=rate,
        fits=tuple(fits),
        voice=voice.name,
        engine=engine,
        language=track.language,
        speech_seconds=synthesis,
    )


def _overrun(ms: int) -> int:
    return ms if ms > _SLACK_MS else 0


def _tempo(needed: float, limits: Limits) -> float:
    """The tempo applied for a line that would need ``needed`` to fill its event exactly."""
    if needed > 1.0:
        return min(needed, limits.max_tempo)
    if limits.fit == "fill":
        return max(needed, limits.min_tempo)
    return 1.0


def time_stretch(samples: Samples, rate: int, tempo: float) -> Samples:
    """``samples`` played ``tempo`` times faster, pitch kept (FFmpeg's ``atempo``, WSOLA)."""
    if len(samples) == 0:
        return samples
    graph = av.filter.Graph()
    source = graph.add_abuffer(
        format="flt", sample_rate=rate, layout="mono", time_base=Fraction(1, rate)
    )
    stretch = graph.add("atempo", f"{tempo:.6f}")
    sink = graph.add("abuffersink")
    source.link_to(stretch)
    stretch.link_to(sink)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
    graph.push(frame)
    graph.push(None)
    pieces = []
    while True:
        try:
            out = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            break
        pieces.append(out.to_ndarray().reshape(-1))
    stretched: Samples = np.concatenate(pieces).astype(np.float32) if pieces else samples[:0]
    return stretched


def _resampled(samples: Samples, rate: int, target: int) -> Samples:
    """``samples`` at ``target`` Hz (libswresample), or as they are when already there."""
    if rate == target or len(samples) == 0:
        return samples
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
    frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
    pieces = [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    resampled: Samples = np.concatenate(pieces).astype(np.float32)
    return resampled


def _trimmed(speech: Speech) -> Samples:
    """The audible line, without the silence TTS engines pad it with, faded in and out."""
    loud = np.flatnonzero(np.abs(speech.samples) > _SILENCE)
    if len(loud) == 0:
        return speech.samples[:0]
    line = speech.samples[loud[0] : loud[-1] + 1].copy()
    fade = min(len(line) // 2, round(_FADE_S * speech.rate))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        line[:fade] *= ramp
        line[-fade:] *= ramp[::-1]
    return line


def _levelled(samples: Samples) -> Samples:
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak < _SILENCE:
        return samples
    levelled: Samples = (samples * (LINE_PEAK / peak)).astype(np.float32)
    return levelled


def _faded_out(samples: Samples, rate: int) -> Samples:
    fade = min(len(samples), round(_FADE_S * rate))
    out = samples.copy()
    if fade:
        out[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out


def _limited(stem: Samples) -> Samples:
    """The stem scaled down when overlapping events pushed it past the ceiling.

    Lines never overlap unless their events do; then the whole stem is turned
    down rather than clipped, which keeps the lines' balance.
    """
    peak = float(np.abs(stem).max()) if len(stem) else 0.0
    if peak <= CEILING:
        return stem
    limited: Samples = (stem * (CEILING / peak)).astype(np.float32)
    return limited


# Writing.


def write_stem(path: Path, stem: Stem) -> None:
    """The dialogue stem as a 24-bit mono PCM WAV at the programme's rate."""
    scaled = np.clip(np.round(stem.samples.astype(np.float64) * 8_388_607), -8_388_608, 8_388_607)
    pcm = scaled.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]  # low three bytes
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(3)
        out.setframerate(stem.rate)
        out.writeframes(pcm.tobytes())


def _container_for(output: Path) -> str:
    container = CONTAINERS.get(output.suffix.lower())
    if container is None:
        raise InvalidInput(
            f"The dubbed video is written as MP4, QuickTime or Matroska; name it with "
            f"{', '.join(CONTAINERS)}, not {output.suffix or 'no extension'}.",
            code="dub.unsupported_output",
        )
    return container


def mux_dub(
    show: Programme,
    stem: Stem,
    output: Path,
    language_tag: str,
    container_format: str = "mp4",
    keep_original_audio: bool = True,
) -> int:
    """Write ``output``: the video's picture packets untouched, its audio kept, the dub added.

    The picture is remuxed, never decoded, so every frame is byte for byte the
    source's. The dub is a new AAC stream at the stem's rate tagged
    ``language_tag``, and disclosed as synthetic in its title. Returns how many
    original audio streams were kept.
    """
    try:
        source = av.open(str(show.path))
    except Exception as exc:  # pragma: no cover - programme() opened it a moment ago
        raise InvalidInput(
            f"{show.path.name} cannot be read as a video.", code="dub.unreadable_video"
        ) from exc
    with source, av.open(str(output), "w", format=container_format) as out:
        picture = source.streams.video[0]
        sounds = list(source.streams.audio) if keep_original_audio else []
        carried: dict[int, Any] = {picture.index: out.add_stream_from_template(picture)}
        timecode = picture.metadata.get("timecode") or source.metadata.get("timecode")
        if timecode:
            carried[picture.index].metadata["timecode"] = timecode
        for sound in sounds:
            carried[sound.index] = out.add_stream_from_template(sound)
        dub: Any = out.add_stream(DUB_CODEC, rate=stem.rate)
        dub.layout = "mono"
        dub.bit_rate = DUB_BIT_RATE
        dub.metadata["language"] = language_tag
        dub.metadata["title"] = f"{stem.language} dub, generic synthetic voice ({stem.engine})"
        dub.metadata["handler_name"] = dub.metadata["title"]
        packets = _dub_packets(dub, stem, show.start)
        pending = next(packets, None)
        for packet in source.demux(picture, *sounds):
            if packet.dts is None:  # the demuxer's empty end-of-stream packet
                continue
            now = float(packet.dts * packet.time_base)
            # Feed the dub alongside, so the muxer's interleaving buffer stays small.
            while pending is not None and float(pending.dts * pending.time_base) <= now:
                out.mux(pending)
                pending = next(packets, None)
            packet.stream = carried[packet.stream.index]
            out.mux(packet)
        while pending is not None:
            out.mux(pending)
            pending = next(packets, None)
    return len(sounds)


def _dub_packets(dub: Any, stem: Stem, start: Fraction) -> Iterator[Any]:
    """The stem encoded, frame by frame, timed from the picture's start."""
    size = dub.codec_context.frame_size or 1024
    offset = round(start * stem.rate)
    for at in range(0, len(stem.samples), size):
        chunk = stem.samples[at : at + size]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = (
            stem.rate,
            offset + at,
            Fraction(1, stem.rate),
        )
        yield from dub.encode(frame)
    yield from dub.encode(None)
