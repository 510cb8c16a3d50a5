"""Vendor attestations: what a vendor states about a tool (or all its tools), for a period.

A tool's effective attestation at a moment is its own latest one in force, or
else its vendor's latest vendor-wide one in force.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, insert, or_, select

from greenlight.core.clock import utcnow
from greenlight.core.errors import InvalidInput
from greenlight.core.ids import new_id
from greenlight.core.models import Attestation, AttestationDraft, Tool
from greenlight.rights._common import check_page, require_person
from greenlight.rights._vendors import get_tool, get_vendor
from greenlight.store.schema import attestations


def record_attestation(
    conn: Connection, vendor_id: str, draft: AttestationDraft, *, by: str
) -> Attestation:
    """Record a vendor's attestation, for one of its tools (``draft.tool_id``) or all of them.

    It holds from ``valid_from`` (default: now) until ``expires_at``; a tool
    whose effective attestation has lapsed is suspended.
    """
    get_vendor(conn, vendor_id)
    if draft.tool_id is not None and get_tool(conn, draft.tool_id).vendor_id != vendor_id:
        raise InvalidInput(
            f"Tool {draft.tool_id} belongs to another vendor; record its attestation under "
            "that vendor.",
            code="attestation.tool_elsewhere",
        )
    require_person(conn, by)
    now = utcnow()
    valid_from = draft.valid_from or now
    if draft.expires_at <= valid_from:
        raise InvalidInput(
            "The attestation expires before it takes effect; check valid_from and expires_at.",
            code="attestation.bad_dates",
        )
    certification = (draft.security_certification or "").strip() or None
    row: dict[str, Any] = {
        "id": new_id("attestation"),
        "vendor_id": vendor_id,
        "tool_id": draft.tool_id,
        "training_data": [
            {"source": s.source.strip(), "licence": s.licence.strip()} for s in draft.training_data
        ],
        "trains_on_inputs": draft.trains_on_inputs,
        "retains_data_days": draft.retains_data_days,
        "enclosed_environment": draft.enclosed_environment,
        "security_certification": certification,
        "valid_from": valid_from,
        "expires_at": draft.expires_at,
        "document_sha256": draft.document_sha256,
        "recorded_by": by,
        "created_at": now,
    }
    if any(not s["source"] or not s["licence"] for s in row["training_data"]):
        raise InvalidInput(
            "Each training-data source names the source and its licence.",
            code="attestation.bad_training_data",
        )
    conn.execute(insert(attestations).values(**row))
    return _attestation(row)


def list_attestations(
    conn: Connection,
    *,
    vendor_id: str | None = None,
    tool_id: str | None = None,
    vendors: Collection[str] | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> list[Attestation]:
    """Attestations, newest first; one vendor's or one tool's (its own) when given.

    ``vendors`` limits the answer to those vendors (what a vendor's own people see).
    """
    check_page(limit, cursor)
    query = select(attestations).order_by(attestations.c.id.desc()).limit(limit)
    if vendor_id is not None:
        query = query.where(attestations.c.vendor_id == vendor_id)
    if tool_id is not None:
        query = query.where(attestations.c.tool_id == tool_id)
    if vendors is not None:
        query = query.where(attestations.c.vendor_id.in_(list(vendors)))
    if cursor is not None:
        query = query.where(attestations.c.id < cursor)
    return [_attestation(r) for r in conn.execute(query).mappings()]


@dataclass(frozen=True)
class Effective:
    """A tool's effective attestation at a moment, where it comes from, and what lapsed."""

    attestation: Attestation | None
    source: Literal["tool", "vendor"] | None
    lapsed: Attestation | None  # the newest that applied and has expired, when none holds


def effective_attestation(conn: Connection, tool: Tool, at: datetime) -> Effective:
    """The attestation that holds for ``tool`` at ``at``: its own, else its vendor's.

    When none holds, ``lapsed`` is the newest one (own or vendor-wide) that has
    expired by ``at``: the tool was attested and is no longer. Attestations not
    yet in force count as neither.
    """
    return effective_among(tool_attestations(conn, tool), at)


def tool_attestations(conn: Connection, tool: Tool) -> list[Attestation]:
    """Every attestation that applies to ``tool`` (its own and its vendor's), newest first."""
    rows = conn.execute(
        select(attestations)
        .where(
            attestations.c.vendor_id == tool.vendor_id,
            or_(attestations.c.tool_id == tool.id, attestations.c.tool_id.is_(None)),
        )
        .order_by(attestations.c.valid_from.desc(), attestations.c.id.desc())
    ).mappings()
    return [_attestation(r) for r in rows]


def effective_among(applicable: Sequence[Attestation], at: datetime) -> Effective:
    """:func:`effective_attestation` over already-loaded attestations (newest first)."""
    found = [a for a in applicable if a.valid_from <= at]
    own = next((a for a in found if a.tool_id is not None and a.in_force(at)), None)
    if own is not None:
        return Effective(own, "tool", None)
    vendor_wide = next((a for a in found if a.tool_id is None and a.in_force(at)), None)
    if vendor_wide is not None:
        return Effective(vendor_wide, "vendor", None)
    lapsed = next((a for a in found if a.expires_at <= at), None)
    return Effective(None, None, lapsed)


def _attestation(row: Mapping[Any, Any]) -> Attestation:
    return Attestation.model_validate(dict(row))
