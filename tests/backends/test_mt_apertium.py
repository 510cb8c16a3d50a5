"""The mt-apertium backend on real subtitles with Debian's Apertium (en>es, en>fr through
Spanish), the glossary kept, the memory reused, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from greenlight.backends import BackendInput, BackendResult, backend_for
from greenlight.backends._mt import balanced_lines
from greenlight.backends.mt_apertium import ApertiumBackend, supported_pairs
from greenlight.core.errors import InvalidInput
from greenlight.timedtext.io import read_track
from tests.expect import refused_as

EPISODE = """\
1
00:00:01,000 --> 00:00:03,500
Where is the ship?

2
00:00:04,000 --> 00:00:07,000
Captain Reyes went to Kepler Station
with the red car yesterday.

3
00:00:08,000 --> 00:00:10,000
<i>The house is very big.</i>

4
00:00:10,500 --> 00:00:12,000
- Are you coming?
- No, I am tired.

5
00:00:12,500 --> 00:00:14,000
Zorblat is my friend.
"""

GLOSSARY_ES = [
    {"term": "Kepler Station", "translation": "Estación Kepler", "case": "exact"},
    {"term": "zorblat", "translation": None, "case": "ignore"},
]


def subtitles(tmp_path: Path, text: str = EPISODE, name: str = "ep101.srt") -> BackendInput:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return BackendInput(path=path, part="subtitles", media_type="application/x-subrip")


def translate(tmp_path: Path, **parameters: Any) -> BackendResult:
    backend = backend_for("mt-apertium")
    return backend.run([subtitles(tmp_path)], parameters, tmp_path / "out")


def test_english_subtitles_come_out_in_spanish_with_their_timing(tmp_path: Path) -> None:
    result = translate(tmp_path, source="en", target="es")
    source = read_track(tmp_path / "ep101.srt", language="en")
    spanish = read_track(result.outputs[0].path, language="es")

    assert result.outputs[0].path.name == "ep101.es.srt"
    assert [(c.start_ms, c.end_ms) for c in spanish.cues] == [
        (c.start_ms, c.end_ms) for c in source.cues
    ]
    assert "barco" in spanish.cues[0].text
    assert spanish.cues[2].text == "<i>La casa es muy grande.</i>"
    assert spanish.cues[3].lines[0].startswith("- ") and "cansado" in spanish.cues[3].lines[1]
    assert all(len(line) <= 42 for cue in spanish.cues for line in cue.lines)
    assert result.usage["route"] == ["eng-spa"] and result.usage["segments_translated"] == 6
    assert result.model == "apertium eng-spa" and "eng-spa 0" in result.model_version


def test_english_to_french_goes_through_spanish(tmp_path: Path) -> None:
    result = translate(tmp_path, source="en", target="fr")
    french = read_track(result.outputs[0].path, language="fr")

    assert result.usage["route"] == ["eng-spa", "es-fr"] and result.usage["pivot"] == "es"
    assert "bateau" in french.cues[0].text
    assert "maison" in french.cues[2].text
    assert french.cues[0].start_ms == 1000 and french.cues[-1].end_ms == 14_000


def test_glossary_terms_come_out_as_given_and_never_split(tmp_path: Path) -> None:
    result = translate(tmp_path, source="en", target="es", glossary=GLOSSARY_ES)
    spanish = read_track(result.outputs[0].path, language="es")
    report = json.loads(result.outputs[1].path.read_text())

    assert any("Estación Kepler" in line for line in spanish.cues[1].lines)
    assert spanish.cues[4].text.startswith("Zorblat es")  # kept, and "es" not capitalised
    assert report["glossary_issues"] == 0 and result.usage["glossary_issues"] == 0


def test_a_glossary_that_is_only_checked_reports_the_terms_not_honoured(tmp_path: Path) -> None:
    result = translate(
        tmp_path, source="en", target="es", glossary=GLOSSARY_ES, glossary_mode="check"
    )
    report = json.loads(result.outputs[1].path.read_text())

    flagged = {issue["term"] for cue in report["cues"] for issue in cue.get("glossary", [])}
    assert "Kepler Station" in flagged
    assert result.usage["glossary_issues"] >= 1


def test_exact_memory_hits_are_reused_and_fuzzy_ones_offered(tmp_path: Path) -> None:
    memory = [
        {
            "cue": 1,
            "source": "Where is the ship?",
            "translation": "¿Dónde está la nave?",
            "score": 1.0,
        },
        {
            "cue": 5,
            "source": "Zorblat is my best friend.",
            "translation": "Zorblat es mi mejor amigo.",
            "score": 0.88,
        },
    ]
    result = translate(tmp_path, source="en", target="es", memory=memory)
    spanish = read_track(result.outputs[0].path, language="es")
    report = json.loads(result.outputs[1].path.read_text())

    assert spanish.cues[0].text == "¿Dónde está la nave?"
    assert report["cues"][0]["origin"] == "memory" and report["from_memory"] == 1
    assert report["cues"][4]["suggestions"][0]["score"] == 0.88
    assert result.usage["segments_translated"] == 5  # cue 1 was not sent


def test_a_pair_apertium_cannot_do_is_refused_with_the_ones_it_can(tmp_path: Path) -> None:
    backend = ApertiumBackend()
    with pytest.raises(InvalidInput) as refused:
        backend.check([subtitles(tmp_path)], {"source": "en", "target": "ja"})
    assert refused.value.code == "backend.mt-apertium.unsupported_pair"
    assert "en>es" in refused.value.details["supported"]
    assert ("en", "fr") in supported_pairs() and ("pt", "pt-BR") not in supported_pairs()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1\nnot a time\nHello\n", "unreadable_subtitles"),
        ("1\n00:00:05,000 --> 00:00:04,000\nBackwards\n", "unreadable_subtitles"),
        ("", "unreadable_subtitles"),
    ],
)
def test_malformed_subtitles_are_refused_before_any_work(
    tmp_path: Path, text: str, why: str
) -> None:
    with refused_as(f"backend.mt-apertium.{why}"):
        ApertiumBackend().check([subtitles(tmp_path, text)], {"source": "en", "target": "es"})


@pytest.mark.parametrize(
    "changes",
    [
        {"glossary": "Kepler"},
        {"glossary": [{"term": ""}]},
        {"glossary": [{"term": "Kepler", "case": "loose"}]},
        {"memory": [{"cue": 99, "source": "x", "translation": "y", "score": 1}]},
        {"memory": [{"cue": 1, "source": "x", "translation": "", "score": 1}]},
        {"target": "en"},
        {"source": "english!"},
    ],
)
def test_a_bad_glossary_memory_or_language_is_refused(
    tmp_path: Path, changes: dict[str, Any]
) -> None:
    with refused_as("backend.mt-apertium.bad_parameter"):
        ApertiumBackend().check([subtitles(tmp_path)], {"source": "en", "target": "es", **changes})


def test_inputs_other_than_one_srt_are_refused(tmp_path: Path) -> None:
    given = subtitles(tmp_path)
    backend = ApertiumBackend()
    with refused_as("backend.mt-apertium.unsupported_type"):
        backend.check(
            [BackendInput(given.path, "subtitles", "text/plain")], {"source": "en", "target": "es"}
        )
    with refused_as("backend.mt-apertium.unexpected_input"):
        backend.check([], {"source": "en", "target": "es"})


def test_a_long_line_breaks_in_two_balanced_lines_keeping_italics() -> None:
    lines = balanced_lines(
        "<i>El capitán fue a la estación con el coche rojo, y después volvió a casa.</i>", 42
    )
    assert len(lines) == 2
    assert all(line.startswith("<i>") and line.endswith("</i>") for line in lines)
    assert all(len(line) - 7 <= 42 for line in lines)
    assert balanced_lines("Short line.", 42) == ["Short line."]


def test_an_episode_of_1500_cues_goes_through_one_apertium_call_per_hop(tmp_path: Path) -> None:
    blocks = [
        f"{k}\n00:{k // 60 % 60:02d}:{k % 60:02d},000 --> 00:{k // 60 % 60:02d}:{k % 60:02d},900\n"
        f"Cue {k}: the red car is in the house.\n"
        for k in range(1, 1501)
    ]
    big = subtitles(tmp_path, "\n".join(blocks), "long.srt")
    result = backend_for("mt-apertium").run([big], {"source": "en", "target": "es"}, tmp_path / "o")
    spanish = read_track(result.outputs[0].path, language="es")
    assert len(spanish.cues) == 1500
    assert spanish.cues[1499].text.startswith("Cue 1500") or "1500" in spanish.cues[1499].text
    assert "coche rojo" in spanish.cues[750].text


def test_webvtt_subtitles_come_back_as_webvtt(tmp_path: Path) -> None:
    path = tmp_path / "trailer.vtt"
    path.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nThe house is very big.\n", encoding="utf-8"
    )
    given = BackendInput(path=path, part="subtitles", media_type="text/vtt")
    result = backend_for("mt-apertium").run(
        [given], {"source": "en", "target": "es"}, tmp_path / "out"
    )
    assert result.outputs[0].path.name == "trailer.es.vtt"
    assert result.outputs[0].media_type == "text/vtt"
    spanish = read_track(result.outputs[0].path, language="es")
    assert spanish.cues[0].text == "La casa es muy grande."
    assert (spanish.cues[0].start_ms, spanish.cues[0].end_ms) == (1000, 2500)
