"""A request's page, and the forms that move it on: approve, review, deliver."""

# No ``from __future__ import annotations``: FastAPI must see the dependencies
# (closures over the platform) in the handlers' annotations at definition time.

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from sqlalchemy import Connection

from greenlight.accounts import Access, get_person
from greenlight.core.enums import RequestState, Role, Verdict
from greenlight.core.errors import GreenlightError, InvalidInput, NotFound, ProvenanceError
from greenlight.core.ids import is_id
from greenlight.core.models import Asset, Production, RequestDetail, Requirement, Shot, Talent, Tool
from greenlight.engine import assets as asset_store
from greenlight.engine.platform import Platform
from greenlight.engine.prompt_log import PromptLogEntry, request_prompt_log
from greenlight.engine.requests import approve, deliver, get_request, outstanding, review
from greenlight.likeness import Finding, findings_for
from greenlight.productions import get_production, get_shot
from greenlight.provenance import CredentialReport, prompt_digest
from greenlight.rights import get_tool, list_talent
from greenlight.web._render import render, see_other
from greenlight.web._review import DONE, ReviewRights, review_rights
from greenlight.web._route import PageRoute
from greenlight.web._session import Viewer, form_from_viewer, signed_in

_MAX_NOTE = 4000


@dataclass(frozen=True)
class OutputView:
    """An output with what its content credentials say, or why they could not be read."""

    asset: Asset
    credentials: CredentialReport | None
    problem: GreenlightError | None
    prompt_matches: bool | None  # the credential's prompt digest against the prompt log


@dataclass(frozen=True)
class ApprovalRights:
    """The roles in which the viewer may approve now, or why they may not."""

    roles: tuple[Role, ...] = ()
    why_not: str = ""


@dataclass(frozen=True)
class RequestView:
    """Everything the request page shows, gathered through the services."""

    detail: RequestDetail
    production: Production
    shot: Shot | None
    tool: Tool
    talent: list[Talent]
    names: dict[str, str]
    outstanding: list[Requirement]
    approval: ApprovalRights
    review: ReviewRights
    can_deliver: bool
    outputs: list[OutputView]
    prompt_log: list[PromptLogEntry]  # one per run, prompts included: the viewer sees the request
    likeness: list[Finding] = field(default_factory=list)  # what the likeness scan found
    performers: dict[str, str] = field(default_factory=dict)  # names of those found


def approval_rights(
    access: Access, detail: RequestDetail, waiting: list[Requirement]
) -> ApprovalRights:
    """Whether the approve/refuse form is for this viewer, and in which roles."""
    request = detail.request
    if request.state is not RequestState.AWAITING_APPROVAL:
        return ApprovalRights()
    wanted = {role for req in waiting for role in req.roles}
    held = access.approval_roles(request.production_id, wanted)
    if not held:
        return ApprovalRights()
    if request.requested_by == access.person.id:
        return ApprovalRights(why_not="You asked for this work, so someone else must approve it.")
    ordered = dict.fromkeys(role for req in waiting for role in req.roles if role in held)
    return ApprovalRights(roles=tuple(ordered))


def can_deliver(access: Access, detail: RequestDetail) -> bool:
    """Whether to offer the delivery form (as ``engine.requests.deliver`` checks)."""
    production_id = detail.request.production_id
    return detail.request.state is RequestState.ACCEPTED and bool(
        access.review_roles(production_id) or Role.ADMIN in access.roles_in(production_id)
    )


def person_names(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    """Display names for the person ids among ``ids`` (system actors keep their ids)."""
    names: dict[str, str] = {}
    for person_id in set(ids):
        if is_id(person_id, "person"):
            try:
                names[person_id] = get_person(conn, person_id).name
            except NotFound:
                continue
    return names


def _output(platform: Platform, asset: Asset, prompt: str) -> OutputView:
    report: CredentialReport | None = None
    problem: GreenlightError | None = None
    try:
        report = asset_store.credentials(platform, asset)
    except GreenlightError as error:
        problem = _without_paths(error, asset)
    except OSError as error:  # the bytes themselves are missing or unreadable
        problem = ProvenanceError(
            f"The stored bytes of {asset.filename} could not be read ({error.strerror}); "
            "ask an admin to check the blob store.",
            code="web.output_unreadable",
        )
    matches = None
    if report is not None and report.manifest.governance is not None:
        digest = report.manifest.governance.prompt_sha256
        matches = None if digest is None else digest == prompt_digest(prompt)
    return OutputView(
        asset=asset,
        credentials=report,
        problem=problem,
        prompt_matches=matches,
    )


def _without_paths(error: GreenlightError, asset: Asset) -> GreenlightError:
    """The error with server file paths (scratch copies) shown as the file's own name."""
    path = error.details.get("path")
    if not isinstance(path, str) or not path:
        return error
    message = error.message.replace(path, asset.filename).replace(Path(path).name, asset.filename)
    return type(error)(message, code=error.code)


def load_view(platform: Platform, access: Access, request_id: str) -> RequestView:
    """The request page's content, or the service's NotFound / Forbidden."""
    with platform.db.read() as conn:
        detail = get_request(conn, access, request_id)
        request = detail.request
        production = get_production(conn, request.production_id)
        shot = get_shot(conn, request.shot_id) if request.shot_id else None
        tool = get_tool(conn, request.tool_id)
        talent = list_talent(conn, set(request.talent_ids)) if request.talent_ids else []
        prompt_log = request_prompt_log(conn, platform, access, request_id).runs
        likeness = findings_for(conn, request_id)
        found = {f.talent_id for f in likeness}
        performers = {t.id: t.name for t in list_talent(conn, found)} if found else {}
        names = person_names(
            conn,
            [
                request.requested_by,
                *(a.person_id for a in detail.approvals),
                *(r.reviewer_id for r in detail.reviews),
                *([detail.delivery.delivered_by] if detail.delivery else []),
                *(e.actor for e in detail.events),
                *(e.delivered_by for e in prompt_log if e.delivered_by),
            ],
        )
    waiting = outstanding(detail.decision, detail.approvals) if detail.decision else []
    # Credentials are read after the connection is back: reading runs the C2PA SDK.
    return RequestView(
        detail=detail,
        production=production,
        shot=shot,
        tool=tool,
        talent=talent,
        names=names,
        outstanding=waiting,
        approval=approval_rights(access, detail, waiting),
        review=review_rights(access, request),
        can_deliver=can_deliver(access, detail),
        outputs=[_output(platform, asset, request.prompt) for asset in detail.outputs],
        prompt_log=prompt_log,
        likeness=likeness,
        performers=performers,
    )


def _role(value: str) -> Role | None:
    if not value:
        return None
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a role.", code="web.bad_role") from None


def requests_router(platform: Platform) -> APIRouter:
    """``GET /requests/{id}`` and its forms' ``POST`` targets."""
    router = APIRouter(route_class=PageRoute)
    viewer_dependency = signed_in(platform)
    checked_form = form_from_viewer(platform)

    def request_page(
        request: Request,
        viewer: Viewer,
        request_id: str,
        *,
        done: str = "",
        error: GreenlightError | None = None,
        kept: dict[str, str] | None = None,
    ) -> Response:
        view = load_view(platform, viewer.access, request_id)
        return render(
            request,
            "request.html",
            status=error.status if error is not None else 200,
            scripts=view.detail.request.state in (RequestState.QUEUED, RequestState.RUNNING),
            view=view,
            done=DONE.get(done, ""),
            error=error,
            kept=kept or {},
        )

    def after(request_id: str, done: str, back: str = "request") -> Response:
        if back == "review":
            return see_other(f"/review?done={done}")
        return see_other(f"/requests/{request_id}?done={done}")

    @router.get("/requests/{request_id}", include_in_schema=False)
    def show_request(
        request: Request,
        request_id: str,
        viewer: Annotated[Viewer, Depends(viewer_dependency)],
        done: Annotated[str, Query()] = "",
    ) -> Response:
        return request_page(request, viewer, request_id, done=done)

    @router.get("/requests/{request_id}/likeness/{finding_id}/evidence", include_in_schema=False)
    def likeness_evidence(
        request_id: str,
        finding_id: str,
        viewer: Annotated[Viewer, Depends(viewer_dependency)],
    ) -> Response:
        # The evidence frame is a frame of the request's own output: whoever may see
        # the request may see it.
        with platform.db.read() as conn:
            get_request(conn, viewer.access, request_id)
            finding = next((f for f in findings_for(conn, request_id) if f.id == finding_id), None)
        if finding is None or finding.evidence_sha256 is None:
            raise NotFound(
                f"Request {request_id} has no likeness evidence {finding_id!r}.",
                code="likeness.evidence_not_found",
            )
        png = platform.blobs.read_bytes(finding.evidence_sha256)
        return Response(content=png, media_type="image/png")

    @router.post("/requests/{request_id}/approval", include_in_schema=False)
    def approve_request(
        request: Request,
        request_id: str,
        viewer: Annotated[Viewer, Depends(checked_form)],
        decision: Annotated[Literal["approve", "refuse"], Form()],
        note: Annotated[str, Form(max_length=_MAX_NOTE)] = "",
        role: Annotated[str, Form()] = "",
    ) -> Response:
        approved = decision == "approve"
        try:
            approve(
                platform,
                viewer.access,
                request_id,
                approved=approved,
                note=note,
                role=_role(role),
            )
        except GreenlightError as error:
            return request_page(request, viewer, request_id, error=error, kept={"approval": note})
        return after(request_id, "approved" if approved else "refused")

    @router.post("/requests/{request_id}/review", include_in_schema=False)
    def review_request(
        request: Request,
        request_id: str,
        viewer: Annotated[Viewer, Depends(checked_form)],
        verdict: Annotated[Verdict, Form()],
        note: Annotated[str, Form(max_length=_MAX_NOTE)] = "",
        back: Annotated[Literal["request", "review"], Form()] = "request",
    ) -> Response:
        try:
            review(platform, viewer.access, request_id, verdict, note)
        except GreenlightError as error:
            return request_page(request, viewer, request_id, error=error, kept={"review": note})
        return after(request_id, verdict.value, back)

    @router.post("/requests/{request_id}/delivery", include_in_schema=False)
    def deliver_request(
        request: Request,
        request_id: str,
        viewer: Annotated[Viewer, Depends(checked_form)],
        destination: Annotated[str, Form(max_length=200)] = "",
        note: Annotated[str, Form(max_length=_MAX_NOTE)] = "",
    ) -> Response:
        try:
            deliver(platform, viewer.access, request_id, destination, note)
        except GreenlightError as error:
            kept = {"delivery": note, "destination": destination}
            return request_page(request, viewer, request_id, error=error, kept=kept)
        return after(request_id, "delivered")

    return router
