"""Human post-edit of machine-translated subtitles in review: each change kept with who,
before, after and its distance; the productivity figures; the memory learning on accept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from greenlight.core.enums import Verdict
from greenlight.core.settings import Settings
from greenlight.engine import requests
from greenlight.localization import memory, post_edit
from greenlight.localization.post_edit import char_distance, levenshtein, word_distance
from tests.expect import refused
from tests.localization.subtitled import (
    hire_localization_manager,
    subtitle_output,
    translated_in_review,
)
from tests.world import World, build_world, opened_platform


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    with opened_platform(settings) as platform:
        world = build_world(platform)
        hire_localization_manager(world)
        yield world


def edit(
    world: World, who: str, request_id: str, asset_id: str, event: int, text: str
) -> post_edit.Recorded:
    with world.platform.db.transaction() as conn:
        return post_edit.edit_cue(
            conn, world.platform.blobs, world.access(who), request_id, asset_id, event, text
        )


def test_edit_distance_counts_characters_and_words() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert char_distance("Dónde es el barco?", "¿Dónde está el barco?") == 3
    assert word_distance("Dónde es el barco?", "¿Dónde está el barco?") == 2
    # Moving the line break changes no word.
    assert char_distance("La casa\nes roja.", "La casa es\nroja.") == 0


def test_localization_manager_edit_is_kept_with_who_before_after_and_distance(
    world: World,
) -> None:
    detail = translated_in_review(world)
    out = subtitle_output(detail)
    first = edit(world, "loc", detail.request.id, out.id, 1, "¿Dónde está el barco?")
    second = edit(world, "showrunner", detail.request.id, out.id, 1, "¿Dónde está la nave?\r\n")

    assert first.edit.before == "Dónde es el barco?"  # Apertium's own line
    assert first.edit.after == "¿Dónde está el barco?"
    assert (first.edit.char_distance, first.edit.word_distance) == (3, 2)
    assert first.edit.edited_by == world.people["loc"].id
    assert second.edit.before == "¿Dónde está el barco?"  # the latest text, not the machine's
    assert second.edit.after == "¿Dónde está la nave?"
    assert second.edit.edited_by == world.people["showrunner"].id
    assert first.warnings == ()
    with world.platform.db.read() as conn:
        kept = post_edit.edits_for(conn, detail.request.id)
        track = post_edit.edited_track(conn, world.platform.blobs, detail.request.id, out.id)
        lines = post_edit.event_lines(conn, world.platform.blobs, detail.request.id, out.id)
    assert [e.id for e in kept] == [first.edit.id, second.edit.id]
    assert [c.text for c in track.cues] == [
        "¿Dónde está la nave?",
        "La casa es roja.",
        "Tengo un perro.",
    ]
    assert track.cues[0].start_ms == 1000 and track.cues[0].end_ms == 3000
    assert lines[0].source == "Where is the ship?"
    assert lines[0].machine == "Dónde es el barco?" and lines[0].edited
    assert not lines[1].edited and lines[1].history == ()


def test_editing_is_refused_to_roles_that_do_not_review(world: World) -> None:
    detail = translated_in_review(world)
    out = subtitle_output(detail)
    with refused("post_edit.not_editor"):
        edit(world, "artist", detail.request.id, out.id, 1, "¿Dónde está el barco?")
    with refused("access.no_role"):
        edit(world, "outsider", detail.request.id, out.id, 1, "¿Dónde está el barco?")
    with world.platform.db.read() as conn:
        assert post_edit.edits_for(conn, detail.request.id) == []


def test_editing_is_refused_once_the_request_has_left_review(world: World) -> None:
    detail = translated_in_review(world)
    out = subtitle_output(detail)
    requests.review(world.platform, world.access("showrunner"), detail.request.id, Verdict.ACCEPT)
    with refused("post_edit.not_in_review"):
        edit(world, "loc", detail.request.id, out.id, 1, "¿Dónde está el barco?")


def test_bad_events_outputs_and_lines_are_refused_with_their_codes(world: World) -> None:
    detail = translated_in_review(world)
    out = subtitle_output(detail)
    report = next(o for o in detail.outputs if o.media_type == "application/json")
    request_id = detail.request.id
    for event in (0, 4, -1):
        with refused("post_edit.bad_event"):
            edit(world, "loc", request_id, out.id, event, "Hola")
    with refused("post_edit.empty_text"):
        edit(world, "loc", request_id, out.id, 1, " \r\n ")
    with refused("post_edit.unchanged"):
        edit(world, "loc", request_id, out.id, 2, "La casa es roja.")
    with refused("post_edit.text_too_long"):
        edit(world, "loc", request_id, out.id, 2, "a" * 501)
    with refused("post_edit.bad_text"):
        edit(world, "loc", request_id, out.id, 2, "La casa\x00")
    with refused("post_edit.not_subtitles"):
        edit(world, "loc", request_id, report.id, 1, "Hola")
    with refused("post_edit.no_such_output"):
        edit(world, "loc", request_id, "ast_01JD3Q8Z5W8M6T4V9K2X7N1R0P", 1, "Hola")
    with world.platform.db.read() as conn:
        assert post_edit.edits_for(conn, request_id) == []


def test_a_line_changed_meanwhile_is_not_overwritten(world: World) -> None:
    detail = translated_in_review(world)
    out = subtitle_output(detail)
    edit(world, "loc", detail.request.id, out.id, 2, "La casa es roja, sí.")
    with world.platform.db.transaction() as conn, refused("post_edit.stale"):
        post_edit.edit_cue(
            conn,
            world.platform.blobs,
            world.access("showrunner"),
            detail.request.id,
            out.id,
            2,
            "La casa es colorada.",
            seen="La casa es roja.",
        )


def test_a_line_too_long_for_the_streamer_is_kept_with_a_warning(world: World) -> None:
    detail = translated_in_review(world)
    out = subtitle_output(detail)
    long_line = "La casa de mis abuelos en el pueblo es de un rojo muy intenso"
    recorded = edit(world, "loc", detail.request.id, out.id, 2, long_line)
    assert recorded.edit.after == long_line
    assert any(w.startswith("line length") for w in recorded.warnings)
    assert any(w.startswith("reading speed") for w in recorded.warnings)


def test_metrics_count_edited_events_their_distance_and_the_untouched_share(
    world: World,
) -> None:
    detail = translated_in_review(world)
    out = subtitle_output(detail)
    request_id = detail.request.id
    # Event 1 edited twice: its distance is the machine's line against the final one.
    edit(world, "loc", request_id, out.id, 1, "¿Dónde está el barco?")
    edit(world, "loc", request_id, out.id, 1, "¿Dónde está la nave?")
    # Event 3 changed and changed back: the machine had it right.
    edit(world, "loc", request_id, out.id, 3, "Tengo un perrito.")
    edit(world, "loc", request_id, out.id, 3, "Tengo un perro.")
    with world.platform.db.read() as conn:
        figures = post_edit.metrics(conn, world.platform.blobs, world.production.id)

    distance = char_distance("Dónde es el barco?", "¿Dónde está la nave?")
    assert figures.tracks == 1 and figures.events == 3
    assert figures.events_edited == 1
    assert figures.mean_char_distance == figures.median_char_distance == distance
    assert figures.mean_word_distance == word_distance("Dónde es el barco?", "¿Dónde está la nave?")
    assert figures.untouched_share == pytest.approx(2 / 3)


def test_metrics_of_a_production_without_subtitles_say_nothing_was_measured(
    world: World,
) -> None:
    with world.platform.db.read() as conn:
        figures = post_edit.metrics(conn, world.platform.blobs, world.production.id)
    assert (figures.tracks, figures.events, figures.events_edited) == (0, 0, 0)
    assert figures.untouched_share is None and figures.mean_char_distance is None


def test_accepting_puts_the_edited_pairs_into_the_translation_memory(world: World) -> None:
    detail = translated_in_review(world)
    out = subtitle_output(detail)
    edit(world, "loc", detail.request.id, out.id, 1, "¿Dónde está la nave?")
    # Accepting through the engine (as the API, the CLI and the pages all do) is enough.
    requests.review(world.platform, world.access("showrunner"), detail.request.id, Verdict.ACCEPT)
    with world.platform.db.read() as conn:
        hits = memory.lookup(
            conn,
            world.production.id,
            "en",
            "es",
            ["Where is the ship?", "The house is red."],
        )
    assert [(h.cue, h.translation, h.exact) for h in hits] == [(1, "¿Dónde está la nave?", True)]
