"""``subtitles transcribe``: a line of dialogue to a subtitle file from the command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from greenlight.cli.subtitles_asr import transcribe

# The command on its own (a one-command app takes its arguments directly).
app = typer.Typer()
app.command()(transcribe)


def speak(path: Path, text: str) -> Path:
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path


@pytest.mark.slow
def test_dialogue_is_transcribed_to_the_format_the_output_name_says(tmp_path: Path) -> None:
    spoken = speak(tmp_path / "sc12_tk3.wav", "Close the door behind you.")
    output = tmp_path / "subs" / "sc12_tk3.vtt"

    ran = CliRunner().invoke(app, [str(spoken), "-o", str(output), "--beam-size", "1"])

    assert ran.exit_code == 0, ran.output
    assert output.read_text(encoding="utf-8").startswith("WEBVTT")
    assert "door" in output.read_text(encoding="utf-8").lower()
    words = json.loads((tmp_path / "subs" / "sc12_tk3.words.json").read_text())
    assert words["segments"]
    assert "1 events" in ran.output
    assert not [p for p in output.parent.iterdir() if p.name.startswith(".transcribe-")]


def test_audio_that_cannot_be_read_exits_2_with_the_reason(tmp_path: Path) -> None:
    junk = tmp_path / "sc12.wav"
    junk.write_bytes(b"not audio at all" * 20)
    output = tmp_path / "sc12.srt"

    ran = CliRunner().invoke(app, [str(junk), "-o", str(output)])

    assert ran.exit_code == 2
    assert "backend.asr-whisper.unreadable_audio" in ran.output
    assert not output.exists()


def test_an_unknown_format_exits_2(tmp_path: Path) -> None:
    spoken = speak(tmp_path / "line.wav", "Hello.")

    ran = CliRunner().invoke(app, [str(spoken), "-o", str(tmp_path / "x.srt"), "--format", "docx"])

    assert ran.exit_code == 2
    assert "subtitles.unknown_format" in ran.output
