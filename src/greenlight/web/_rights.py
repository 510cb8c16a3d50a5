"""Rights pages: performers and their consents (with the revoke form for legal), a
revocation's impact, vendors and tools with their attestation and audit standing,
and each production's tool allow-list and watchlist."""

# No ``from __future__ import annotations``: FastAPI must see the dependencies
# (closures over the platform) in the handlers' annotations at definition time.

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Response

from greenlight.accounts import Access
from greenlight.core.clock import utcnow
from greenlight.core.errors import Forbidden, GreenlightError
from greenlight.core.models import (
    Attestation,
    Audit,
    Consent,
    Finding,
    Production,
    Talent,
    Tool,
    ToolStanding,
    Vendor,
    WatchlistEntry,
)
from greenlight.engine import revocation
from greenlight.engine.platform import Platform
from greenlight.engine.revocation import Action, tally_words
from greenlight.productions import get_production, list_productions
from greenlight.rights import (
    affected_by_revocation,
    allowed_tools,
    effective_attestation,
    get_consent,
    get_talent,
    get_tool,
    list_audits,
    list_references,
    list_talent,
    list_tools,
    list_vendors,
    open_critical_findings,
    talent_consents,
    tool_standing,
    watchlist_for,
)
from greenlight.web._render import render, see_other
from greenlight.web._requests import person_names
from greenlight.web._route import PageRoute
from greenlight.web._session import Viewer, form_from_viewer, signed_in

_DONE = {"revoked": "The consent is revoked: from now on it covers no new use."}


@dataclass(frozen=True)
class ConsentRow:
    """A consent on the performer's page, and whether the viewer may revoke it."""

    consent: Consent
    state: str  # active | expired | revoked
    can_revoke: bool
    can_see_impact: bool


@dataclass(frozen=True)
class ToolRow:
    """A vendor's tool with its effective attestation and whether it is suspended."""

    tool: Tool
    attestation: Attestation | None
    attestation_from: str | None
    lapsed: Attestation | None
    critical: list[Finding]

    @property
    def suspended(self) -> bool:
        """Expired with nothing in force, or an open critical finding."""
        return self.lapsed is not None or bool(self.critical)


@dataclass(frozen=True)
class VendorView:
    """A vendor, its tools' standing and its audits."""

    vendor: Vendor
    tools: list[ToolRow]
    audits: list[Audit]


def _allowed(access: Access, production_ids: tuple[str, ...], reader: bool) -> bool:
    """Whether the viewer keeps (or, with ``reader``, may read) rights on one of these."""
    for production_id in production_ids:
        try:
            if reader:
                access.require_rights_reader(production_id)
            else:
                access.require_rights(production_id)
        except Forbidden:
            continue
        return True
    return False


def _consent_rows(access: Access, consents: list[Consent]) -> list[ConsentRow]:
    now = utcnow()
    rows = []
    for c in consents:
        if not any(access.can_read(p) for p in c.covered_productions):
            continue
        if c.revoked_at is not None:
            state = "revoked"
        elif c.expires_at is not None and c.expires_at <= now:
            state = "expired"
        else:
            state = "active"
        rows.append(
            ConsentRow(
                consent=c,
                state=state,
                can_revoke=state != "revoked"
                and _allowed(access, c.covered_productions, reader=False),
                can_see_impact=_allowed(access, c.covered_productions, reader=True),
            )
        )
    return rows


def _revoked_words(request: Request) -> str:
    """The revocation notice, with what was done to the requests that relied on it (the
    counts the revoke form's redirect carries; anything unreadable counts as none)."""
    tally: dict[Action, int] = {}
    for action in Action:
        given = request.query_params.get(action.value, "")
        if given.isdigit():
            tally[action] = int(given)
    return f"{_DONE['revoked']} Requests that relied on it: {tally_words(tally)}."


def rights_router(platform: Platform) -> APIRouter:
    """The rights pages under ``/rights`` and ``/productions/{id}/rights``."""
    router = APIRouter(route_class=PageRoute)
    viewer_dependency = signed_in(platform)
    checked_form = form_from_viewer(platform)

    @router.get("/rights", include_in_schema=False)
    def index(request: Request, viewer: Annotated[Viewer, Depends(viewer_dependency)]) -> Response:
        with platform.db.read() as conn:
            if viewer.person.is_admin:
                productions = list_productions(conn)
            else:
                productions = (
                    list_productions(conn, set(viewer.access.roles)) if viewer.access.roles else []
                )
        return render(request, "rights_index.html", productions=productions)

    @router.get("/rights/talent", include_in_schema=False)
    def talent_list(
        request: Request, viewer: Annotated[Viewer, Depends(viewer_dependency)]
    ) -> Response:
        with platform.db.read() as conn:
            performers = list_talent(conn)
        return render(request, "rights_talent_list.html", performers=performers)

    def talent_page(
        request: Request,
        viewer: Viewer,
        talent_id: str,
        *,
        done: str = "",
        error: GreenlightError | None = None,
    ) -> Response:
        access = viewer.access
        with platform.db.read() as conn:
            performer: Talent = get_talent(conn, talent_id)
            rows = _consent_rows(access, talent_consents(conn, talent_id))
            references = list_references(conn, talent_id) if access.can_see_references() else None
            names = person_names(
                conn,
                [
                    *(r.consent.recorded_by or "" for r in rows),
                    *(r.consent.revoked_by or "" for r in rows),
                ],
            )
        return render(
            request,
            "rights_talent.html",
            status=error.status if error is not None else 200,
            performer=performer,
            consents=rows,
            references=references,
            names=names,
            done=_DONE.get(done, ""),
            error=error,
        )

    @router.get("/rights/talent/{talent_id}", include_in_schema=False)
    def talent_detail(
        request: Request,
        talent_id: str,
        viewer: Annotated[Viewer, Depends(viewer_dependency)],
        done: Annotated[str, Query()] = "",
    ) -> Response:
        return talent_page(request, viewer, talent_id, done=done)

    @router.post("/rights/consents/{consent_id}/revocation", include_in_schema=False)
    def revoke(
        request: Request,
        consent_id: str,
        viewer: Annotated[Viewer, Depends(checked_form)],
        reason: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        with platform.db.read() as conn:
            consent = get_consent(conn, consent_id)
        try:
            outcome = revocation.revoke(platform, viewer.access, consent_id, reason=reason)
        except GreenlightError as error:
            return talent_page(request, viewer, consent.talent_id, error=error)
        # The impact page says what was done; denied requests leave its report, so the
        # counts travel with the redirect.
        counts = urlencode({a.value: n for a, n in outcome.tally().items()})
        return see_other(
            f"/rights/consents/{consent_id}/impact?done=revoked" + (f"&{counts}" if counts else "")
        )

    @router.get("/rights/consents/{consent_id}/impact", include_in_schema=False)
    def impact(
        request: Request,
        consent_id: str,
        viewer: Annotated[Viewer, Depends(viewer_dependency)],
        done: Annotated[str, Query()] = "",
    ) -> Response:
        with platform.db.read() as conn:
            consent = get_consent(conn, consent_id)
            if not _allowed(viewer.access, consent.covered_productions, reader=True):
                viewer.access.require_rights_reader(consent.production_id)
            report = affected_by_revocation(conn, consent_id)
            performer = get_talent(conn, consent.talent_id)
        return render(
            request,
            "rights_impact.html",
            report=report,
            performer=performer,
            done=_revoked_words(request) if done == "revoked" else _DONE.get(done, ""),
        )

    @router.get("/rights/vendors", include_in_schema=False)
    def vendors(
        request: Request, viewer: Annotated[Viewer, Depends(viewer_dependency)]
    ) -> Response:
        visible = viewer.access.visible_vendors()
        now = utcnow()
        views = []
        with platform.db.read() as conn:
            for vendor in list_vendors(conn):
                if visible is not None and vendor.id not in visible:
                    continue
                rows = []
                for tool in list_tools(conn, vendor.id):
                    effective = effective_attestation(conn, tool, now)
                    rows.append(
                        ToolRow(
                            tool=tool,
                            attestation=effective.attestation,
                            attestation_from=effective.source,
                            lapsed=effective.lapsed,
                            critical=open_critical_findings(conn, tool),
                        )
                    )
                audits = list_audits(conn, vendor_id=vendor.id, limit=20)
                views.append(VendorView(vendor=vendor, tools=rows, audits=audits))
        return render(request, "rights_vendors.html", vendors=views)

    @router.get("/productions/{production_id}/rights", include_in_schema=False)
    def production_rights(
        request: Request,
        production_id: str,
        viewer: Annotated[Viewer, Depends(viewer_dependency)],
    ) -> Response:
        viewer.access.require_read(production_id)
        visible = viewer.access.visible_vendors()
        with platform.db.read() as conn:
            production: Production = get_production(conn, production_id)
            allowed = allowed_tools(conn, production_id)
            tools: list[tuple[Tool, ToolStanding | None]] = []
            for a in allowed:
                tool = get_tool(conn, a.tool_id)
                # A vendor's people see the standing (attestations) of their own tools only.
                shown = visible is None or tool.vendor_id in visible
                tools.append((tool, tool_standing(conn, tool.id, production_id) if shown else None))
            watchlist: list[WatchlistEntry] = watchlist_for(conn, production_id)
            names = person_names(conn, [a.allowed_by for a in allowed])
        return render(
            request,
            "rights_production.html",
            production=production,
            tools=tools,
            allowed={a.tool_id: a for a in allowed},
            watchlist=watchlist,
            names=names,
        )

    return router
