"""Vendors and their tools, each version registered with the use cases it is vetted for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert, select

from greenlight.core.clock import utcnow
from greenlight.core.errors import Conflict, InvalidInput, NotFound
from greenlight.core.ids import new_id
from greenlight.core.models import Tool, ToolDraft, Vendor
from greenlight.store.schema import tools, vendors


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


def _tool(row: Mapping[Any, Any]) -> Tool:
    return Tool.model_validate(dict(row))
