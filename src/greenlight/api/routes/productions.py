"""Productions, their shots and who works on them."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict

from greenlight.accounts import grant_role, list_memberships
from greenlight.api.auth import AdminAccess, CurrentAccess, PlatformDep
from greenlight.core.enums import Role
from greenlight.core.errors import Forbidden
from greenlight.core.models import Membership, Production, ProductionDraft, Shot, ShotDraft
from greenlight.productions import (
    create_production,
    create_shot,
    get_production,
    list_productions,
    list_shots,
)

router = APIRouter(prefix="/productions", tags=["productions"])


class MemberDraft(BaseModel):
    """A role to give someone on this production; the vendor role names the vendor."""

    model_config = ConfigDict(extra="forbid")

    person_id: str
    role: Role
    vendor_id: str | None = None


@router.get("", response_model=list[Production])
def productions(access: CurrentAccess, platform: PlatformDep) -> list[Production]:
    """The productions the caller holds a role on (platform admins: all), by code."""
    with platform.db.read() as conn:
        return list_productions(conn, None if access.person.is_admin else set(access.roles))


@router.post("", response_model=Production, status_code=status.HTTP_201_CREATED)
def add_production(body: ProductionDraft, access: AdminAccess, platform: PlatformDep) -> Production:
    """Create a series or film with its episodes (admins only); codes are unique."""
    with platform.db.transaction() as conn:
        return create_production(conn, body)


@router.get("/{production_id}", response_model=Production)
def production(production_id: str, access: CurrentAccess, platform: PlatformDep) -> Production:
    """One production, if the caller holds a role on it (403 ``access.no_role`` otherwise)."""
    access.require_read(production_id)
    with platform.db.read() as conn:
        return get_production(conn, production_id)


@router.get("/{production_id}/shots", response_model=list[Shot])
def shots(production_id: str, access: CurrentAccess, platform: PlatformDep) -> list[Shot]:
    """A production's shots, by code."""
    access.require_read(production_id)
    with platform.db.read() as conn:
        get_production(conn, production_id)
        return list_shots(conn, production_id)


@router.post("/{production_id}/shots", response_model=Shot, status_code=status.HTTP_201_CREATED)
def add_shot(
    production_id: str, body: ShotDraft, access: CurrentAccess, platform: PlatformDep
) -> Shot:
    """Add a shot (producer or admin). Its code is new on the production and
    ``frame_out`` is not before ``frame_in``."""
    access.require_manage(production_id)
    with platform.db.transaction() as conn:
        return create_shot(conn, production_id, body)


@router.get("/{production_id}/members", response_model=list[Membership])
def members(production_id: str, access: CurrentAccess, platform: PlatformDep) -> list[Membership]:
    """Who holds which role on the production."""
    access.require_read(production_id)
    with platform.db.read() as conn:
        get_production(conn, production_id)
        return list_memberships(conn, production_id=production_id)


@router.post(
    "/{production_id}/members", response_model=Membership, status_code=status.HTTP_201_CREATED
)
def add_member(
    production_id: str, body: MemberDraft, access: CurrentAccess, platform: PlatformDep
) -> Membership:
    """Give a person a role on the production (producer or admin).

    The vendor role must name the vendor the person works for (``vendor_id``);
    they will see only that vendor's work. Granting a role already held changes
    nothing. Only platform admins grant the ``admin`` role.
    """
    access.require_manage(production_id)
    if body.role is Role.ADMIN and not access.person.is_admin:
        raise Forbidden(
            "Only platform admins grant the admin role; ask one to do it.",
            code="access.admin_only",
            reason="not a platform admin",
        )
    with platform.db.transaction() as conn:
        return grant_role(
            conn,
            production_id=production_id,
            person_id=body.person_id,
            role=body.role,
            vendor_id=body.vendor_id,
        )
