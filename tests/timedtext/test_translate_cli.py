"""`greenlight subtitles translate`: timing kept, the format -o asks for, the production's terms."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from greenlight.cli import app
from greenlight.core.settings import Settings
from greenlight.engine.platform import Platform
from greenlight.localization.glossary import GlossaryEntry, add_entry
from greenlight.timedtext.io import format_of, read_track
from tests.world import build_world

runner = CliRunner()

SCENE = """1
00:00:01,000 --> 00:00:03,000
The lighthouse keeper climbs the stairs.

2
00:00:04,000 --> 00:00:06,500
<i>Aurora is waiting by the boat.</i>

"""


def test_english_subtitles_come_back_in_spanish_webvtt_on_the_same_frames(
    env: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "scene.en.srt"
    source.write_text(SCENE, encoding="utf-8")
    target = tmp_path / "scene.es.vtt"

    command = ["subtitles", "translate", str(source), "-o", str(target)]
    done = runner.invoke(app, [*command, "--from", "en", "--to", "es"])

    assert done.exit_code == 0, done.output
    assert format_of(target, target.read_text(encoding="utf-8")) == "vtt"
    assert target.read_text(encoding="utf-8").startswith("WEBVTT")
    translated = read_track(target, language="es")
    original = read_track(source, language="en")
    assert [(c.start_ms, c.end_ms) for c in translated.cues] == [
        (c.start_ms, c.end_ms) for c in original.cues
    ]
    assert "escalera" in translated.cues[0].text  # "stairs", by apertium's dictionary
    assert translated.cues[1].text.startswith("<i>")
    report = json.loads((tmp_path / "scene.es.mt.json").read_text(encoding="utf-8"))
    assert report


def test_a_production_glossary_keeps_a_characters_name_untranslated(
    env: Settings, tmp_path: Path
) -> None:
    platform = Platform.open(env)
    world = build_world(platform)
    with platform.db.transaction() as conn:
        add_entry(
            conn,
            world.production.id,
            GlossaryEntry(term="Aurora", target_language="es"),
            by=world.people["producer"].id,
        )
    platform.close()
    source = tmp_path / "scene.en.srt"
    source.write_text(SCENE, encoding="utf-8")
    target = tmp_path / "scene.es.srt"

    done = runner.invoke(
        app,
        [
            "subtitles", "translate", str(source), "-o", str(target),
            "--from", "en", "--to", "es", "--production", world.production.code,
        ],
    )  # fmt: skip

    assert done.exit_code == 0, done.output
    assert "Aurora" in read_track(target, language="es").cues[1].text


def test_an_unknown_engine_is_refused_with_exit_code_2(env: Settings, tmp_path: Path) -> None:
    source = tmp_path / "scene.en.srt"
    source.write_text(SCENE, encoding="utf-8")
    done = runner.invoke(
        app,
        [
            "subtitles", "translate", str(source), "-o", str(tmp_path / "out.srt"),
            "--from", "en", "--to", "es", "--engine", "babelfish",
        ],
    )  # fmt: skip
    assert done.exit_code == 2
    assert "subtitles.unknown_engine" in done.output
    assert not (tmp_path / "out.srt").exists()
