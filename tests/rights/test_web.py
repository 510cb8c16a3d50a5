"""The rights pages in a browser: performers and consents, revoking, the impact report,
vendors and tools, a production's allow-list and watchlist."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from greenlight.core import Settings
from greenlight.core.enums import Role
from greenlight.core.models import AuditDraft, FindingDraft, WatchlistDraft
from greenlight.engine import requests
from greenlight.engine.platform import Platform
from greenlight.rights import (
    add_finding,
    add_watch,
    allow_tool,
    consents_for,
    record_attestation,
    schedule_audit,
)
from greenlight.web import pages
from tests.rights import drafts
from tests.web.conftest import PASSWORD, csrf, sign_in
from tests.world import World, build_world, hire

PEOPLE: dict[str, Role | None] = {
    "lee": Role.LEGAL,
    "ada": Role.ARTIST,
    "vic": Role.VENDOR,
    "aud": Role.AUDITOR,
    "out": None,
}


@pytest.fixture
def world(sqlite_settings: Settings) -> Iterator[World]:
    platform = Platform.open(sqlite_settings)
    world = build_world(platform)
    with platform.db.transaction() as conn:
        for key, role in PEOPLE.items():
            world.people[key] = hire(
                conn,
                world.production.id,
                f"{key}@nl.test",
                key.title(),
                role,
                password=PASSWORD,
                vendor_id=world.vendor_tool.vendor_id,
            )
    yield world
    platform.close()


@pytest.fixture
def browser(world: World) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(pages(world.platform))
    with TestClient(app, base_url="http://localhost", follow_redirects=False) as client:
        yield client


def test_legal_revokes_a_consent_and_reads_what_relied_on_it(
    world: World, browser: TestClient
) -> None:
    with world.platform.db.read() as conn:
        (consent,) = consents_for(conn, world.production.id, [world.consented.id])
    page = f"/rights/talent/{world.consented.id}"

    sign_in(browser, "ada@nl.test")
    seen = browser.get(page)
    assert seen.status_code == 200 and "De-age Maya Okafor" in seen.text
    assert "Revoke consent" not in seen.text and "What relies on" not in seen.text
    assert browser.get(f"/rights/consents/{consent.id}/impact").status_code == 403

    # Work on Maya waiting for legal: the revocation denies it before it runs.
    de_age = world.cleanup(
        world.upload_plate(), use_case="de_aging", talent_ids=[world.consented.id]
    )
    waiting = requests.submit(world.platform, world.access("artist"), de_age)
    assert waiting.request.state == "awaiting_approval"

    sign_in(browser, "lee@nl.test")
    form = browser.get(page)
    assert "Revoke consent" in form.text
    token = csrf(form.text.split('action="/rights/consents/')[1])
    empty = browser.post(
        f"/rights/consents/{consent.id}/revocation", data={"csrf_token": token, "reason": ""}
    )
    assert empty.status_code == 422 and "consent.reason_required" in empty.text
    done = browser.post(
        f"/rights/consents/{consent.id}/revocation",
        data={"csrf_token": token, "reason": "Performer withdrew consent"},
    )
    assert done.status_code == 303
    report = browser.get(done.headers["location"])
    assert report.status_code == 200
    assert "covers no new use" in report.text and "Not yet delivered" in report.text
    assert "Requests that relied on it: 1 denied before it ran." in report.text
    with world.platform.db.read() as conn:
        assert requests.load_request(conn, waiting.request.id).state == "denied"
    after = browser.get(page)
    assert "revoked" in after.text and "Performer withdrew consent" in after.text
    assert "Revoke consent" not in after.text


def test_vendor_pages_show_standing_and_only_the_vendors_own(
    world: World, browser: TestClient
) -> None:
    lumen = world.vendor_tool.vendor_id
    with world.platform.db.transaction() as conn:
        record_attestation(
            conn, world.studio_tool.vendor_id, drafts.attestation(), by=world.people["lee"].id
        )
        audit = schedule_audit(
            conn,
            lumen,
            AuditDraft(scheduled_for=date(2026, 12, 1), auditor="Northgate"),
            by=world.people["lee"].id,
        )
        add_finding(
            conn,
            audit.id,
            FindingDraft(severity="critical", description="Inputs kept", remediation="Purge"),
            by=world.people["lee"].id,
        )
        allow_tool(conn, world.production.id, world.vendor_tool.id, by=world.people["producer"].id)
        allow_tool(conn, world.production.id, world.studio_tool.id, by=world.people["producer"].id)
        add_watch(
            conn,
            world.production.id,
            WatchlistDraft(
                term="Captain Aurora", category="protected_character", aliases=["Cpt Aurora"]
            ),
            by=world.people["lee"].id,
        )

    sign_in(browser, "aud@nl.test")
    everything = browser.get("/rights/vendors")
    assert everything.status_code == 200
    assert "Studio Pipeline" in everything.text and "Lumen Post" in everything.text
    assert "suspended" in everything.text and "Inputs kept" in everything.text

    sign_in(browser, "vic@nl.test")
    own = browser.get("/rights/vendors").text
    assert "Lumen Post" in own and "Studio Pipeline" not in own
    production = browser.get(f"/productions/{world.production.id}/rights")
    assert production.status_code == 200
    assert "Captain Aurora" in production.text and "Cpt Aurora" in production.text
    assert "another vendor" in production.text  # the studio tool's standing is not Vic's to see
    assert "Rights" in browser.get("/rights").text

    sign_in(browser, "out@nl.test")
    refused = browser.get(f"/productions/{world.production.id}/rights")
    assert refused.status_code == 403 and "access.no_role" in refused.text
    assert browser.get("/rights/vendors").status_code == 403
