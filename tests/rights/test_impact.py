"""A revocation's blast radius: every request that relied on the consent, delivered or not."""

from __future__ import annotations

from greenlight.core.enums import RequestState, Verdict
from greenlight.core.models import RequestDetail
from greenlight.engine import requests, runs
from greenlight.rights import (
    affected_by_revocation,
    consents_for,
    record_consent,
    revoke_consent,
)
from tests.rights import drafts
from tests.world import World


def _de_aging(world: World, *talent: str) -> RequestDetail:
    """A de-aging request on Maya (and whoever else), approved by legal and run."""
    draft = world.cleanup(world.upload_plate(), use_case="de_aging", talent_ids=list(talent))
    waiting = requests.submit(world.platform, world.access("artist"), draft)
    if waiting.request.state is RequestState.DENIED:
        return waiting
    requests.approve(world.platform, world.access("legal"), waiting.request.id, approved=True)
    return runs.run_request(world.platform, waiting.request.id)


def test_revocation_impact_splits_delivered_from_not_yet_delivered(vetted_world: World) -> None:
    world = vetted_world
    maya = world.consented.id
    with world.platform.db.read() as conn:
        (consent,) = consents_for(conn, world.production.id, [maya])
    delivered = _de_aging(world, maya)
    requests.review(
        world.platform, world.access("showrunner"), delivered.request.id, Verdict.ACCEPT
    )
    requests.deliver(world.platform, world.access("producer"), delivered.request.id, "editorial")
    in_review = _de_aging(world, maya)
    # Theo has no consent: denied, so it never relied on Maya's consent either.
    denied = _de_aging(world, maya, world.unconsented.id)
    assert denied.request.state is RequestState.DENIED
    # Work without any talent is not touched.
    plain = requests.submit(
        world.platform, world.access("artist"), world.cleanup(world.upload_plate())
    )

    with world.platform.db.transaction() as conn:
        revoke_consent(
            conn, consent.id, reason="Performer withdrew consent", by=world.people["legal"].id
        )
        impact = affected_by_revocation(conn, consent.id)

    assert impact.consent.revoked_at is not None
    assert [a.request_id for a in impact.delivered] == [delivered.request.id]
    (waiting,) = impact.not_delivered
    assert waiting.request_id == in_review.request.id
    assert waiting.state is RequestState.IN_REVIEW
    assert [o.asset_id for o in waiting.outputs] == [o.id for o in in_review.outputs]
    assert impact.delivered[0].outputs and impact.delivered[0].state is RequestState.DELIVERED
    assert waiting.other_consents == ()
    listed = {a.request_id for a in (*impact.delivered, *impact.not_delivered)}
    assert denied.request.id not in listed and plain.request.id not in listed


def test_impact_names_other_consents_that_still_cover_a_request(vetted_world: World) -> None:
    world = vetted_world
    maya = world.consented.id
    with world.platform.db.transaction() as conn:
        (first,) = consents_for(conn, world.production.id, [maya])
        second = record_consent(conn, drafts.consent(world))
    relied = _de_aging(world, maya)
    with world.platform.db.read() as conn:
        impact = affected_by_revocation(conn, first.id)  # before revoking: what would be hit
    (affected,) = impact.not_delivered
    assert affected.request_id == relied.request.id
    assert affected.other_consents == (second.id,)
