"""Migration 0003 on a database holding 0002's consents, performers and requests."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from greenlight.core.enums import ConsentKind, UseCase
from greenlight.core.settings import Settings
from greenlight.rights import consents_for, get_talent
from greenlight.store.db import Database
from greenlight.store.migrate import downgrade, upgrade

THEN = datetime(2026, 1, 5, tzinfo=UTC)


def test_old_consents_get_a_kind_an_intended_use_and_their_production(settings: Settings) -> None:
    db = Database.open(settings)
    try:
        downgrade(db.engine, "0002_domain")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO productions (id, code, title, kind, created_at) "
                    "VALUES ('prod_1', 'NL', 'Northern Lights', 'series', :t)"
                ),
                {"t": THEN},
            )
            for talent_id, union in (("tal_1", "SAG-AFTRA"), ("tal_2", None)):
                conn.execute(
                    text(
                        "INSERT INTO talent (id, name, union_affiliation, created_at) "
                        "VALUES (:id, :id, :union, :t)"
                    ),
                    {"id": talent_id, "union": union, "t": THEN},
                )
            for consent_id, use_cases, note in (
                ("con_1", '["de_aging"]', "Flashback rider signed with her contract"),
                ("con_2", '["dubbing", "de_aging"]', None),
            ):
                conn.execute(
                    text(
                        "INSERT INTO consents (id, talent_id, production_id, use_cases, "
                        "granted_at, note, created_at) "
                        "VALUES (:id, 'tal_1', 'prod_1', :uses, :t, :note, :t)"
                    ),
                    {"id": consent_id, "uses": use_cases, "note": note, "t": THEN},
                )
        upgrade(db.engine)
        with db.read() as conn:
            first, second = consents_for(conn, "prod_1", ["tal_1"])
            member, other = get_talent(conn, "tal_1"), get_talent(conn, "tal_2")
    finally:
        db.close()
    assert first.kind is ConsentKind.DIGITAL_ALTERATION
    assert first.intended_use == "Flashback rider signed with her contract"
    assert second.kind is ConsentKind.VOICE
    assert second.intended_use.startswith("Recorded before consents named their intended use")
    assert first.covered_productions == ("prod_1",) and first.media == ()
    assert first.covers(UseCase.DE_AGING, THEN, production_id="prod_1")
    assert member.union_member and not other.union_member
    assert member.consent_from == "performer" and not member.deceased
