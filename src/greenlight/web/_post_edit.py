"""Post-editing a translated subtitle output in review, and a production's post-edit figures.

One plain form per event (no script): the editor changes the line and sends it;
the page comes back with the change in the event's history. Accepting from this
page also puts the edited lines into the production's translation memory.
"""

# No ``from __future__ import annotations``: FastAPI must see the dependencies
# (closures over the platform) in the handlers' annotations at definition time.

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response

from greenlight.core.enums import RequestState, Verdict
from greenlight.core.errors import GreenlightError, InvalidInput
from greenlight.core.models import Asset, Production, RequestDetail
from greenlight.engine.platform import Platform
from greenlight.engine.requests import get_request, review
from greenlight.localization import post_edit
from greenlight.localization.post_edit import EventLine, PostEditMetrics
from greenlight.productions import get_production
from greenlight.timedtext.io import dump_track, format_of
from greenlight.web._render import render, see_other
from greenlight.web._requests import person_names
from greenlight.web._review import DONE, ReviewRights, review_rights
from greenlight.web._route import PageRoute
from greenlight.web._session import Viewer, form_from_viewer, signed_in

PAGE_SIZE = 200  # events a page: an episode (~1,500 events) is a handful of pages
_MAX_NOTE = 4000
_DONE = {**DONE, "edited": "Your change is recorded."}


@dataclass(frozen=True)
class PostEditView:
    """Everything the post-edit page shows."""

    detail: RequestDetail
    production: Production
    outputs: list[Asset]  # the request's subtitle outputs
    output: Asset | None  # the one shown
    lines: list[EventLine]  # this page's events
    events: int  # in the whole track
    page: int
    pages: int
    can_edit: bool
    why_not: str
    review: ReviewRights
    names: dict[str, str]


def _why_not(detail: RequestDetail, can_edit: bool) -> str:
    if detail.request.state is not RequestState.IN_REVIEW:
        return (
            f"The request is {detail.request.state.value.replace('_', ' ')}: subtitles are "
            "post-edited only while it is in review."
        )
    if not can_edit:
        return (
            "Post-editing takes the production's localization manager, a reviewing role or "
            "an admin; you can read the lines and their history."
        )
    return ""


def load_view(
    platform: Platform, viewer: Viewer, request_id: str, output_id: str, page: int
) -> PostEditView:
    """The post-edit page's content, or the services' NotFound / Forbidden."""
    with platform.db.read() as conn:
        detail = get_request(conn, viewer.access, request_id)
        request = detail.request
        production = get_production(conn, request.production_id)
        outputs = post_edit.subtitle_outputs(conn, request_id)
        output = next((o for o in outputs if o.id == output_id), None)
        if output_id and output is None:
            raise InvalidInput(
                f"Request {request_id} has no subtitle output {output_id!r}; pick one of "
                "those the page lists.",
                code="post_edit.no_such_output",
            )
        output = output or (outputs[0] if outputs else None)
        every = post_edit.event_lines(conn, platform.blobs, request_id, output.id) if output else []
        pages = max(1, -(-len(every) // PAGE_SIZE))
        page = min(max(page, 1), pages)
        lines = every[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        names = person_names(conn, [e.edited_by for line in lines for e in line.history])
    editor = post_edit.may_edit(viewer.access, request.production_id)
    in_review = request.state is RequestState.IN_REVIEW
    return PostEditView(
        detail=detail,
        production=production,
        outputs=outputs,
        output=output,
        lines=lines,
        events=len(every),
        page=page,
        pages=pages,
        can_edit=editor and in_review,
        why_not=_why_not(detail, editor),
        review=review_rights(viewer.access, request),
        names=names,
    )


def post_edit_router(platform: Platform) -> APIRouter:
    """``/requests/{id}/post-edit`` (events, edits, review) and
    ``/productions/{id}/localization`` (the post-edit figures)."""
    router = APIRouter(route_class=PageRoute)
    viewer_dependency = signed_in(platform)
    checked_form = form_from_viewer(platform)

    def page(
        request: Request,
        viewer: Viewer,
        request_id: str,
        *,
        output: str = "",
        number: int = 1,
        done: str = "",
        error: GreenlightError | None = None,
        kept: dict[str, str] | None = None,
    ) -> Response:
        view = load_view(platform, viewer, request_id, output, number)
        return render(
            request,
            "post_edit.html",
            status=error.status if error is not None else 200,
            view=view,
            done=_DONE.get(done, ""),
            error=error,
            kept=kept or {},
        )

    @router.get("/requests/{request_id}/post-edit", include_in_schema=False)
    def show(
        request: Request,
        request_id: str,
        viewer: Annotated[Viewer, Depends(viewer_dependency)],
        output: Annotated[str, Query(max_length=64)] = "",
        page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
        done: Annotated[str, Query(max_length=40)] = "",
    ) -> Response:
        return page(request, viewer, request_id, output=output, number=page_number, done=done)

    @router.post("/requests/{request_id}/post-edit/events", include_in_schema=False)
    def change_line(
        request: Request,
        request_id: str,
        viewer: Annotated[Viewer, Depends(checked_form)],
        output: Annotated[str, Form(max_length=64)],
        event: Annotated[int, Form(ge=-1_000_000, le=1_000_000)],
        text: Annotated[str, Form(max_length=4 * post_edit.MAX_TEXT)] = "",
        seen: Annotated[str | None, Form(max_length=4 * post_edit.MAX_TEXT)] = None,
    ) -> Response:
        number = max(1, (event - 1) // PAGE_SIZE + 1)
        try:
            with platform.db.transaction() as conn:
                post_edit.edit_cue(
                    conn,
                    platform.blobs,
                    viewer.access,
                    request_id,
                    output,
                    event,
                    text,
                    seen=seen,
                )
        except GreenlightError as error:
            return page(
                request,
                viewer,
                request_id,
                output=output,
                number=number,
                error=error,
                kept={"event": str(event), "text": text},
            )
        return see_other(
            f"/requests/{request_id}/post-edit?output={output}&page={number}&done=edited"
            f"#event-{event}"
        )

    @router.post("/requests/{request_id}/post-edit/review", include_in_schema=False)
    def review_here(
        request: Request,
        request_id: str,
        viewer: Annotated[Viewer, Depends(checked_form)],
        verdict: Annotated[Verdict, Form()],
        note: Annotated[str, Form(max_length=_MAX_NOTE)] = "",
    ) -> Response:
        try:
            review(platform, viewer.access, request_id, verdict, note)
        except GreenlightError as error:
            return page(request, viewer, request_id, error=error, kept={"review": note})
        # Accepting also teaches the translation memory the edited lines (engine review).
        return see_other(f"/requests/{request_id}/post-edit?done={verdict.value}")

    @router.get("/requests/{request_id}/post-edit/{asset_id}/edited", include_in_schema=False)
    def edited(
        request_id: str,
        asset_id: str,
        viewer: Annotated[Viewer, Depends(viewer_dependency)],
    ) -> Response:
        with platform.db.read() as conn:
            get_request(conn, viewer.access, request_id)
            outputs = {o.id: o for o in post_edit.subtitle_outputs(conn, request_id)}
            track = post_edit.edited_track(conn, platform.blobs, request_id, asset_id)
        asset = outputs[asset_id]  # edited_track has refused any other id
        name = asset.filename.rsplit(".", 1)
        filename = f"{name[0]}.edited.{name[1]}" if len(name) == 2 else f"{asset.filename}.edited"
        return Response(
            content=dump_track(track, format_of(asset.filename)),
            media_type=asset.media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @router.get("/productions/{production_id}/localization", include_in_schema=False)
    def figures(
        request: Request,
        production_id: str,
        viewer: Annotated[Viewer, Depends(viewer_dependency)],
    ) -> Response:
        viewer.access.require_read(production_id)
        with platform.db.read() as conn:
            production = get_production(conn, production_id)
            numbers: PostEditMetrics = post_edit.metrics(conn, platform.blobs, production_id)
        return render(request, "localization.html", production=production, metrics=numbers)

    return router
