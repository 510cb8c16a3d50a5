"""Storing and reading vendors, tools, talent and consents."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from pydantic import Field
from sqlalchemy import Connection, insert, select

from greenlight.core.clock import utcnow
from greenlight.core.enums import UseCase
from greenlight.core.errors import Conflict, InvalidInput, NotFound
from greenlight.core.ids import new_id
from greenlight.core.models import Consent, Draft, Talent, Tool, ToolDraft, Vendor
from greenlight.store.schema import consents, productions, talent, tools, vendors


class ConsentDraft(Draft):
    """A performer's written consent to record."""

    talent_id: str
    production_id: str
    use_cases: list[UseCase] = Field(min_length=1)
    granted_at: datetime | None = None
    expires_at: datetime | None = None
    document_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    note: str | None = Field(default=None, max_length=2000)


def create_vendor(conn: Connection, name: str) -> Vendor:
    """Register a vendor; names are unique."""
    name = name.strip()
    if not name:
        raise InvalidInput("A vendor needs a name.", code="vendor.bad_name")
    if conn.execute(select(vendors.c.id).where(vendors.c.name == name)).first():
        raise Conflict(f"Vendor {name!r} is already registered.", code="vendor.name_taken")
    row = {"id": new_id("vendor"), "name": name, "created_at": utcnow()}
    conn.execute(insert(vendors).values(**row))
    return Vendor.model_validate(row)


def get_vendor(conn: Connection, vendor_id: str) -> Vendor:
    """The vendor with this id, or NotFound."""
    row = conn.execute(select(vendors).where(vendors.c.id == vendor_id)).mappings().first()
    if row is None:
        raise NotFound(f"There is no vendor {vendor_id!r}.", code="vendor.not_found")
    return Vendor.model_validate(dict(row))


def list_vendors(conn: Connection) -> list[Vendor]:
    """All vendors by name."""
    rows = conn.execute(select(vendors).order_by(vendors.c.name)).mappings()
    return [Vendor.model_validate(dict(r)) for r in rows]


def create_tool(conn: Connection, vendor_id: str, draft: ToolDraft) -> Tool:
    """Register one version of a vendor's tool and the use cases it is vetted for."""
    get_vendor(conn, vendor_id)
    clash = select(tools.c.id).where(
        tools.c.vendor_id == vendor_id,
        tools.c.name == draft.name,
        tools.c.version == draft.version,
    )
    if conn.execute(clash).first():
        raise Conflict(
            f"{draft.name} {draft.version} is already registered for this vendor; "
            "register a new version instead.",
            code="tool.version_taken",
        )
    row = {
        "id": new_id("tool"),
        "vendor_id": vendor_id,
        "name": draft.name,
        "version": draft.version,
        "hosting": draft.hosting.value,
        "backend": draft.backend,
        "use_cases": sorted({u.value for u in draft.use_cases}),
        "created_at": utcnow(),
    }
    conn.execute(insert(tools).values(**row))
    return _tool(row)


def get_tool(conn: Connection, tool_id: str) -> Tool:
    """The tool with this id, or NotFound."""
    row = conn.execute(select(tools).where(tools.c.id == tool_id)).mappings().first()
    if row is None:
        raise NotFound(
            f"There is no tool {tool_id!r}; list registered tools with GET /api/v1/tools.",
            code="tool.not_found",
        )
    return _tool(row)


def list_tools(conn: Connection, vendor_id: str | None = None) -> list[Tool]:
    """Registered tools, optionally one vendor's."""
    query = select(tools).order_by(tools.c.name, tools.c.version)
    if vendor_id is not None:
        query = query.where(tools.c.vendor_id == vendor_id)
    return [_tool(r) for r in conn.execute(query).mappings()]


def register_talent(conn: Connection, name: str, union_affiliation: str | None = None) -> Talent:
    """Register a performer whose likeness or voice may be referenced."""
    name = name.strip()
    if not name:
        raise InvalidInput("A performer needs a name.", code="talent.bad_name")
    row = {
        "id": new_id("talent"),
        "name": name,
        "union_affiliation": union_affiliation,
        "created_at": utcnow(),
    }
    conn.execute(insert(talent).values(**row))
    return Talent.model_validate(row)


def get_talent(conn: Connection, talent_id: str) -> Talent:
    """The performer with this id, or NotFound."""
    row = conn.execute(select(talent).where(talent.c.id == talent_id)).mappings().first()
    if row is None:
        raise NotFound(f"There is no registered talent {talent_id!r}.", code="talent.not_found")
    return Talent.model_validate(dict(row))


def list_talent(conn: Connection, ids: Collection[str] | None = None) -> list[Talent]:
    """Registered performers by name; only ``ids`` when given."""
    query = select(talent).order_by(talent.c.name)
    if ids is not None:
        query = query.where(talent.c.id.in_(list(ids)))
    return [Talent.model_validate(dict(r)) for r in conn.execute(query).mappings()]


def record_consent(conn: Connection, draft: ConsentDraft) -> Consent:
    """Record a performer's consent for named uses on one production."""
    get_talent(conn, draft.talent_id)
    if not conn.execute(
        select(productions.c.id).where(productions.c.id == draft.production_id)
    ).first():
        raise NotFound(
            f"There is no production {draft.production_id!r} to record the consent on.",
            code="production.not_found",
        )
    granted = draft.granted_at or utcnow()
    if draft.expires_at is not None and draft.expires_at <= granted:
        raise InvalidInput(
            "The consent expires before it is granted; check the dates.",
            code="consent.bad_dates",
        )
    row = {
        "id": new_id("consent"),
        "talent_id": draft.talent_id,
        "production_id": draft.production_id,
        "use_cases": sorted({u.value for u in draft.use_cases}),
        "granted_at": granted,
        "expires_at": draft.expires_at,
        "revoked_at": None,
        "document_sha256": draft.document_sha256,
        "note": draft.note,
        "created_at": utcnow(),
    }
    conn.execute(insert(consents).values(**row))
    return _consent(row)


def consents_for(
    conn: Connection, production_id: str, talent_ids: Collection[str]
) -> list[Consent]:
    """Every consent on record for these performers on this production."""
    if not talent_ids:
        return []
    query = select(consents).where(
        consents.c.production_id == production_id, consents.c.talent_id.in_(list(talent_ids))
    )
    return [_consent(r) for r in conn.execute(query).mappings()]


def list_consents(conn: Connection, production_id: str) -> list[Consent]:
    """A production's consents, newest first."""
    query = (
        select(consents)
        .where(consents.c.production_id == production_id)
        .order_by(consents.c.id.desc())
    )
    return [_consent(r) for r in conn.execute(query).mappings()]


def _tool(row: Mapping[Any, Any]) -> Tool:
    return Tool.model_validate(dict(row))


def _consent(row: Mapping[Any, Any]) -> Consent:
    return Consent.model_validate({k: v for k, v in dict(row).items() if k != "created_at"})
