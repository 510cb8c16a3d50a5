"""The same translation made twice is two outputs, not a crash."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from greenlight.core.enums import RequestState
from greenlight.core.models import RequestDraft
from greenlight.core.settings import Settings
from greenlight.engine import requests, runs
from tests.localization.subtitled import subtitle_output, translated_in_review
from tests.world import World, build_world, opened_platform


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    with opened_platform(settings) as platform:
        yield build_world(platform)


def test_a_rerun_translation_with_the_same_bytes_is_its_own_signed_output(world: World) -> None:
    first = translated_in_review(world)
    again = RequestDraft.model_validate(
        {
            "production_id": world.production.id,
            "use_case": "subtitles",
            "tool_id": first.request.tool_id,
            "intent": "temporary",
            "prompt": "",
            "parameters": {"source": "en", "target": "es"},
            "inputs": list(first.request.inputs),
        }
    )
    submitted = requests.submit(world.platform, world.access("artist"), again)
    second = runs.run_request(world.platform, submitted.request.id)

    assert second.request.state is RequestState.IN_REVIEW
    before, after = subtitle_output(first), subtitle_output(second)
    assert before.sha256 == after.sha256  # text is signed by sidecar: same bytes
    assert before.id != after.id and after.request_id == second.request.id
