"""Vendors and their tools: attestations, audits and findings, each production's tool
allow-list, and where a tool stands.

Admins register vendors and tools; legal and admins record attestations, audits
and findings; producers and admins choose a production's tools. A vendor's own
people see only their vendor's attestations and audits; auditors read all and
change nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from greenlight.api.auth import AdminAccess, CurrentAccess, PlatformDep
from greenlight.api.idempotency import OptionalKey, once
from greenlight.core.errors import InvalidInput
from greenlight.core.models import (
    AllowedTool,
    Attestation,
    AttestationDraft,
    Audit,
    AuditDraft,
    Finding,
    FindingDraft,
    Tool,
    ToolDraft,
    ToolStanding,
    Vendor,
)
from greenlight.rights import (
    MAX_PAGE,
    add_finding,
    allow_tool,
    allowed_tools,
    create_tool,
    create_vendor,
    disallow_tool,
    finding_vendor,
    get_audit,
    get_tool,
    get_vendor,
    list_attestations,
    list_audits,
    list_tools,
    list_vendors,
    record_attestation,
    remediate_finding,
    schedule_audit,
    set_audit_status,
    tool_standing,
)

router = APIRouter(tags=["vendors"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page (1 to 200).")]
Cursor = Annotated[
    str | None,
    Query(max_length=64, description="The next_cursor of the previous page; omit for the first."),
]


class VendorDraft(BaseModel):
    """A company to register as a vendor."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)


class AttestationPage(BaseModel):
    """One page of attestations, newest first; pass ``next_cursor`` for the next."""

    items: list[Attestation]
    next_cursor: str | None


class AuditPage(BaseModel):
    """One page of audits with their findings, newest first."""

    items: list[Audit]
    next_cursor: str | None


class AuditStatusBody(BaseModel):
    """Where the audit stands now."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["in_progress", "completed"]


class RemediationBody(BaseModel):
    """How the finding was put right."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=5000)


class AllowBody(BaseModel):
    """The tool to allow on the production."""

    model_config = ConfigDict(extra="forbid")

    tool_id: str = Field(min_length=1, max_length=64)


# --- vendors and tools ------------------------------------------------------------


@router.get("/vendors", response_model=list[Vendor])
def vendors(access: CurrentAccess, platform: PlatformDep) -> list[Vendor]:
    """All registered vendors, by name."""
    with platform.db.read() as conn:
        return list_vendors(conn)


@router.post("/vendors", response_model=Vendor, status_code=status.HTTP_201_CREATED)
def add_vendor(
    body: VendorDraft, access: AdminAccess, platform: PlatformDep, key: OptionalKey
) -> Response:
    """Register a vendor (admins only); names are unique (409 ``vendor.name_taken``)."""

    def work() -> tuple[int, BaseModel]:
        with platform.db.transaction() as conn:
            return status.HTTP_201_CREATED, create_vendor(conn, body.name)

    return once(platform, access.person.id, key, work)


@router.get("/tools", response_model=list[Tool])
def tools(access: CurrentAccess, platform: PlatformDep, vendor_id: str | None = None) -> list[Tool]:
    """Registered tools with the use cases each is vetted for; ``vendor_id`` narrows to one
    vendor's."""
    with platform.db.read() as conn:
        return list_tools(conn, vendor_id)


@router.post("/vendors/{vendor_id}/tools", response_model=Tool, status_code=status.HTTP_201_CREATED)
def add_tool(
    vendor_id: str, body: ToolDraft, access: AdminAccess, platform: PlatformDep, key: OptionalKey
) -> Response:
    """Register one version of a vendor's tool (admins only).

    ``backend`` names the backend that runs it on this installation (404
    ``backend.unknown`` if there is none by that name); leave it out for a tool
    whose vendor delivers the work.
    """
    if body.backend is not None:
        platform.backends(body.backend)

    def work() -> tuple[int, BaseModel]:
        with platform.db.transaction() as conn:
            return status.HTTP_201_CREATED, create_tool(conn, vendor_id, body)

    return once(platform, access.person.id, key, work)


# --- attestations ------------------------------------------------------------------


@router.get("/vendors/{vendor_id}/attestations", response_model=AttestationPage)
def attestations(
    vendor_id: str,
    access: CurrentAccess,
    platform: PlatformDep,
    tool_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AttestationPage:
    """A vendor's attestations (``tool_id``: that tool's own), newest first. A vendor's
    people see only their own vendor's (403 ``access.other_vendor``)."""
    access.require_vendor_visible(vendor_id)
    with platform.db.read() as conn:
        get_vendor(conn, vendor_id)
        found = list_attestations(
            conn, vendor_id=vendor_id, tool_id=tool_id, limit=limit + 1, cursor=cursor
        )
    page = found[:limit]
    return AttestationPage(items=page, next_cursor=page[-1].id if len(found) > limit else None)


@router.post(
    "/vendors/{vendor_id}/attestations",
    response_model=Attestation,
    status_code=status.HTTP_201_CREATED,
)
def add_attestation(
    vendor_id: str,
    body: AttestationDraft,
    access: CurrentAccess,
    platform: PlatformDep,
    key: OptionalKey,
) -> Response:
    """Record a vendor's attestation for one of its tools (``tool_id``) or all of them
    (legal or admins): training-data sources and licences, whether it trains on our
    inputs, how long it keeps data, whether it runs enclosed, its security
    certification (``TPN Gold``) and its expiry. An expired attestation with none in
    force suspends the tool.
    """
    access.require_vendor_oversight()

    def work() -> tuple[int, BaseModel]:
        with platform.db.transaction() as conn:
            made = record_attestation(conn, vendor_id, body, by=access.person.id)
        return status.HTTP_201_CREATED, made

    return once(platform, access.person.id, key, work)


# --- audits and findings ------------------------------------------------------------


@router.get("/audits", response_model=AuditPage)
def audits(
    access: CurrentAccess,
    platform: PlatformDep,
    vendor_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AuditPage:
    """Audits with their findings, newest first; ``vendor_id`` narrows to one vendor's.
    A vendor's people see only their own vendor's."""
    visible = access.visible_vendors()
    if vendor_id is not None:
        access.require_vendor_visible(vendor_id)
    with platform.db.read() as conn:
        found = list_audits(
            conn, vendor_id=vendor_id, vendors=visible, limit=limit + 1, cursor=cursor
        )
    page = found[:limit]
    return AuditPage(items=page, next_cursor=page[-1].id if len(found) > limit else None)


@router.post("/vendors/{vendor_id}/audits", response_model=Audit, status_code=201)
def add_audit(
    vendor_id: str, body: AuditDraft, access: CurrentAccess, platform: PlatformDep, key: OptionalKey
) -> Response:
    """Schedule an audit of a vendor or one of its tools (legal or admins)."""
    access.require_vendor_oversight()

    def work() -> tuple[int, BaseModel]:
        with platform.db.transaction() as conn:
            made = schedule_audit(conn, vendor_id, body, by=access.person.id)
        return status.HTTP_201_CREATED, made

    return once(platform, access.person.id, key, work)


@router.get("/audits/{audit_id}", response_model=Audit)
def audit(audit_id: str, access: CurrentAccess, platform: PlatformDep) -> Audit:
    """One audit with its findings."""
    with platform.db.read() as conn:
        found = get_audit(conn, audit_id)
    access.require_vendor_visible(found.vendor_id)
    return found


@router.post("/audits/{audit_id}/status", response_model=Audit)
def audit_status(
    audit_id: str, body: AuditStatusBody, access: CurrentAccess, platform: PlatformDep
) -> Audit:
    """Move an audit to ``in_progress`` or ``completed`` (legal or admins)."""
    access.require_vendor_oversight()
    with platform.db.transaction() as conn:
        return set_audit_status(conn, audit_id, body.status)


@router.post("/audits/{audit_id}/findings", response_model=Finding, status_code=201)
def add_audit_finding(
    audit_id: str,
    body: FindingDraft,
    access: CurrentAccess,
    platform: PlatformDep,
    key: OptionalKey,
) -> Response:
    """Record a finding (severity, description, the remediation required). An open
    critical finding suspends the audited tool, or all the vendor's tools."""
    access.require_vendor_oversight()

    def work() -> tuple[int, BaseModel]:
        with platform.db.transaction() as conn:
            made = add_finding(conn, audit_id, body, by=access.person.id)
        return status.HTTP_201_CREATED, made

    return once(platform, access.person.id, key, work)


@router.post("/findings/{finding_id}/remediation", response_model=Finding)
def remediate(
    finding_id: str, body: RemediationBody, access: CurrentAccess, platform: PlatformDep
) -> Finding:
    """Mark a finding remediated, saying how (legal or admins); twice is 409
    ``finding.already_remediated``."""
    access.require_vendor_oversight()
    with platform.db.transaction() as conn:
        finding_vendor(conn, finding_id)
        return remediate_finding(conn, finding_id, note=body.note, by=access.person.id)


# --- a production's tools -----------------------------------------------------------


@router.get("/productions/{production_id}/tools", response_model=list[AllowedTool])
def production_tools(
    production_id: str, access: CurrentAccess, platform: PlatformDep
) -> list[AllowedTool]:
    """The tools the production may use (its allow-list), for anyone with a role on it."""
    access.require_read(production_id)
    with platform.db.read() as conn:
        return allowed_tools(conn, production_id)


@router.post("/productions/{production_id}/tools", response_model=AllowedTool, status_code=201)
def allow(
    production_id: str, body: AllowBody, access: CurrentAccess, platform: PlatformDep
) -> AllowedTool:
    """Put a tool on the production's allow-list (producer or admin); allowing it again
    changes nothing."""
    access.require_allow_list(production_id)
    with platform.db.transaction() as conn:
        return allow_tool(conn, production_id, body.tool_id, by=access.person.id)


@router.delete("/productions/{production_id}/tools/{tool_id}", status_code=204)
def disallow(
    production_id: str, tool_id: str, access: CurrentAccess, platform: PlatformDep
) -> Response:
    """Take a tool off the production's allow-list (producer or admin)."""
    access.require_allow_list(production_id)
    with platform.db.transaction() as conn:
        disallow_tool(conn, production_id, tool_id, by=access.person.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/productions/{production_id}/tools/{tool_id}/standing", response_model=ToolStanding)
def standing(
    production_id: str,
    tool_id: str,
    access: CurrentAccess,
    platform: PlatformDep,
    at: datetime | None = None,
) -> ToolStanding:
    """Where a tool stands on the production at ``at`` (default now): its effective
    attestation (its own, else its vendor's), whether the production allows it, and
    whether it is suspended (expired attestation or open critical finding), with reasons."""
    access.require_read(production_id)
    if at is not None and at.tzinfo is None:
        raise InvalidInput(
            "Give 'at' with its time zone, e.g. 2026-12-01T09:00:00Z.", code="standing.naive_time"
        )
    with platform.db.read() as conn:
        access.require_vendor_visible(get_tool(conn, tool_id).vendor_id)
        return tool_standing(conn, tool_id, production_id, at)
