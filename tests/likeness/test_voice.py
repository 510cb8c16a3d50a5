"""Voice likeness: is an enrolled performer's voice in an audio output?

Speakers are espeak-ng voices (formant synthesis: synthetic, not human voices),
generated on the spot so no audio is committed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from greenlight.core.errors import InvalidInput
from greenlight.likeness.voice import (
    MODEL,
    THRESHOLD,
    embed_voice,
    voice_similarity,
    voice_windows,
)

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng (Debian package) is not installed"
)

LINES = (
    "The dragon rises at dawn over the silent kingdom, and nobody in the village sleeps.",
    "Our detective walks the wet streets of the old harbour looking for the missing ledger.",
    "Coming this winter, only in theatres, the story your grandmother never told you.",
    "She counted the ships in the bay twice before she believed the war was really over.",
)


def speak(voice: str, text: str, out: Path, pitch: int = 50, speed: int = 160) -> Path:
    """Write ``text`` spoken by espeak-ng ``voice`` to a WAV file."""
    subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(out), text],
        check=True,
        capture_output=True,
    )
    return out


def read_samples(path: Path) -> tuple[np.ndarray, int]:
    """Mono float samples and their rate, through PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        to_float = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(stream)
            for out in to_float.resample(frame)
        ]
    return np.concatenate(chunks), rate


def write_audio(path: Path, samples: np.ndarray, rate: int, codec: str = "pcm_s16le") -> Path:
    """Encode mono float samples with ``codec`` (WAV, MP3, AAC ...) through PyAV."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        frame_format = stream.codec_context.format.name
        pcm = np.clip(samples, -1, 1)
        if frame_format.startswith("s16"):
            pcm = (pcm * 32767).astype(np.int16)
        elif frame_format.startswith("s32"):
            pcm = (pcm * 2147483647).astype(np.int32)
        else:
            pcm = pcm.astype(np.float32)
        frame_size = stream.codec_context.frame_size or 1024
        for at in range(0, len(pcm), frame_size):
            chunk = pcm[at : at + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format=frame_format, layout="mono")
            frame.rate = rate
            frame.pts = at
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def voices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Three espeak speakers, each reading every line."""
    folder = tmp_path_factory.mktemp("voices")
    speakers = {"amara": ("en-us+f2", 60), "bruno": ("en-gb+m3", 40), "caleb": ("en-029+m7", 50)}
    return {
        name: [
            speak(voice, line, folder / f"{name}{i}.wav", pitch=pitch)
            for i, line in enumerate(LINES)
        ]
        for name, (voice, pitch) in speakers.items()
    }


def test_a_voice_embedding_is_a_unit_vector_and_names_its_model(
    voices: dict[str, list[Path]],
) -> None:
    embedding = embed_voice(voices["amara"][0])
    assert embedding.dtype == np.float32
    assert embedding.ndim == 1
    assert float(np.linalg.norm(embedding)) == pytest.approx(1.0, abs=1e-5)
    assert MODEL.startswith("resemblyzer-ge2e")
    assert 0.0 < THRESHOLD < 1.0


def test_the_same_performer_reading_other_lines_matches(voices: dict[str, list[Path]]) -> None:
    enrolled = embed_voice(voices["amara"][0])
    for clip in voices["amara"][1:]:
        assert voice_similarity(enrolled, embed_voice(clip)) >= THRESHOLD


def test_other_performers_do_not_match(voices: dict[str, list[Path]]) -> None:
    enrolled = embed_voice(voices["amara"][0])
    for name in ("bruno", "caleb"):
        for clip in voices[name]:
            assert voice_similarity(enrolled, embed_voice(clip)) < THRESHOLD


def test_similarity_is_symmetric_and_within_zero_and_one(voices: dict[str, list[Path]]) -> None:
    a, b = embed_voice(voices["amara"][0]), embed_voice(voices["bruno"][0])
    assert voice_similarity(a, b) == pytest.approx(voice_similarity(b, a))
    assert 0.0 <= voice_similarity(a, b) <= 1.0
    assert voice_similarity(a, a) == pytest.approx(1.0, abs=1e-5)
    assert voice_similarity(a, np.zeros_like(a)) == 0.0


def test_an_mp3_of_the_performer_still_matches(
    voices: dict[str, list[Path]], tmp_path: Path
) -> None:
    samples, rate = read_samples(voices["amara"][1])
    mp3 = write_audio(tmp_path / "dub.mp3", samples * 0.3, rate, codec="libmp3lame")
    enrolled = embed_voice(voices["amara"][0])
    assert voice_similarity(enrolled, embed_voice(mp3)) >= THRESHOLD


def test_a_quieter_noisier_aac_dub_of_the_performer_still_matches(
    voices: dict[str, list[Path]], tmp_path: Path
) -> None:
    samples, rate = read_samples(voices["bruno"][2])
    level = float(np.sqrt(np.mean(samples[np.abs(samples) > 0.01] ** 2)))
    hiss = np.random.default_rng(3).normal(0.0, level / 30, samples.size)  # ~30 dB SNR
    dub = write_audio(tmp_path / "dub.m4a", (samples + hiss) * 0.2, rate, codec="aac")
    enrolled = embed_voice(voices["bruno"][0])
    assert voice_similarity(enrolled, embed_voice(dub)) >= THRESHOLD


def test_a_video_without_sound_is_refused(tmp_path: Path) -> None:
    silent_film = tmp_path / "silent.mp4"
    with av.open(str(silent_film), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 40, np.uint8), "rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(InvalidInput) as refused:
        embed_voice(silent_film)
    assert refused.value.code == "likeness.voice.unreadable"


def test_a_file_that_is_not_audio_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "sample.wav"
    junk.write_bytes(b"this is a text file pretending to be a recording")
    with pytest.raises(InvalidInput) as refused:
        embed_voice(junk)
    assert refused.value.code == "likeness.voice.unreadable"


def test_a_missing_file_is_refused_as_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as refused:
        embed_voice(tmp_path / "nowhere.wav")
    assert refused.value.code == "likeness.voice.unreadable"


def test_a_half_second_clip_is_too_short_to_enroll(tmp_path: Path) -> None:
    clip = speak("en-us", "Hi.", tmp_path / "hi.wav")
    with pytest.raises(InvalidInput) as refused:
        embed_voice(clip)
    assert refused.value.code == "likeness.voice.too_short"


def test_silence_is_too_short_to_enroll(tmp_path: Path) -> None:
    quiet = write_audio(tmp_path / "room_tone.wav", np.zeros(16_000 * 5), 16_000)
    with pytest.raises(InvalidInput) as refused:
        embed_voice(quiet)
    assert refused.value.code == "likeness.voice.too_short"


def test_windows_find_the_enrolled_performer_in_the_middle_of_a_scene(
    voices: dict[str, list[Path]], tmp_path: Path
) -> None:
    rate = 22_050
    parts = []
    for clip in (voices["bruno"][1], voices["amara"][2], voices["caleb"][3]):
        samples, clip_rate = read_samples(clip)
        assert clip_rate == rate
        parts += [samples, np.zeros(rate // 2, dtype=np.float32)]
    scene = write_audio(tmp_path / "scene.wav", np.concatenate(parts), rate)
    amara_start = (len(parts[0]) + len(parts[1])) / rate
    amara_end = amara_start + len(parts[2]) / rate

    enrolled = embed_voice(voices["amara"][0])
    windows = voice_windows(scene, seconds=3.0)
    assert windows
    scores = [(s, e, voice_similarity(enrolled, emb)) for s, e, emb in windows]
    hits = [(s, e) for s, e, score in scores if score >= THRESHOLD]
    assert hits
    for start, end in hits:
        # A hit overlaps mostly the enrolled performer's lines.
        overlap = min(end, amara_end) - max(start, amara_start)
        assert overlap >= 0.5 * (end - start)
    assert all(0.0 <= s < e <= s + 3.0 + 1e-6 for s, e, _ in windows)


def test_a_scanning_window_under_a_second_is_refused(voices: dict[str, list[Path]]) -> None:
    with pytest.raises(InvalidInput) as refused:
        voice_windows(voices["amara"][0], seconds=0.2)
    assert refused.value.code == "likeness.voice.window"


@pytest.mark.slow
def test_calibration_the_same_voice_matches_and_the_other_sex_never_does(
    tmp_path: Path,
) -> None:
    """A small re-run of the calibration behind THRESHOLD (synthetic voices only)."""
    speakers = {
        "f": [("en-us+f1", 65), ("en-us+f4", 75), ("en-us+anika", 60)],
        "m": [("en-gb+m3", 40), ("en-us+m7", 35), ("en-us+klatt", 50)],
    }
    embeddings: dict[tuple[str, str], list[np.ndarray]] = {}
    for sex, group in speakers.items():
        for voice, pitch in group:
            clips = [
                speak(voice, line, tmp_path / f"{voice}{i}.wav", pitch=pitch)
                for i, line in enumerate(LINES)
            ]
            samples, rate = read_samples(clips[-1])
            clips.append(write_audio(tmp_path / f"{voice}.mp3", samples, rate, "libmp3lame"))
            embeddings[(sex, voice)] = [embed_voice(c) for c in clips]
    for (sex, voice), (enrolled, *probes) in embeddings.items():
        assert all(voice_similarity(enrolled, p) >= THRESHOLD for p in probes), voice
        for (other_sex, other), others in embeddings.items():
            if other_sex != sex:
                assert all(voice_similarity(enrolled, p) < THRESHOLD for p in others), (
                    voice,
                    other,
                )
