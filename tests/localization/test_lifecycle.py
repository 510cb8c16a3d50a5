"""Subtitles and dubbing as governed work: submitted, judged, run, signed and left in review."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from greenlight.accounts import load_access
from greenlight.cli import app
from greenlight.core.enums import Outcome, RequestState, Role
from greenlight.core.models import Asset, InputRef, RequestDetail, RequestDraft, Tool
from greenlight.core.settings import Settings
from greenlight.engine import assets, requests, runs
from greenlight.engine.platform import Platform
from greenlight.localization import glossary, memory
from greenlight.localization.glossary import GlossaryEntry
from greenlight.rights import list_disclosures
from greenlight.timedtext.io import parse_track
from tests.world import World, build_world, hire, opened_platform

SCENE = """1
00:00:01,000 --> 00:00:03,000
The lighthouse keeper climbs the stairs.

2
00:00:04,000 --> 00:00:06,500
<i>Aurora is waiting by the boat.</i>

3
00:00:07,000 --> 00:00:09,000
Where is the ship?
"""

ESCENA = """1
00:00:01,000 --> 00:00:03,000
¿Dónde está la nave?

2
00:00:04,000 --> 00:00:06,000
La capitana está en el puente.
"""

LOCALIZATION = "loc@nl.test"


def with_localization_manager(world: World) -> World:
    with world.platform.db.transaction() as conn:
        world.people["loc"] = hire(
            conn, world.production.id, LOCALIZATION, "Lena Ortiz", Role.LOCALIZATION_MANAGER
        )
    return world


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    with opened_platform(settings) as platform:
        yield with_localization_manager(build_world(platform))


def upload(world: World, name: str, data: bytes, declared: str | None = None) -> Asset:
    asset, _ = assets.upload(
        world.platform, world.access("loc"), world.production.id, name, io.BytesIO(data), declared
    )
    return asset


def ask(
    world: World, tool: Tool, use_case: str, inputs: list[InputRef], **fields: object
) -> RequestDetail:
    draft = RequestDraft.model_validate(
        {
            "production_id": world.production.id,
            "use_case": use_case,
            "tool_id": tool.id,
            "intent": "temporary",
            "inputs": inputs,
            **fields,
        }
    )
    return requests.submit(world.platform, world.access("loc"), draft)


def test_english_subtitles_come_back_in_spanish_signed_and_in_review(world: World) -> None:
    apertium = world.add_tool(
        "Apertium", hosting="studio", use_cases=["subtitles"], backend="mt-apertium"
    )
    by = world.people["producer"].id
    with world.platform.db.transaction() as conn:
        glossary.add_entry(conn, world.production.id, GlossaryEntry("Aurora", "es"), by=by)
        memory.approve(
            conn, world.production.id, "en", "es", [("Where is the ship?", "¿Y el barco?")], by=by
        )
    scene = upload(world, "scene.en.srt", SCENE.encode())

    submitted = ask(
        world,
        apertium,
        "subtitles",
        [InputRef(asset_id=scene.id, part="subtitles")],
        parameters={"source": "en", "target": "es"},
    )
    assert submitted.decision is not None and submitted.decision.outcome is Outcome.ALLOW
    ran = runs.run_request(world.platform, submitted.request.id)

    assert ran.request.state is RequestState.IN_REVIEW
    by_type = {o.media_type: o for o in ran.outputs}
    assert set(by_type) == {"application/x-subrip", "application/json"}
    for output in ran.outputs:
        assert output.manifest_sha256 is not None  # text carries its credentials beside it
        assert assets.credentials(world.platform, output).trusted
    translated = parse_track(
        world.platform.blobs.read_bytes(by_type["application/x-subrip"].sha256), format="srt"
    )
    assert "escalera" in translated.cues[0].text
    assert "Aurora" in translated.cues[1].text  # the glossary keeps the name
    assert translated.cues[2].text == "¿Y el barco?"  # the approved line is reused
    # The engine looked the glossary and memory up as the run started; the run says so.
    assert ran.job is not None
    (run,) = ran.job.runs
    assert run.parameters["glossary"] == [{"term": "Aurora", "translation": None, "case": "exact"}]
    assert run.usage["from_memory"] == 1
    assert "glossary" not in ran.request.parameters


def test_dubbing_in_a_performers_voice_without_voice_consent_is_denied(world: World) -> None:
    espeak = world.add_tool(
        "espeak-ng", hosting="studio", use_cases=["dubbing"], backend="tts-espeak"
    )
    lines = upload(world, "escena.es.srt", ESCENA.encode())

    denied = ask(
        world,
        espeak,
        "dubbing",
        [InputRef(asset_id=lines.id, part="subtitles")],
        parameters={"language": "es"},
        talent_ids=[world.unconsented.id],
    )

    assert denied.request.state is RequestState.DENIED
    assert denied.decision is not None and "voice-needs-consent" in denied.decision.rules
    assert denied.job is None


def test_a_generic_voice_dub_is_signed_and_disclosed_as_generic(world: World) -> None:
    espeak = world.add_tool(
        "espeak-ng", hosting="studio", use_cases=["dubbing"], backend="tts-espeak"
    )
    lines = upload(world, "escena.es.srt", ESCENA.encode())
    note = upload(world, "nota.txt", b"Hola, capitana.", "text/plain")
    assert note.media_type == "text/plain"

    submitted = ask(
        world,
        espeak,
        "dubbing",
        [
            InputRef(asset_id=lines.id, part="subtitles"),
            InputRef(asset_id=note.id, part="text"),
        ],
        parameters={"language": "es"},
    )
    ran = runs.run_request(world.platform, submitted.request.id)

    assert ran.request.state is RequestState.IN_REVIEW
    assert sorted(o.filename for o in ran.outputs) == [
        "escena.es_0001.wav",
        "escena.es_0002.wav",
        "nota.wav",
    ]
    for output in ran.outputs:
        assert output.media_type == "audio/wav" and output.manifest_sha256 is None
        report = assets.credentials(world.platform, output)
        assert report.trusted
        assert report.manifest.governance is not None
        assert report.manifest.governance.request_id == ran.request.id
    with world.platform.db.read() as conn:
        (disclosed,) = [
            d for d in list_disclosures(conn, world.production.id) if d.request_id == ran.request.id
        ]
    assert disclosed.summary["synthetic_voice"] == "generic"
    succeeded = next(e for e in ran.events if e.event_type == "run.succeeded")
    assert (
        world.platform.ledger.entry(succeeded.index).event()["payload"]["voice_kind"] == "generic"
    )


@pytest.mark.slow
def test_english_dialogue_is_transcribed_through_the_lifecycle(
    world: World, tmp_path: Path
) -> None:
    whisper = world.add_tool(
        "Whisper", hosting="studio", use_cases=["subtitles"], backend="asr-whisper"
    )
    spoken = tmp_path / "dialogue.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(spoken), "The detective arrives in the city on a rainy night."],
        check=True,
        capture_output=True,
    )
    dialogue = upload(world, "dialogue.wav", spoken.read_bytes())

    submitted = ask(world, whisper, "subtitles", [InputRef(asset_id=dialogue.id, part="audio")])
    ran = runs.run_request(world.platform, submitted.request.id)

    assert ran.request.state is RequestState.IN_REVIEW
    subtitles = next(o for o in ran.outputs if o.media_type == "application/x-subrip")
    assert assets.credentials(world.platform, subtitles).trusted
    text = world.platform.blobs.read_bytes(subtitles.sha256).decode()
    assert "detective" in text.lower()


# The command line.

runner = CliRunner()


def test_translate_with_request_leaves_a_signed_translation_in_review(
    env: Settings, tmp_path: Path
) -> None:
    platform = Platform.open(env)
    world = with_localization_manager(build_world(platform))
    world.add_tool("Apertium", hosting="studio", use_cases=["subtitles"], backend="mt-apertium")
    platform.close()
    source = tmp_path / "scene.en.srt"
    source.write_text(SCENE, encoding="utf-8")
    command = ["subtitles", "translate", str(source), "--from", "en", "--to", "es", "--request"]
    production = ["--production", world.production.code, "--as", LOCALIZATION]

    done = runner.invoke(app, [*command, *production])

    assert done.exit_code == 0, done.output
    assert "in_review" in done.output
    assert "scene.en.es.srt (application/x-subrip), signed: sidecar manifest" in done.output
    with opened_platform(env) as reopened, reopened.db.read() as conn:
        loc = load_access(conn, world.people["loc"])
        found, _ = requests.list_requests(conn, loc, production_id=world.production.id)
    assert [(r.use_case.value, r.state) for r in found] == [("subtitles", RequestState.IN_REVIEW)]

    # No tool for the vendor's MT on this production: nothing is made up, the command says so.
    vendor = runner.invoke(app, [*command, *production, "--engine", "mt-http"])
    assert vendor.exit_code == 2
    assert "localization.no_tool" in vendor.output
    # A request needs a production and a person; -o belongs to local runs.
    assert runner.invoke(app, command).exit_code == 2
    local_only = runner.invoke(app, [*command, *production, "-o", str(tmp_path / "x.srt")])
    assert "cli.output_with_request" in local_only.output
