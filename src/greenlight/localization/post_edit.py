"""Human post-edit: people correct machine-translated subtitles while they are in review.

A translated subtitle output stays as it was signed; each change an editor makes
to one of its events is kept beside it (:func:`edit_cue`): the text before and
after, who, when, and how far apart the two are (Levenshtein distance in
characters and in words). The edited track is the output with the latest text
of every event put in (:func:`edited_track`).

Who may edit: the production's localization manager, any reviewing role or an
admin, and only while the request is ``in_review``. A new line that breaks the
streamer's line-length, line-count or reading-speed rules is kept with a
warning: the editor may be mid-way through a change.

The productivity figures (:func:`metrics`) compare, for every event of every
reviewed subtitle output of a production, the machine's text with the final one:
how many events were edited, how far (mean and median distance), and the share
the machine got right. When a request is accepted, the edited pairs (source
line, final line) become approved translations in the production's memory
(:func:`remember_accepted`), so the next episode reuses them.
"""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from greenlight.accounts import Access
from greenlight.core.clock import utcnow
from greenlight.core.enums import RequestState, Role
from greenlight.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from greenlight.core.models import Asset, GenerationRequest
from greenlight.engine.assets import load_asset, request_outputs
from greenlight.engine.requests import load_request
from greenlight.localization import memory
from greenlight.store.blobs import BlobStore
from greenlight.store.schema import generation_requests, subtitle_edits
from greenlight.timedtext.io import Format, format_of, parse_track
from greenlight.timedtext.model import Cue, Track
from greenlight.timedtext.profiles import DEFAULT_FRAME_RATE, PROFILES, QCProfile, qc_profile
from greenlight.timedtext.qc import check_track
from greenlight.timedtext.timecode import timecode

# The output types a person can post-edit; TTML's flavour (TTML or IMSC) is told
# by the file name.
SUBTITLE_TYPES: dict[str, Format | None] = {
    "application/x-subrip": "srt",
    "text/vtt": "vtt",
    "application/ttml+xml": None,
}
MAX_TEXT = 500  # characters: a subtitle event is two lines of about 42
# The QC rules an edited line is checked against at once; timing is not the editor's.
_TEXT_RULES = frozenset({"line_length", "line_count", "reading_speed"})
# The states in which a request's outputs have been (or are being) reviewed.
_REVIEWED = (
    RequestState.IN_REVIEW,
    RequestState.CHANGES_REQUESTED,
    RequestState.REJECTED,
    RequestState.ACCEPTED,
    RequestState.DELIVERED,
)


@dataclass(frozen=True)
class SubtitleEdit:
    """One change to one event of a subtitle output."""

    id: int
    request_id: str
    asset_id: str
    event: int  # 1-based, in time order
    before: str
    after: str
    char_distance: int
    word_distance: int
    edited_by: str
    edited_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The edit as the API shows it (the asset is the output it changes)."""
        shown = asdict(self)
        shown["output_asset_id"] = shown.pop("asset_id")
        shown["edited_at"] = self.edited_at.isoformat()
        return shown


@dataclass(frozen=True)
class Recorded:
    """An edit just kept, and what QC says of the new line (warnings, not refusals)."""

    edit: SubtitleEdit
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class EventLine:
    """One event of a subtitle output as the post-editor sees it."""

    event: int
    start_ms: int
    end_ms: int
    timecode: str
    source: str | None  # the input subtitle's line, when the input was a subtitle file
    machine: str  # the output's own (signed) text
    current: str  # the latest edit's text, else the machine's
    history: tuple[SubtitleEdit, ...]  # oldest first
    warnings: tuple[str, ...] = ()  # what the text rules of QC say of the current text

    @property
    def edited(self) -> bool:
        """Whether the current text differs from the machine's."""
        return self.current != self.machine


@dataclass(frozen=True)
class PostEditMetrics:
    """A production's post-edit productivity: how much the machine's lines needed."""

    production_id: str
    tracks: int  # reviewed subtitle outputs
    events: int  # their events
    events_edited: int  # events whose final text differs from the machine's
    mean_char_distance: float | None  # over edited events; None when none was edited
    median_char_distance: float | None
    mean_word_distance: float | None
    untouched_share: float | None  # events left as the machine wrote them; None: no events

    def to_json(self) -> dict[str, Any]:
        """The figures as the API shows them."""
        return {
            "production_id": self.production_id,
            "tracks": self.tracks,
            "events": self.events,
            "events_edited": self.events_edited,
            "mean_char_distance": self.mean_char_distance,
            "median_char_distance": self.median_char_distance,
            "mean_word_distance": self.mean_word_distance,
            "untouched_share": self.untouched_share,
        }


# --- edit distance (pure) ------------------------------------------------------


def levenshtein(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """How many insertions, deletions and substitutions turn ``a`` into ``b``."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    previous = list(range(len(b) + 1))
    for i, item in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (item != other))
            )
        previous = current
    return previous[-1]


def _spoken(text: str) -> str:
    # A line break is where the words sit on screen, not a change to them.
    return " ".join(text.split())


def char_distance(before: str, after: str) -> int:
    """Character-level edit distance; spacing and line breaks folded first."""
    return levenshtein(_spoken(before), _spoken(after))


def word_distance(before: str, after: str) -> int:
    """Word-level edit distance (words split on spacing)."""
    return levenshtein(before.split(), after.split())


def _normalized(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def tidy_text(text: str) -> str:
    """An editor's line as it is kept: line breaks as ``\\n``, no trailing spaces or
    blank lines at either end; refused when empty, too long or holding control codes."""
    tidied = _normalized(text)
    if not tidied.strip():
        raise InvalidInput(
            "The new line is empty. Write the subtitle's text; to drop an event, ask for "
            "changes in the review instead.",
            code="post_edit.empty_text",
        )
    if len(tidied) > MAX_TEXT:
        raise InvalidInput(
            f"The new line has {len(tidied)} characters; a subtitle event holds at most "
            f"{MAX_TEXT}. Shorten it or split the event.",
            code="post_edit.text_too_long",
        )
    if any((ord(ch) < 0x20 and ch not in "\n\t") or ord(ch) == 0x7F for ch in tidied):
        raise InvalidInput(
            "The new line holds control characters; type it again as plain text.",
            code="post_edit.bad_text",
        )
    return tidied


def text_warnings(cue: Cue, profile: QCProfile, track: Track) -> tuple[str, ...]:
    """What the text rules of QC say of ``cue`` alone (line length, lines, reading speed)."""
    report = check_track(
        Track(cues=(cue,), language=track.language, frame_rate=track.frame_rate),
        profile,
        frame_rate=track.frame_rate or DEFAULT_FRAME_RATE,
    )
    return tuple(
        f"{v.rule.replace('_', ' ')}: {v.message} ({v.suggestion})"
        for v in report.violations
        if v.rule in _TEXT_RULES
    )


def _profile_for(language: str) -> QCProfile:
    base = language.split("-")[0].lower()
    return PROFILES.get(language) or PROFILES.get(base) or qc_profile(None)


# --- reading the tracks --------------------------------------------------------


def is_subtitles(asset: Asset) -> bool:
    """Whether ``asset`` is a subtitle file a person can post-edit."""
    return asset.media_type in SUBTITLE_TYPES


def read_subtitles(blobs: BlobStore, asset: Asset) -> Track:
    """The track a subtitle asset holds."""
    kind = SUBTITLE_TYPES.get(asset.media_type) or format_of(asset.filename)
    return parse_track(blobs.read_bytes(asset.sha256), name=asset.filename, format=kind)


def subtitle_outputs(conn: Connection, request_id: str) -> list[Asset]:
    """A request's outputs that are subtitle files, oldest first."""
    return [a for a in request_outputs(conn, request_id) if is_subtitles(a)]


def source_track(conn: Connection, blobs: BlobStore, request: GenerationRequest) -> Track | None:
    """The subtitles the request translated from, when its input was a subtitle file."""
    for item in request.inputs:
        asset = load_asset(conn, item.asset_id)
        if is_subtitles(asset):
            return read_subtitles(blobs, asset)
    return None


def _output_of(conn: Connection, request_id: str, asset_id: str) -> Asset:
    found = next((a for a in request_outputs(conn, request_id) if a.id == asset_id), None)
    if found is None:
        raise NotFound(
            f"Request {request_id} has no output {asset_id!r}; open the request to see its "
            "outputs' ids.",
            code="post_edit.no_such_output",
        )
    if not is_subtitles(found):
        raise InvalidInput(
            f"Output {found.filename} is {found.media_type}, not subtitles; only SRT, WebVTT "
            "and TTML outputs are post-edited.",
            code="post_edit.not_subtitles",
        )
    return found


def _event_number(track: Track, event: int) -> None:
    if not 1 <= event <= len(track.cues):
        raise InvalidInput(
            f"Event {event} is not in this track; its events are numbered 1 to {len(track.cues)}.",
            code="post_edit.bad_event",
        )


# --- editing -------------------------------------------------------------------


def may_edit(access: Access, production_id: str) -> bool:
    """Whether ``access`` may post-edit the production's subtitles (reviewers, admins)."""
    return bool(access.review_roles(production_id)) or Role.ADMIN in access.roles_in(production_id)


def edit_cue(
    conn: Connection,
    blobs: BlobStore,
    access: Access,
    request_id: str,
    output_asset_id: str,
    event: int,
    new_text: str,
    *,
    seen: str | None = None,
) -> Recorded:
    """Change event ``event`` (1-based) of a subtitle output of a request in review.

    ``seen`` is the text the editor started from; when someone changed the line
    meanwhile the edit is refused (``post_edit.stale``) rather than overwriting
    theirs. Refusals: ``access.no_role`` (404-like: cannot see the production),
    ``post_edit.not_editor`` (403), ``post_edit.not_in_review`` (409),
    ``post_edit.no_such_output`` (404), ``post_edit.not_subtitles``,
    ``post_edit.bad_event``, ``post_edit.empty_text``, ``post_edit.text_too_long``,
    ``post_edit.bad_text``, ``post_edit.unchanged`` (422).
    """
    request = load_request(conn, request_id)
    access.require_read(request.production_id)
    if not may_edit(access, request.production_id):
        raise Forbidden(
            "Post-editing subtitles takes the production's localization manager, a reviewing "
            "role or an admin; ask one of them to make the change.",
            code="post_edit.not_editor",
            reason="role",
        )
    # Hold the request row so a concurrent review or edit waits (PostgreSQL; SQLite
    # already serializes writers).
    conn.execute(
        select(generation_requests.c.id)
        .where(generation_requests.c.id == request_id)
        .with_for_update()
    )
    state = load_request(conn, request_id).state
    if state is not RequestState.IN_REVIEW:
        raise Conflict(
            f"Request {request_id} is {state.value}; its subtitles are post-edited "
            "only while it is in review.",
            code="post_edit.not_in_review",
            state=state.value,
        )
    asset = _output_of(conn, request_id, output_asset_id)
    track = read_subtitles(blobs, asset)
    _event_number(track, event)
    after = tidy_text(new_text)
    history = edits_for(conn, request_id, asset_id=asset.id, event=event)
    before = history[-1].after if history else track.cues[event - 1].text
    if seen is not None and _normalized(seen) != _normalized(before):
        raise Conflict(
            f"Someone changed event {event} while you were editing it; it now reads "
            f"{before!r}. Reload the page and make your change again.",
            code="post_edit.stale",
        )
    if after == before:
        raise InvalidInput(
            f"Event {event} already reads exactly that; nothing was changed.",
            code="post_edit.unchanged",
        )
    row = {
        "request_id": request_id,
        "asset_id": asset.id,
        "event": event,
        "before_text": before,
        "after_text": after,
        "char_distance": char_distance(before, after),
        "word_distance": word_distance(before, after),
        "edited_by": access.person.id,
        "edited_at": utcnow(),
    }
    new_id = conn.execute(insert(subtitle_edits).values(**row)).inserted_primary_key
    assert new_id is not None
    edit = _edit({"id": new_id[0], **row})
    cue = replace(track.cues[event - 1], text=after)
    warnings = text_warnings(cue, _profile_for(_target_language(request, track)), track)
    return Recorded(edit=edit, warnings=warnings)


def _target_language(request: GenerationRequest, track: Track) -> str:
    target = request.parameters.get("target")
    return target if isinstance(target, str) and target else track.language


def _edit(row: Any) -> SubtitleEdit:
    return SubtitleEdit(
        id=int(row["id"]),
        request_id=row["request_id"],
        asset_id=row["asset_id"],
        event=row["event"],
        before=row["before_text"],
        after=row["after_text"],
        char_distance=row["char_distance"],
        word_distance=row["word_distance"],
        edited_by=row["edited_by"],
        edited_at=row["edited_at"],
    )


def edits_for(
    conn: Connection, request_id: str, *, asset_id: str | None = None, event: int | None = None
) -> list[SubtitleEdit]:
    """A request's subtitle edits, oldest first (of one output or event, when given)."""
    t = subtitle_edits.c
    query = select(subtitle_edits).where(t.request_id == request_id)
    if asset_id is not None:
        query = query.where(t.asset_id == asset_id)
    if event is not None:
        query = query.where(t.event == event)
    rows = conn.execute(query.order_by(t.id)).mappings()
    return [_edit(row) for row in rows]


def _latest(edits: Iterable[SubtitleEdit]) -> dict[tuple[str, int], str]:
    """The current text of each edited ``(asset, event)``."""
    return {(e.asset_id, e.event): e.after for e in edits}


def edited_track(
    conn: Connection, blobs: BlobStore, request_id: str, output_asset_id: str
) -> Track:
    """The output's track with every event's latest edit put in (timing unchanged)."""
    asset = _output_of(conn, request_id, output_asset_id)
    track = read_subtitles(blobs, asset)
    latest = _latest(edits_for(conn, request_id, asset_id=asset.id))
    cues = tuple(
        replace(cue, text=latest.get((asset.id, number), cue.text))
        for number, cue in enumerate(track.cues, 1)
    )
    return replace(track, cues=cues, metadata={**track.metadata, "post_edited": "true"})


def _sources(source: Track | None, output: Track) -> list[str | None]:
    """The source line of each output event: the source event at the same times, else at
    the same position when both tracks have as many events."""
    if source is None:
        return [None] * len(output.cues)
    by_time = {(c.start_ms, c.end_ms): c.text for c in source.cues}
    same_count = len(source.cues) == len(output.cues)
    return [
        by_time.get((cue.start_ms, cue.end_ms), source.cues[i].text if same_count else None)
        for i, cue in enumerate(output.cues)
    ]


def event_lines(
    conn: Connection, blobs: BlobStore, request_id: str, output_asset_id: str
) -> list[EventLine]:
    """Every event of one subtitle output: times, source, machine text, current text, edits."""
    request = load_request(conn, request_id)
    asset = _output_of(conn, request_id, output_asset_id)
    track = read_subtitles(blobs, asset)
    sources = _sources(source_track(conn, blobs, request), track)
    history: dict[int, list[SubtitleEdit]] = {}
    for edit in edits_for(conn, request_id, asset_id=asset.id):
        history.setdefault(edit.event, []).append(edit)
    rate = track.frame_rate or DEFAULT_FRAME_RATE
    profile = _profile_for(_target_language(request, track))
    lines = []
    for number, cue in enumerate(track.cues, 1):
        edits = tuple(history.get(number, ()))
        current = edits[-1].after if edits else cue.text
        lines.append(
            EventLine(
                event=number,
                start_ms=cue.start_ms,
                end_ms=cue.end_ms,
                timecode=timecode(cue.start_ms, rate),
                source=sources[number - 1],
                machine=cue.text,
                current=current,
                history=edits,
                warnings=text_warnings(replace(cue, text=current), profile, track),
            )
        )
    return lines


# --- productivity and memory ---------------------------------------------------


def metrics(conn: Connection, blobs: BlobStore, production_id: str) -> PostEditMetrics:
    """The production's post-edit figures over every reviewed subtitle output.

    An event counts as edited when its final text differs from the machine's; its
    distance is the machine's text against the final one (however many edits it
    took to get there).
    """
    r = generation_requests.c
    request_ids = conn.execute(
        select(r.id)
        .where(r.production_id == production_id, r.state.in_([s.value for s in _REVIEWED]))
        .order_by(r.id)
    ).scalars()
    tracks = events = 0
    chars: list[int] = []
    words: list[int] = []
    for request_id in request_ids:
        outputs = subtitle_outputs(conn, request_id)
        if not outputs:
            continue
        edits = edits_for(conn, request_id)
        first: dict[tuple[str, int], str] = {}
        for edit in edits:
            first.setdefault((edit.asset_id, edit.event), edit.before)
        final = _latest(edits)
        for asset in outputs:
            tracks += 1
            events += len(read_subtitles(blobs, asset).cues)
        for key, machine in first.items():
            if final[key] != machine:
                chars.append(char_distance(machine, final[key]))
                words.append(word_distance(machine, final[key]))
    return PostEditMetrics(
        production_id=production_id,
        tracks=tracks,
        events=events,
        events_edited=len(chars),
        mean_char_distance=statistics.fmean(chars) if chars else None,
        median_char_distance=float(statistics.median(chars)) if chars else None,
        mean_word_distance=statistics.fmean(words) if words else None,
        untouched_share=(events - len(chars)) / events if events else None,
    )


def remember_accepted(conn: Connection, blobs: BlobStore, request_id: str, *, by: str) -> int:
    """Put an accepted request's edited lines into the production's translation memory.

    Call it when the request is accepted. Each event whose final text differs from
    the machine's becomes an approved ``(source line, final line)`` pair for the
    request's ``source`` and ``target`` languages. A request with no source
    subtitle file or no language pair adds nothing. Returns how many pairs were kept.
    """
    request = load_request(conn, request_id)
    source_language = request.parameters.get("source")
    target_language = request.parameters.get("target")
    if not isinstance(source_language, str) or not isinstance(target_language, str):
        return 0
    source = source_track(conn, blobs, request)
    if source is None:
        return 0
    pairs: list[tuple[str, str]] = []
    for asset in subtitle_outputs(conn, request_id):
        lines = event_lines(conn, blobs, request_id, asset.id)
        pairs.extend((line.source, line.current) for line in lines if line.edited and line.source)
    if not pairs:
        return 0
    return memory.approve(
        conn, request.production_id, source_language, target_language, pairs, by=by
    )
