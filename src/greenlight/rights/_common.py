"""What the rights services share: ids for the newer records, existence checks, pages."""

from __future__ import annotations

import unicodedata

from sqlalchemy import Connection, select

from greenlight.core.errors import InvalidInput, NotFound
from greenlight.core.ids import is_id
from greenlight.store.schema import people, productions

MAX_PAGE = 200


def require_production(conn: Connection, production_id: str) -> None:
    """NotFound unless the production exists."""
    found = conn.execute(select(productions.c.id).where(productions.c.id == production_id))
    if found.first() is None:
        raise NotFound(
            f"There is no production {production_id!r}; list them with "
            "GET /api/v1/productions or `greenlight productions`.",
            code="production.not_found",
        )


def require_person(conn: Connection, person_id: str) -> None:
    """NotFound unless the person exists (who recorded or revoked something)."""
    if conn.execute(select(people.c.id).where(people.c.id == person_id)).first() is None:
        raise NotFound(
            f"There is no person {person_id!r} to record this as; act as a registered person.",
            code="person.not_found",
        )


def check_page(limit: int, cursor: str | None) -> None:
    """Refuse a page size or cursor the API would not hand out."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1 to {MAX_PAGE}.", code="page.bad_limit")
    if cursor is not None and not is_id(cursor):
        raise InvalidInput(
            "The cursor is not one this API handed out; start again without it.",
            code="page.bad_cursor",
        )


def folded(text: str) -> str:
    """``text`` trimmed, NFC-normalised and case-folded, for comparing names and media."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def words(values: list[str], what: str, *, max_length: int = 64) -> list[str]:
    """Media or territory names, folded, distinct and in order; empty strings refused."""
    seen: dict[str, None] = {}
    for value in values:
        word = folded(value)
        if not word or len(word) > max_length:
            raise InvalidInput(
                f"Each {what} is a short name of 1 to {max_length} characters "
                "(e.g. 'series', 'trailer', 'worldwide', 'US'); got "
                f"{value!r}.",
                code=f"consent.bad_{what.replace(' ', '_')}",
            )
        seen.setdefault(word, None)
    return list(seen)
