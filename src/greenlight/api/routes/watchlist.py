"""Each production's watchlist: protected characters and franchises, real people and
brands that prompts and references are screened against.

Everyone with a role on the production reads it; legal and admins change it.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from greenlight.api.auth import CurrentAccess, PlatformDep
from greenlight.api.idempotency import OptionalKey, once
from greenlight.core.models import WatchlistDraft, WatchlistEntry
from greenlight.productions import get_production
from greenlight.rights import add_watch, get_watch, remove_watch, update_watch, watchlist_for

router = APIRouter(tags=["watchlist"])


@router.get("/productions/{production_id}/watchlist", response_model=list[WatchlistEntry])
def watchlist(
    production_id: str, access: CurrentAccess, platform: PlatformDep
) -> list[WatchlistEntry]:
    """The production's watchlist, oldest entry first (at most 5000 entries)."""
    access.require_read(production_id)
    with platform.db.read() as conn:
        get_production(conn, production_id)
        return watchlist_for(conn, production_id)


@router.post(
    "/productions/{production_id}/watchlist",
    response_model=WatchlistEntry,
    status_code=status.HTTP_201_CREATED,
)
def add_entry(
    production_id: str,
    body: WatchlistDraft,
    access: CurrentAccess,
    platform: PlatformDep,
    key: OptionalKey,
) -> Response:
    """Add a term with its category and aliases (legal or admin on the production). A term
    already listed (ignoring case and spacing) is 409 ``watchlist.duplicate``."""
    access.require_rights(production_id, code="watchlist.not_allowed")

    def work() -> tuple[int, BaseModel]:
        with platform.db.transaction() as conn:
            made = add_watch(conn, production_id, body, by=access.person.id)
        return status.HTTP_201_CREATED, made

    return once(platform, access.person.id, key, work)


@router.put("/watchlist/{entry_id}", response_model=WatchlistEntry)
def change_entry(
    entry_id: str, body: WatchlistDraft, access: CurrentAccess, platform: PlatformDep
) -> WatchlistEntry:
    """Replace an entry's term, category, aliases and note (legal or admin)."""
    with platform.db.read() as conn:
        entry = get_watch(conn, entry_id)
    access.require_rights(entry.production_id, code="watchlist.not_allowed")
    with platform.db.transaction() as conn:
        return update_watch(conn, entry_id, body)


@router.delete("/watchlist/{entry_id}", response_model=WatchlistEntry)
def remove_entry(entry_id: str, access: CurrentAccess, platform: PlatformDep) -> WatchlistEntry:
    """Take an entry off its watchlist (legal or admin); answers with the entry removed."""
    with platform.db.read() as conn:
        entry = get_watch(conn, entry_id)
    access.require_rights(entry.production_id, code="watchlist.not_allowed")
    with platform.db.transaction() as conn:
        return remove_watch(conn, entry_id, by=access.person.id)
