"""Disclosure to the studio: one record per request, and the day's digest."""

from __future__ import annotations

from datetime import timedelta

from greenlight.core.enums import Outcome, RequestState
from greenlight.core.errors import InvalidInput, NotFound
from greenlight.core.models import Disclosure
from greenlight.engine import requests
from greenlight.engine.requests import load_request
from greenlight.rights import (
    daily_digest,
    list_disclosures,
    record_disclosure,
    set_studio_contact,
    studio_contact,
    today,
)
from tests.expect import refused
from tests.world import World


def test_every_request_is_disclosed_and_listed_in_the_days_digest(vetted_world: World) -> None:
    world = vetted_world
    with world.platform.db.transaction() as conn:
        assert set_studio_contact(conn, world.production.id, " ai-desk@studio.example ") == (
            "ai-desk@studio.example"
        )
    cleanup = requests.submit(
        world.platform, world.access("artist"), world.cleanup(world.upload_plate())
    )
    final = requests.submit(
        world.platform,
        world.access("artist"),
        world.cleanup(
            world.upload_plate(),
            intent="final_deliverable",
            disclosure=Disclosure(story_relevant=True, medium="series"),
        ),
    )
    with world.platform.db.transaction() as conn:
        for detail in (cleanup, final):
            record = record_disclosure(conn, detail.request)
            assert record.studio_contact == "ai-desk@studio.example"
        again = record_disclosure(conn, cleanup.request)  # once per request
        digest = daily_digest(conn, world.production.id, today())
        yesterday = daily_digest(conn, world.production.id, today() - timedelta(days=1))
        listed = list_disclosures(conn, world.production.id)
    assert again.request_id == cleanup.request.id and len(listed) == 2
    assert listed[0].summary["tool"]["name"] == "OpenCV inpaint"
    assert digest.studio_contact == "ai-desk@studio.example"
    assert [
        (i.request_id, i.use_case, i.intent, i.tool, i.outcome, i.state) for i in digest.items
    ] == [
        (
            cleanup.request.id,
            "vfx_cleanup",
            "temporary",
            "OpenCV inpaint 4.14",
            Outcome.ALLOW,
            RequestState.QUEUED,
        ),
        (
            final.request.id,
            "vfx_cleanup",
            "final_deliverable",
            "OpenCV inpaint 4.14",
            Outcome.NEEDS_APPROVAL,
            RequestState.AWAITING_APPROVAL,
        ),
    ]
    assert yesterday.items == ()


def test_a_production_without_a_studio_contact_still_discloses(sqlite_world: World) -> None:
    world = sqlite_world
    detail = requests.submit(
        world.platform, world.access("artist"), world.cleanup(world.upload_plate())
    )
    with world.platform.db.transaction() as conn:
        request = load_request(conn, detail.request.id)
        record = record_disclosure(conn, request)
        assert studio_contact(conn, world.production.id) is None
        digest = daily_digest(conn, world.production.id, today())
    assert record.studio_contact is None
    assert [i.request_id for i in digest.items] == [detail.request.id]


def test_bad_studio_contacts_and_unknown_productions_are_refused(sqlite_world: World) -> None:
    world = sqlite_world
    with (
        refused("production.bad_studio_contact", InvalidInput),
        world.platform.db.transaction() as conn,
    ):
        set_studio_contact(conn, world.production.id, "x" * 300)
    with refused("production.not_found", NotFound), world.platform.db.read() as conn:
        daily_digest(conn, "prod_missing", today())
