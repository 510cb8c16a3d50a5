"""Human post-edit of translated subtitles: the edits of a request, a new edit, and a
production's post-edit figures."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from greenlight.api.auth import CurrentAccess, PlatformDep
from greenlight.engine.requests import get_request
from greenlight.localization import post_edit
from greenlight.localization.post_edit import PostEditMetrics, SubtitleEdit
from greenlight.productions import get_production

router = APIRouter(tags=["localization"])


class SubtitleEditOut(BaseModel):
    """One change to one event (1-based) of a subtitle output: who, before, after, and the
    Levenshtein distance between the two in characters (spacing folded) and words."""

    id: int
    request_id: str
    output_asset_id: str
    event: int
    before: str
    after: str
    char_distance: int
    word_distance: int
    edited_by: str
    edited_at: datetime

    @classmethod
    def of(cls, edit: SubtitleEdit) -> SubtitleEditOut:
        return cls.model_validate(edit.to_json())


class SubtitleEdits(BaseModel):
    """A request's subtitle edits, oldest first."""

    items: list[SubtitleEditOut]


class SubtitleEditDraft(BaseModel):
    """A new line for one event of one of the request's subtitle outputs.

    ``seen``: the text the editor started from; the edit is refused
    (``post_edit.stale``) when someone changed the line meanwhile.
    """

    model_config = ConfigDict(extra="forbid")

    output_asset_id: str = Field(max_length=64)
    event: int = Field(strict=True)
    text: str = Field(max_length=4 * post_edit.MAX_TEXT)
    seen: str | None = Field(default=None, max_length=4 * post_edit.MAX_TEXT)


class SubtitleEditRecorded(BaseModel):
    """The edit kept, and what the streamer's text rules say of the new line (warnings:
    the line is kept anyway)."""

    edit: SubtitleEditOut
    warnings: list[str]


class LocalizationMetrics(BaseModel):
    """A production's post-edit figures over every subtitle output that has been in review.

    An event is edited when its final text differs from the machine's; distances are
    the machine's line against the final one, over edited events (null when none).
    """

    production_id: str
    tracks: int
    events: int
    events_edited: int
    mean_char_distance: float | None
    median_char_distance: float | None
    mean_word_distance: float | None
    untouched_share: float | None

    @classmethod
    def of(cls, figures: PostEditMetrics) -> LocalizationMetrics:
        return cls.model_validate(figures.to_json())


@router.get("/requests/{request_id}/subtitle-edits", response_model=SubtitleEdits)
def edits(request_id: str, access: CurrentAccess, platform: PlatformDep) -> SubtitleEdits:
    """Every change post-editors made to the request's subtitle outputs, oldest first."""
    with platform.db.read() as conn:
        get_request(conn, access, request_id)
        found = post_edit.edits_for(conn, request_id)
    return SubtitleEdits(items=[SubtitleEditOut.of(e) for e in found])


@router.post(
    "/requests/{request_id}/subtitle-edits",
    response_model=SubtitleEditRecorded,
    status_code=status.HTTP_201_CREATED,
)
def edit(
    request_id: str, body: SubtitleEditDraft, access: CurrentAccess, platform: PlatformDep
) -> SubtitleEditRecorded:
    """Change one event of a subtitle output while the request is ``in_review``.

    Takes the production's localization manager, a reviewing role or an admin
    (403 ``post_edit.not_editor``); another state is 409 ``post_edit.not_in_review``.
    Bad input is 422: ``post_edit.bad_event`` (events are 1 to the track's length),
    ``post_edit.empty_text``, ``post_edit.text_too_long``, ``post_edit.bad_text``,
    ``post_edit.unchanged``, ``post_edit.not_subtitles``; an output the request lacks
    is 404 ``post_edit.no_such_output``; a line changed meanwhile 409 ``post_edit.stale``.
    """
    with platform.db.transaction() as conn:
        get_request(conn, access, request_id)
        recorded = post_edit.edit_cue(
            conn,
            platform.blobs,
            access,
            request_id,
            body.output_asset_id,
            body.event,
            body.text,
            seen=body.seen,
        )
    return SubtitleEditRecorded(
        edit=SubtitleEditOut.of(recorded.edit), warnings=list(recorded.warnings)
    )


@router.get("/productions/{production_id}/localization-metrics", response_model=LocalizationMetrics)
def localization_metrics(
    production_id: str, access: CurrentAccess, platform: PlatformDep
) -> LocalizationMetrics:
    """The production's post-edit figures: events edited, mean and median edit distance,
    and the share of events the machine got right (left untouched)."""
    access.require_read(production_id)
    with platform.db.read() as conn:
        get_production(conn, production_id)
        figures = post_edit.metrics(conn, platform.blobs, production_id)
    return LocalizationMetrics.of(figures)
