"""A production's glossary and translation memory, stored on SQLite and PostgreSQL, and
handed to the MT backends in the shape they take."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from greenlight.core.settings import Settings
from greenlight.localization import glossary, memory
from greenlight.localization.glossary import GlossaryEntry
from tests.expect import refused_as
from tests.world import World, build_world, opened_platform


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    with opened_platform(settings) as platform:
        yield build_world(platform)


def test_glossary_entries_are_kept_per_language_and_replaced_by_term(world: World) -> None:
    by = world.people["producer"].id
    production = world.production.id
    with world.platform.db.transaction() as conn:
        glossary.add_entry(
            conn, production, GlossaryEntry("Kepler Station", "es", "Estación Kepler"), by=by
        )
        glossary.add_entry(conn, production, GlossaryEntry("Zorblat", "es", None, "ignore"), by=by)
        glossary.add_entry(
            conn, production, GlossaryEntry("kepler  station", "es", "Base Kepler"), by=by
        )
        glossary.add_entry(
            conn, production, GlossaryEntry("Kepler Station", "fr", "Station Kepler"), by=by
        )
    with world.platform.db.read() as conn:
        spanish = glossary.entries_for(conn, production, "es")
        everything = glossary.entries_for(conn, production)

    assert [(e.term, e.translation) for e in spanish] == [
        ("kepler station", "Base Kepler"),
        ("Zorblat", None),
    ]
    assert len(everything) == 3
    assert glossary.as_parameter(spanish)[1] == {
        "term": "Zorblat",
        "translation": None,
        "case": "ignore",
    }


def test_removing_a_term_the_glossary_lacks_is_refused(world: World) -> None:
    with world.platform.db.transaction() as conn, refused_as("glossary.not_found"):
        glossary.remove_entry(conn, world.production.id, "Nobody", "es")
    with world.platform.db.transaction() as conn, refused_as("glossary.bad_language"):
        glossary.add_entry(
            conn,
            world.production.id,
            GlossaryEntry("X", "not a language"),
            by=world.people["producer"].id,
        )


def test_approved_translations_are_reused_exactly_and_close_ones_offered(world: World) -> None:
    by = world.people["producer"].id
    production = world.production.id
    with world.platform.db.transaction() as conn:
        kept = memory.approve(
            conn,
            production,
            "en",
            "es",
            [
                ("Where is the ship?", "¿Dónde está la nave?"),
                ("The captain is on the bridge.", "La capitana está en el puente."),
            ],
            by=by,
        )
    assert kept == 2
    with world.platform.db.read() as conn:
        hits = memory.lookup(
            conn,
            production,
            "en",
            "es",
            ["Where is the\nship?", "The captain is on the bridge!", "Nothing like it at all."],
        )
        other_pair = memory.lookup(conn, production, "en", "fr", ["Where is the ship?"])

    assert hits[0].cue == 1 and hits[0].exact and hits[0].translation == "¿Dónde está la nave?"
    assert hits[1].cue == 2 and not hits[1].exact and hits[1].score >= 0.85
    assert [h.cue for h in hits] == [1, 2]
    assert other_pair == []
    assert memory.as_parameter(hits)[0]["score"] == 1.0


def test_a_newer_approval_replaces_the_older_one(world: World) -> None:
    by = world.people["producer"].id
    with world.platform.db.transaction() as conn:
        memory.approve(conn, world.production.id, "en", "es", [("Run!", "¡Corre!")], by=by)
        memory.approve(conn, world.production.id, "en", "es", [("Run!", "¡Corred!")], by=by)
        with refused_as("memory.empty_text"):
            memory.approve(conn, world.production.id, "en", "es", [("Run!", " ")], by=by)
    with world.platform.db.read() as conn:
        hits = memory.lookup(conn, world.production.id, "en", "es", ["Run!"])
    assert [h.translation for h in hits] == ["¡Corred!"]


def test_a_translation_that_ignores_the_glossary_is_reported() -> None:
    entries = [
        GlossaryEntry("Kepler Station", "es", "Estación Kepler"),
        GlossaryEntry("Zorblat", "es", None, "ignore"),
    ]
    issues = glossary.check(
        "Zorblat lives on Kepler Station.", "Zorblat vive en la Estación de Kepler.", entries
    )
    assert [(i.term, i.expected) for i in issues] == [("Kepler Station", "Estación Kepler")]
    protected = glossary.protect("zorblat and ZORBLAT at Kepler Station", entries)
    assert "Kepler" not in protected.text and "orblat" not in protected.text.lower()
    restored, lost = glossary.restore(protected.text, protected)
    assert restored == "zorblat and ZORBLAT at Estación Kepler" and lost == []
