"""Prompt screening: watchlisted names are found however they are dressed up."""

from __future__ import annotations

import pytest

from greenlight.policy.screening import WatchEntry, Watchlist, spelling

WATCHLIST = Watchlist(
    [
        WatchEntry(
            id="w_vader",
            term="Darth Vader",
            category="protected_character",
            aliases=("Lord Vader", "Anakin Skywalker"),
        ),
        WatchEntry(id="w_batman", term="Batman", category="protected_character"),
        WatchEntry(id="w_beyonce", term="Beyoncé", category="real_person"),
        WatchEntry(id="w_r2", term="R2-D2", category="protected_character"),
        WatchEntry(id="w_starwars", term="Star Wars", category="franchise"),
        WatchEntry(id="w_cola", term="Coca-Cola", category="brand", aliases=("Coke",)),
    ]
)


def found(text: str) -> list[str]:
    return [f.entry.id for f in WATCHLIST.find(text)]


@pytest.mark.parametrize(
    "prompt",
    [
        "a villain like Darth Vader on a bridge",
        "a villain like DARTH VADER",
        "a villain like dárth vàder",
        "a villain like Dárth   V-ader",
        "a villain like darthvader",
        "a villain like d.a.r.t.h v.a.d.e.r",
        "a villain like Darth\tVader",
        "a villain like ＤＡＲＴＨ ＶＡＤＥＲ",  # fullwidth letters fold by NFKD
        "a villain like Lord Vader",
        "a villain like anakin-skywalker",
        "Vader fans: Darth Vader's helmet",
    ],
)
def test_a_watchlisted_character_is_found_through_case_accents_spacing_and_aliases(
    prompt: str,
) -> None:
    assert found(prompt) == ["w_vader"]


def test_an_accented_real_name_is_found_without_its_accent() -> None:
    assert found("concert styled like beyonce") == ["w_beyonce"]
    assert found("concert styled like BEYONCÉ") == ["w_beyonce"]


def test_a_name_that_merely_contains_a_term_is_not_a_hit() -> None:
    assert found("Batmanuel orders coffee") == []
    assert found("a cokewise fizz") == []


def test_possessives_and_plurals_of_a_term_are_hits() -> None:
    assert found("Batman's cape") == ["w_batman"]
    assert found("two batmans on a roof") == ["w_batman"]


def test_punctuated_and_spaced_spellings_of_a_hyphenated_term_are_hits() -> None:
    assert found("droid like R2D2") == ["w_r2"]
    assert found("droid like r2 d2") == ["w_r2"]


def test_an_innocent_prompt_has_no_hits() -> None:
    assert found("rain-soaked neon street at night, crowd with umbrellas, wide shot") == []
    assert found("") == []


def test_each_entry_is_reported_once_with_the_words_as_written() -> None:
    hits = WATCHLIST.find("Darth Vader vs darth-vader, Star  Wars style, a Coke")
    assert [(f.entry.id, f.matched) for f in hits] == [
        ("w_vader", "Darth Vader"),
        ("w_starwars", "Star  Wars"),
        ("w_cola", "Coke"),
    ]


def test_hits_in_declared_references_are_marked_as_such() -> None:
    hits = WATCHLIST.screen("a dark helmet", references=["Batman Returns (1992) poster"])
    assert [(h.entry_id, h.found_in, h.category) for h in hits] == [
        ("w_batman", "reference", "protected_character")
    ]


def test_a_hit_in_both_prompt_and_reference_is_listed_for_each() -> None:
    hits = WATCHLIST.screen("Batman on a roof", references=["Batman"])
    assert [(h.entry_id, h.found_in) for h in hits] == [
        ("w_batman", "prompt"),
        ("w_batman", "reference"),
    ]


def test_spelling_drops_accents_case_spaces_and_punctuation() -> None:
    assert spelling("Dárth   V-ader") == "darthvader"
    assert spelling("—") == ""


def test_an_empty_watchlist_finds_nothing() -> None:
    assert Watchlist([]).find("Darth Vader") == []
