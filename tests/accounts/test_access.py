"""Who may do what on which production.

The rules are pure (an Access built by hand); memberships and loading run on
SQLite and on a throwaway PostgreSQL server.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, insert

from greenlight.accounts import (
    SUBMITTERS,
    Access,
    create_person,
    grant_role,
    list_memberships,
    load_access,
    revoke_role,
)
from greenlight.core.clock import utcnow
from greenlight.core.enums import CREATIVE_LEADS, REVIEWERS, Role
from greenlight.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from greenlight.core.ids import new_id
from greenlight.core.models import Membership, Person
from greenlight.store import Database
from greenlight.store.schema import productions, vendors
from tests.expect import refused

NIGHTFALL = "prod_nightfall"
HARBOR = "prod_harbor"
PIXELWORKS = "ven_pixelworks"


def person(name: str = "ava", *, is_admin: bool = False) -> Person:
    return Person(
        id=f"per_{name}",
        email=f"{name}@studio.example",
        name=name.title(),
        is_admin=is_admin,
        created_at=utcnow(),
    )


def access(
    roles: dict[str, set[Role]], *, is_admin: bool = False, vendor_of: dict[str, str] | None = None
) -> Access:
    return Access(
        person=person(is_admin=is_admin),
        roles={pid: frozenset(held) for pid, held in roles.items()},
        vendor_of=vendor_of or {},
    )


# --- the rules ----------------------------------------------------------------


def test_auditor_reads_but_cannot_submit() -> None:
    auditor = access({NIGHTFALL: {Role.AUDITOR}})
    assert auditor.can_read(NIGHTFALL)
    auditor.require_read(NIGHTFALL)
    with pytest.raises(Forbidden) as caught:
        auditor.require_submit(NIGHTFALL)
    assert caught.value.code == "access.read_only"
    assert caught.value.status == 403
    assert caught.value.message.startswith("Auditors read everything and change nothing.")
    assert caught.value.details["production_id"] == NIGHTFALL
    assert caught.value.details["reason"] == "auditor is a read-only role"


def test_legal_reads_but_cannot_submit() -> None:
    legal = access({NIGHTFALL: {Role.LEGAL}})
    legal.require_read(NIGHTFALL)
    with pytest.raises(Forbidden) as caught:
        legal.require_submit(NIGHTFALL)
    assert caught.value.code == "access.cannot_submit"
    assert NIGHTFALL in caught.value.message and "artist" in caught.value.message
    assert caught.value.details["held"] == ["legal"]
    assert "artist" in caught.value.details["needed"]


def test_every_working_role_may_ask_for_work() -> None:
    for role in SUBMITTERS:
        access({NIGHTFALL: {role}}).require_submit(NIGHTFALL)
    assert {Role.AUDITOR, Role.LEGAL}.isdisjoint(SUBMITTERS)
    # An auditor who is also an artist there submits as the artist.
    access({NIGHTFALL: {Role.AUDITOR, Role.ARTIST}}).require_submit(NIGHTFALL)


def test_stranger_is_told_whom_to_ask() -> None:
    artist = access({HARBOR: {Role.ARTIST}})
    assert not artist.can_read(NIGHTFALL)
    for check in (artist.require_read, artist.require_submit, artist.require_manage):
        with pytest.raises(Forbidden) as caught:
            check(NIGHTFALL)
        assert caught.value.code == "access.no_role"
        assert caught.value.message == (
            f"You have no role on production {NIGHTFALL}; ask its producer or an admin to add you."
        )


def test_admin_holds_admin_everywhere_but_gives_no_creative_approval() -> None:
    admin = access({}, is_admin=True)
    assert admin.roles_in(NIGHTFALL) == {Role.ADMIN}
    admin.require_read(NIGHTFALL)
    admin.require_submit(NIGHTFALL)
    admin.require_manage(NIGHTFALL)
    admin.require_admin()
    assert admin.approval_roles(NIGHTFALL, CREATIVE_LEADS | {Role.LEGAL}) == frozenset()
    assert admin.approval_roles(NIGHTFALL, {Role.LEGAL, Role.ADMIN}) == {Role.ADMIN}
    assert admin.review_roles(NIGHTFALL) == frozenset()


def test_approvals_come_only_from_roles_held_on_that_production() -> None:
    showrunner = access({NIGHTFALL: {Role.SHOWRUNNER, Role.PRODUCER}, HARBOR: {Role.ARTIST}})
    assert showrunner.approval_roles(NIGHTFALL, CREATIVE_LEADS) == {Role.SHOWRUNNER}
    assert showrunner.approval_roles(NIGHTFALL, [Role.LEGAL]) == frozenset()
    assert showrunner.approval_roles(HARBOR, CREATIVE_LEADS) == frozenset()


def test_reviewers_review_and_artists_do_not() -> None:
    crew = access({NIGHTFALL: {Role.VFX_SUPERVISOR, Role.ARTIST}, HARBOR: {Role.ARTIST}})
    assert crew.review_roles(NIGHTFALL) == {Role.VFX_SUPERVISOR}
    assert crew.review_roles(HARBOR) == frozenset()
    assert Role.VFX_SUPERVISOR in REVIEWERS


def test_vendor_sees_only_its_own_scope() -> None:
    vendor = access({NIGHTFALL: {Role.VENDOR}}, vendor_of={NIGHTFALL: PIXELWORKS})
    assert vendor.vendor_scope(NIGHTFALL) == PIXELWORKS
    vendor.require_submit(NIGHTFALL)
    with pytest.raises(Forbidden) as caught:
        vendor.require_manage(NIGHTFALL)
    assert caught.value.code == "access.cannot_manage"
    assert "producer" in caught.value.message


def test_vendor_with_another_role_there_sees_everything() -> None:
    both = access({NIGHTFALL: {Role.VENDOR, Role.AUDITOR}}, vendor_of={NIGHTFALL: PIXELWORKS})
    assert both.vendor_scope(NIGHTFALL) is None
    assert access({NIGHTFALL: {Role.ARTIST}}).vendor_scope(NIGHTFALL) is None
    admin_vendor = access(
        {NIGHTFALL: {Role.VENDOR}}, is_admin=True, vendor_of={NIGHTFALL: PIXELWORKS}
    )
    assert admin_vendor.vendor_scope(NIGHTFALL) is None


def test_vendor_role_without_a_vendor_sees_nothing_rather_than_everything() -> None:
    vendor = access({NIGHTFALL: {Role.VENDOR}})
    with refused("access.vendor_unknown", Forbidden):
        vendor.vendor_scope(NIGHTFALL)


def test_only_producers_and_admins_manage_a_production() -> None:
    access({NIGHTFALL: {Role.PRODUCER}}).require_manage(NIGHTFALL)
    access({NIGHTFALL: {Role.ADMIN}}).require_manage(NIGHTFALL)
    for role in (Role.SHOWRUNNER, Role.DIRECTOR, Role.LEGAL, Role.AUDITOR, Role.ARTIST):
        with refused("access.cannot_manage", Forbidden):
            access({NIGHTFALL: {role}}).require_manage(NIGHTFALL)


def test_only_platform_admins_create_people_and_productions() -> None:
    # A producer everywhere is still not a platform admin.
    producer = access({NIGHTFALL: {Role.PRODUCER}, HARBOR: {Role.ADMIN}})
    with pytest.raises(Forbidden) as caught:
        producer.require_admin()
    assert caught.value.code == "access.admin_only"
    assert caught.value.to_dict()["details"]["reason"] == "not a platform admin"
    access({}, is_admin=True).require_admin()


# --- memberships in the database ----------------------------------------------


def add_production(conn: Connection, code: str) -> str:
    production_id = new_id("production")
    conn.execute(
        insert(productions).values(
            id=production_id, code=code, title=code.title(), kind="series", created_at=utcnow()
        )
    )
    return production_id


def add_vendor(conn: Connection, name: str) -> str:
    vendor_id = new_id("vendor")
    conn.execute(insert(vendors).values(id=vendor_id, name=name, created_at=utcnow()))
    return vendor_id


def test_memberships_become_access(db: Database) -> None:
    with db.transaction() as conn:
        nightfall, harbor = add_production(conn, "NF"), add_production(conn, "HB")
        pixelworks = add_vendor(conn, "Pixelworks")
        ava = create_person(conn, email="ava@studio.example", name="Ava", password=None)
        grant_role(conn, production_id=nightfall, person_id=ava.id, role=Role.SHOWRUNNER)
        grant_role(conn, production_id=nightfall, person_id=ava.id, role=Role.PRODUCER)
        grant_role(
            conn, production_id=harbor, person_id=ava.id, role=Role.VENDOR, vendor_id=pixelworks
        )
    with db.read() as conn:
        loaded = load_access(conn, ava)
    assert loaded.roles_in(nightfall) == {Role.SHOWRUNNER, Role.PRODUCER}
    assert loaded.roles_in(harbor) == {Role.VENDOR}
    assert loaded.vendor_scope(nightfall) is None
    assert loaded.vendor_scope(harbor) == pixelworks
    loaded.require_manage(nightfall)
    with refused("access.cannot_manage", Forbidden):
        loaded.require_manage(harbor)


def test_vendor_role_names_its_vendor_and_no_other_role_does(sqlite_db: Database) -> None:
    with sqlite_db.transaction() as conn:
        nightfall = add_production(conn, "NF")
        pixelworks = add_vendor(conn, "Pixelworks")
        max_ = create_person(conn, email="max@vendor.example", name="Max", password=None)
        with refused("membership.vendor_required", InvalidInput):
            grant_role(conn, production_id=nightfall, person_id=max_.id, role=Role.VENDOR)
        with refused("membership.vendor_not_allowed", InvalidInput):
            grant_role(
                conn,
                production_id=nightfall,
                person_id=max_.id,
                role=Role.ARTIST,
                vendor_id=pixelworks,
            )
        with refused("vendor.not_found", NotFound):
            grant_role(
                conn,
                production_id=nightfall,
                person_id=max_.id,
                role=Role.VENDOR,
                vendor_id="ven_01JD3Q8Z5W8M6T4V9K2X7N1R0P",
            )
    with sqlite_db.read() as conn:
        assert list_memberships(conn) == []


def test_granting_a_role_twice_changes_nothing(db: Database) -> None:
    with db.transaction() as conn:
        nightfall = add_production(conn, "NF")
        pixelworks, lumen = add_vendor(conn, "Pixelworks"), add_vendor(conn, "Lumen")
        max_ = create_person(conn, email="max@vendor.example", name="Max", password=None)
        first = grant_role(
            conn, production_id=nightfall, person_id=max_.id, role=Role.VENDOR, vendor_id=pixelworks
        )
        again = grant_role(
            conn, production_id=nightfall, person_id=max_.id, role=Role.VENDOR, vendor_id=pixelworks
        )
        assert (
            first
            == again
            == Membership(
                production_id=nightfall, person_id=max_.id, role=Role.VENDOR, vendor_id=pixelworks
            )
        )
        with refused("membership.other_vendor", Conflict):
            grant_role(
                conn, production_id=nightfall, person_id=max_.id, role=Role.VENDOR, vendor_id=lumen
            )
    with db.read() as conn:
        assert list_memberships(conn) == [first]


def test_granting_on_an_unknown_production_or_to_an_unknown_person_is_not_found(
    sqlite_db: Database,
) -> None:
    with sqlite_db.transaction() as conn:
        nightfall = add_production(conn, "NF")
        ava = create_person(conn, email="ava@studio.example", name="Ava", password=None)
        with refused("production.not_found", NotFound):
            grant_role(conn, production_id=new_id("production"), person_id=ava.id, role=Role.ARTIST)
        with refused("person.not_found", NotFound):
            grant_role(conn, production_id=nightfall, person_id=new_id("person"), role=Role.ARTIST)


def test_revoked_role_no_longer_counts(db: Database) -> None:
    with db.transaction() as conn:
        nightfall = add_production(conn, "NF")
        ava = create_person(conn, email="ava@studio.example", name="Ava", password=None)
        grant_role(conn, production_id=nightfall, person_id=ava.id, role=Role.ARTIST)
        grant_role(conn, production_id=nightfall, person_id=ava.id, role=Role.AUDITOR)
        revoke_role(conn, production_id=nightfall, person_id=ava.id, role=Role.ARTIST)
        with refused("membership.not_found", NotFound):
            revoke_role(conn, production_id=nightfall, person_id=ava.id, role=Role.ARTIST)
    with db.read() as conn:
        loaded = load_access(conn, ava)
    assert loaded.roles_in(nightfall) == {Role.AUDITOR}
    with refused("access.read_only", Forbidden):
        loaded.require_submit(nightfall)


def test_memberships_are_listed_by_production_or_by_person(db: Database) -> None:
    with db.transaction() as conn:
        nightfall, harbor = add_production(conn, "NF"), add_production(conn, "HB")
        ava = create_person(conn, email="ava@studio.example", name="Ava", password=None)
        bo = create_person(conn, email="bo@studio.example", name="Bo", password=None)
        grant_role(conn, production_id=nightfall, person_id=ava.id, role=Role.DIRECTOR)
        grant_role(conn, production_id=harbor, person_id=ava.id, role=Role.LEGAL)
        grant_role(conn, production_id=nightfall, person_id=bo.id, role=Role.ARTIST)
    with db.read() as conn:
        assert len(list_memberships(conn)) == 3
        assert {(m.person_id, m.role) for m in list_memberships(conn, production_id=nightfall)} == {
            (ava.id, Role.DIRECTOR),
            (bo.id, Role.ARTIST),
        }
        assert {(m.production_id, m.role) for m in list_memberships(conn, person_id=ava.id)} == {
            (nightfall, Role.DIRECTOR),
            (harbor, Role.LEGAL),
        }
        assert list_memberships(conn, production_id=harbor, person_id=bo.id) == []
