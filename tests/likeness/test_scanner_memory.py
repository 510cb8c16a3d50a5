"""The scanner keeps enrolled templates in memory only while nobody enrolls or forgets one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from greenlight.core.settings import Settings
from greenlight.engine.platform import Platform
from greenlight.likeness import EnrolledTalentScanner, ScanContext, enroll
from greenlight.likeness.templates import build_templates, forget_talent
from greenlight.rights import add_reference
from tests.likeness import photos
from tests.world import World, build_world


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    platform = Platform.open(settings)
    yield build_world(platform)
    platform.close()


def _enrolled(scanner: EnrolledTalentScanner, context: ScanContext) -> set[str]:
    faces, _ = scanner.galleries(context, voices=False)
    return set(faces.talent_ids)


def test_templates_made_after_a_scan_are_looked_for_in_the_next_and_forgotten_after(
    world: World,
) -> None:
    p = world.platform
    legal = world.access("legal")
    scanner = EnrolledTalentScanner(p.db, p.blobs, p.settings.keys_dir, scope="studio")
    context = ScanContext(production_id=world.production.id)
    # Her photo is on file but has no template yet: the scan remembers nobody.
    add_reference(
        p.db,
        p.blobs,
        world.consented.id,
        "photo",
        photos.png(photos.astronaut()),
        filename="astronaut.png",
        media_type=None,
        by=legal.person.id,
    )
    assert _enrolled(scanner, context) == set()

    # Making her template changes nothing else in the registry, yet the next scan sees it.
    build_templates(p.db, p.blobs, p.settings.keys_dir, legal, world.consented.id)
    assert _enrolled(scanner, context) == {world.consented.id}
    assert _enrolled(scanner, context) == {world.consented.id}  # from memory, the same

    with p.db.transaction() as conn:
        forget_talent(conn, world.consented.id)
    assert _enrolled(scanner, context) == set()


def test_the_production_scope_narrows_the_remembered_templates_to_its_performers(
    world: World,
) -> None:
    p = world.platform
    for performer in (world.consented.id, world.unconsented.id):
        enroll(
            p.db,
            p.blobs,
            p.settings.keys_dir,
            world.access("legal"),
            performer,
            photos=[("astronaut.png", photos.png(photos.astronaut()))],
        )
    scanner = EnrolledTalentScanner(p.db, p.blobs, p.settings.keys_dir)
    plain = ScanContext(production_id=world.production.id)
    naming = ScanContext(production_id=world.production.id, declared_talent=(world.unconsented.id,))
    # Maya consented on this production; the other performer is looked for only once named.
    assert _enrolled(scanner, plain) == {world.consented.id}
    assert _enrolled(scanner, naming) == {world.consented.id, world.unconsented.id}
