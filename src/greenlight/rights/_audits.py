"""Audits of vendors and their tools, their findings, and putting findings right.

An audit moves scheduled -> in_progress -> completed (recording a finding on a
scheduled audit starts it). A finding is open until remediated; an open
critical finding suspends the tool it concerns, or every tool of the vendor
when the audit was of the vendor as a whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from greenlight.core.clock import utcnow
from greenlight.core.enums import Severity
from greenlight.core.errors import Conflict, InvalidInput, NotFound
from greenlight.core.ids import new_id
from greenlight.core.models import Audit, AuditDraft, AuditStatus, Finding, FindingDraft, Tool
from greenlight.rights._common import check_page, require_person
from greenlight.rights._vendors import get_tool, get_vendor
from greenlight.store.schema import audit_findings, audits

# Where an audit may go from each status.
_NEXT: dict[str, frozenset[str]] = {
    "scheduled": frozenset({"in_progress", "completed"}),
    "in_progress": frozenset({"completed"}),
    "completed": frozenset(),
}


def schedule_audit(conn: Connection, vendor_id: str, draft: AuditDraft, *, by: str) -> Audit:
    """Schedule an audit of a vendor, or of one of its tools (``draft.tool_id``)."""
    get_vendor(conn, vendor_id)
    if draft.tool_id is not None and get_tool(conn, draft.tool_id).vendor_id != vendor_id:
        raise InvalidInput(
            f"Tool {draft.tool_id} belongs to another vendor; schedule its audit under "
            "that vendor.",
            code="audit.tool_elsewhere",
        )
    require_person(conn, by)
    row: dict[str, Any] = {
        "id": new_id("audit"),
        "vendor_id": vendor_id,
        "tool_id": draft.tool_id,
        "scheduled_for": draft.scheduled_for,
        "auditor": draft.auditor,
        "status": "scheduled",
        "note": draft.note,
        "scheduled_by": by,
        "created_at": utcnow(),
        "completed_at": None,
    }
    conn.execute(insert(audits).values(**row))
    return Audit.model_validate(row)


def get_audit(conn: Connection, audit_id: str) -> Audit:
    """The audit with its findings, or NotFound."""
    row = conn.execute(select(audits).where(audits.c.id == audit_id)).mappings().first()
    if row is None:
        raise NotFound(f"There is no audit {audit_id!r}.", code="audit.not_found")
    return _with_findings(conn, [row])[0]


def list_audits(
    conn: Connection,
    *,
    vendor_id: str | None = None,
    vendors: Collection[str] | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> list[Audit]:
    """Audits with their findings, newest first; one vendor's, or only ``vendors``'."""
    check_page(limit, cursor)
    query = select(audits).order_by(audits.c.id.desc()).limit(limit)
    if vendor_id is not None:
        query = query.where(audits.c.vendor_id == vendor_id)
    if vendors is not None:
        query = query.where(audits.c.vendor_id.in_(list(vendors)))
    if cursor is not None:
        query = query.where(audits.c.id < cursor)
    return _with_findings(conn, conn.execute(query).mappings().all())


def set_audit_status(conn: Connection, audit_id: str, status: AuditStatus) -> Audit:
    """Move an audit on: scheduled -> in_progress -> completed (a Conflict otherwise)."""
    audit = get_audit(conn, audit_id)
    if status not in _NEXT[audit.status]:
        raise Conflict(
            f"Audit {audit_id} is {audit.status.replace('_', ' ')}; it cannot become "
            f"{status.replace('_', ' ')}.",
            code="audit.bad_status_change",
            status=audit.status,
        )
    values: dict[str, Any] = {"status": status}
    if status == "completed":
        values["completed_at"] = utcnow()
    conn.execute(update(audits).where(audits.c.id == audit_id).values(**values))
    return get_audit(conn, audit_id)


def add_finding(conn: Connection, audit_id: str, draft: FindingDraft, *, by: str) -> Finding:
    """Record what an audit found; a scheduled audit is thereby in progress."""
    audit = get_audit(conn, audit_id)
    require_person(conn, by)
    if audit.status == "scheduled":
        conn.execute(update(audits).where(audits.c.id == audit_id).values(status="in_progress"))
    row: dict[str, Any] = {
        "id": new_id("finding"),
        "audit_id": audit_id,
        "severity": draft.severity.value,
        "description": draft.description,
        "remediation": draft.remediation,
        "status": "open",
        "recorded_by": by,
        "created_at": utcnow(),
        "remediated_at": None,
        "remediated_by": None,
        "remediation_note": None,
    }
    conn.execute(insert(audit_findings).values(**row))
    return Finding.model_validate(row)


def remediate_finding(conn: Connection, finding_id: str, *, note: str, by: str) -> Finding:
    """Mark a finding put right, saying how; a remediated finding suspends nothing."""
    note = " ".join(note.split())
    if len(note) < 5:
        raise InvalidInput(
            "Say how the finding was put right (at least a few words).",
            code="finding.note_required",
        )
    row = (
        conn.execute(select(audit_findings).where(audit_findings.c.id == finding_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"There is no finding {finding_id!r}.", code="finding.not_found")
    require_person(conn, by)
    done = conn.execute(
        update(audit_findings)
        .where(audit_findings.c.id == finding_id, audit_findings.c.status == "open")
        .values(
            status="remediated", remediated_at=utcnow(), remediated_by=by, remediation_note=note
        )
    )
    if done.rowcount == 0:
        raise Conflict(
            f"Finding {finding_id} is already remediated.", code="finding.already_remediated"
        )
    return _finding(
        conn.execute(select(audit_findings).where(audit_findings.c.id == finding_id))
        .mappings()
        .one()
    )


def finding_vendor(conn: Connection, finding_id: str) -> str:
    """The vendor a finding is about (for access checks), or NotFound."""
    vendor = conn.execute(
        select(audits.c.vendor_id)
        .join(audit_findings, audit_findings.c.audit_id == audits.c.id)
        .where(audit_findings.c.id == finding_id)
    ).scalar()
    if vendor is None:
        raise NotFound(f"There is no finding {finding_id!r}.", code="finding.not_found")
    return str(vendor)


def open_critical_findings(conn: Connection, tool: Tool) -> list[Finding]:
    """Open critical findings against ``tool`` or against its vendor as a whole."""
    rows = conn.execute(
        select(audit_findings)
        .join(audits, audits.c.id == audit_findings.c.audit_id)
        .where(
            audits.c.vendor_id == tool.vendor_id,
            or_(audits.c.tool_id.is_(None), audits.c.tool_id == tool.id),
            audit_findings.c.status == "open",
            audit_findings.c.severity == Severity.CRITICAL.value,
        )
        .order_by(audit_findings.c.id)
    ).mappings()
    return [_finding(r) for r in rows]


def _with_findings(conn: Connection, rows: Collection[Mapping[Any, Any]]) -> list[Audit]:
    if not rows:
        return []
    found: dict[str, list[Finding]] = defaultdict(list)
    for f in conn.execute(
        select(audit_findings)
        .where(audit_findings.c.audit_id.in_([r["id"] for r in rows]))
        .order_by(audit_findings.c.id)
    ).mappings():
        found[f["audit_id"]].append(_finding(f))
    return [Audit.model_validate({**dict(r), "findings": tuple(found[r["id"]])}) for r in rows]


def _finding(row: Mapping[Any, Any]) -> Finding:
    return Finding.model_validate(dict(row))
