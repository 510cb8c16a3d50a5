"""A 45-minute episode localized end to end: ASR, MT, QC + fix, IMSC, dub; real-time factor.

Run: .venv/bin/python bench/bench_localization.py [--minutes 45] [--beam 5]

The episode is made here, before any clock starts. About six minutes of
English dialogue (40 lines, each said twice by espeak-ng in different voices,
variants and speeds, with pauses of 0.3 to 2.5 s between lines) is looped to
``--minutes`` and written as a 16 kHz mono WAV, the audio the ASR hears. The
same audio, resampled to 48 kHz (a broadcast programme's rate, so the dub stem
is made at the rate a real one would be), goes with a 160x90, 1 fps H.264
picture into the MP4 that is dubbed. Looping means the MT and TTS see each line
many times; none of them caches, so the cost per line is what it would be.

Stages, one process, each timed on its own:

- ASR: the ``asr-whisper`` backend's ``run`` on the WAV (Whisper tiny.en, int8,
  VAD on, ``--beam``, threads from ``GREENLIGHT_TORCH_THREADS``, else 2; loading
  the model, about half a second, is counted here);
- MT: the ``mt-apertium`` backend's ``run`` on the ASR's SRT, English to Spanish;
- QC + fix: ``check_track`` on the English and on the Spanish track,
  ``fix_track`` on the Spanish, ``check_track`` again (there is no Spanish
  profile: the English numbers judge both);
- IMSC: ``write_track`` of both tracks as IMSC 1.1 (TTML) files;
- dub: ``localization.dubbing.dub_video`` with espeak-ng's Spanish voice, the
  stem muxed onto the video beside its original audio.

Baselines in the same run: the audio's own duration (real-time factor 1.0) and
PyAV decoding the WAV (and the video's AAC track) to samples, the floor of any
tool that reads the audio. Also QC of bench_subtitles' generated 1,500-event
episode, best of 20, in milliseconds and events per second.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import subprocess
import tempfile
import time
import wave
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from bench_subtitles import best_ms, episode  # the same generated 1,500-event episode
from greenlight.backends import BackendInput
from greenlight.backends.asr_whisper import WhisperASRBackend
from greenlight.backends.mt_apertium import ApertiumBackend
from greenlight.localization.dubbing import dub_video
from greenlight.timedtext.fix import fix_track
from greenlight.timedtext.io import read_track, write_track
from greenlight.timedtext.model import Track
from greenlight.timedtext.profiles import DEFAULT_FRAME_RATE
from greenlight.timedtext.qc import check_track

ASR_RATE = 16_000
PROGRAMME_RATE = 48_000
PICTURE = (160, 90)
EPISODE_MINUTES = 45

LINES = (
    "Where were you last night, Marcus? I called you four times.",
    "I was at the harbour. The boat came in late and nobody would tell me why.",
    "You expect me to believe that?",
    "Believe what you like. The captain can vouch for me.",
    "The captain has been missing since Tuesday.",
    "Then somebody is lying to both of us.",
    "Sit down. We need to talk about the money.",
    "There is no money left. Eleanor took all of it when she went north.",
    "Eleanor would never leave without telling her brother.",
    "She told me. She asked me not to tell you.",
    "How long have you known?",
    "Long enough to regret keeping it from you.",
    "Get the car. We are driving to the lighthouse tonight.",
    "In this weather? The coast road will be flooded by midnight.",
    "Then we had better leave now.",
    "Doctor Okafor, the results came back this morning.",
    "And? Don't make me guess, I have had a very long week.",
    "The sample matches the one we found at the mill.",
    "So the fire was not an accident.",
    "No. Someone wanted those records gone, and they knew exactly where to look.",
    "Who else had a key to the archive?",
    "Only the three of us, and the night guard.",
    "The night guard retired to Spain two years ago.",
    "Then we are looking for someone who still has his key.",
    "I'm sorry, I didn't mean to wake you.",
    "It's fine. I wasn't really sleeping anyway.",
    "Do you ever think about what happened on the bridge?",
    "Every single day. Every single night, too.",
    "We could have stopped him, you know. We were right there.",
    "We were children. We did what children do. We ran.",
    "Ladies and gentlemen, the train to Edinburgh is delayed by forty minutes.",
    "Forty minutes! I am going to miss the interview.",
    "Call them. Tell them the truth. People understand trains.",
    "Nobody understands trains, Priya. That is the whole problem with trains.",
    "Hand me that wrench, would you? No, the big one.",
    "This engine hasn't run since nineteen eighty-four.",
    "Then it is about time it did.",
    "Stay close to me and don't say a word until we're inside.",
    "What if they recognise us?",
    "They won't. Nobody ever looks twice at a delivery van.",
)
VOICES = (
    ("en-us", 165),
    ("en-gb+f3", 155),
    ("en-gb-x-rp+m3", 170),
    ("en-us+f2", 175),
    ("en-gb-scotland", 160),
    ("en-029+m2", 150),
    ("en-us-nyc+f4", 180),
)


def espeak(text: str, voice: str, speed: int) -> np.ndarray:
    """``text`` said by espeak-ng as float samples at 16 kHz."""
    done = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout"],
        input=text.encode(),
        capture_output=True,
        check=True,
    )
    with wave.open(io.BytesIO(done.stdout)) as said:
        rate = said.getframerate()
        pcm = np.frombuffer(said.readframes(said.getnframes()), "<i2")
    return resampled(pcm.astype(np.float32) / 32768, rate, ASR_RATE)


def resampled(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Mono float samples at ``target`` Hz (libswresample through PyAV)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
    frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32)


def dialogue() -> np.ndarray:
    """Every line twice, each time in another voice and speed, with pauses between."""
    chance = random.Random(8)
    pieces = []
    for round_ in range(2):
        for n, line in enumerate(LINES):
            voice, speed = VOICES[(n + 3 * round_) % len(VOICES)]
            pieces.append(espeak(line, voice, speed + chance.randint(-10, 10)))
            pause = chance.choice((0.3, 0.5, 0.8, 1.2, 2.5))
            pieces.append(np.zeros(round(pause * ASR_RATE), np.float32))
    return np.concatenate(pieces)


def looped(piece: np.ndarray, seconds: float) -> np.ndarray:
    """``piece`` repeated until it lasts ``seconds`` (the last repeat cut short)."""
    total = round(seconds * ASR_RATE)
    return np.tile(piece, -(-total // len(piece)))[:total]


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """16-bit mono PCM."""
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def write_programme(path: Path, samples: np.ndarray) -> Path:
    """A 160x90, 1 fps H.264 picture with the dialogue as 48 kHz mono AAC, second by second."""
    seconds = -(-len(samples) // ASR_RATE)
    width, height = PICTURE
    ramp = np.linspace(0, 255, width, dtype=np.float32)
    with av.open(str(path), "w") as out:
        picture = out.add_stream("libx264", rate=1)
        picture.width, picture.height, picture.pix_fmt = width, height, "yuv420p"
        picture.options = {"preset": "ultrafast"}
        sound = out.add_stream("aac", rate=PROGRAMME_RATE)
        sound.layout = "mono"
        upsampler = av.AudioResampler(format="fltp", layout="mono", rate=PROGRAMME_RATE)
        for second in range(seconds):
            shade = np.roll(ramp, second * 7).astype(np.uint8)
            pixels = np.dstack([np.tile(shade, (height, 1))] * 3)
            for packet in picture.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
            chunk = samples[second * ASR_RATE : (second + 1) * ASR_RATE]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate, frame.pts = ASR_RATE, second * ASR_RATE
            frame.time_base = Fraction(1, ASR_RATE)
            for upsampled in upsampler.resample(frame):
                for packet in sound.encode(upsampled):
                    out.mux(packet)
        for upsampled in upsampler.resample(None):
            for packet in sound.encode(upsampled):
                out.mux(packet)
        for stream in (picture, sound):
            for packet in stream.encode():
                out.mux(packet)
    return path


def pyav_decode(path: Path) -> int:
    """Samples of the first audio track decoded by PyAV, the floor of reading the audio."""
    samples = 0
    with av.open(str(path)) as source:
        for frame in source.decode(audio=0):
            samples += frame.to_ndarray().shape[-1]
    return samples


@dataclass
class Stage:
    """One stage of the path: what it is, how long it took, what it made."""

    name: str
    seconds: float
    detail: str
    peak_mb: float
    """The process's peak resident memory once the stage is done (never goes down)."""


def timed(name: str, work: Callable[[], tuple[Any, str]]) -> tuple[Any, Stage]:
    """Run ``work`` (which returns its result and a line saying what it made), timed."""
    began = time.perf_counter()
    result, detail = work()
    elapsed = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return result, Stage(name, elapsed, detail, peak_mb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=EPISODE_MINUTES)
    parser.add_argument("--beam", type=int, default=5, help="ASR beam size (backend default 5)")
    args = parser.parse_args()
    threads = int(os.environ.get("GREENLIGHT_TORCH_THREADS") or 2)
    audio_seconds = args.minutes * 60

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        began = time.perf_counter()
        piece = dialogue()
        samples = looped(piece, audio_seconds)
        wav = write_wav(work / "ep101_dialogue.wav", samples, ASR_RATE)
        video = write_programme(work / "ep101.mp4", samples)
        print(
            f"setup: {len(piece) / ASR_RATE:.0f} s of espeak-ng dialogue ({2 * len(LINES)} "
            f"lines, {len(VOICES)} voices) looped to {args.minutes:g} min; 16 kHz WAV + "
            f"{PICTURE[0]}x{PICTURE[1]} 1 fps H.264 / 48 kHz AAC MP4 "
            f"in {time.perf_counter() - began:.0f} s"
        )

        # Baselines: reading the audio, nothing else.
        decode_began = time.perf_counter()
        pyav_decode(wav)
        decode_wav = time.perf_counter() - decode_began
        decode_began = time.perf_counter()
        pyav_decode(video)
        decode_aac = time.perf_counter() - decode_began

        asr = WhisperASRBackend(threads=threads)
        out = work / "out"

        def transcribe() -> tuple[Path, str]:
            result = asr.run(
                [BackendInput(wav, "audio", "audio/wav")],
                {"beam_size": args.beam, "format": "srt"},
                out / "asr",
            )
            usage = result.usage
            detail = (
                f"{usage['segments']} segments, {usage['words']} words, {usage['events']} events"
            )
            return result.outputs[0].path, detail

        english_srt, asr_stage = timed("ASR (asr-whisper)", transcribe)

        def translate() -> tuple[Path, str]:
            result = ApertiumBackend().run(
                [BackendInput(english_srt, "subtitles", "application/x-subrip")],
                {"source": "en", "target": "es"},
                out / "mt",
            )
            usage = result.usage
            return result.outputs[0].path, (
                f"{usage['cues']} cues, {usage['segments_translated']} segments, {result.model}"
            )

        spanish_srt, mt_stage = timed("MT (mt-apertium en>es)", translate)

        def quality() -> tuple[tuple[Track, Track], str]:
            english = read_track(english_srt, language="en", frame_rate=DEFAULT_FRAME_RATE)
            spanish = read_track(spanish_srt, language="es", frame_rate=DEFAULT_FRAME_RATE)
            english_report = check_track(english, "en")
            spanish_report = check_track(spanish, "en")
            fixed = fix_track(spanish, "en")
            after = check_track(fixed.track, "en")
            left = Counter(violation.rule for violation in after.violations).most_common()
            return (english, fixed.track), (
                f"en {len(english_report.violations)} violations; es "
                f"{len(spanish_report.violations)} -> {len(after.violations)} after "
                f"{len(fixed.changes)} fixes ({', '.join(f'{r} {n}' for r, n in left)})"
            )

        (english, spanish), qc_stage = timed("QC + fix (en profile)", quality)

        def imsc() -> tuple[None, str]:
            sizes = []
            for track in (english, spanish):
                path = out / f"ep101.{track.language}.ttml"
                write_track(track, path, format="imsc")
                sizes.append(f"{track.language} {path.stat().st_size // 1024} KiB")
            return None, "IMSC 1.1: " + ", ".join(sizes)

        _, imsc_stage = timed("IMSC 1.1 write (en + es)", imsc)

        def dub() -> tuple[Any, str]:
            report = dub_video(video, spanish, out / "ep101.es-dub.mp4", engine="espeak")
            return report, (
                f"{len(report.fits)} lines, {len(report.unfit)} over their event; "
                f"espeak-ng {report.speech_seconds:.1f} s of it"
            )

        _, dub_stage = timed("dub (espeak-ng es, mux)", dub)

        cues_track, cuts = episode(1500)
        qc_1500 = best_ms(lambda: check_track(cues_track, shot_changes_ms=cuts), 20)

    stages = [asr_stage, mt_stage, qc_stage, imsc_stage, dub_stage]
    total = sum(stage.seconds for stage in stages)
    print(
        f"\n{args.minutes:g} min of audio ({audio_seconds:.0f} s); ASR on {threads} thread(s) "
        f"(GREENLIGHT_TORCH_THREADS={os.environ.get('GREENLIGHT_TORCH_THREADS', 'unset')}), "
        f"beam {args.beam}, VAD on; {os.cpu_count()} cores"
    )
    print(f"{'stage':<28} {'seconds':>9} {'share':>7} {'RTF':>8} {'peak MB':>8}  made")
    for stage in stages:
        print(
            f"{stage.name:<28} {stage.seconds:9.3f} {stage.seconds / total:7.1%} "
            f"{stage.seconds / audio_seconds:8.4f} {stage.peak_mb:8.0f}  {stage.detail}"
        )
    print(f"{'whole path':<28} {total:9.2f} {1:7.0%} {total / audio_seconds:8.4f}")
    print(f"{'baseline: audio duration':<28} {audio_seconds:9.2f} {'':>7} {1:8.4f}")
    print(
        f"{'baseline: PyAV decode WAV':<28} {decode_wav:9.2f} {'':>7} "
        f"{decode_wav / audio_seconds:8.4f}"
    )
    print(
        f"{'baseline: PyAV decode AAC':<28} {decode_aac:9.2f} {'':>7} "
        f"{decode_aac / audio_seconds:8.4f}  (the video's 48 kHz track)"
    )
    print(
        f"whole path: real-time factor {total / audio_seconds:.4f} "
        f"({audio_seconds / total:.1f}x faster than real time), "
        f"{total / decode_wav:.0f}x the WAV decode"
    )
    if args.minutes != EPISODE_MINUTES:
        scale = EPISODE_MINUTES / args.minutes
        print(
            f"extrapolated linearly to {EPISODE_MINUTES} min (x{scale:.2f}, not measured): "
            f"{total * scale:.0f} s"
        )
    print(
        f"QC of 1,500 events (bench_subtitles' episode, all rules + shot changes, best of 20): "
        f"{qc_1500:.2f} ms, {1500 / (qc_1500 / 1000):,.0f} events/s"
    )


if __name__ == "__main__":
    main()
