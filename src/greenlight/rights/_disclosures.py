"""Disclosure to the studio: every request is recorded for the production's studio
contact when it is made, and each day's requests are gathered in a digest.

Nothing is disclosed silently or skipped: a production with no studio contact
yet still gets its disclosure records (with no contact), and the digest says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from greenlight.core.clock import utcnow
from greenlight.core.enums import Outcome
from greenlight.core.errors import InvalidInput
from greenlight.core.ids import new_id
from greenlight.core.models import Digest, DigestItem, GenerationRequest, StudioDisclosure, Tool
from greenlight.rights._common import check_page, require_production
from greenlight.rights._vendors import get_tool
from greenlight.store.schema import (
    disclosures,
    generation_requests,
    policy_decisions,
    productions,
    tools,
)

MAX_PROMPT_IN_SUMMARY = 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def set_studio_contact(conn: Connection, production_id: str, contact: str | None) -> str | None:
    """Name who at the studio hears of every request on the production (email or name).

    ``None`` or an empty string clears it; disclosures are still recorded.
    """
    require_production(conn, production_id)
    value = " ".join((contact or "").split()) or None
    if value is not None and (len(value) > 254 or _CONTROL.search(value)):
        raise InvalidInput(
            "A studio contact is an email address or a name, up to 254 characters.",
            code="production.bad_studio_contact",
        )
    conn.execute(
        update(productions).where(productions.c.id == production_id).values(studio_contact=value)
    )
    return value


def studio_contact(conn: Connection, production_id: str) -> str | None:
    """Who at the studio hears of the production's requests (None: nobody named yet)."""
    row = conn.execute(
        select(productions.c.studio_contact).where(productions.c.id == production_id)
    ).first()
    if row is None:
        require_production(conn, production_id)  # raises NotFound
    return None if row is None else row.studio_contact


def record_disclosure(
    conn: Connection, request: GenerationRequest, contact: str | None = None
) -> StudioDisclosure:
    """Record that ``request`` is disclosed to the studio; call it in the request's own
    transaction, after the request row is written.

    ``contact`` defaults to the production's studio contact. The summary keeps
    what the studio is told: use case, intent, tool, talent, declared
    third-party material, the requester's declaration and the prompt. A request
    is disclosed once; recording it again returns the first record.
    """
    existing = (
        conn.execute(select(disclosures).where(disclosures.c.request_id == request.id))
        .mappings()
        .first()
    )
    if existing is not None:
        return _disclosure(existing)
    if contact is None:
        contact = studio_contact(conn, request.production_id)
    row = disclosure_row(request, get_tool(conn, request.tool_id), contact)
    conn.execute(insert(disclosures).values(**row))
    return _disclosure(row)


def disclosure_row(request: GenerationRequest, tool: Tool, contact: str | None) -> dict[str, Any]:
    """The ``disclosures`` row for ``request``: what the studio is told about it.

    The summary keeps the use case, intent, tool, talent, declared third-party
    material, the requester's declaration and the prompt.
    """
    summary: dict[str, Any] = {
        "use_case": request.use_case.value,
        "intent": request.intent.value,
        "tool": {
            "id": request.tool_id,
            "name": tool.name,
            "version": tool.version,
            "vendor_id": tool.vendor_id,
        },
        "talent": list(request.talent_ids),
        "third_party_ip": list(request.third_party_ip),
        "declared": request.disclosure.model_dump(mode="json"),
        "prompt": request.prompt[:MAX_PROMPT_IN_SUMMARY],
        "requested_by": request.requested_by,
        "state": request.state.value,
    }
    return {
        "id": new_id("disclosure"),
        "request_id": request.id,
        "production_id": request.production_id,
        "studio_contact": contact,
        "summary": summary,
        "created_at": request.created_at,
    }


def list_disclosures(
    conn: Connection, production_id: str, *, limit: int = 50, cursor: str | None = None
) -> list[StudioDisclosure]:
    """A production's disclosures, newest first, a page at a time."""
    check_page(limit, cursor)
    query = (
        select(disclosures)
        .where(disclosures.c.production_id == production_id)
        .order_by(disclosures.c.id.desc())
        .limit(limit)
    )
    if cursor is not None:
        query = query.where(disclosures.c.id < cursor)
    return [_disclosure(r) for r in conn.execute(query).mappings()]


def daily_digest(conn: Connection, production_id: str, day: date) -> Digest:
    """The requests disclosed on ``production_id`` during ``day`` (UTC), in order, each with
    its use case, intent, tool, and the policy's outcome and the state it is in now."""
    contact = studio_contact(conn, production_id)
    start = datetime.combine(day, time.min, tzinfo=UTC)
    d, r = disclosures.c, generation_requests.c
    rows = conn.execute(
        select(
            d.request_id,
            d.created_at,
            r.use_case,
            r.intent,
            r.state,
            r.requested_by,
            tools.c.name,
            tools.c.version,
        )
        .join(generation_requests, r.id == d.request_id)
        .join(tools, tools.c.id == r.tool_id)
        .where(
            d.production_id == production_id,
            d.created_at >= start,
            d.created_at < start + timedelta(days=1),
        )
        .order_by(d.created_at, d.id)
    ).all()
    outcomes: dict[str, str] = {}
    if rows:
        decided = conn.execute(
            select(policy_decisions.c.request_id, policy_decisions.c.outcome)
            .where(policy_decisions.c.request_id.in_([row.request_id for row in rows]))
            .order_by(policy_decisions.c.id)
        )
        outcomes = {request_id: outcome for request_id, outcome in decided}  # latest wins
    items = tuple(
        DigestItem(
            request_id=row.request_id,
            disclosed_at=row.created_at,
            use_case=row.use_case,
            intent=row.intent,
            tool=f"{row.name} {row.version}",
            outcome=Outcome(outcomes[row.request_id]) if row.request_id in outcomes else None,
            state=row.state,
            requested_by=row.requested_by,
        )
        for row in rows
    )
    return Digest(production_id=production_id, day=day, studio_contact=contact, items=items)


def _disclosure(row: Mapping[Any, Any]) -> StudioDisclosure:
    return StudioDisclosure.model_validate(dict(row))


def today() -> date:
    """Today in UTC, the digest's default day."""
    return utcnow().date()
