"""`greenlight subtitles qc|fix|convert`: exit codes, the JSON a pipeline reads, files written."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from greenlight.cli import app
from greenlight.timedtext.io import read_track

runner = CliRunner()

CLEAN = """1
00:00:01,000 --> 00:00:03,000
Where were you last night?

2
00:00:03,084 --> 00:00:05,000
<i>Out.</i>

"""
BROKEN = """1
00:00:01,000 --> 00:00:01,300
Too short.

2
00:00:02,100 --> 00:00:05,000
We should go to the old lighthouse before the storm comes in

"""


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_qc_of_a_clean_file_exits_zero(tmp_path: Path) -> None:
    result = runner.invoke(app, ["subtitles", "qc", str(write(tmp_path, "ok.srt", CLEAN))])
    assert result.exit_code == 0, result.output
    assert "clean" in result.output


def test_qc_json_lists_each_violation_with_event_rule_start_and_message(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.srt", BROKEN, "utf-16")
    result = runner.invoke(app, ["subtitles", "qc", str(path), "--json", "--frame-rate", "25"])
    assert result.exit_code == 1, result.output
    violations = json.loads(result.stdout)
    assert {(v["event"], v["rule"]) for v in violations} == {
        (1, "min_duration"),
        (1, "reading_speed"),
        (2, "line_length"),
        (2, "reading_speed"),
    }
    first = violations[0]
    assert first["start"] == 1.0 and first["timecode"] == "00:00:01:00"
    assert isinstance(first["message"], str) and first["suggestion"]


def test_qc_of_an_unreadable_file_exits_two_with_the_reason(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.srt"
    mixed.write_bytes(
        "1\n00:00:01,000 --> 00:00:02,000\nCafé\n\n".encode() + "Crème\n".encode("cp1252")
    )
    result = runner.invoke(app, ["subtitles", "qc", str(mixed), "--json"])
    assert result.exit_code == 2
    assert "subtitles.unreadable" in result.output


def test_qc_with_an_absurd_frame_rate_or_unknown_profile_exits_two(tmp_path: Path) -> None:
    path = str(write(tmp_path, "ok.srt", CLEAN))
    rate = runner.invoke(app, ["subtitles", "qc", path, "--frame-rate", "2397"])
    assert rate.exit_code == 2 and "subtitles.bad_frame_rate" in rate.output
    profile = runner.invoke(app, ["subtitles", "qc", path, "--profile", "xx"])
    assert profile.exit_code == 2 and "subtitles.unknown_profile" in profile.output


def test_qc_judges_shot_changes_from_a_file_of_time_codes(tmp_path: Path) -> None:
    path = str(write(tmp_path, "ok.srt", CLEAN))
    cuts = write(tmp_path, "cuts.txt", "# cuts\n00:00:01:03\n")
    result = runner.invoke(
        app, ["subtitles", "qc", path, "--shot-changes", str(cuts), "--frame-rate", "25", "--json"]
    )
    assert result.exit_code == 1
    assert [v["rule"] for v in json.loads(result.stdout)] == ["shot_change_in"]


def test_fix_writes_a_file_that_passes_qc(tmp_path: Path) -> None:
    source = write(tmp_path, "bad.srt", BROKEN)
    out = tmp_path / "fixed.srt"
    result = runner.invoke(app, ["subtitles", "fix", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["subtitles", "qc", str(out)]).exit_code == 0
    fixed = read_track(out)
    assert fixed.cues[1].text == "We should go to the old lighthouse\nbefore the storm comes in"


def test_convert_srt_to_imsc_and_back_at_23976(tmp_path: Path) -> None:
    source = write(tmp_path, "ok.srt", CLEAN, "cp1252")
    imsc = tmp_path / "ok.xml"
    result = runner.invoke(
        app,
        ["subtitles", "convert", str(source), str(imsc), "--to", "imsc", "--frame-rate", "23.976"],
    )
    assert result.exit_code == 0, result.output
    assert (
        "imsc1.1/text" in imsc.read_text()
        and 'ttp:frameRateMultiplier="1000 1001"' in imsc.read_text()
    )
    back = tmp_path / "back.vtt"
    assert runner.invoke(app, ["subtitles", "convert", str(imsc), str(back)]).exit_code == 0
    assert [c.text for c in read_track(back).cues] == ["Where were you last night?", "<i>Out.</i>"]


def test_convert_refuses_an_unknown_output_format_without_writing(tmp_path: Path) -> None:
    source = write(tmp_path, "ok.srt", CLEAN)
    result = runner.invoke(app, ["subtitles", "convert", str(source), str(tmp_path / "x.ass")])
    assert result.exit_code == 2 and "subtitles.unknown_format" in result.output
    assert not (tmp_path / "x.ass").exists()


def test_the_subtitles_group_also_carries_transcribe() -> None:
    result = runner.invoke(app, ["subtitles", "--help"])
    assert result.exit_code == 0
    assert all(name in result.output for name in ("qc", "fix", "convert", "transcribe"))
