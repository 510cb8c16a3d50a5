"""A translated subtitle track waiting in review: an English SRT run through mt-apertium."""

from __future__ import annotations

import io

from greenlight.core.enums import Role
from greenlight.core.models import Asset, InputRef, Person, RequestDetail, RequestDraft
from greenlight.engine import assets, requests, runs
from tests.world import World, hire

EPISODE_SRT = (
    b"1\n00:00:01,000 --> 00:00:03,000\nWhere is the ship?\n\n"
    b"2\n00:00:04,000 --> 00:00:06,000\nThe house is red.\n\n"
    b"3\n00:00:07,000 --> 00:00:09,000\nI have a dog.\n\n"
)


def hire_localization_manager(world: World, key: str = "loc") -> Person:
    """Lou, the production's localization manager, among the world's people as ``key``."""
    with world.platform.db.transaction() as conn:
        person = hire(
            conn,
            world.production.id,
            f"{key}@nl.test",
            "Lou Localization",
            Role.LOCALIZATION_MANAGER,
        )
    world.people[key] = person
    return person


def translated_in_review(world: World, who: str = "artist") -> RequestDetail:
    """The episode's English subtitles translated into Spanish by Apertium, in review."""
    tool = world.add_tool(
        "Apertium", hosting="studio", backend="mt-apertium", use_cases=["subtitles"]
    )
    source, _ = assets.upload(
        world.platform,
        world.access(who),
        world.production.id,
        "ep1.srt",
        io.BytesIO(EPISODE_SRT),
        "application/x-subrip",
    )
    draft = RequestDraft.model_validate(
        {
            "production_id": world.production.id,
            "use_case": "subtitles",
            "tool_id": tool.id,
            "intent": "temporary",
            "prompt": "",
            "parameters": {"source": "en", "target": "es"},
            "inputs": [InputRef(asset_id=source.id, part="subtitles")],
        }
    )
    submitted = requests.submit(world.platform, world.access(who), draft)
    detail = runs.run_request(world.platform, submitted.request.id)
    assert detail.request.state == "in_review", detail.request.state
    return detail


def subtitle_output(detail: RequestDetail) -> Asset:
    """The translated SRT among the request's outputs (the other is the MT report)."""
    return next(o for o in detail.outputs if o.media_type == "application/x-subrip")
