"""Words with times (from ASR) made into subtitle events a streamer's QC accepts.

A recognizer gives words, each with when it was said; viewers need events of
one or two short lines, on screen long enough to read, off screen when the
speaker stops. :func:`cues_from_words` does that in three steps:

1. cut the words into phrases at sentence ends and at pauses, the breaks a
   viewer expects (and the ones subtitlers make first);
2. split a phrase too long for one event (too many characters for the lines,
   or spoken over longer than the maximum duration) where it balances best,
   preferring clause punctuation (``,`` ``;`` ``:``) and short pauses;
3. time each event from its first word's start to its last word's end, then
   extend it into the free time after it for the minimum duration and the
   reading speed, keeping the minimum gap to the next event and closing gaps
   too short to read as a blink.

Reading speed is met only by extending into free time: speech faster than
the limit stays too fast however it is cut (the characters per second of the
whole stretch do not change), so QC reports it and a post-editor condenses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

from greenlight.core.errors import InvalidInput
from greenlight.timedtext.model import Cue, FrameRate
from greenlight.timedtext.profiles import QCProfile

SENTENCE_ENDS = (".", "?", "!", "…")
CLAUSE_ENDS = (",", ";", ":", "—", "–")
_CLOSING = "\"'”’)]"  # after a sentence end: `He said "stop."`
# Words that lead into what follows: a line should not end on one.
# fmt: off
_LEADING_WORDS = frozenset((
    "a", "an", "the", "and", "but", "or", "nor", "of", "in", "on", "at", "to", "for", "with",
    "from", "by", "into", "onto", "as", "than", "that", "my", "your", "his", "her", "its",
    "our", "their", "this", "these", "those", "is", "was",
))
# fmt: on

DEFAULT_FRAME_RATE = FrameRate(Fraction(24000, 1001))


@dataclass(frozen=True)
class TimedWord:
    """One recognized word and when it was said, in milliseconds.

    ``text`` is the word as it should be shown, with its punctuation
    (``"night."``), without surrounding spaces.
    """

    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class CueRules:
    """The numbers of a timed-text QC profile that shape events.

    Defaults are the English adult profile (:meth:`from_profile` takes any):
    42 characters a line, 2 lines, 17 characters a second, events from 5/6 s
    (834 ms) to 7 s, at least 2 frames between events, and gaps of 12 frames
    or less closed to 2.
    ``pause_ms`` is the silence between words that ends a phrase.
    """

    max_chars_per_line: int = 42
    max_lines: int = 2
    max_chars_per_second: float = 17.0
    min_duration_ms: int = 834  # 5/6 s, rounded up to a whole millisecond
    max_duration_ms: int = 7000
    min_gap_frames: int = 2
    close_gap_frames: int = 12
    pause_ms: int = 500

    @classmethod
    def from_profile(cls, profile: QCProfile) -> CueRules:
        """The numbers of a QC profile (:mod:`greenlight.timedtext.profiles`) as cue rules."""
        return cls(
            max_chars_per_line=int(profile.max_chars_per_line),
            max_lines=profile.max_lines,
            max_chars_per_second=float(profile.max_cps),
            min_duration_ms=math.ceil(profile.min_duration * 1000),
            max_duration_ms=math.floor(profile.max_duration * 1000),
            min_gap_frames=profile.min_gap_frames,
            close_gap_frames=profile.chaining_gap_frames,
        )

    def __post_init__(self) -> None:
        if (
            self.max_chars_per_line < 1
            or self.max_lines < 1
            or self.max_chars_per_second <= 0
            or not 0 < self.min_duration_ms <= self.max_duration_ms
            or self.min_gap_frames < 0
            or self.close_gap_frames < self.min_gap_frames
            or self.pause_ms < 0
        ):
            raise InvalidInput(
                f"These subtitle rules cannot all hold: {self}; check the profile's numbers "
                "(positive limits, minimum duration not above the maximum).",
                code="timedtext.segment.bad_rules",
            )


def cues_from_words(
    words: Sequence[TimedWord],
    rules: CueRules | None = None,
    frame_rate: FrameRate = DEFAULT_FRAME_RATE,
) -> tuple[Cue, ...]:
    """Subtitle events for ``words`` (in the order spoken) under ``rules``.

    ``frame_rate`` turns the rules' frame counts into milliseconds (gaps are
    rounded up, so an event boundary never lands short of the minimum gap).
    Words with no text are skipped; words out of time order are refused with
    ``timedtext.segment.words_out_of_order`` (and a word ending before it starts
    with ``timedtext.segment.bad_word_times``) rather than giving overlapping
    events.
    """
    rules = rules or CueRules()
    spoken = [w for w in words if w.text.strip()]
    for word in spoken:
        if word.end_ms < word.start_ms or word.start_ms < 0:
            raise InvalidInput(
                f"Word {word.text!r} runs from {word.start_ms} ms to {word.end_ms} ms; a word "
                "needs a start from 0 and an end not before its start.",
                code="timedtext.segment.bad_word_times",
            )
    for before, after in pairwise(spoken):
        if after.start_ms < before.start_ms:
            raise InvalidInput(
                f"Word {after.text!r} at {after.start_ms} ms comes before {before.text!r} at "
                f"{before.start_ms} ms; give the words in the order they were spoken.",
                code="timedtext.segment.words_out_of_order",
            )
    groups: list[list[TimedWord]] = []
    for phrase in _phrases(spoken, rules):
        groups.extend(_split_to_fit(phrase, rules))
    groups = _merge_short_sentences(groups, rules)
    return _timed(groups, rules, frame_rate)


def break_lines(text: str, rules: CueRules | None = None) -> str:
    """``text`` broken into display lines (joined by ``"\\n"``) within the rules.

    Two lines are balanced (a break after clause punctuation preferred, the
    top line not much longer than the bottom one); more lines fill greedily.
    Text that cannot fit (a word longer than a line) is still broken as well
    as it can be; QC reports what remains too long.
    """
    rules = rules or CueRules()
    tokens = text.split()
    if not tokens:
        return ""
    joined = " ".join(tokens)
    if len(joined) <= rules.max_chars_per_line or rules.max_lines == 1:
        return joined
    greedy = _greedy_lines(tokens, rules.max_chars_per_line)
    if rules.max_lines == 2 and len(greedy) == 2:
        return "\n".join(_balanced_pair(tokens, rules.max_chars_per_line))
    return "\n".join(greedy)


# -- phrases -------------------------------------------------------------------------------


def _ends_sentence(text: str) -> bool:
    return text.rstrip(_CLOSING).endswith(SENTENCE_ENDS)


def _ends_clause(text: str) -> bool:
    return text.rstrip(_CLOSING).endswith(CLAUSE_ENDS)


def _phrases(words: Sequence[TimedWord], rules: CueRules) -> list[list[TimedWord]]:
    """The words cut after each sentence end and at each pause."""
    phrases: list[list[TimedWord]] = []
    current: list[TimedWord] = []
    for word in words:
        if current and (
            _ends_sentence(current[-1].text) or word.start_ms - current[-1].end_ms >= rules.pause_ms
        ):
            phrases.append(current)
            current = []
        current.append(word)
    if current:
        phrases.append(current)
    return phrases


def _text(words: Sequence[TimedWord]) -> str:
    return " ".join(w.text.strip() for w in words)


def _fits(words: Sequence[TimedWord], rules: CueRules) -> bool:
    """One event can hold ``words``: they wrap into the lines and were said within the maximum."""
    lines = _greedy_lines(_text(words).split(), rules.max_chars_per_line)
    spoken_ms = words[-1].end_ms - words[0].start_ms
    return len(lines) <= rules.max_lines and spoken_ms <= rules.max_duration_ms


def _split_to_fit(words: list[TimedWord], rules: CueRules) -> list[list[TimedWord]]:
    """``words`` as one event if they fit, else split in two where it reads best, recursively."""
    if len(words) == 1 or _fits(words, rules):
        return [words]
    total = len(_text(words))
    best_at, best_score = 1, math.inf
    for at in range(1, len(words)):
        left = len(_text(words[:at]))
        score = abs(left - (total - left - 1)) / total  # 0 when balanced
        if _ends_clause(words[at - 1].text):
            score -= 0.35
        gap_ms = words[at].start_ms - words[at - 1].end_ms
        score -= min(gap_ms, rules.pause_ms) / max(rules.pause_ms, 1) * 0.25
        if score < best_score:
            best_at, best_score = at, score
    return _split_to_fit(words[:best_at], rules) + _split_to_fit(words[best_at:], rules)


def _merge_short_sentences(groups: list[list[TimedWord]], rules: CueRules) -> list[list[TimedWord]]:
    """Put a sentence said too quickly to show alone with its neighbour, one line each.

    ("Yes. Go now." is two sentences; shown apart, each would flash by.)
    Only sentences said without a pause between them, and only when each fits one line.
    """
    merged: list[list[TimedWord]] = []
    for group in groups:
        if merged:
            before = merged[-1]
            short = (
                before[-1].end_ms - before[0].start_ms < rules.min_duration_ms
                or group[-1].end_ms - group[0].start_ms < rules.min_duration_ms
            )
            together = [*before, *group]
            if (
                short
                and _ends_sentence(before[-1].text)
                and group[0].start_ms - before[-1].end_ms < rules.pause_ms
                and rules.max_lines >= 2
                and max(len(_text(before)), len(_text(group))) <= rules.max_chars_per_line
                and together[-1].end_ms - together[0].start_ms <= rules.max_duration_ms
                and _sentence_lines(together) <= rules.max_lines
            ):
                merged[-1] = together
                continue
        merged.append(group)
    return merged


def _sentence_lines(words: Sequence[TimedWord]) -> int:
    return sum(1 for w in words[:-1] if _ends_sentence(w.text)) + 1


def _display(words: Sequence[TimedWord], rules: CueRules) -> str:
    """The event's lines: one sentence a line for merged sentences, else balanced lines."""
    if _sentence_lines(words) == 1:
        return break_lines(_text(words), rules)
    sentences: list[list[TimedWord]] = [[]]
    for word in words:
        sentences[-1].append(word)
        if _ends_sentence(word.text):
            sentences.append([])
    return "\n".join(_text(s) for s in sentences if s)


# -- lines ---------------------------------------------------------------------------------


def _greedy_lines(tokens: Sequence[str], width: int) -> list[str]:
    """Fill each line as far as it goes: the fewest lines the tokens can take."""
    lines: list[str] = []
    for token in tokens:
        if lines and len(lines[-1]) + 1 + len(token) <= width:
            lines[-1] += " " + token
        else:
            lines.append(token)
    return lines


def _balanced_pair(tokens: Sequence[str], width: int) -> tuple[str, str]:
    """Two lines within ``width``, evenly long, broken after punctuation where it can be."""
    best: tuple[str, str] | None = None
    best_score = math.inf
    for at in range(1, len(tokens)):
        top, bottom = " ".join(tokens[:at]), " ".join(tokens[at:])
        if len(top) > width or len(bottom) > width:
            continue
        # A slightly shorter top line reads better than a slightly longer one.
        score = abs(len(top) - len(bottom)) + (2 if len(top) > len(bottom) else 0)
        if _ends_sentence(tokens[at - 1]):
            score -= 30
        elif _ends_clause(tokens[at - 1]):
            score -= 15
        elif tokens[at - 1].lower() in _LEADING_WORDS:
            score += 8  # "in / the city" reads worse than "/ in the city"
        if score < best_score:
            best, best_score = (top, bottom), score
    if best is None:  # only when a token is wider than a line; greedy did its best
        first, *rest = _greedy_lines(tokens, width)
        return first, " ".join(rest)
    return best


# -- timing --------------------------------------------------------------------------------


def _frames_ms(frames: int, frame_rate: FrameRate) -> int:
    return math.ceil(Fraction(frames) / frame_rate.rate * 1000)


def _timed(
    groups: Sequence[Sequence[TimedWord]], rules: CueRules, frame_rate: FrameRate
) -> tuple[Cue, ...]:
    """Events for the word groups: spoken span, then extended into the free time after it."""
    gap_ms = _frames_ms(rules.min_gap_frames, frame_rate)
    close_ms = _frames_ms(rules.close_gap_frames, frame_rate)
    # QC counts the minimum in whole frames (20 at 23.976: 834.2 ms), so round up to a frame.
    min_frames = math.ceil(Fraction(rules.min_duration_ms, 1000) * frame_rate.rate)
    min_ms = max(rules.min_duration_ms, _frames_ms(min_frames, frame_rate))
    starts = [g[0].start_ms for g in groups]
    cues: list[Cue] = []
    for index, group in enumerate(groups):
        start = max(starts[index], cues[-1].end_ms + gap_ms if cues else 0)
        text = _display(group, rules)
        # Long enough to read and at least the minimum, never past the maximum.
        readable_ms = math.ceil(len(text.replace("\n", " ")) / rules.max_chars_per_second * 1000)
        wanted = max(group[-1].end_ms, start + min_ms, start + readable_ms)
        end = min(wanted, start + rules.max_duration_ms)
        if index + 1 < len(groups):
            latest = starts[index + 1] - gap_ms
            end = min(end, latest)
            if latest - end <= close_ms - gap_ms:
                # A blink of a gap is harder on the eye than none.
                end = min(latest, start + rules.max_duration_ms)
        end = max(end, start + 1)  # words said faster than frames can show still get an event
        cues.append(Cue(start_ms=start, end_ms=end, text=text))
    return tuple(cues)
