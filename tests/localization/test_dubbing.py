"""A translated track dubbed over a real clip: fitted lines, the stem, the muxed file, refusals."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from greenlight.cli import app
from greenlight.localization.dubbing import (
    CEILING,
    Limits,
    dub_video,
    programme,
    speak_track,
    time_stretch,
    voice_for,
)
from greenlight.timedtext.model import Cue, Track
from tests.expect import refused, refused_as
from tests.media import make_clip, make_wav

RATE = 25
SPANISH = Track(
    (
        Cue(500, 2000, "¿Dónde estabas\nla noche de la tormenta?"),  # a little long: sped up
        Cue(2500, 5000, "<i>En el faro.</i>"),  # short: said at its own pace
        Cue(5600, 5900, "Esta línea es demasiado larga para su hueco."),  # cannot fit
    ),
    "es",
)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six seconds of picture with a stereo tone under it, as a camera would give."""
    return make_clip(tmp_path_factory.mktemp("dub") / "sc12.mp4", frames=6 * RATE, rate=RATE)


def picture_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [
            bytes(packet)
            for packet in container.demux(container.streams.video[0])
            if packet.dts is not None
        ]


def test_spanish_dub_fits_lines_and_reports_the_one_that_cannot(clip: Path, tmp_path: Path) -> None:
    out, stem = tmp_path / "sc12_es.mp4", tmp_path / "sc12_es.wav"
    report = dub_video(clip, SPANISH, out, stem_path=stem)

    first, second, third = report.fits
    assert 1.0 < first.needed_tempo <= 1.25 and first.tempo == first.needed_tempo and first.fits
    assert second.tempo == 1.0 and second.fits  # not slowed down by default
    assert not third.fits and third.tempo == 1.25 and third.needed_tempo > 1.25
    assert third.overrun_ms > 1000 and third.cut_ms > 0  # faded out at the programme's end
    assert report.unfit == (third,)
    assert report.to_dict()["unfit"][0]["event"] == 3
    assert report.voice_kind == "generic" and report.language_tag == "spa"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sc12_es.mp4", "sc12_es.wav"]


def test_stem_runs_exactly_the_programme_at_its_rate_without_clipping(
    clip: Path, tmp_path: Path
) -> None:
    stem = tmp_path / "stem.wav"
    dub_video(clip, SPANISH, tmp_path / "out.mp4", stem_path=stem)
    with wave.open(str(stem)) as written:
        assert written.getframerate() == 48000 and written.getnchannels() == 1
        assert written.getnframes() == 6 * 48000
        raw = np.frombuffer(written.readframes(written.getnframes()), dtype=np.uint8)
    samples = (raw.reshape(-1, 3).astype(np.int32) * [1, 256, 65536]).sum(axis=1)
    samples = np.where(samples >= 2**23, samples - 2**24, samples) / 2**23
    assert np.abs(samples).max() <= CEILING + 1e-6
    # Speech where the events are, silence in the gap between the first two.
    assert np.abs(samples[int(0.6 * 48000) : int(1.9 * 48000)]).max() > 0.3
    assert np.abs(samples[int(2.05 * 48000) : int(2.45 * 48000)]).max() == 0


def test_muxed_file_keeps_the_picture_byte_for_byte_and_adds_a_tagged_dub(
    clip: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sc12_es.mp4"
    report = dub_video(clip, SPANISH, out)
    assert picture_packets(out) == picture_packets(clip)
    with av.open(str(out)) as container:
        sounds = list(container.streams.audio)
        assert len(sounds) == 2 and report.kept_original_audio == 1
        original, dub = sounds
        assert original.codec_context.channels == 2  # the tone, untouched
        assert dub.metadata["language"] == "spa"
        assert "generic synthetic voice" in dub.metadata["handler_name"]
        assert dub.codec_context.sample_rate == 48000
        assert abs(float(dub.duration * dub.time_base) - 6.0) < 0.05
        assert container.streams.video[0].metadata["timecode"] == "01:00:00:00"


def test_replacing_the_original_audio_leaves_only_the_dub(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "sc12_es.mov"
    report = dub_video(clip, SPANISH, out, keep_original_audio=False)
    assert report.kept_original_audio == 0
    with av.open(str(out)) as container:
        assert [s.metadata.get("language") for s in container.streams.audio] == ["spa"]


def test_fill_slows_a_short_line_but_not_past_the_limit(clip: Path) -> None:
    show = programme(clip)
    stem = speak_track(
        SPANISH, voice_for("espeak", "es"), "espeak", show.duration_ms, 48000, Limits(fit="fill")
    )
    assert stem.fits[1].tempo == 0.8  # "En el faro." would need far slower to fill 2.5 s


def test_time_stretch_keeps_the_pitch_and_changes_the_length() -> None:
    rate = 22050
    t = np.arange(rate * 2) / rate
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    faster = time_stretch(tone, rate, 1.25)
    assert abs(len(faster) / rate - 1.6) < 0.05
    spectrum = np.abs(np.fft.rfft(faster[rate // 4 : rate // 4 + rate]))
    assert abs(np.argmax(spectrum) - 220) <= 2  # 1 Hz bins: still 220 Hz, not 275


def test_english_dub_with_piper(clip: Path, tmp_path: Path) -> None:
    english = Track((Cue(500, 3000, "Where were you on the night of the storm?"),), "en-US")
    report = dub_video(clip, english, tmp_path / "sc12_en.mp4", engine="piper")
    assert report.voice == "en_US-joe-medium" and report.language_tag == "eng"
    assert report.fits[0].fits


def test_dub_refusals_write_nothing(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with refused("backend.tts-espeak.unknown_voice"):
        dub_video(clip, SPANISH, out, voice="gandalf")
    with refused("dub.unknown_engine"):
        dub_video(clip, SPANISH, out, engine="festival")
    with refused("backend.tts-piper.unknown_language"):
        dub_video(clip, SPANISH, out, engine="piper")
    empty = Track((Cue(0, 1000, "<i> </i>"),), "es")
    with refused("dub.nothing_to_say"):
        dub_video(clip, empty, out)
    later = Track((Cue(9000, 10000, "Demasiado tarde."),), "es")
    with refused_as("dub.event_after_end") as caught:
        dub_video(clip, later, out)
    assert caught.value.details["event"] == 1
    with refused("dub.unsupported_output"):
        dub_video(clip, SPANISH, tmp_path / "out.avi")
    with refused("dub.output_is_input"):
        dub_video(clip, SPANISH, clip)
    with refused("dub.bad_tempo_limits"):
        dub_video(clip, SPANISH, out, limits=Limits(max_tempo=3.0))
    assert not any(tmp_path.iterdir())


def test_sound_without_picture_and_junk_are_refused(tmp_path: Path) -> None:
    with refused("dub.no_picture"):
        dub_video(make_wav(tmp_path / "tone.wav"), SPANISH, tmp_path / "out.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with refused("dub.unreadable_video"):
        dub_video(junk, SPANISH, tmp_path / "out.mp4")


def test_an_unknown_language_code_is_tagged_undetermined_with_a_warning(
    clip: Path, tmp_path: Path
) -> None:
    # espeak-ng speaks Quechua; our ISO 639 table does not know "qu".
    report = dub_video(clip, Track((Cue(0, 2000, "Allillanchu"),), "qu"), tmp_path / "o.mp4")
    assert report.language_tag == "und" and "und" in report.warnings[0]


SRT = (
    "1\n00:00:00,500 --> 00:00:02,000\n¿Dónde estabas\nla noche de la tormenta?\n\n"
    "2\n00:00:05,600 --> 00:00:05,900\nEsta línea es demasiado larga para su hueco.\n"
)


def test_greenlight_dub_prints_the_fit_report(clip: Path, tmp_path: Path) -> None:
    subtitles = tmp_path / "sc12_es.srt"
    subtitles.write_text(SRT, encoding="utf-8")
    out, stem = tmp_path / "sc12_es.mp4", tmp_path / "sc12_es.wav"
    runner = CliRunner()
    args = ["dub", str(clip), "--subtitles", str(subtitles), "--language", "es"]
    result = runner.invoke(app, [*args, "-o", str(out), "--stem", str(stem)])
    assert result.exit_code == 0, result.output
    assert "1 of 2 lines fit" in result.output and "generic synthetic voice" in result.output
    assert out.is_file() and stem.is_file()

    as_json = runner.invoke(app, [*args, "-o", str(tmp_path / "again.mp4"), "--json"])
    assert json.loads(as_json.output)["unfit"][0]["event"] == 2

    refused_run = runner.invoke(app, [*args, "-o", str(out), "--voice", "gandalf"])
    assert refused_run.exit_code == 2
    assert "backend.tts-espeak.unknown_voice" in refused_run.output
