"""The review queue: outputs waiting for the viewer's verdict, with the verdict forms inline."""

# No ``from __future__ import annotations``: FastAPI must see the dependencies
# (closures over the platform) in the handlers' annotations at definition time.

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from greenlight.accounts import Access
from greenlight.core.enums import CREATIVE_LEADS, Intent, RequestState
from greenlight.core.models import GenerationRequest, RequestDetail
from greenlight.engine.platform import Platform
from greenlight.engine.requests import get_request, review_queue
from greenlight.productions import list_productions
from greenlight.web._render import render
from greenlight.web._route import PageRoute
from greenlight.web._session import Viewer, signed_in

# What a finished form post says on the page it lands on (keys, not free text,
# so nobody can make a Greenlight page say something by crafting a link).
DONE = {
    "approved": "Your approval is recorded.",
    "refused": "Your refusal is recorded; the request is denied.",
    "accept": "Accepted. The outputs can now be delivered.",
    "reject": "Rejected. The request is closed.",
    "changes_requested": "Changes requested. The requester can submit a next iteration.",
    "delivered": "Delivered, with the outputs' credentials and proofs.",
}


@dataclass(frozen=True)
class ReviewRights:
    """Which verdicts the viewer may give on one request, and why not the others."""

    can_review: bool
    can_accept: bool
    why_not_accept: str


def review_rights(access: Access, request: GenerationRequest) -> ReviewRights:
    """What the review form should offer ``access`` on ``request`` (the engine decides anew).

    Mirrors ``engine.requests.review``: any reviewing role may reject or ask for
    changes; accepting a final deliverable takes a creative lead.
    """
    roles = access.review_roles(request.production_id)
    if request.state is not RequestState.IN_REVIEW or not roles:
        return ReviewRights(can_review=False, can_accept=False, why_not_accept="")
    if request.intent is Intent.FINAL_DELIVERABLE and not roles & CREATIVE_LEADS:
        return ReviewRights(
            can_review=True,
            can_accept=False,
            why_not_accept="This is a final deliverable: only the production's showrunner or "
            "director can accept it. You can still reject it or ask for changes.",
        )
    return ReviewRights(can_review=True, can_accept=True, why_not_accept="")


@dataclass(frozen=True)
class QueueItem:
    """One request in the queue: its detail, its production's code and the viewer's rights."""

    detail: RequestDetail
    production_code: str
    rights: ReviewRights


def review_router(platform: Platform) -> APIRouter:
    """``GET /review``: the viewer's review queue."""
    router = APIRouter(route_class=PageRoute)
    viewer_dependency = signed_in(platform)

    @router.get("/review", include_in_schema=False)
    def queue_page(
        request: Request,
        viewer: Annotated[Viewer, Depends(viewer_dependency)],
        done: Annotated[str, Query()] = "",
    ) -> Response:
        with platform.db.read() as conn:
            waiting = review_queue(conn, viewer.access)
            codes = {
                p.id: p.code for p in list_productions(conn, {r.production_id for r in waiting})
            }
            items = [
                QueueItem(
                    detail=get_request(conn, viewer.access, r.id),
                    production_code=codes.get(r.production_id, r.production_id),
                    rights=review_rights(viewer.access, r),
                )
                for r in waiting
            ]
        return render(request, "review.html", items=items, done=DONE.get(done, ""))

    return router
