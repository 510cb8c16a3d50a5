"""The mt-http backend against a real HTTP server on loopback speaking its JSON API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenlight.backends import BackendInput, backend_for
from greenlight.backends.mt_http import HttpMTBackend, MTVendorSettings
from greenlight.core.settings import HttpPolicy, Settings
from greenlight.timedtext.io import read_track
from tests.backends.servers import Answer, LoopbackServer, Received
from tests.expect import refused_as

KEY = "mt-key-0123456789abcdef"
FAST = HttpPolicy(connect_timeout=1, read_timeout=3, retries=3, backoff=0.001, max_wait=0.05)
WORDS = {"Where": "Dónde", "is": "está", "the": "la", "ship": "nave", "house": "casa"}

EPISODE = """\
1
00:00:01,000 --> 00:00:03,500
Where is the ship?

2
00:00:04,000 --> 00:00:06,000
<i>Where is the house?</i>

3
00:00:06,500 --> 00:00:08,000
Where is Kepler Station?
"""


class FakeMTVendor(LoopbackServer):
    """``POST /v1/translate``: word for word from a tiny dictionary, tags and unknown
    words (placeholders) left as they are."""

    def route(self, method: str, path: str) -> str:
        return path.rsplit("/", 1)[-1]

    def answer(self, request: Received, mode: str) -> Answer:
        if mode == "server_error":
            return Answer(500, b"500 Internal Server Error", "text/plain")
        if mode == "garbage":
            return Answer(200, b"<html><body>Bad gateway</body></html>", "text/html")
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return Answer.of({"error": {"message": "bad key"}}, 401)
        if mode == "rate_limited":
            return Answer.of({"error": {"message": "slow down"}}, 429, **{"Retry-After": "0"})
        segments = request.json()["segments"]
        if mode == "short":
            segments = segments[:-1]
        translations = [
            " ".join(WORDS.get(word.strip("?"), word.strip("?")) for word in s.split()) + "?"
            for s in segments
        ]
        return Answer.of({"translations": translations, "model": "fake-mt-1"})


@pytest.fixture
def vendor() -> Iterator[FakeMTVendor]:
    with FakeMTVendor() as server:
        yield server


def backend_at(server: FakeMTVendor, tmp_path: Path, batch: int = 200) -> HttpMTBackend:
    settings = Settings(data_dir=tmp_path, database_url="sqlite://", http=FAST)
    service = MTVendorSettings(url=f"{server.url}/v1", api_key=KEY, time_limit=5, batch=batch)
    return HttpMTBackend(settings, service)


def subtitles(tmp_path: Path) -> BackendInput:
    path = tmp_path / "ep101.srt"
    path.write_text(EPISODE, encoding="utf-8")
    return BackendInput(path=path, part="subtitles", media_type="application/x-subrip")


GLOSSARY = [{"term": "Kepler Station", "translation": "Estación Kepler", "case": "exact"}]


def test_the_vendor_translates_every_cue_and_the_glossary_is_kept(
    vendor: FakeMTVendor, tmp_path: Path
) -> None:
    backend = backend_at(vendor, tmp_path, batch=2)
    result = backend.run(
        [subtitles(tmp_path)],
        {"source": "en", "target": "es", "glossary": GLOSSARY},
        tmp_path / "out",
    )
    spanish = read_track(result.outputs[0].path, language="es")

    assert [c.text for c in spanish.cues] == [
        "Dónde está la nave?",
        "<i>Dónde está la casa?</i>",
        "Dónde está Estación Kepler?",
    ]
    assert [(c.start_ms, c.end_ms) for c in spanish.cues] == [
        (1000, 3500),
        (4000, 6000),
        (6500, 8000),
    ]
    calls = vendor.calls("translate")
    assert len(calls) == 2  # three segments in batches of two
    assert calls[0].json()["source"] == "en" and calls[0].json()["target"] == "es"
    assert "zgl0q" in calls[1].json()["segments"][0]  # the term never left the studio whole
    assert not vendor.seen("Kepler Station")
    assert result.model == "fake-mt-1" and KEY not in json.dumps(result.usage)


def test_a_rate_limit_is_waited_out_and_the_run_goes_on(
    vendor: FakeMTVendor, tmp_path: Path
) -> None:
    vendor.fail("translate", "rate_limited", "server_error")
    result = backend_at(vendor, tmp_path).run(
        [subtitles(tmp_path)], {"source": "en", "target": "es"}, tmp_path / "out"
    )
    assert result.usage["http_retries"] == 2
    assert result.usage["http_retry_reasons"] == ["429", "500"]
    assert len(vendor.calls("translate")) == 3


@pytest.mark.parametrize("mode", ["garbage", "short"])
def test_an_answer_that_makes_no_sense_keeps_nothing(
    vendor: FakeMTVendor, tmp_path: Path, mode: str
) -> None:
    vendor.fail("translate", mode)
    with refused_as("backend.mt-http.bad_response"):
        backend_at(vendor, tmp_path).run(
            [subtitles(tmp_path)], {"source": "en", "target": "es"}, tmp_path / "out"
        )
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_wrong_key_is_refused_without_showing_it(vendor: FakeMTVendor, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="sqlite://", http=FAST)
    backend = HttpMTBackend(settings, MTVendorSettings(url=vendor.url, api_key="mt-wrong-key-xx"))
    with refused_as("backend.mt-http.unauthorized") as caught:
        backend.run([subtitles(tmp_path)], {"source": "en", "target": "es"}, tmp_path / "o")
    assert "mt-wrong-key" not in caught.value.message


def test_an_unconfigured_vendor_is_refused_and_the_backend_is_registered(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, database_url="sqlite://", http=FAST)
    backend = HttpMTBackend(settings, MTVendorSettings())
    with refused_as("backend.mt-http.not_configured"):
        backend.run([subtitles(tmp_path)], {"source": "en", "target": "es"}, tmp_path / "o")
    assert backend_for("mt-http", settings).capabilities.remote


def test_vendor_settings_come_from_the_environment() -> None:
    read = MTVendorSettings.from_env(
        {"GREENLIGHT_MT_URL": "https://mt.example", "GREENLIGHT_MT_BATCH": "50"}
    )
    assert (read.url, read.batch, read.api_key) == ("https://mt.example", 50, None)
    with refused_as("settings.bad_value"):
        MTVendorSettings.from_env({"GREENLIGHT_MT_BATCH": "none"})
