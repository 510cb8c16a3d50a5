"""Enrolling performers, keeping their templates sealed, and the scan every run goes through."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select

from greenlight.core.enums import RequestState
from greenlight.core.errors import Forbidden, InvalidInput
from greenlight.core.settings import Settings
from greenlight.engine import requests, revocation, runs
from greenlight.engine.platform import Platform
from greenlight.likeness import (
    EnrolledTalentScanner,
    enroll,
    findings_for,
    list_templates,
    open_templates,
)
from greenlight.likeness.templates import scanner_gallery
from greenlight.rights import ConsentDraft, record_consent, remove_references
from greenlight.store.schema import likeness_templates, talent
from tests.expect import refused
from tests.likeness import photos
from tests.world import World, build_world


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    platform = Platform.open(settings)
    yield build_world(platform)
    platform.close()


def _enroll(world: World, talent_id: str, **kept: str) -> None:
    p = world.platform
    enroll(
        p.db,
        p.blobs,
        p.settings.keys_dir,
        world.access("legal"),
        talent_id,
        photos=[("astronaut.png", photos.png(photos.astronaut()))],
        **kept,
    )


def _templates(world: World) -> list[dict[str, object]]:
    with world.platform.db.read() as conn:
        return [dict(r) for r in conn.execute(select(likeness_templates)).mappings()]


def test_the_platform_scans_with_enrolled_faces_by_default(world: World) -> None:
    assert isinstance(world.platform.scanner, EnrolledTalentScanner)
    assert "@0.55" in world.platform.scanner.name


def test_enrolled_face_templates_are_sealed_at_rest(world: World) -> None:
    _enroll(world, world.consented.id)
    (row,) = _templates(world)
    assert row["modality"] == "face" and row["vectors"] == 2
    sealed = bytes(row["sealed"])  # type: ignore[arg-type]
    assert len(sealed) == 1 + 12 + 2 * 128 * 4 + 16  # version, nonce, vectors, tag
    with world.platform.db.read() as conn:
        ((template, vectors),) = open_templates(
            conn, world.platform.settings.keys_dir, world.access("legal"), world.consented.id
        )
    assert vectors.shape == (2, 128)
    assert vectors.tobytes() not in sealed  # the database never holds the vector in the clear
    assert template.talent_id == world.consented.id


def test_only_legal_reads_templates(world: World) -> None:
    _enroll(world, world.consented.id)
    with world.platform.db.read() as conn:
        assert len(list_templates(conn, world.access("legal"), world.consented.id)) == 1
        for who in ("artist", "auditor", "producer", "showrunner"):
            with refused("likeness.templates_legal_only", Forbidden):
                list_templates(conn, world.access(who), world.consented.id)
            with refused("likeness.templates_legal_only", Forbidden):
                open_templates(
                    conn, world.platform.settings.keys_dir, world.access(who), world.consented.id
                )


def test_only_legal_or_admins_enroll(world: World) -> None:
    p = world.platform
    with refused("talent.not_allowed", Forbidden):
        enroll(
            p.db,
            p.blobs,
            p.settings.keys_dir,
            world.access("artist"),
            world.consented.id,
            photos=[("a.png", photos.png(photos.astronaut()))],
        )
    assert _templates(world) == []


def test_a_photo_without_one_clear_face_is_refused_and_nothing_is_stored(world: World) -> None:
    p = world.platform
    good = ("astronaut.png", photos.png(photos.astronaut()))
    with refused("likeness.face.several", InvalidInput):
        enroll(
            p.db,
            p.blobs,
            p.settings.keys_dir,
            world.access("legal"),
            world.consented.id,
            photos=[good, ("group.png", photos.png(photos.two_people()))],
        )
    assert _templates(world) == []
    with p.db.read() as conn:
        from greenlight.rights import list_references

        assert list_references(conn, world.consented.id) == []


def test_withdrawing_the_reference_deletes_its_templates(world: World) -> None:
    _enroll(world, world.consented.id)
    assert len(_templates(world)) == 1
    remove_references(world.platform.db, world.platform.blobs, world.consented.id)
    assert _templates(world) == []


def test_removing_the_performer_deletes_their_templates(world: World) -> None:
    _enroll(world, world.unconsented.id)
    remove_references(world.platform.db, world.platform.blobs, world.unconsented.id)
    _enroll(world, world.unconsented.id)
    with world.platform.db.transaction() as conn:
        from greenlight.store.schema import talent_references

        conn.execute(
            delete(talent_references).where(talent_references.c.talent_id == world.unconsented.id)
        )
        conn.execute(delete(talent).where(talent.c.id == world.unconsented.id))
    assert _templates(world) == []


def test_revoking_the_consent_they_are_kept_under_deletes_the_templates(world: World) -> None:
    with world.platform.db.transaction() as conn:
        keep = record_consent(
            conn,
            ConsentDraft(
                talent_id=world.consented.id,
                production_id=world.production.id,
                use_cases=["de_aging"],
                kind="digital_alteration",
                intended_use="Keep Maya's face templates to guard her likeness on this show",
            ),
        )
    _enroll(world, world.consented.id, kept_under=keep.id)
    assert len(_templates(world)) == 1
    revocation.revoke(
        world.platform, world.access("legal"), keep.id, reason="Maya withdrew her biometrics"
    )
    assert _templates(world) == []


def test_an_undeclared_performer_in_an_output_is_quarantined_with_a_finding(
    world: World,
) -> None:
    _enroll(world, world.consented.id)
    plate = world.upload_plate(data=photos.png(photos.astronaut()))
    submitted = requests.submit(world.platform, world.access("artist"), world.cleanup(plate))
    ran = runs.run_request(world.platform, submitted.request.id)
    assert ran.request.state is RequestState.QUARANTINED
    scanned = ran.events[-1]
    assert scanned.event_type == "likeness.quarantined"
    with world.platform.db.read() as conn:
        (finding,) = findings_for(conn, submitted.request.id)
    assert finding.talent_id == world.consented.id and not finding.covered
    assert finding.confidence > 0.9 and finding.frame == 0
    assert finding.box is not None and 150 <= finding.box[0] <= 200
    assert finding.asset_id == ran.outputs[0].id
    assert finding.evidence_sha256 is not None
    evidence = world.platform.blobs.read_bytes(finding.evidence_sha256)
    assert evidence.startswith(b"\x89PNG")


def test_a_declared_and_consented_performer_passes_to_review(world: World) -> None:
    _enroll(world, world.consented.id)
    plate = world.upload_plate(data=photos.png(photos.astronaut()))
    draft = world.cleanup(plate, use_case="de_aging", talent_ids=[world.consented.id])
    waiting = requests.submit(world.platform, world.access("artist"), draft)
    requests.approve(world.platform, world.access("legal"), waiting.request.id, approved=True)
    ran = runs.run_request(world.platform, waiting.request.id)
    assert ran.request.state is RequestState.IN_REVIEW
    with world.platform.db.read() as conn:
        (finding,) = findings_for(conn, waiting.request.id)
    assert finding.covered


def test_outputs_with_no_enrolled_face_stay_clear(world: World) -> None:
    _enroll(world, world.consented.id)
    ran = runs.run_request(
        world.platform,
        requests.submit(
            world.platform, world.access("artist"), world.cleanup(world.upload_plate())
        ).request.id,
    )
    assert ran.request.state is RequestState.IN_REVIEW
    with world.platform.db.read() as conn:
        assert findings_for(conn, ran.request.id) == []


def test_the_studio_scope_looks_for_performers_of_other_productions(world: World) -> None:
    _enroll(world, world.unconsented.id)  # no consent, never named: not this production's
    p = world.platform
    with p.db.read() as conn:
        assert len(scanner_gallery(conn, p.settings.keys_dir, "face", "x", None)) == 0
    plate = world.upload_plate(data=photos.png(photos.astronaut()))
    production = EnrolledTalentScanner(p.db, p.blobs, p.settings.keys_dir)
    studio = EnrolledTalentScanner(p.db, p.blobs, p.settings.keys_dir, scope="studio")
    path = p.blobs.path(plate.sha256).with_suffix("")
    target = path.parent / "plate.png"
    target.write_bytes(p.blobs.read_bytes(plate.sha256))
    from greenlight.likeness import ScanContext

    context = ScanContext(production_id=world.production.id)
    assert production.scan([target], context).matches == ()
    (match,) = studio.scan([target], context).matches
    assert match.talent_id == world.unconsented.id and not match.covered
