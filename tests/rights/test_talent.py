"""Performers: alive or deceased, who consents for them, and their biometric references."""

from __future__ import annotations

import hashlib
import io
import wave

from sqlalchemy import func, select

from greenlight.core.errors import Conflict, InvalidInput, NotFound
from greenlight.core.models import TalentDraft
from greenlight.rights import (
    add_reference,
    get_talent,
    list_references,
    register_talent,
    remove_references,
    update_talent,
)
from greenlight.store.schema import talent, talent_references
from tests.expect import refused
from tests.world import World, plate_png


def _voice() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sample:
        sample.setnchannels(1)
        sample.setsampwidth(2)
        sample.setframerate(8000)
        sample.writeframes(b"\x00\x01" * 800)
    return out.getvalue()


def test_deceased_performer_needs_a_representative_or_the_union(sqlite_world: World) -> None:
    world = sqlite_world
    with world.platform.db.read() as conn:
        before = conn.execute(select(func.count()).select_from(talent)).scalar_one()
    for code, name, union, changes in (
        ("talent.representative_required", "Greta Lind", "SAG-AFTRA", {"deceased": True}),
        (
            "talent.union_cannot_stand_in",
            "Nils Holm",
            None,
            {"deceased": True, "union_stands_in": True},
        ),
        (
            "talent.representative_for_living",
            "Ada Berg",
            None,
            {"authorized_representative": "Her agent"},
        ),
    ):
        with refused(code, InvalidInput), world.platform.db.transaction() as conn:
            register_talent(conn, name, union, **changes)  # type: ignore[arg-type]
    with world.platform.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(talent)).scalar_one() == before

    with world.platform.db.transaction() as conn:
        estate = register_talent(
            conn, "Greta Lind", "SAG-AFTRA", deceased=True, authorized_representative="Lind Estate"
        )
        union = register_talent(conn, "Olav Dahl", "SAG-AFTRA", deceased=True, union_stands_in=True)
    assert estate.consent_from == "authorized_representative" and estate.union_member
    assert union.consent_from == "union" and union.authorized_representative is None


def test_a_performer_who_dies_is_then_represented_by_their_estate(sqlite_world: World) -> None:
    world = sqlite_world
    with world.platform.db.transaction() as conn:
        changed = update_talent(
            conn,
            world.unconsented.id,
            TalentDraft(
                name="Theo Brandt",
                union_affiliation="SAG-AFTRA",
                deceased=True,
                authorized_representative="Brandt Family Trust",
            ),
        )
        assert get_talent(conn, world.unconsented.id) == changed
    assert changed.deceased and changed.consent_from == "authorized_representative"


def test_references_are_stored_as_blobs_and_withdrawn_with_their_bytes(world: World) -> None:
    platform, legal = world.platform, world.people["legal"].id
    photo = add_reference(
        platform.db,
        platform.blobs,
        world.consented.id,
        "photo",
        plate_png(),
        filename="maya_front.png",
        media_type="image/png",
        by=legal,
    )
    voice = add_reference(
        platform.db,
        platform.blobs,
        world.consented.id,
        "voice",
        _voice(),
        filename="maya_line.wav",
        media_type=None,
        by=legal,
    )
    assert (photo.media_type, voice.media_type) == ("image/png", "audio/wav")
    assert platform.blobs.read_bytes(photo.sha256) == plate_png()
    with refused("reference.duplicate", Conflict):
        add_reference(
            platform.db,
            platform.blobs,
            world.consented.id,
            "photo",
            plate_png(),
            filename="again.png",
            media_type="image/png",
            by=legal,
        )
    assert platform.blobs.exists(photo.sha256)  # the duplicate did not take the original

    (gone,) = remove_references(platform.db, platform.blobs, world.consented.id, photo.id)
    assert gone == photo
    assert not platform.blobs.exists(photo.sha256)
    with world.platform.db.read() as conn:
        assert list_references(conn, world.consented.id) == [voice]
    assert remove_references(platform.db, platform.blobs, world.consented.id) == [voice]
    assert not platform.blobs.exists(voice.sha256)
    with refused("reference.not_found", NotFound):
        remove_references(platform.db, platform.blobs, world.consented.id, voice.id)


def test_a_reference_shared_with_an_asset_keeps_the_assets_bytes(sqlite_world: World) -> None:
    world = sqlite_world
    plate = world.upload_plate()
    ref = add_reference(
        world.platform.db,
        world.platform.blobs,
        world.consented.id,
        "photo",
        plate_png(),
        filename="still.png",
        media_type="image/png",
        by=world.people["legal"].id,
    )
    assert ref.sha256 == plate.sha256
    remove_references(world.platform.db, world.platform.blobs, world.consented.id)
    assert world.platform.blobs.exists(plate.sha256)


def test_a_reference_of_the_wrong_kind_is_refused_and_nothing_is_kept(sqlite_world: World) -> None:
    world = sqlite_world
    platform = world.platform
    with refused("reference.wrong_type", InvalidInput):
        add_reference(
            platform.db,
            platform.blobs,
            world.consented.id,
            "voice",
            plate_png(),
            filename="not_a_voice.png",
            media_type="image/png",
            by=world.people["legal"].id,
        )
    with refused("talent.not_found", NotFound):
        add_reference(
            platform.db,
            platform.blobs,
            "tal_missing",
            "voice",
            _voice(),
            filename="who.wav",
            media_type="audio/wav",
            by=world.people["legal"].id,
        )
    with platform.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(talent_references)).scalar_one() == 0
    for data in (plate_png(), _voice()):
        assert not platform.blobs.exists(hashlib.sha256(data).hexdigest())
