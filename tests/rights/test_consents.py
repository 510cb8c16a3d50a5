"""Consents: what they cover, who may give them, and revoking them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from greenlight.core.clock import utcnow
from greenlight.core.enums import ConsentKind, UseCase
from greenlight.core.errors import Conflict, InvalidInput, NotFound
from greenlight.core.models import Consent, ProductionDraft
from greenlight.productions import create_production
from greenlight.rights import (
    consents_for,
    get_consent,
    list_consents,
    record_consent,
    register_talent,
    revoke_consent,
)
from greenlight.store.schema import consent_productions, consents
from tests.expect import refused
from tests.rights import drafts
from tests.world import World

NOW = utcnow()


def _consent(**changes: object) -> Consent:
    fields: dict[str, object] = {
        "id": "con_1",
        "talent_id": "tal_1",
        "production_id": "prod_nl",
        "productions": ("prod_nl",),
        "use_cases": (UseCase.DE_AGING,),
        "kind": ConsentKind.DIGITAL_ALTERATION,
        "intended_use": drafts.FLASHBACK,
        "granted_at": NOW - timedelta(days=1),
        "expires_at": None,
        "revoked_at": None,
        "document_sha256": None,
        "note": None,
        "media": ("series",),
        "territories": ("worldwide",),
    }
    fields.update(changes)
    return Consent.model_validate(fields)


SCOPED = {
    "production_id": "prod_nl",
    "medium": "series",
    "territory": "worldwide",
    "kind": ConsentKind.DIGITAL_ALTERATION,
}


def test_a_consent_covers_the_use_it_describes() -> None:
    assert _consent().covers(UseCase.DE_AGING, NOW, **SCOPED)
    assert _consent().gaps(UseCase.DE_AGING, NOW, **SCOPED) == []


@pytest.mark.parametrize(
    ("changes", "scope", "why"),
    [
        ({}, {"production_id": "prod_other"}, "does not cover production prod_other"),
        ({}, {"medium": "theatrical"}, "not theatrical"),
        ({}, {"medium": None}, "the use names none"),
        ({"territories": ("us", "ca")}, {"territory": "FR"}, "not FR"),
        ({"territories": ("us",)}, {"territory": None}, "the use names none"),
        ({}, {"kind": ConsentKind.VOICE}, "not voice"),
        ({"expires_at": NOW - timedelta(seconds=1)}, {}, "expired"),
        ({"revoked_at": NOW - timedelta(seconds=1)}, {}, "was revoked"),
        ({"granted_at": NOW + timedelta(days=1)}, {}, "not granted yet"),
        ({"use_cases": (UseCase.DUBBING,)}, {}, "not de_aging"),
    ],
)
def test_a_consent_does_not_cover_a_use_outside_its_scope(
    changes: dict[str, object], scope: dict[str, object], why: str
) -> None:
    consent = _consent(**changes)
    use = {**SCOPED, **scope}
    assert not consent.covers(UseCase.DE_AGING, NOW, **use)  # type: ignore[arg-type]
    assert any(why in gap for gap in consent.gaps(UseCase.DE_AGING, NOW, **use))  # type: ignore[arg-type]


def test_media_and_territories_match_whatever_the_case() -> None:
    assert _consent().covers(UseCase.DE_AGING, NOW, medium="Series", territory="WorldWide")
    assert _consent(territories=("us",)).covers(
        UseCase.DE_AGING, NOW, medium="series", territory="US"
    )


def test_a_worldwide_consent_covers_every_territory() -> None:
    assert _consent().covers(UseCase.DE_AGING, NOW, medium="series", territory="JP")
    assert _consent().covers(UseCase.DE_AGING, NOW, medium="series")


def test_an_unrestricted_consent_keeps_its_old_meaning() -> None:
    consent = _consent(media=(), territories=(), productions=())
    assert consent.covers(UseCase.DE_AGING, NOW)
    assert consent.covered_productions == ("prod_nl",)


def test_recorded_consent_carries_its_scope_and_who_recorded_it(world: World) -> None:
    with world.platform.db.transaction() as conn:
        made = record_consent(
            conn,
            drafts.consent(
                world,
                media=["Series", "trailer", "series"],
                territories=[" Worldwide "],
                compensation_reference="Rider 7, SAG scale plus 10%",
                document_sha256="ab" * 32,
                signed_on=date(2026, 3, 1),
            ),
        )
        again = get_consent(conn, made.id)
    assert again == made
    assert made.media == ("series", "trailer")
    assert made.territories == ("worldwide",)
    assert made.given_by == "performer" and made.signatory == "Maya Okafor"
    assert made.recorded_by == world.people["legal"].id
    assert made.covered_productions == (world.production.id,)
    assert made.covers(
        UseCase.DE_AGING, utcnow(), production_id=world.production.id, medium="trailer"
    )


def test_one_consent_can_cover_several_productions(world: World) -> None:
    with world.platform.db.transaction() as conn:
        sequel = create_production(
            conn, ProductionDraft(code="NL2", title="Northern Lights II", kind="series")
        )
        made = record_consent(conn, drafts.consent(world, productions=[sequel.id]))
        assert [c.id for c in consents_for(conn, sequel.id, [world.consented.id])] == [made.id]
        assert made.id in {c.id for c in list_consents(conn, world.production.id)}
        assert made.covers(UseCase.DE_AGING, utcnow(), production_id=sequel.id)


def test_a_vague_intended_use_is_refused_and_nothing_is_written(sqlite_world: World) -> None:
    world = sqlite_world
    with world.platform.db.read() as conn:
        before = conn.execute(select(func.count()).select_from(consents)).scalar_one()
    for vague in ("", "de-aging", "any use at all"):
        with refused("consent.vague_use", InvalidInput), world.platform.db.transaction() as conn:
            record_consent(conn, drafts.consent(world, intended_use=vague))
    with refused("production.not_found", NotFound), world.platform.db.transaction() as conn:
        record_consent(conn, drafts.consent(world, productions=["prod_missing"]))
    with world.platform.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(consents)).scalar_one() == before
        links = conn.execute(select(func.count()).select_from(consent_productions)).scalar_one()
        assert links == before


def test_a_signed_document_needs_its_signature_date_in_the_past(sqlite_world: World) -> None:
    world = sqlite_world
    with refused("consent.signature_date_required"), world.platform.db.transaction() as conn:
        record_consent(conn, drafts.consent(world, document_sha256="cd" * 32))
    tomorrow = utcnow().date() + timedelta(days=1)
    with refused("consent.signed_in_future"), world.platform.db.transaction() as conn:
        record_consent(conn, drafts.consent(world, signed_on=tomorrow))


def test_replica_of_deceased_performer_needs_estate_consent(world: World) -> None:
    with world.platform.db.transaction() as conn:
        late = register_talent(
            conn,
            "Ingmar Lund",
            "SAG-AFTRA",
            deceased=True,
            authorized_representative="The Lund Estate",
        )
    draft = drafts.consent(
        world, talent_id=late.id, kind="replica_creation", use_cases=["crowd_replication"]
    )
    for giver in ("performer", "union"):
        with (
            refused("consent.deceased_needs_representative"),
            world.platform.db.transaction() as conn,
        ):
            record_consent(conn, draft.model_copy(update={"given_by": giver}))
    with world.platform.db.transaction() as conn:
        made = record_consent(conn, draft)  # given by whoever consents for him: the estate
    assert made.given_by == "authorized_representative"
    assert made.signatory == "The Lund Estate"


def test_a_living_performer_consents_for_themselves(sqlite_world: World) -> None:
    world = sqlite_world
    draft = drafts.consent(world, given_by="authorized_representative")
    with refused("consent.performer_consents"), world.platform.db.transaction() as conn:
        record_consent(conn, draft)


def test_revoking_blocks_new_coverage_at_once(world: World) -> None:
    with world.platform.db.transaction() as conn:
        (existing,) = consents_for(conn, world.production.id, [world.consented.id])
        assert existing.covers(UseCase.DE_AGING, utcnow())
        revoked = revoke_consent(
            conn,
            existing.id,
            reason="Performer withdrew consent by letter",
            by=world.people["legal"].id,
        )
    assert revoked.revoked_at is not None
    assert revoked.revoked_by == world.people["legal"].id
    assert revoked.revocation_reason == "Performer withdrew consent by letter"
    with world.platform.db.read() as conn:
        (stored,) = consents_for(conn, world.production.id, [world.consented.id])
    assert not stored.covers(UseCase.DE_AGING, utcnow())
    assert "was revoked" in stored.gaps(UseCase.DE_AGING, utcnow())[0]


def test_revoking_twice_is_a_conflict_and_needs_a_reason(world: World) -> None:
    legal = world.people["legal"].id
    with world.platform.db.transaction() as conn:
        (existing,) = consents_for(conn, world.production.id, [world.consented.id])
        with refused("consent.reason_required", InvalidInput):
            revoke_consent(conn, existing.id, reason="  ", by=legal)
        revoke_consent(conn, existing.id, reason="Withdrawn by the performer", by=legal)
    with refused("consent.already_revoked", Conflict), world.platform.db.transaction() as conn:
        revoke_consent(conn, existing.id, reason="Withdrawn again", by=legal)
    with refused("consent.not_found", NotFound), world.platform.db.transaction() as conn:
        revoke_consent(conn, "con_missing", reason="Nothing to revoke", by=legal)
