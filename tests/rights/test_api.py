"""The rights registry over HTTP: who may do what, bad input, and each resource once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from greenlight.core import Settings
from tests.api.conftest import seed
from tests.api.studio import API, Studio, cleanup_draft, error_code, plate_png, upload
from tests.world import opened_platform

LEGAL_USE = "Paint rig wires out of Ingrid's stunt shots in episode 101"


@pytest.fixture
def studio(settings: Settings) -> Iterator[Studio]:
    """The API tests' Northern Lights, on SQLite and PostgreSQL."""
    with opened_platform(settings) as platform:
        yield seed(platform)


@pytest.fixture
def unvetted_studio(settings: Settings) -> Iterator[Studio]:
    """Northern Lights before legal and the producer vetted anything."""
    with opened_platform(settings) as platform:
        yield seed(platform, vetted=False)


@pytest.fixture
def sqlite_studio(sqlite_settings: Settings) -> Iterator[Studio]:
    with opened_platform(sqlite_settings) as platform:
        yield seed(platform)


def _consent(studio: Studio, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "talent_id": studio.talent_id,
        "kind": "digital_alteration",
        "intended_use": LEGAL_USE,
        "use_cases": ["vfx_cleanup"],
        "media": ["series"],
    }
    body.update(changes)
    return body


def _attestation(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "training_data": [{"source": "Lumen plate library", "licence": "licensed"}],
        "trains_on_inputs": False,
        "retains_data_days": 0,
        "enclosed_environment": True,
        "security_certification": "TPN Gold",
        "expires_at": "2099-01-01T00:00:00Z",
    }
    body.update(changes)
    return body


def test_consent_is_recorded_revoked_and_its_impact_read(studio: Studio) -> None:
    legal, artist = studio.client("legal"), studio.client("artist")
    consents = f"{API}/productions/{studio.production_id}/consents"
    key = {"Idempotency-Key": "consent-ingrid-1"}
    made = legal.post(consents, json=_consent(studio), headers=key)
    assert made.status_code == 201
    replay = legal.post(consents, json=_consent(studio), headers=key)
    assert replay.json() == made.json() and replay.headers["Idempotent-Replayed"] == "true"
    consent = made.json()
    assert consent["recorded_by"] == studio.people["legal"]
    assert consent["productions"] == [studio.production_id] and consent["media"] == ["series"]
    assert [c["id"] for c in artist.get(consents).json()] == [consent["id"]]
    assert artist.get(f"{API}/consents/{consent['id']}").status_code == 200

    revoke = f"{API}/consents/{consent['id']}/revocation"
    assert error_code(artist.post(revoke, json={"reason": "Mine now"})) == "consent.not_allowed"
    assert error_code(studio.client("auditor").post(revoke, json={"reason": "x"})) == (
        "access.read_only"
    )
    revoked = legal.post(revoke, json={"reason": "Performer withdrew consent"})
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert revoked.json()["requests"] == []  # nothing relied on it
    twice = legal.post(revoke, json={"reason": "Performer withdrew consent"})
    assert twice.status_code == 409 and error_code(twice) == "consent.already_revoked"

    impact = f"{API}/consents/{consent['id']}/impact"
    report = studio.client("auditor").get(impact)
    assert report.status_code == 200
    assert report.json()["delivered"] == [] and report.json()["not_delivered"] == []
    assert error_code(artist.get(impact)) == "rights.read_not_allowed"
    assert error_code(studio.client("outsider").get(impact)) == "access.no_role"


def test_revoking_reports_the_requests_it_denied_and_quarantined(sqlite_studio: Studio) -> None:
    legal, artist = sqlite_studio.client("legal"), sqlite_studio.client("artist")
    consents = f"{API}/productions/{sqlite_studio.production_id}/consents"
    consent = legal.post(consents, json=_consent(sqlite_studio, media=[])).json()

    def ingrid() -> str:
        plate = upload(artist, sqlite_studio.production_id, plate_png()).json()["id"]
        draft = cleanup_draft(sqlite_studio, plate, talent_ids=[sqlite_studio.talent_id])
        detail = artist.post(f"{API}/requests", json=draft).json()
        assert detail["request"]["state"] == "awaiting_approval"
        request_id: str = detail["request"]["id"]
        return request_id

    waiting, made = ingrid(), ingrid()
    approved = legal.post(f"{API}/requests/{made}/approvals", json={"approved": True})
    assert approved.json()["request"]["state"] == "in_review"  # run inline

    revoked = legal.post(
        f"{API}/consents/{consent['id']}/revocation", json={"reason": "Ingrid withdrew it"}
    )
    assert revoked.status_code == 200
    assert revoked.json()["revocation_reason"] == "Ingrid withdrew it"
    reached = {r["request_id"]: r for r in revoked.json()["requests"]}
    assert {k: (r["before"], r["after"], r["action"]) for k, r in reached.items()} == {
        waiting: ("awaiting_approval", "denied", "denied"),
        made: ("in_review", "quarantined", "quarantined"),
    }
    for request_id, state in ((waiting, "denied"), (made, "quarantined")):
        seen = legal.get(f"{API}/requests/{request_id}").json()
        assert seen["request"]["state"] == state
        assert seen["events"][-1]["index"] == reached[request_id]["ledger_index"]


def test_bad_consents_are_422_with_a_code_and_write_nothing(sqlite_studio: Studio) -> None:
    legal = sqlite_studio.client("legal")
    consents = f"{API}/productions/{sqlite_studio.production_id}/consents"
    for body, code in (
        (_consent(sqlite_studio, intended_use="any use"), "consent.vague_use"),
        (_consent(sqlite_studio, given_by="union"), "consent.performer_consents"),
        (_consent(sqlite_studio, document_sha256="ab" * 32), "consent.signature_date_required"),
        (_consent(sqlite_studio, productions=["prod_missing"]), "access.no_role"),
        (_consent(sqlite_studio, talent_id="tal_missing"), "talent.not_found"),
        (_consent(sqlite_studio, media=[" "]), "consent.bad_medium"),
    ):
        answer = legal.post(consents, json=body)
        assert answer.status_code in (403, 404, 422), answer.text
        assert error_code(answer) == code
    missing = legal.post(consents, json={"talent_id": sqlite_studio.talent_id})
    assert missing.status_code == 422
    assert legal.get(consents).json() == []


def test_talent_with_references_and_who_sees_them(sqlite_studio: Studio) -> None:
    legal, artist = sqlite_studio.client("legal"), sqlite_studio.client("artist")
    dead = legal.post(f"{API}/talent", json={"name": "Greta Lind", "deceased": True})
    assert dead.status_code == 422 and error_code(dead) == "talent.representative_required"
    greta = legal.post(
        f"{API}/talent",
        json={"name": "Greta Lind", "deceased": True, "authorized_representative": "Lind Estate"},
    ).json()
    assert greta["consent_from"] == "authorized_representative"
    refs = f"{API}/talent/{greta['id']}/references"
    photo = legal.post(
        refs, files={"file": ("greta.png", plate_png(), "image/png")}, data={"kind": "photo"}
    )
    assert photo.status_code == 201, photo.text
    wrong = legal.post(
        refs, files={"file": ("greta.png", plate_png(), "image/png")}, data={"kind": "voice"}
    )
    assert error_code(wrong) == "reference.wrong_type"
    assert (
        artist.post(
            refs, files={"file": ("x.png", plate_png(), "image/png")}, data={"kind": "photo"}
        ).status_code
        == 403
    )
    assert error_code(artist.get(refs)) == "reference.not_allowed"
    assert artist.get(f"{API}/talent/{greta['id']}").json()["references"] is None
    auditor = sqlite_studio.client("auditor")
    assert [r["id"] for r in auditor.get(refs).json()] == [photo.json()["id"]]
    content = auditor.get(f"{refs}/{photo.json()['id']}/content")
    assert content.content == plate_png()
    withdrawn = legal.delete(refs)
    assert [r["id"] for r in withdrawn.json()["removed"]] == [photo.json()["id"]]
    assert not sqlite_studio.platform.blobs.exists(photo.json()["sha256"])

    page = artist.get(f"{API}/talent", params={"limit": 1})
    assert len(page.json()) == 1 and page.headers["X-Next-Cursor"]
    rest = artist.get(f"{API}/talent", params={"limit": 1, "cursor": page.headers["X-Next-Cursor"]})
    assert rest.json()[0]["id"] != page.json()[0]["id"]
    bad_cursor = artist.get(f"{API}/talent", params={"limit": 1, "cursor": "tal_nobody"})
    assert bad_cursor.status_code == 422 and error_code(bad_cursor) == "page.bad_cursor"


def test_vendor_governance_and_who_sees_it(unvetted_studio: Studio) -> None:
    studio = unvetted_studio
    legal, vendor = studio.client("legal"), studio.client("vendor")
    lumen = f"{API}/vendors/{studio.lumen_vendor_id}"
    studio_vendor = studio.client("admin").get(f"{API}/vendors").json()
    other = next(v["id"] for v in studio_vendor if v["id"] != studio.lumen_vendor_id)

    assert error_code(
        studio.client("auditor").post(f"{lumen}/attestations", json=_attestation())
    ) == ("access.read_only")
    assert error_code(
        studio.client("producer").post(f"{lumen}/attestations", json=_attestation())
    ) == ("vendor.oversight_only")
    bad = legal.post(f"{lumen}/attestations", json=_attestation(expires_at="2000-01-01T00:00:00Z"))
    assert bad.status_code == 422 and error_code(bad) == "attestation.bad_dates"
    assert legal.get(f"{lumen}/attestations").json()["items"] == []
    made = legal.post(f"{lumen}/attestations", json=_attestation(tool_id=studio.lumen_tool_id))
    assert made.status_code == 201
    legal.post(f"{API}/vendors/{other}/attestations", json=_attestation())

    assert [a["id"] for a in vendor.get(f"{lumen}/attestations").json()["items"]] == [
        made.json()["id"]
    ]
    assert error_code(vendor.get(f"{API}/vendors/{other}/attestations")) == "access.other_vendor"
    assert error_code(studio.client("outsider").get(f"{lumen}/attestations")) == "access.no_role"

    audit = legal.post(
        f"{lumen}/audits", json={"scheduled_for": "2026-12-01", "auditor": "Northgate"}
    )
    assert audit.status_code == 201
    legal.post(
        f"{API}/vendors/{other}/audits", json={"scheduled_for": "2026-12-02", "auditor": "TPN"}
    )
    finding = legal.post(
        f"{API}/audits/{audit.json()['id']}/findings",
        json={"severity": "critical", "description": "Inputs kept", "remediation": "Purge them"},
    )
    assert finding.status_code == 201
    assert [a["id"] for a in vendor.get(f"{API}/audits").json()["items"]] == [audit.json()["id"]]
    assert len(studio.client("auditor").get(f"{API}/audits").json()["items"]) == 2

    production = f"{API}/productions/{studio.production_id}"
    assert error_code(
        studio.client("artist").post(f"{production}/tools", json={"tool_id": studio.lumen_tool_id})
    ) == ("allowlist.not_allowed")
    allowed = studio.client("producer").post(
        f"{production}/tools", json={"tool_id": studio.lumen_tool_id}
    )
    assert allowed.status_code == 201
    assert [t["tool_id"] for t in vendor.get(f"{production}/tools").json()] == [
        studio.lumen_tool_id
    ]
    standing = vendor.get(f"{production}/tools/{studio.lumen_tool_id}/standing").json()
    assert standing["suspended"] and standing["allowed_on_production"]
    assert standing["attestation_from"] == "tool"
    assert error_code(vendor.get(f"{production}/tools/{studio.studio_tool_id}/standing")) == (
        "access.other_vendor"
    )
    fixed = legal.post(
        f"{API}/findings/{finding.json()['id']}/remediation", json={"note": "Purged and checked"}
    )
    assert fixed.json()["status"] == "remediated"
    assert not vendor.get(f"{production}/tools/{studio.lumen_tool_id}/standing").json()["suspended"]
    naive = vendor.get(
        f"{production}/tools/{studio.lumen_tool_id}/standing", params={"at": "2026-12-01T00:00:00"}
    )
    assert error_code(naive) == "standing.naive_time"
    assert (
        studio.client("producer").delete(f"{production}/tools/{studio.lumen_tool_id}").status_code
        == 204
    )


def test_watchlist_disclosures_and_studio_contact(sqlite_studio: Studio) -> None:
    legal, artist = sqlite_studio.client("legal"), sqlite_studio.client("artist")
    production = f"{API}/productions/{sqlite_studio.production_id}"
    entry = {"term": "Captain Aurora", "category": "protected_character", "aliases": ["Cpt Aurora"]}
    assert error_code(artist.post(f"{production}/watchlist", json=entry)) == "watchlist.not_allowed"
    made = legal.post(f"{production}/watchlist", json=entry)
    assert made.status_code == 201
    assert error_code(legal.post(f"{production}/watchlist", json=entry)) == "watchlist.duplicate"
    bad = legal.post(f"{production}/watchlist", json={**entry, "category": "villain"})
    assert bad.status_code == 422
    assert [
        e["term"] for e in sqlite_studio.client("vendor").get(f"{production}/watchlist").json()
    ] == ["Captain Aurora"]
    changed = legal.put(
        f"{API}/watchlist/{made.json()['id']}", json={**entry, "category": "franchise"}
    )
    assert changed.json()["category"] == "franchise"
    assert legal.delete(f"{API}/watchlist/{made.json()['id']}").status_code == 200
    assert artist.get(f"{production}/watchlist").json() == []
    assert (
        error_code(sqlite_studio.client("outsider").get(f"{production}/watchlist"))
        == "access.no_role"
    )

    contact = f"{production}/studio-contact"
    assert error_code(artist.put(contact, json={"studio_contact": "me"})) == "access.cannot_manage"
    set_ = sqlite_studio.client("producer").put(
        contact, json={"studio_contact": "ai-desk@studio.example"}
    )
    assert set_.json() == {"studio_contact": "ai-desk@studio.example"}
    assert artist.get(contact).json() == set_.json()
    digest = sqlite_studio.client("producer").get(f"{production}/disclosures/digest")
    assert digest.status_code == 200
    assert (
        digest.json()["studio_contact"] == "ai-desk@studio.example" and digest.json()["items"] == []
    )
    assert error_code(artist.get(f"{production}/disclosures/digest")) == "rights.read_not_allowed"
    assert legal.get(f"{production}/disclosures").json() == {"items": [], "next_cursor": None}


def test_the_openapi_document_lists_the_rights_resources(sqlite_studio: Studio) -> None:
    paths = sqlite_studio.client().get(f"{API}/openapi.json").json()["paths"]
    for path in (
        "/api/v1/talent/{talent_id}/references",
        "/api/v1/consents/{consent_id}/revocation",
        "/api/v1/consents/{consent_id}/impact",
        "/api/v1/vendors/{vendor_id}/attestations",
        "/api/v1/audits/{audit_id}/findings",
        "/api/v1/findings/{finding_id}/remediation",
        "/api/v1/productions/{production_id}/tools/{tool_id}/standing",
        "/api/v1/productions/{production_id}/watchlist",
        "/api/v1/productions/{production_id}/disclosures/digest",
    ):
        assert path in paths, path
