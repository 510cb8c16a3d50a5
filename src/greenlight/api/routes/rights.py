"""Vendors and their tools, performers and their consents."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from greenlight.api.auth import AdminAccess, CurrentAccess, PlatformDep
from greenlight.core.enums import Role, UseCase
from greenlight.core.errors import Forbidden
from greenlight.core.models import Consent, Talent, Tool, ToolDraft, Vendor
from greenlight.productions import get_production
from greenlight.rights import (
    ConsentDraft,
    create_tool,
    create_vendor,
    list_consents,
    list_talent,
    list_tools,
    list_vendors,
    record_consent,
    register_talent,
)

router = APIRouter(tags=["rights"])


class VendorDraft(BaseModel):
    """A company to register as a vendor."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)


class TalentDraft(BaseModel):
    """A performer to register."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    union_affiliation: str | None = Field(default=None, max_length=100)


class ConsentBody(BaseModel):
    """A performer's written consent to named uses on this production."""

    model_config = ConfigDict(extra="forbid")

    talent_id: str
    use_cases: list[UseCase] = Field(min_length=1)
    granted_at: datetime | None = None
    expires_at: datetime | None = None
    document_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    note: str | None = Field(default=None, max_length=2000)


@router.get("/vendors", response_model=list[Vendor])
def vendors(access: CurrentAccess, platform: PlatformDep) -> list[Vendor]:
    """All registered vendors, by name."""
    with platform.db.read() as conn:
        return list_vendors(conn)


@router.post("/vendors", response_model=Vendor, status_code=status.HTTP_201_CREATED)
def add_vendor(body: VendorDraft, access: AdminAccess, platform: PlatformDep) -> Vendor:
    """Register a vendor (admins only); names are unique (409 ``vendor.name_taken``)."""
    with platform.db.transaction() as conn:
        return create_vendor(conn, body.name)


@router.get("/tools", response_model=list[Tool])
def tools(access: CurrentAccess, platform: PlatformDep, vendor_id: str | None = None) -> list[Tool]:
    """Registered tools with the use cases each is vetted for; ``vendor_id`` narrows to one
    vendor's."""
    with platform.db.read() as conn:
        return list_tools(conn, vendor_id)


@router.post("/vendors/{vendor_id}/tools", response_model=Tool, status_code=status.HTTP_201_CREATED)
def add_tool(vendor_id: str, body: ToolDraft, access: AdminAccess, platform: PlatformDep) -> Tool:
    """Register one version of a vendor's tool (admins only).

    ``backend`` names the backend that runs it on this installation (404
    ``backend.unknown`` if there is none by that name); leave it out for a tool
    whose vendor delivers the work.
    """
    if body.backend is not None:
        platform.backends(body.backend)
    with platform.db.transaction() as conn:
        return create_tool(conn, vendor_id, body)


@router.get("/talent", response_model=list[Talent])
def talent(access: CurrentAccess, platform: PlatformDep) -> list[Talent]:
    """Registered performers, by name."""
    with platform.db.read() as conn:
        return list_talent(conn)


@router.post("/talent", response_model=Talent, status_code=status.HTTP_201_CREATED)
def add_talent(body: TalentDraft, access: CurrentAccess, platform: PlatformDep) -> Talent:
    """Register a performer (admins, or legal on any production)."""
    if not access.person.is_admin and not any(Role.LEGAL in held for held in access.roles.values()):
        raise Forbidden(
            "Performers are registered by legal or an admin; ask one of them.",
            code="talent.not_allowed",
            needed=[Role.LEGAL.value, Role.ADMIN.value],
            reason="role",
        )
    with platform.db.transaction() as conn:
        return register_talent(conn, body.name, body.union_affiliation)


@router.get("/productions/{production_id}/consents", response_model=list[Consent])
def consents(production_id: str, access: CurrentAccess, platform: PlatformDep) -> list[Consent]:
    """The production's consents, newest first (revoked and expired ones included)."""
    access.require_read(production_id)
    with platform.db.read() as conn:
        get_production(conn, production_id)
        return list_consents(conn, production_id)


@router.post(
    "/productions/{production_id}/consents",
    response_model=Consent,
    status_code=status.HTTP_201_CREATED,
)
def add_consent(
    production_id: str, body: ConsentBody, access: CurrentAccess, platform: PlatformDep
) -> Consent:
    """Record a performer's written consent (legal on this production, or an admin).

    ``document_sha256`` points at the signed document (upload it as an asset
    first). Requests referencing the performer are allowed only for the consented
    use cases, between ``granted_at`` and ``expires_at``.
    """
    held = access.roles_in(production_id)
    if not held & {Role.LEGAL, Role.ADMIN}:
        access.require_read(production_id)  # no role at all: say so
        raise Forbidden(
            f"Consents on production {production_id} are recorded by its legal team or an "
            "admin; you hold " + (", ".join(sorted(r.value for r in held))) + " there.",
            code="consent.not_allowed",
            production_id=production_id,
            needed=[Role.LEGAL.value, Role.ADMIN.value],
            held=sorted(r.value for r in held),
            reason="role",
        )
    with platform.db.transaction() as conn:
        get_production(conn, production_id)
        return record_consent(conn, ConsentDraft(production_id=production_id, **body.model_dump()))
