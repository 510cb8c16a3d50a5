"""Storing and reading productions and shots. Functions take the caller's connection."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select

from greenlight.core.clock import utcnow
from greenlight.core.errors import Conflict, InvalidInput, NotFound
from greenlight.core.ids import new_id
from greenlight.core.models import Episode, Production, ProductionDraft, Shot, ShotDraft
from greenlight.store.schema import episodes, productions, shots


def create_production(conn: Connection, draft: ProductionDraft) -> Production:
    """Store a new production with its episodes; the code must be unused."""
    if conn.execute(select(productions.c.id).where(productions.c.code == draft.code)).first():
        raise Conflict(
            f"A production with code {draft.code!r} already exists; choose another code.",
            code="production.code_taken",
        )
    row = {
        "id": new_id("production"),
        "code": draft.code,
        "title": draft.title,
        "kind": draft.kind.value,
        "created_at": utcnow(),
    }
    conn.execute(insert(productions).values(**row))
    if draft.episodes:
        conn.execute(
            insert(episodes),
            [
                {"production_id": row["id"], "number": e.number, "title": e.title}
                for e in draft.episodes
            ],
        )
    return _production(row, draft.episodes)


def get_production(conn: Connection, production_id: str) -> Production:
    """The production with this id, or NotFound."""
    row = conn.execute(select(productions).where(productions.c.id == production_id)).mappings()
    found = row.first()
    if found is None:
        raise NotFound(
            f"There is no production {production_id!r}; list them with "
            "GET /api/v1/productions or `greenlight productions`.",
            code="production.not_found",
        )
    return _production(found, _episodes(conn, production_id))


def find_production(conn: Connection, key: str) -> Production:
    """A production by id or by code (what people type on the command line)."""
    row = conn.execute(select(productions.c.id).where(productions.c.code == key)).first()
    return get_production(conn, row.id if row else key)


def list_productions(conn: Connection, ids: Collection[str] | None = None) -> list[Production]:
    """Productions by code; only those in ``ids`` when given."""
    query = select(productions).order_by(productions.c.code)
    if ids is not None:
        query = query.where(productions.c.id.in_(list(ids)))
    return [_production(r, _episodes(conn, r["id"])) for r in conn.execute(query).mappings()]


def create_shot(conn: Connection, production_id: str, draft: ShotDraft) -> Shot:
    """Add a shot to a production; its code must be new there and its frames in order."""
    production = get_production(conn, production_id)
    if draft.frame_out < draft.frame_in:
        raise InvalidInput(
            f"Shot {draft.code} ends (frame {draft.frame_out}) before it starts "
            f"(frame {draft.frame_in}); give frame_out >= frame_in.",
            code="shot.bad_frame_range",
        )
    if draft.episode is not None and draft.episode not in {e.number for e in production.episodes}:
        raise InvalidInput(
            f"{production.title} has no episode {draft.episode}; add the episode first.",
            code="shot.unknown_episode",
        )
    taken = conn.execute(
        select(shots.c.id).where(shots.c.production_id == production_id, shots.c.code == draft.code)
    ).first()
    if taken:
        raise Conflict(
            f"Shot {draft.code} already exists on {production.title}.", code="shot.code_taken"
        )
    row = {
        "id": new_id("shot"),
        "production_id": production_id,
        "created_at": utcnow(),
        **draft.model_dump(),
    }
    conn.execute(insert(shots).values(**row))
    return Shot.model_validate({k: v for k, v in row.items() if k != "created_at"})


def get_shot(conn: Connection, shot_id: str) -> Shot:
    """The shot with this id, or NotFound."""
    row = conn.execute(select(shots).where(shots.c.id == shot_id)).mappings().first()
    if row is None:
        raise NotFound(f"There is no shot {shot_id!r}.", code="shot.not_found")
    return _shot(row)


def list_shots(conn: Connection, production_id: str) -> list[Shot]:
    """A production's shots by code."""
    query = select(shots).where(shots.c.production_id == production_id).order_by(shots.c.code)
    return [_shot(r) for r in conn.execute(query).mappings()]


def _episodes(conn: Connection, production_id: str) -> list[Episode]:
    query = (
        select(episodes.c.number, episodes.c.title)
        .where(episodes.c.production_id == production_id)
        .order_by(episodes.c.number)
    )
    return [Episode(number=r.number, title=r.title) for r in conn.execute(query)]


def _production(row: RowMapping | dict[str, Any], eps: list[Episode]) -> Production:
    return Production(
        id=row["id"],
        code=row["code"],
        title=row["title"],
        kind=row["kind"],
        episodes=tuple(eps),
        created_at=row["created_at"],
    )


def _shot(row: RowMapping) -> Shot:
    return Shot.model_validate({k: v for k, v in row.items() if k != "created_at"})
