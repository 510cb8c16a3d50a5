"""Each production's watchlist: protected characters and franchises, real people and
brands that prompts and declared references are screened against.

This module stores the entries; matching them is ``greenlight.policy.screening``'s.
Removing an entry keeps the row (who removed it and when) but drops it from
:func:`watchlist_for`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert, select, update

from greenlight.core.clock import utcnow
from greenlight.core.errors import Conflict, InvalidInput, NotFound
from greenlight.core.ids import new_id
from greenlight.core.models import WatchlistDraft, WatchlistEntry
from greenlight.rights._common import folded, require_person, require_production
from greenlight.store.schema import watchlist_entries

MAX_ENTRIES = 5000


def _clean(draft: WatchlistDraft) -> tuple[str, list[str]]:
    """The term and its distinct aliases (not repeating the term), each trimmed."""
    term = " ".join(draft.term.split())
    aliases: dict[str, str] = {}
    for alias in draft.aliases:
        text = " ".join(alias.split())
        if not text or len(text) > 200:
            raise InvalidInput(
                "Each alias is 1 to 200 characters; drop empty ones.", code="watchlist.bad_alias"
            )
        if folded(text) != folded(term):
            aliases.setdefault(folded(text), text)
    return term, list(aliases.values())


def _clash(conn: Connection, production_id: str, term: str, exclude: str | None = None) -> None:
    rows = conn.execute(
        select(watchlist_entries.c.id, watchlist_entries.c.term).where(
            watchlist_entries.c.production_id == production_id,
            watchlist_entries.c.removed_at.is_(None),
        )
    )
    for row in rows:
        if row.id != exclude and folded(row.term) == folded(term):
            raise Conflict(
                f"{term!r} is already on the watchlist as entry {row.id}; edit that entry "
                "(add aliases there) instead.",
                code="watchlist.duplicate",
                entry_id=row.id,
            )


def add_watch(
    conn: Connection, production_id: str, draft: WatchlistDraft, *, by: str
) -> WatchlistEntry:
    """Put a term (with its aliases) on a production's watchlist."""
    require_production(conn, production_id)
    require_person(conn, by)
    term, aliases = _clean(draft)
    _clash(conn, production_id, term)
    count = len(watchlist_for(conn, production_id))
    if count >= MAX_ENTRIES:
        raise Conflict(
            f"The watchlist holds {MAX_ENTRIES} entries already; merge entries as aliases.",
            code="watchlist.full",
        )
    now = utcnow()
    row: dict[str, Any] = {
        "id": new_id("watch"),
        "production_id": production_id,
        "term": term,
        "category": draft.category,
        "aliases": aliases,
        "note": draft.note,
        "added_by": by,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(insert(watchlist_entries).values(**row))
    return _entry(row)


def get_watch(conn: Connection, entry_id: str) -> WatchlistEntry:
    """A watchlist entry still on the list, or NotFound."""
    row = (
        conn.execute(
            select(watchlist_entries).where(
                watchlist_entries.c.id == entry_id, watchlist_entries.c.removed_at.is_(None)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"There is no watchlist entry {entry_id!r}.", code="watchlist.not_found")
    return _entry(row)


def update_watch(conn: Connection, entry_id: str, draft: WatchlistDraft) -> WatchlistEntry:
    """Replace an entry's term, category, aliases and note."""
    current = get_watch(conn, entry_id)
    term, aliases = _clean(draft)
    _clash(conn, current.production_id, term, exclude=entry_id)
    conn.execute(
        update(watchlist_entries)
        .where(watchlist_entries.c.id == entry_id)
        .values(
            term=term,
            category=draft.category,
            aliases=aliases,
            note=draft.note,
            updated_at=utcnow(),
        )
    )
    return get_watch(conn, entry_id)


def remove_watch(conn: Connection, entry_id: str, *, by: str) -> WatchlistEntry:
    """Take an entry off its watchlist; returns it as it was."""
    entry = get_watch(conn, entry_id)
    require_person(conn, by)
    conn.execute(
        update(watchlist_entries)
        .where(watchlist_entries.c.id == entry_id)
        .values(removed_at=utcnow(), removed_by=by)
    )
    return entry


def watchlist_for(conn: Connection, production_id: str) -> list[WatchlistEntry]:
    """A production's watchlist as it stands, oldest entry first."""
    rows = conn.execute(
        select(watchlist_entries)
        .where(
            watchlist_entries.c.production_id == production_id,
            watchlist_entries.c.removed_at.is_(None),
        )
        .order_by(watchlist_entries.c.id)
    ).mappings()
    return [_entry(r) for r in rows]


def _entry(row: Mapping[Any, Any]) -> WatchlistEntry:
    fields = {k: v for k, v in dict(row).items() if k not in ("removed_at", "removed_by")}
    return WatchlistEntry.model_validate({**fields, "aliases": tuple(fields["aliases"])})
