"""Voice likeness: speaker embeddings for enrolled voice samples and audio outputs.

The embedding is Resemblyzer's GE2E speaker encoder (a 3-layer LSTM trained for
speaker verification; its weights ship inside the ``resemblyzer`` wheel, so
nothing is fetched at run time). We run the network ourselves on a front end of
our own: PyAV decodes any container to 16 kHz mono, an energy gate drops
silence, loudness is levelled, and a 40-band mel power spectrogram (25 ms
windows, 10 ms hop) feeds the encoder. Importing ``resemblyzer`` itself would
pull in librosa, whose first call compiles for many seconds.

An utterance is cut into 1.6 s partials; their embeddings are averaged and
L2-normalised. Two embeddings compare by cosine, which lies in [0, 1] here
because the encoder's outputs are non-negative.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from greenlight.core.errors import InvalidInput

Embedding = npt.NDArray[np.float32]
Samples = npt.NDArray[np.float32]

MODEL = "resemblyzer-ge2e-0.1.4+greenlight-frontend-1"
"""The encoder's weights and our front end: recorded with templates and matches."""

THRESHOLD = 0.75
"""Cosine similarity at or above which two clips are taken as the same speaker.

Calibrated on synthetic speech (19 espeak-ng and Piper voices, 7 lines each, clean
and re-encoded, noisy, level-shifted and telephone-band): the same voice on clean,
MP3/AAC or level-shifted probes always scored >= 0.88; with noise (20 dB SNR)
95% stay above 0.75, band-limited to 8 kHz 72%. Voices of the other sex and the
neural voice against the formant voices never reached 0.75. Same-sex espeak
variants often score 0.85-0.95: to this encoder they are nearly one voice. A
false match costs a legal review; a miss lets an unconsented replica through,
so the threshold leans towards matching.
"""

RATE = 16_000
MIN_SPEECH_SECONDS = 1.0
"""Less voiced audio than this says too little about a voice to match it."""

MAX_SECONDS = 3 * 3600
"""Longest audio decoded (a feature with margin); 3 h of 16 kHz float is ~700 MB."""

_WINDOW = 400  # 25 ms
_HOP = 160  # 10 ms
_MELS = 40
_PARTIAL_FRAMES = 160  # 1.6 s per partial, as the encoder was trained
_PARTIAL_STEP = 77  # ~1.3 partials a second
_TARGET_DBFS = -30.0

# Energy gate: 30 ms frames, voiced when within 40 dB of the clip's loud frames
# and above an absolute floor (digital silence, hiss).
_GATE_FRAME = 480
_GATE_RANGE_DB = 40.0
_GATE_FLOOR_DBFS = -55.0
_GATE_HANGOVER = 3  # keep this many frames either side of speech: pauses inside words


def embed_voice(path: Path) -> Embedding:
    """The speaker embedding of the voice in the audio (or video) file at ``path``.

    Returns a 256-d float32 vector of unit length. Raises InvalidInput
    ``likeness.voice.unreadable`` when the file has no decodable audio and
    ``likeness.voice.too_short`` when it holds under a second of speech.
    """
    samples = _decode(path)
    voiced = samples[_voiced_mask(samples)]
    if voiced.size < MIN_SPEECH_SECONDS * RATE:
        raise InvalidInput(
            f"{path.name} holds {voiced.size / RATE:.1f} s of speech; a voice sample needs at "
            f"least {MIN_SPEECH_SECONDS:.0f} s (5 to 30 s of clear speech works best).",
            code="likeness.voice.too_short",
        )
    return _embed_many([voiced])[0]


def voice_similarity(a: Embedding, b: Embedding) -> float:
    """How alike two voice embeddings are, from 0 (unrelated) to 1 (the same clip)."""
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norm == 0.0:
        return 0.0
    return float(np.clip(np.dot(a, b) / norm, 0.0, 1.0))


def voice_windows(path: Path, seconds: float = 3.0) -> list[tuple[float, float, Embedding]]:
    """Embeddings of ``seconds``-long windows of a longer recording, for locating a voice.

    Windows overlap by half; a window with under a second of speech is left out.
    Each item is ``(start_s, end_s, embedding)``.
    """
    if not MIN_SPEECH_SECONDS <= seconds <= 600:
        raise InvalidInput(
            f"A scanning window of {seconds} s is out of range; use 1 to 600 seconds.",
            code="likeness.voice.window",
        )
    samples = _decode(path)
    gate = _voiced_mask(samples)
    length = round(seconds * RATE)
    step = max(1, length // 2)
    spans: list[tuple[float, float]] = []
    clips: list[Samples] = []
    start = 0
    while True:
        end = min(start + length, samples.size)
        voiced = samples[start:end][gate[start:end]]
        if voiced.size >= MIN_SPEECH_SECONDS * RATE:
            spans.append((start / RATE, end / RATE))
            clips.append(voiced)
        if end >= samples.size:
            break
        start += step
    embeddings = _embed_many(clips)
    return [(s, e, emb) for (s, e), emb in zip(spans, embeddings, strict=True)]


def _decode(path: Path) -> Samples:
    """Any audio PyAV can read, as 16 kHz mono float32 in [-1, 1]."""
    chunks: list[Samples] = []
    total = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InvalidInput(
                    f"{path.name} has no audio track; give a WAV, MP3, AAC/M4A, FLAC or a "
                    "video with sound.",
                    code="likeness.voice.unreadable",
                )
            resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    chunks.append(chunk)
                    total += chunk.size
                if total > MAX_SECONDS * RATE:
                    raise InvalidInput(
                        f"{path.name} is longer than {MAX_SECONDS // 3600} hours; split it "
                        "into reels before scanning.",
                        code="likeness.voice.too_long",
                    )
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
    except InvalidInput:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise InvalidInput(
            f"{path.name} could not be decoded as audio ({exc.__class__.__name__}); give a "
            "WAV, MP3, AAC/M4A or FLAC file.",
            code="likeness.voice.unreadable",
        ) from exc
    if not chunks:
        raise InvalidInput(
            f"{path.name} has an audio track with no samples in it.",
            code="likeness.voice.unreadable",
        )
    return np.clip(np.concatenate(chunks), -1.0, 1.0)


def _voiced_mask(samples: Samples) -> npt.NDArray[np.bool_]:
    """Per sample: is this inside speech (energy gate with a short hangover)?"""
    n = samples.size // _GATE_FRAME
    mask = np.zeros(samples.size, dtype=bool)
    if n == 0:
        return mask
    frames = samples[: n * _GATE_FRAME].reshape(n, _GATE_FRAME).astype(np.float64)
    level = 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    # The 95th percentile, not the maximum, so one click does not set the scale.
    loud = float(np.percentile(level, 95))
    voiced = level > max(loud - _GATE_RANGE_DB, _GATE_FLOOR_DBFS)
    if _GATE_HANGOVER:
        kernel = np.ones(2 * _GATE_HANGOVER + 1)
        voiced = np.convolve(voiced.astype(float), kernel, mode="same") > 0
    mask[: n * _GATE_FRAME] = np.repeat(voiced, _GATE_FRAME)
    return mask


def _level(voiced: Samples) -> Samples:
    """Scale to a fixed loudness so gain does not move the (linear) mel powers."""
    rms = float(np.sqrt(np.mean(voiced.astype(np.float64) ** 2)))
    if rms == 0.0:
        return voiced
    gain = 10 ** (_TARGET_DBFS / 20) / rms
    return (voiced * gain).astype(np.float32)


def _mel_power(samples: Samples) -> npt.NDArray[np.float32]:
    """Mel power spectrogram, frames x 40, as the encoder was trained on."""
    padded = np.pad(samples, _WINDOW // 2)
    n = 1 + (padded.size - _WINDOW) // _HOP
    index = np.arange(_WINDOW)[None, :] + _HOP * np.arange(n)[:, None]
    spectrum = np.fft.rfft(padded[index] * _hann(), axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    return (power @ _mel_bank().T).astype(np.float32)


@functools.cache
def _hann() -> npt.NDArray[np.float64]:
    # Periodic Hann, the usual choice for short-time spectra.
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_WINDOW) / _WINDOW)


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # Slaney's scale: linear to 1 kHz, logarithmic above.
    linear = hz * 3.0 / 200.0
    return np.where(
        hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / (np.log(6.4) / 27.0), linear
    )


def _mel_to_hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.where(
        mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * 200.0 / 3.0
    )


@functools.cache
def _mel_bank() -> npt.NDArray[np.float64]:
    """40 triangular filters from 0 to 8 kHz, area-normalised (Slaney)."""
    bins = np.linspace(0.0, RATE / 2, _WINDOW // 2 + 1)
    edges = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(RATE / 2.0)), _MELS + 2)
    )
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    bank = np.maximum(0.0, np.minimum(lower, upper))
    bank *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return bank


def _partials(mel: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """1.6 s slices of a spectrogram, ~1.3 a second, covering it to the end.

    The last slice is zero-padded, and dropped when under three quarters full
    (unless it is the only one).
    """
    frames = mel.shape[0]
    starts = list(range(0, max(1, frames - _PARTIAL_FRAMES + _PARTIAL_STEP + 1), _PARTIAL_STEP))
    if len(starts) > 1 and (frames - starts[-1]) < 0.75 * _PARTIAL_FRAMES:
        starts.pop()
    mel = np.pad(mel, ((0, max(0, starts[-1] + _PARTIAL_FRAMES - frames)), (0, 0)))
    return np.stack([mel[s : s + _PARTIAL_FRAMES] for s in starts])


def _embed_many(clips: list[Samples]) -> list[Embedding]:
    """One embedding per clip of voiced audio, all partials in one pass of the network."""
    if not clips:
        return []
    batches = [_partials(_mel_power(_level(clip))) for clip in clips]
    import torch

    encoder = _encoder()
    with torch.inference_mode():
        out = encoder(torch.from_numpy(np.concatenate(batches))).numpy()
    embeddings: list[Embedding] = []
    at = 0
    for batch in batches:
        mean = out[at : at + len(batch)].mean(axis=0)
        at += len(batch)
        embeddings.append((mean / np.linalg.norm(mean)).astype(np.float32))
    return embeddings


@functools.cache
def _encoder() -> Any:
    """The GE2E speaker encoder with the weights from the resemblyzer package.

    torch is imported here, not at module import, so the CLI and the web app
    start without it. The package itself is never imported (it pulls librosa).
    """
    import torch

    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the resemblyzer package (voice encoder weights) is not installed")
    weights = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    state = {
        k: v for k, v in checkpoint["model_state"].items() if k.split(".")[0] in ("lstm", "linear")
    }

    class Encoder(torch.nn.Module):  # type: ignore[misc]
        """LSTM over mel frames, last hidden state, linear, ReLU, unit length."""

        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(_MELS, 256, 3, batch_first=True)
            self.linear = torch.nn.Linear(256, 256)

        def forward(self, mels: Any) -> Any:
            _, (hidden, _) = self.lstm(mels)
            raw = torch.relu(self.linear(hidden[-1]))
            return raw / torch.linalg.vector_norm(raw, dim=1, keepdim=True).clamp_min(1e-12)

    encoder = Encoder()
    encoder.load_state_dict(state)
    encoder.eval()
    return encoder
