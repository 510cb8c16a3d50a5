"""Words with times become events a streamer's QC accepts (no model: synthetic word lists)."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import pairwise

import pytest

from greenlight.core.errors import InvalidInput
from greenlight.timedtext.model import Cue, FrameRate
from greenlight.timedtext.profiles import qc_profile
from greenlight.timedtext.segment import CueRules, TimedWord, break_lines, cues_from_words

RULES = CueRules()
FPS = FrameRate(Fraction(24000, 1001))
TWO_FRAMES_MS = math.ceil(2 * 1001 / 24)


def spoken(text: str, start_ms: int = 0, word_ms: int = 300, gap_ms: int = 0) -> list[TimedWord]:
    """``text`` said one word every ``word_ms`` (plus ``gap_ms`` of silence) from ``start_ms``."""
    words, at = [], start_ms
    for token in text.split():
        words.append(TimedWord(at, at + word_ms, token))
        at += word_ms + gap_ms
    return words


def assert_within_rules(cues: tuple[Cue, ...], rules: CueRules = RULES) -> None:
    for cue in cues:
        assert len(cue.lines) <= rules.max_lines, cue
        assert all(len(line) <= rules.max_chars_per_line for line in cue.lines), cue
        assert cue.duration_ms <= rules.max_duration_ms, cue
    for before, after in pairwise(cues):
        assert FPS.frame_of(after.start_ms) - FPS.frame_of(before.end_ms) >= 2, (before, after)


def words_of(cues: tuple[Cue, ...]) -> list[str]:
    return " ".join(c.text.replace("\n", " ") for c in cues).split()


def test_a_short_sentence_is_one_event_held_long_enough_to_read() -> None:
    cues = cues_from_words(spoken("Get down!", start_ms=1000, word_ms=150))

    assert len(cues) == 1
    (cue,) = cues
    assert cue.text == "Get down!"
    assert cue.start_ms == 1000
    assert cue.duration_ms >= RULES.min_duration_ms


def test_events_break_at_sentence_ends_first() -> None:
    words = spoken(
        "The detective arrives in the city on a rainy night. "
        "She looks for the missing painter everywhere."
    )

    cues = cues_from_words(words)

    assert [c.text.replace("\n", " ") for c in cues] == [
        "The detective arrives in the city on a rainy night.",
        "She looks for the missing painter everywhere.",
    ]
    assert_within_rules(cues)


def test_a_pause_ends_an_event_even_without_punctuation() -> None:
    words = spoken("we waited for hours", word_ms=300) + spoken(
        "and then the train came", start_ms=1200 + 900, word_ms=300
    )

    cues = cues_from_words(words)

    assert [c.text for c in cues] == ["we waited for hours", "and then the train came"]


def test_a_long_sentence_splits_at_its_comma_into_two_line_events() -> None:
    sentence = (
        "When the storm finally reached the harbour after midnight, every boat that "
        "had stayed out was already lost somewhere beyond the lighthouse."
    )

    cues = cues_from_words(spoken(sentence, word_ms=250))

    assert len(cues) == 2
    assert cues[0].text.replace("\n", " ").endswith("midnight,")
    assert words_of(cues) == sentence.split()
    assert_within_rules(cues)


def test_a_long_monologue_without_pauses_stays_within_every_rule() -> None:
    text = " ".join(["and the river kept rising past the old mill"] * 12) + "."

    cues = cues_from_words(spoken(text, word_ms=260))

    assert len(cues) > 5
    assert words_of(cues) == text.split()
    assert_within_rules(cues)
    assert all(c.start_ms < c.end_ms for c in cues)
    assert [c.start_ms for c in cues] == sorted(c.start_ms for c in cues)


def test_slow_speech_splits_before_an_event_runs_past_seven_seconds() -> None:
    cues = cues_from_words(spoken("I will never ever go back there again", word_ms=1000))

    assert len(cues) >= 2
    assert_within_rules(cues)


def test_events_are_extended_into_free_time_for_reading_speed() -> None:
    # 44 characters said in 1.2 s would be 37 cps; there is silence after it.
    words = spoken("Absolutely unbelievable, extraordinary news!", word_ms=300)
    words += spoken("Yes.", start_ms=10_000)

    first = cues_from_words(words)[0]

    assert len(first.text.replace("\n", " ")) / (first.duration_ms / 1000) <= 17


def test_a_short_gap_between_events_is_closed_to_two_frames() -> None:
    words = spoken("Where were you last night?", word_ms=300) + spoken(
        "I was at the harbour with the others.", start_ms=1500 + 300 + 200, word_ms=300
    )

    first, second = cues_from_words(words, CueRules(pause_ms=100))

    assert second.start_ms - first.end_ms == TWO_FRAMES_MS


def test_events_never_come_closer_than_two_frames_when_speech_is_back_to_back() -> None:
    words = spoken("Run. Now. Go. Hide. Quick. Down. There. Stop.", word_ms=120)

    cues = cues_from_words(words)

    assert_within_rules(cues)
    assert words_of(cues) == [w.text for w in words]


def test_quick_short_sentences_share_an_event_one_line_each() -> None:
    cues = cues_from_words(spoken("Yes. Go now.", word_ms=200))

    assert [c.text for c in cues] == ["Yes.\nGo now."]


def test_rules_from_a_stricter_profile_are_followed() -> None:
    children = CueRules(max_chars_per_line=32, max_chars_per_second=13)
    text = "The little fox ran all the way home through the deep snow before dark."

    cues = cues_from_words(spoken(text, word_ms=350), children)

    assert_within_rules(cues, children)
    assert words_of(cues) == text.split()


def test_two_lines_are_balanced_and_break_after_a_comma() -> None:
    text = "If you see him tonight, tell him the boat leaves at dawn"

    assert break_lines(text) == "If you see him tonight,\ntell him the boat leaves at dawn"
    assert break_lines("Short line.") == "Short line."


def test_a_line_does_not_end_on_a_word_that_leads_into_the_next() -> None:
    broken = break_lines("The detective arrives in the city on a rainy night.")

    assert broken == "The detective arrives\nin the city on a rainy night."


def test_no_words_give_no_events() -> None:
    assert cues_from_words([]) == ()
    assert cues_from_words([TimedWord(0, 100, " ")]) == ()


def test_words_out_of_order_are_refused() -> None:
    words = [TimedWord(1000, 1200, "later"), TimedWord(500, 700, "earlier")]

    with pytest.raises(InvalidInput) as refused:
        cues_from_words(words)

    assert refused.value.code == "timedtext.segment.words_out_of_order"


def test_a_word_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        cues_from_words([TimedWord(1000, 900, "backwards")])

    assert refused.value.code == "timedtext.segment.bad_word_times"


def test_rules_that_cannot_hold_are_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        CueRules(min_duration_ms=8000, max_duration_ms=7000)

    assert refused.value.code == "timedtext.segment.bad_rules"


def test_rules_taken_from_the_english_qc_profile_are_the_defaults() -> None:
    assert CueRules.from_profile(qc_profile("en")) == CueRules()
    assert CueRules.from_profile(qc_profile("en-children")).max_chars_per_second == 13
