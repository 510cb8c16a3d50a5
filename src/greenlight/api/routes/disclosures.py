"""Disclosure to the studio: who at the studio hears of a production's requests, each
request's disclosure record, and the daily digest."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from greenlight.api.auth import CurrentAccess, PlatformDep
from greenlight.core.enums import Role
from greenlight.core.models import Digest, StudioDisclosure
from greenlight.rights import (
    MAX_PAGE,
    daily_digest,
    list_disclosures,
    set_studio_contact,
    studio_contact,
    today,
)

router = APIRouter(tags=["disclosures"])


class StudioContact(BaseModel):
    """Who at the studio hears of every request: an email address or a name (null: nobody
    named yet; requests are still recorded for disclosure)."""

    model_config = ConfigDict(extra="forbid")

    studio_contact: str | None = Field(default=None, max_length=254)


class DisclosurePage(BaseModel):
    """One page of disclosures, newest first; pass ``next_cursor`` for the next."""

    items: list[StudioDisclosure]
    next_cursor: str | None


@router.get("/productions/{production_id}/studio-contact", response_model=StudioContact)
def contact(production_id: str, access: CurrentAccess, platform: PlatformDep) -> StudioContact:
    """Who at the studio hears of the production's requests."""
    access.require_read(production_id)
    with platform.db.read() as conn:
        return StudioContact(studio_contact=studio_contact(conn, production_id))


@router.put("/productions/{production_id}/studio-contact", response_model=StudioContact)
def change_contact(
    production_id: str, body: StudioContact, access: CurrentAccess, platform: PlatformDep
) -> StudioContact:
    """Name the studio contact (producer or admin); null clears it."""
    access.require_manage(production_id)
    with platform.db.transaction() as conn:
        return StudioContact(
            studio_contact=set_studio_contact(conn, production_id, body.studio_contact)
        )


@router.get("/productions/{production_id}/disclosures", response_model=DisclosurePage)
def disclosures(
    production_id: str,
    access: CurrentAccess,
    platform: PlatformDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> DisclosurePage:
    """The production's disclosure records, newest first (legal, auditors and admins)."""
    access.require_rights_reader(production_id)
    with platform.db.read() as conn:
        studio_contact(conn, production_id)  # 404 for a production that is not there
        found = list_disclosures(conn, production_id, limit=limit + 1, cursor=cursor)
    page = found[:limit]
    return DisclosurePage(items=page, next_cursor=page[-1].id if len(found) > limit else None)


@router.get("/productions/{production_id}/disclosures/digest", response_model=Digest)
def digest(
    production_id: str,
    access: CurrentAccess,
    platform: PlatformDep,
    day: Annotated[date | None, Query(description="The day (UTC), default today.")] = None,
) -> Digest:
    """The requests disclosed on one day (UTC): use case, intent, tool, the policy's
    outcome and where each stands now (legal, auditors, producers and admins)."""
    held = access.roles_in(production_id)
    if not held & {Role.PRODUCER}:
        access.require_rights_reader(production_id)
    with platform.db.read() as conn:
        return daily_digest(conn, production_id, day or today())
