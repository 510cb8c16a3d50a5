"""Which tools a production may use (its allow-list) and where a tool stands at a moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from greenlight.core.clock import utcnow
from greenlight.core.errors import NotFound
from greenlight.core.ids import new_id
from greenlight.core.models import AllowedTool, Attestation, Finding, Tool, ToolStanding
from greenlight.rights._attestations import effective_among, tool_attestations
from greenlight.rights._audits import open_critical_findings
from greenlight.rights._common import require_person, require_production
from greenlight.rights._vendors import get_tool
from greenlight.store.schema import tool_allowlist


def allow_tool(conn: Connection, production_id: str, tool_id: str, *, by: str) -> AllowedTool:
    """Put a tool on a production's allow-list; a tool already on it stays as it was."""
    require_production(conn, production_id)
    get_tool(conn, tool_id)
    require_person(conn, by)
    current = _current(conn, production_id, tool_id)
    if current is not None:
        return current
    now = utcnow()
    conn.execute(
        insert(tool_allowlist).values(
            id=new_id("allowance"),
            production_id=production_id,
            tool_id=tool_id,
            allowed_by=by,
            allowed_at=now,
        )
    )
    return AllowedTool(production_id=production_id, tool_id=tool_id, allowed_by=by, allowed_at=now)


def disallow_tool(conn: Connection, production_id: str, tool_id: str, *, by: str) -> None:
    """Take a tool off a production's allow-list (the record of who allowed it stays)."""
    require_production(conn, production_id)
    require_person(conn, by)
    done = conn.execute(
        update(tool_allowlist)
        .where(
            tool_allowlist.c.production_id == production_id,
            tool_allowlist.c.tool_id == tool_id,
            tool_allowlist.c.removed_at.is_(None),
        )
        .values(removed_at=utcnow(), removed_by=by)
    )
    if done.rowcount == 0:
        raise NotFound(
            f"Tool {tool_id} is not on production {production_id}'s allow-list.",
            code="allowlist.not_listed",
        )


def allowed_tools(conn: Connection, production_id: str) -> list[AllowedTool]:
    """The tools a production may use now, in the order they were allowed."""
    require_production(conn, production_id)
    t = tool_allowlist.c
    rows = conn.execute(
        select(t.production_id, t.tool_id, t.allowed_by, t.allowed_at)
        .where(t.production_id == production_id, t.removed_at.is_(None))
        .order_by(t.allowed_at, t.id)
    ).mappings()
    return [AllowedTool.model_validate(dict(r)) for r in rows]


def _current(conn: Connection, production_id: str, tool_id: str) -> AllowedTool | None:
    t = tool_allowlist.c
    row = (
        conn.execute(
            select(t.production_id, t.tool_id, t.allowed_by, t.allowed_at).where(
                t.production_id == production_id, t.tool_id == tool_id, t.removed_at.is_(None)
            )
        )
        .mappings()
        .first()
    )
    return AllowedTool.model_validate(dict(row)) if row else None


@dataclass(frozen=True)
class StandingFacts:
    """What a tool's standing on a production follows from, loaded once.

    Nothing here depends on the moment: :meth:`at` judges it for any time, so
    the facts can be kept in memory while the registry does not change.
    """

    tool: Tool
    production_id: str
    allowed: bool
    attestations: tuple[Attestation, ...]  # own and vendor-wide, newest first
    critical: tuple[Finding, ...]  # open critical findings against the tool or its vendor

    def at(self, at: datetime) -> ToolStanding:
        """The tool's standing at ``at``."""
        return _judge(self, at)


def standing_facts(conn: Connection, tool_id: str, production_id: str) -> StandingFacts:
    """Load what :func:`tool_standing` judges: allow-list entry, attestations, findings."""
    tool = get_tool(conn, tool_id)
    require_production(conn, production_id)
    return StandingFacts(
        tool=tool,
        production_id=production_id,
        allowed=_current(conn, production_id, tool_id) is not None,
        attestations=tuple(tool_attestations(conn, tool)),
        critical=tuple(open_critical_findings(conn, tool)),
    )


def tool_standing(
    conn: Connection, tool_id: str, production_id: str, at: datetime | None = None
) -> ToolStanding:
    """Whether ``tool_id`` may be used on ``production_id`` at ``at`` (default: now), and why.

    Suspended means its effective attestation has lapsed with none in force, or
    an open critical finding stands against it or its vendor. A tool never
    attested is not suspended: its attestation is None (unknown), and the policy
    escalates on that.
    """
    return standing_facts(conn, tool_id, production_id).at(at or utcnow())


def _judge(facts: StandingFacts, at: datetime) -> ToolStanding:
    tool, allowed, critical = facts.tool, facts.allowed, facts.critical
    production_id = facts.production_id
    effective = effective_among(facts.attestations, at)
    reasons: list[str] = []
    label = f"{tool.name} {tool.version}"
    if allowed:
        reasons.append(f"{label} is on the production's allow-list.")
    else:
        reasons.append(f"{label} is not on the production's allow-list.")
    if effective.attestation is not None:
        a = effective.attestation
        whose = "its own" if effective.source == "tool" else "its vendor's"
        reasons.append(
            f"Attested ({whose} attestation {a.id}) until {a.expires_at:%Y-%m-%d %H:%M} UTC."
        )
    elif effective.lapsed is not None:
        reasons.append(
            f"Suspended: attestation {effective.lapsed.id} expired on "
            f"{effective.lapsed.expires_at:%Y-%m-%d %H:%M} UTC and none replaced it."
        )
    else:
        reasons.append("No attestation on record: what the tool does with data is unknown.")
    for finding in critical:
        reasons.append(
            f"Suspended: open critical audit finding {finding.id}: {finding.description}"
        )
    return ToolStanding(
        tool_id=tool.id,
        vendor_id=tool.vendor_id,
        production_id=production_id,
        at=at,
        attestation=effective.attestation,
        attestation_from=effective.source,
        allowed_on_production=allowed,
        suspended=effective.lapsed is not None or bool(critical),
        open_critical_findings=tuple(f.id for f in critical),
        reasons=tuple(reasons),
    )
