"""Setting a production up over HTTP: people, productions, shots, members, vendors,
tools, performers and consents, each with who may do it (SQLite)."""

from __future__ import annotations

from tests.api.studio import API, Studio, cleanup_draft, error_code, plate_png, upload


def test_an_admin_creates_people_and_nobody_else_can(sqlite_studio: Studio) -> None:
    admin, producer = sqlite_studio.client("admin"), sqlite_studio.client("producer")
    newcomer = {"email": "Sigrid@Studio.example", "name": "Sigrid", "password": "aurora-borealis"}
    made = admin.post(f"{API}/people", json=newcomer)
    assert made.status_code == 201
    assert made.json()["email"] == "sigrid@studio.example"
    assert "password" not in made.text
    taken = admin.post(f"{API}/people", json=newcomer)
    assert taken.status_code == 409
    assert error_code(taken) == "person.email_taken"
    weak = admin.post(
        f"{API}/people", json={**newcomer, "email": "b@studio.example", "password": "short"}
    )
    assert error_code(weak) == "person.weak_password"

    refused = producer.post(f"{API}/people", json={**newcomer, "email": "x@studio.example"})
    assert refused.status_code == 403
    assert error_code(refused) == "access.admin_only"
    assert error_code(producer.get(f"{API}/people")) == "access.admin_only"
    assert "sigrid@studio.example" in {p["email"] for p in admin.get(f"{API}/people").json()}


def test_productions_are_listed_to_their_people_and_created_by_admins(
    sqlite_studio: Studio,
) -> None:
    admin = sqlite_studio.client("admin")
    made = admin.post(
        f"{API}/productions",
        json={"code": "FJ", "title": "Fjord", "kind": "film"},
    )
    assert made.status_code == 201
    assert {p["code"] for p in admin.get(f"{API}/productions").json()} == {"FJ", "NL"}
    assert [p["code"] for p in sqlite_studio.client("artist").get(f"{API}/productions").json()] == [
        "NL"
    ]
    assert sqlite_studio.client("outsider").get(f"{API}/productions").json() == []
    refused = sqlite_studio.client("showrunner").post(
        f"{API}/productions", json={"code": "X", "title": "X", "kind": "film"}
    )
    assert error_code(refused) == "access.admin_only"
    duplicate = admin.post(f"{API}/productions", json={"code": "FJ", "title": "F", "kind": "film"})
    assert duplicate.status_code == 409
    assert error_code(duplicate) == "production.code_taken"
    missing = admin.get(f"{API}/productions/prod_01JD3Q8Z5W8M6T4V9K2X7N1R0P")
    assert missing.status_code == 404
    assert error_code(missing) == "production.not_found"


def test_the_producer_adds_shots_and_people(sqlite_studio: Studio) -> None:
    producer = sqlite_studio.client("producer")
    base = f"{API}/productions/{sqlite_studio.production_id}"
    shot = producer.post(
        f"{base}/shots", json={"code": "NL_101_020", "frame_in": 1001, "frame_out": 1050}
    )
    assert shot.status_code == 201
    backwards = producer.post(
        f"{base}/shots", json={"code": "NL_101_030", "frame_in": 9, "frame_out": 1}
    )
    assert error_code(backwards) == "shot.bad_frame_range"
    assert [s["code"] for s in sqlite_studio.client("artist").get(f"{base}/shots").json()] == [
        "NL_101_020"
    ]

    outsider = sqlite_studio.people["outsider"]
    member = producer.post(f"{base}/members", json={"person_id": outsider, "role": "artist"})
    assert member.status_code == 201
    assert sqlite_studio.client("outsider").get(base).status_code == 200
    vendorless = producer.post(f"{base}/members", json={"person_id": outsider, "role": "vendor"})
    assert error_code(vendorless) == "membership.vendor_required"
    promoted = producer.post(f"{base}/members", json={"person_id": outsider, "role": "admin"})
    assert promoted.status_code == 403
    assert error_code(promoted) == "access.admin_only"
    by_artist = sqlite_studio.client("artist").post(
        f"{base}/members", json={"person_id": outsider, "role": "director"}
    )
    assert error_code(by_artist) == "access.cannot_manage"
    roles = {(m["person_id"], m["role"]) for m in producer.get(f"{base}/members").json()}
    assert (outsider, "artist") in roles and (outsider, "director") not in roles


def test_admins_register_vendors_and_tools_with_a_known_backend(sqlite_studio: Studio) -> None:
    admin = sqlite_studio.client("admin")
    vendor = admin.post(f"{API}/vendors", json={"name": "Aurora Pixel"})
    assert vendor.status_code == 201
    tool = {
        "name": "Aurora Fill",
        "version": "1.0",
        "hosting": "vendor_enclosed",
        "use_cases": ["vfx_cleanup"],
    }
    made = admin.post(f"{API}/vendors/{vendor.json()['id']}/tools", json=tool)
    assert made.status_code == 201
    unknown = admin.post(
        f"{API}/vendors/{vendor.json()['id']}/tools",
        json={**tool, "version": "2.0", "backend": "dreamfill"},
    )
    assert unknown.status_code == 404
    assert error_code(unknown) == "backend.unknown"
    artist = sqlite_studio.client("artist")
    assert error_code(artist.post(f"{API}/vendors", json={"name": "Mine"})) == "access.admin_only"
    listed = artist.get(f"{API}/tools", params={"vendor_id": vendor.json()["id"]}).json()
    assert [t["name"] for t in listed] == ["Aurora Fill"]
    assert "Aurora Pixel" in {v["name"] for v in artist.get(f"{API}/vendors").json()}


def test_legal_records_the_consent_that_lets_a_performer_be_used(sqlite_studio: Studio) -> None:
    legal, artist = sqlite_studio.client("legal"), sqlite_studio.client("artist")
    consents = f"{API}/productions/{sqlite_studio.production_id}/consents"
    consent = {
        "talent_id": sqlite_studio.talent_id,
        "kind": "digital_alteration",
        "intended_use": "Paint rig wires out of Ingrid's stunt shots in episode 101",
        "use_cases": ["vfx_cleanup"],
    }

    refused = artist.post(consents, json=consent)
    assert refused.status_code == 403
    assert error_code(refused) == "consent.not_allowed"
    assert error_code(sqlite_studio.client("outsider").post(consents, json=consent)) == (
        "access.no_role"
    )
    recorded = legal.post(consents, json=consent)
    assert recorded.status_code == 201
    assert [c["id"] for c in artist.get(consents).json()] == [recorded.json()["id"]]

    performer = legal.post(f"{API}/talent", json={"name": "Magnus Berg"})
    assert performer.status_code == 201
    assert error_code(artist.post(f"{API}/talent", json={"name": "Me"})) == "talent.not_allowed"
    assert {"Ingrid Halvorsen", "Magnus Berg"} <= {
        t["name"] for t in artist.get(f"{API}/talent").json()
    }

    # With consent on record, the performer's request waits for legal instead of being denied.
    plate = upload(artist, sqlite_studio.production_id, plate_png()).json()["id"]
    draft = cleanup_draft(sqlite_studio, plate, talent_ids=[sqlite_studio.talent_id])
    detail = artist.post(f"{API}/requests", json=draft).json()
    assert detail["request"]["state"] == "awaiting_approval"
    assert detail["decision"]["rules"] == ["talent-likeness-needs-legal"]
    cleared = legal.post(
        f"{API}/requests/{detail['request']['id']}/approvals",
        json={"approved": True, "note": "Consent 2026-03 covers cleanup."},
    )
    assert cleared.status_code == 201
    assert cleared.json()["request"]["state"] == "in_review"
