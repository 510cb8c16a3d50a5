"""What the machine-translation backends share: reading the track, the glossary and
the memory, one batch for the engine, and writing the translated track back.

A backend supplies only its engine: a function from a list of segments (plain
text with ``<i>`` tags and glossary placeholders) to their translations, called
once per run with every segment of the track. Everything else is here:

- a cue becomes one segment (its lines joined, translated as one sentence) or,
  for a two-speaker cue whose lines start with ``-``, one segment per line; a
  cue in italics throughout is translated plain and put back in italics;
- an exact translation-memory hit is used as it is, and the cue is not sent;
- glossary terms are swapped for placeholders before, put back as given after,
  and every cue is checked (``glossary_mode``: ``enforce``, ``check``, ``off``);
- the translation is broken again into lines of at most ``line_length``
  characters (balanced, preferring a break after punctuation); cue timing and
  position are never changed;
- besides the subtitle file, a JSON report lists per cue where the text came
  from, the fuzzy memory suggestions and the glossary entries not honoured.

Subtitle files (SRT, WebVTT, TTML, IMSC 1.1 text) are read and written with
``greenlight.timedtext.io``; the translation is written in the input's format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from greenlight.backends._http import write_all
from greenlight.backends.base import (
    BackendInput,
    Capabilities,
    Parameter,
    bad_parameter,
    check_parameters,
)
from greenlight.core.errors import InvalidInput
from greenlight.localization.glossary import (
    GlossaryEntry,
    GlossaryIssue,
    Protected,
    check,
    entries_from_parameter,
    language_tag,
    protect,
    restore,
)
from greenlight.localization.memory import folded
from greenlight.timedtext import Cue, Track
from greenlight.timedtext.io import Format, dump_track, format_of, parse_track

SRT = "application/x-subrip"
FORMAT_OF_TYPE: dict[str, Format] = {SRT: "srt", "text/vtt": "vtt", "application/ttml+xml": "ttml"}
SUBTITLE_TYPES: tuple[str, ...] = tuple(FORMAT_OF_TYPE)
_EXTENSION = {"srt": "srt", "vtt": "vtt", "ttml": "ttml", "imsc": "ttml"}
REPORT = "application/json"
GLOSSARY_MODES = ("enforce", "check", "off")
DEFAULT_LINE_LENGTH = 42
MAX_CUES = 20_000
MAX_SUBTITLE_BYTES = 20 * 1024 * 1024

Engine = Callable[[list[str]], list[str]]
"""Translates a batch of segments, in order, one translation per segment."""


def capabilities(*, remote: bool) -> Capabilities:
    """What every subtitle-translation backend declares; ``remote`` when a vendor runs it."""
    return Capabilities(
        tasks=("translate_subtitles",),
        media_in={"subtitles": SUBTITLE_TYPES},
        media_out=(*SUBTITLE_TYPES, REPORT),
        parameters=parameters(),
        remote=remote,
    )


def parameters() -> tuple[Parameter, ...]:
    """The parameters every MT backend takes."""
    return (
        Parameter("source", "str", "the subtitles' language (BCP 47: 'en')", required=True),
        Parameter("target", "str", "the language to translate into ('es', 'fr')", required=True),
        Parameter(
            "glossary",
            "json",
            "the production's glossary for the target language: "
            '[{"term", "translation" (null: never translated), "case": "exact"|"ignore"}]',
        ),
        Parameter(
            "glossary_mode",
            "str",
            "enforce: protect terms and check; check: only report; off: ignore the glossary",
            default="enforce",
            choices=GLOSSARY_MODES,
        ),
        Parameter(
            "memory",
            "json",
            "translation-memory hits: "
            '[{"cue" (1-based), "source", "translation", "score" (1.0: exact)}]',
        ),
        Parameter(
            "line_length",
            "int",
            "most characters per line when the translation is broken into lines",
            default=DEFAULT_LINE_LENGTH,
            minimum=10,
            maximum=200,
        ),
    )


@dataclass(frozen=True)
class Suggestion:
    """A fuzzy translation-memory hit offered for a cue."""

    source: str
    translation: str
    score: float


@dataclass
class Request:
    """An MT run's parameters, read and checked."""

    source: str
    target: str
    glossary: list[GlossaryEntry]
    glossary_mode: str
    line_length: int
    exact: dict[int, str] = field(default_factory=dict)  # cue number -> approved translation
    suggestions: dict[int, list[Suggestion]] = field(default_factory=dict)


def read_request(backend: str, effective: Mapping[str, Any]) -> Request:
    """The checked parameters of an MT run (languages tidied, glossary and memory read)."""
    code = f"backend.{backend}.bad_parameter"
    source = language_tag(effective["source"], code=code)
    target = language_tag(effective["target"], code=code)
    if source == target:
        raise bad_parameter(backend, f"'source' and 'target' are both {source}; nothing to do.")
    request = Request(
        source=source,
        target=target,
        glossary=entries_from_parameter(effective.get("glossary"), target, code=code),
        glossary_mode=effective["glossary_mode"],
        line_length=effective["line_length"],
    )
    hits = effective.get("memory")
    if hits is None:
        return request
    if not isinstance(hits, list):
        raise bad_parameter(backend, "'memory' must be a list of translation-memory hits.")
    for number, hit in enumerate(hits, start=1):
        if (
            not isinstance(hit, dict)
            or isinstance(hit.get("cue"), bool)
            or not isinstance(hit.get("cue"), int)
            or hit["cue"] < 1
            or not isinstance(hit.get("source"), str)
            or not isinstance(hit.get("translation"), str)
            or not folded(hit["translation"])
            or isinstance(hit.get("score"), bool)
            or not isinstance(hit.get("score"), int | float)
            or not 0 <= hit["score"] <= 1
        ):
            raise bad_parameter(
                backend,
                f"Memory hit {number} must be an object with 'cue' (1-based), 'source', "
                "a non-empty 'translation' and 'score' from 0 to 1.",
            )
        if hit["score"] >= 1:
            request.exact[hit["cue"]] = hit["translation"]
        else:
            request.suggestions.setdefault(hit["cue"], []).append(
                Suggestion(hit["source"], hit["translation"], float(hit["score"]))
            )
    return request


def check_task(
    backend: str,
    capabilities: Capabilities,
    inputs: Sequence[BackendInput],
    parameters: Mapping[str, Any],
    pair: Callable[[str, str], object] = lambda source, target: None,
) -> dict[str, Any]:
    """An MT backend's check: parameters, the language ``pair`` (refused by raising),
    glossary and memory against the readable subtitles; the effective parameters,
    with the languages normalized."""
    effective = check_parameters(backend, capabilities, parameters)
    request = read_request(backend, effective)
    pair(request.source, request.target)
    item = subtitles_input(backend, inputs)
    check_memory(backend, request, read_subtitles(backend, item, request.source))
    effective["source"], effective["target"] = request.source, request.target
    return effective


def check_memory(backend: str, request: Request, track: Track) -> None:
    """Refuse exact hits that name a cue the track does not have."""
    for number in sorted(set(request.exact) | set(request.suggestions)):
        if number > len(track.cues):
            raise bad_parameter(
                backend,
                f"A memory hit names cue {number} but the subtitles have {len(track.cues)}; "
                "look the memory up again for this file.",
            )


def subtitles_input(backend: str, inputs: Sequence[BackendInput]) -> BackendInput:
    """The one ``subtitles`` input, refused when it is missing, doubled or not SRT."""
    parts = [item.part for item in inputs]
    if parts != ["subtitles"]:
        raise InvalidInput(
            f"{backend} takes exactly one input named 'subtitles' (got "
            f"{', '.join(parts) or 'none'}); send the file to translate as 'subtitles'.",
            code=f"backend.{backend}.unexpected_input",
            parts=parts,
        )
    item = inputs[0]
    if item.media_type not in SUBTITLE_TYPES:
        raise InvalidInput(
            f"The subtitles are {item.media_type}; {backend} reads SRT, WebVTT and TTML. "
            "Convert the file with `greenlight subtitles convert` and send it again.",
            code=f"backend.{backend}.unsupported_type",
            media_type=item.media_type,
        )
    return item


# Reading and writing.


def read_subtitles(backend: str, item: BackendInput, language: str) -> Track:
    """The input's track; refused (``unreadable_subtitles``) as the reader says why."""
    try:
        if item.path.stat().st_size > MAX_SUBTITLE_BYTES:
            raise InvalidInput(
                f"The subtitles are larger than {MAX_SUBTITLE_BYTES // 2**20} MB.",
                code="subtitles.too_large",
            )
        raw = item.path.read_bytes()
        kind = FORMAT_OF_TYPE.get(item.media_type)
        track = parse_track(
            raw,
            name=item.path.name,
            format=None if kind == "ttml" else kind,
            language=language,
        )
    except OSError:
        raise InvalidInput(
            "The subtitles file is missing or cannot be opened; send it again.",
            code=f"backend.{backend}.unreadable_subtitles",
        ) from None
    except InvalidInput as refused:
        raise InvalidInput(
            refused.message, code=f"backend.{backend}.unreadable_subtitles", reason=refused.code
        ) from None
    if len(track.cues) > MAX_CUES:
        raise InvalidInput(
            f"The subtitles have {len(track.cues)} events, more than {MAX_CUES}; split the file.",
            code=f"backend.{backend}.unreadable_subtitles",
        )
    return replace(track, language=language)


# Cues to segments and back.

_WHOLE_ITALIC = re.compile(r"^<i>((?:(?!</?i>).)*)</i>$")
_TAG = re.compile(r"</?i>")
_LEADING = re.compile(r"^[\s\-¿¡\"'«“(]*(?:<i>)?[\s\-¿¡\"'«“(]*")


@dataclass
class _Plan:
    """How one cue is sent and put back together."""

    italic: bool
    dialogue: bool
    segments: list[Protected]
    sources: list[str]


def _plan(cue: Cue, request: Request) -> _Plan:
    lines = [line.strip() for line in cue.lines if line.strip()]
    italic = bool(lines) and all(_WHOLE_ITALIC.match(line) for line in lines)
    if italic:
        lines = [_WHOLE_ITALIC.sub(r"\1", line).strip() for line in lines]
    dialogue = len(lines) > 1 and all(line.startswith("-") for line in lines)
    sources = [line.lstrip("-").strip() for line in lines] if dialogue else [" ".join(lines)]
    entries = request.glossary if request.glossary_mode == "enforce" else []
    return _Plan(italic, dialogue, [protect(text, entries) for text in sources], sources)


def _put_back(plan: _Plan, translations: list[str], request: Request) -> tuple[str, list[str]]:
    lost: list[str] = []
    parts = []
    for protected, source, translated in zip(
        plan.segments, plan.sources, translations, strict=True
    ):
        translated = _after_leading_term(protected.text, source, translated)
        # A term is never split across lines: its spaces are kept hard until the break.
        kept_whole = replace(
            protected, renderings=tuple(r.replace(" ", _HARD) for r in protected.renderings)
        )
        text, missing = restore(translated, kept_whole)
        lost.extend(m.replace(_HARD, " ") for m in missing)
        parts.append(re.sub(r"[ \t\n]+", " ", text).strip())
    if plan.dialogue:
        lines = [f"- {part}" for part in parts]
    else:
        lines = balanced_lines(parts[0], request.line_length)
    if plan.italic:
        lines = [f"<i>{line}</i>" for line in lines]
    return "\n".join(lines).replace(_HARD, " "), lost


_HARD = "\u00a0"
_PLACEHOLDER_START = re.compile(r"^zgl\d+q\s+(\w)", re.IGNORECASE)


def _after_leading_term(protected: str, source: str, translated: str) -> str:
    """Undo an engine capitalising the word after a term that starts the segment.

    Engines see the placeholder as an unknown word and capitalise the next one as
    the sentence's first; the source says whether that word really is lower case.
    """
    lead = _LEADING.match(protected)
    start = lead.end() if lead else 0
    if not _PLACEHOLDER_START.match(protected[start:]):
        return translated
    after = protected[start:].split(maxsplit=2)
    if len(after) < 2 or not after[1][:1].islower():
        return translated
    lead = _LEADING.match(translated)
    at = lead.end() if lead else 0
    found = _PLACEHOLDER_START.match(translated[at:])
    if found is None:
        return translated
    k = at + found.start(1)
    word = translated[k:]
    if word[:1].isupper() and not word[1:2].isupper():
        return translated[:k] + word[:1].lower() + word[1:]
    return translated


def balanced_lines(text: str, width: int, max_lines: int = 2) -> list[str]:
    """``text`` as at most ``max_lines`` display lines of about equal length.

    One line when it fits in ``width`` characters (tags not counted); else the
    break that makes the longest line shortest, preferring one after punctuation
    and a top line no longer than the bottom one. Italics open on one line and
    closing on the next are closed and reopened so each line stands alone.
    """
    words = [word for word in re.split(r"[ \t\n]+", text) if word]  # not at hard spaces
    if _visible(text) <= width or len(words) < 2:
        return [text]
    best: tuple[float, list[str]] | None = None
    for cut in range(1, len(words)):
        top, bottom = " ".join(words[:cut]), " ".join(words[cut:])
        longest = max(_visible(top), _visible(bottom))
        score = float(longest)
        if longest > width:
            score += 1000 + longest
        if _TAG.sub("", top)[-1:] in ",.;:?!":
            score -= 6
        if _visible(top) > _visible(bottom):
            score += 0.5
        if best is None or score < best[0]:
            best = (score, [top, bottom])
    assert best is not None
    lines = best[1]
    if max_lines > 2 and _visible(lines[1]) > width:
        lines = [lines[0], *balanced_lines(lines[1], width, max_lines - 1)]
    return _closed_italics(lines)


def _visible(text: str) -> int:
    return len(_TAG.sub("", text))


def _closed_italics(lines: list[str]) -> list[str]:
    fixed = []
    carried = False
    for line in lines:
        if carried:
            line = "<i>" + line
        opened = line.rfind("<i>") > line.rfind("</i>")
        if opened:
            line += "</i>"
        carried = opened
        fixed.append(line)
    return fixed


# The run.


@dataclass(frozen=True)
class Translated:
    """A translated track and the report that goes with it."""

    track: Track
    report: dict[str, Any]
    segments_sent: int
    from_memory: int
    glossary_issues: int


def translate_track(track: Track, request: Request, engine: Engine) -> Translated:
    """``track`` translated cue by cue with one call to ``engine`` for all of it."""
    plans: dict[int, _Plan] = {}
    batch: list[str] = []
    for number, cue in enumerate(track.cues, start=1):
        if number in request.exact or not cue.text.strip():
            continue
        plans[number] = _plan(cue, request)
        batch.extend(p.text for p in plans[number].segments)
    translations = engine(batch) if batch else []
    if len(translations) != len(batch):
        raise InvalidInput(
            f"The engine returned {len(translations)} translations for {len(batch)} "
            "segments; nothing was kept.",
            code="backend.mt.misaligned",
        )
    cues = []
    report_cues = []
    issues_total = 0
    at = 0
    checked = request.glossary if request.glossary_mode != "off" else []
    for number, cue in enumerate(track.cues, start=1):
        entry: dict[str, Any] = {"cue": number, "start": cue.start_ms / 1000}
        lost: list[str] = []
        if number in request.exact:
            text, origin = request.exact[number], "memory"
        elif number in plans:
            plan = plans[number]
            count = len(plan.segments)
            text, lost = _put_back(plan, translations[at : at + count], request)
            at += count
            origin = "machine"
        else:
            text, origin = cue.text, "empty"
        issues: list[GlossaryIssue] = check(cue.text, text, checked)
        issues_total += len(issues)
        entry["origin"] = origin
        if issues:
            entry["glossary"] = [issue.describe() for issue in issues]
        if lost:
            entry["placeholders_lost"] = lost
        if number in request.suggestions:
            entry["suggestions"] = [
                {"source": s.source, "translation": s.translation, "score": round(s.score, 4)}
                for s in sorted(request.suggestions[number], key=lambda s: -s.score)
            ]
        report_cues.append(entry)
        cues.append(replace(cue, text=text))
    metadata = {**track.metadata, "machine_translated": "true", "source_language": request.source}
    translated = replace(track, cues=tuple(cues), language=request.target, metadata=metadata)
    from_memory = sum(1 for number in request.exact if number <= len(track.cues))
    report = {
        "source": request.source,
        "target": request.target,
        "cues": report_cues,
        "from_memory": from_memory,
        "machine": len(plans),
        "glossary_mode": request.glossary_mode,
        "glossary_issues": issues_total,
    }
    return Translated(translated, report, len(batch), from_memory, issues_total)


def write_outputs(out_dir: Path, item: BackendInput, result: Translated) -> tuple[Path, Path]:
    """The translated subtitles (in the input's format) and the JSON report, both or neither."""
    target = result.track.language
    kind = format_of(item.path.name) if item.media_type == "application/ttml+xml" else None
    kind = kind or FORMAT_OF_TYPE[item.media_type]
    stem = item.path.stem
    subtitles, report = write_all(
        out_dir,
        [
            (f"{stem}.{target}.{_EXTENSION[kind]}", dump_track(result.track, kind)),
            (
                f"{stem}.{target}.mt.json",
                json.dumps(result.report, ensure_ascii=False, indent=1).encode(),
            ),
        ],
    )
    return subtitles, report
