"""Vendor governance: attestations, audits and findings, the allow-list, a tool's standing."""

from __future__ import annotations

from datetime import date, timedelta

from greenlight.core.clock import utcnow
from greenlight.core.enums import Severity
from greenlight.core.errors import Conflict, InvalidInput, NotFound
from greenlight.core.models import AuditDraft, FindingDraft
from greenlight.rights import (
    add_finding,
    allow_tool,
    allowed_tools,
    disallow_tool,
    get_audit,
    list_attestations,
    record_attestation,
    remediate_finding,
    schedule_audit,
    set_audit_status,
    tool_standing,
)
from tests.expect import refused
from tests.rights import drafts
from tests.world import World


def _legal(world: World) -> str:
    return world.people["legal"].id


def test_a_tool_never_attested_is_unknown_not_suspended(sqlite_world: World) -> None:
    world = sqlite_world
    with world.platform.db.read() as conn:
        standing = tool_standing(conn, world.vendor_tool.id, world.production.id)
    assert standing.attestation is None and standing.attestation_from is None
    assert not standing.suspended
    assert any("unknown" in r for r in standing.reasons)


def test_a_tools_own_attestation_wins_over_its_vendors(world: World) -> None:
    tool, vendor = world.vendor_tool, world.vendor_tool.vendor_id
    with world.platform.db.transaction() as conn:
        vendor_wide = record_attestation(conn, vendor, drafts.attestation(), by=_legal(world))
        standing = tool_standing(conn, tool.id, world.production.id)
        assert standing.attestation == vendor_wide and standing.attestation_from == "vendor"
        own = record_attestation(
            conn,
            vendor,
            drafts.attestation(tool_id=tool.id, retains_data_days=30, trains_on_inputs=True),
            by=_legal(world),
        )
        standing = tool_standing(conn, tool.id, world.production.id)
    assert standing.attestation == own and standing.attestation_from == "tool"
    assert standing.attestation.retains_data_days == 30
    assert not standing.suspended
    with world.platform.db.read() as conn:
        assert list_attestations(conn, vendor_id=vendor) == [own, vendor_wide]
        assert list_attestations(conn, tool_id=tool.id) == [own]


def test_attestation_expiry_suspends_the_tool(world: World) -> None:
    tool, vendor = world.vendor_tool, world.vendor_tool.vendor_id
    now = utcnow()
    with world.platform.db.transaction() as conn:
        lapsed = record_attestation(
            conn,
            vendor,
            drafts.attestation(
                tool_id=tool.id, valid_from=now - timedelta(days=400), expires_at=now
            ),
            by=_legal(world),
        )
        before = tool_standing(conn, tool.id, world.production.id, now - timedelta(days=1))
        after = tool_standing(conn, tool.id, world.production.id, now + timedelta(seconds=1))
    assert before.attestation == lapsed and not before.suspended
    assert after.attestation is None and after.suspended
    assert any(lapsed.id in r and "expired" in r for r in after.reasons)

    with world.platform.db.transaction() as conn:  # the vendor's new attestation covers it
        record_attestation(conn, vendor, drafts.attestation(), by=_legal(world))
        renewed = tool_standing(conn, tool.id, world.production.id)
    assert renewed.attestation_from == "vendor" and not renewed.suspended


def test_open_critical_finding_suspends_and_remediation_lifts_it(world: World) -> None:
    tool, vendor = world.vendor_tool, world.vendor_tool.vendor_id
    with world.platform.db.transaction() as conn:
        record_attestation(conn, vendor, drafts.attestation(), by=_legal(world))
        audit = schedule_audit(
            conn,
            vendor,
            AuditDraft(scheduled_for=date(2026, 12, 1), auditor="Northgate Security"),
            by=_legal(world),
        )
        minor = add_finding(
            conn,
            audit.id,
            FindingDraft(
                severity=Severity.MEDIUM,
                description="Visitor log incomplete",
                remediation="Keep the visitor log",
            ),
            by=_legal(world),
        )
        assert not tool_standing(conn, tool.id, world.production.id).suspended
        critical = add_finding(
            conn,
            audit.id,
            FindingDraft(
                severity=Severity.CRITICAL,
                description="Production inputs copied to a training bucket",
                remediation="Delete the bucket and show the deletion logs",
            ),
            by=_legal(world),
        )
        suspended = tool_standing(conn, tool.id, world.production.id)
        other_vendor = tool_standing(conn, world.studio_tool.id, world.production.id)
        assert get_audit(conn, audit.id).status == "in_progress"
    assert suspended.suspended and suspended.open_critical_findings == (critical.id,)
    assert any(critical.id in r for r in suspended.reasons)
    assert not other_vendor.suspended  # the finding is about Lumen, not the studio's tool

    with world.platform.db.transaction() as conn:
        done = remediate_finding(
            conn, critical.id, note="Bucket deleted, logs reviewed", by=_legal(world)
        )
        assert done.status == "remediated" and done.remediated_by == _legal(world)
        assert not tool_standing(conn, tool.id, world.production.id).suspended
        completed = set_audit_status(conn, audit.id, "completed")
    assert completed.completed_at is not None
    assert [f.id for f in completed.findings] == [minor.id, critical.id]
    with refused("finding.already_remediated", Conflict), world.platform.db.transaction() as conn:
        remediate_finding(conn, critical.id, note="Again and again", by=_legal(world))
    with refused("audit.bad_status_change", Conflict), world.platform.db.transaction() as conn:
        set_audit_status(conn, audit.id, "in_progress")


def test_a_critical_finding_on_one_tool_leaves_the_vendors_other_tools(sqlite_world: World) -> None:
    world = sqlite_world
    vendor = world.vendor_tool.vendor_id
    with world.platform.db.transaction() as conn:
        audit = schedule_audit(
            conn,
            vendor,
            AuditDraft(
                tool_id=world.vendor_tool.id, scheduled_for=date(2026, 12, 2), auditor="TPN"
            ),
            by=_legal(world),
        )
        add_finding(
            conn,
            audit.id,
            FindingDraft(
                severity="critical", description="Keys in source", remediation="Rotate keys"
            ),
            by=_legal(world),
        )
        assert tool_standing(conn, world.vendor_tool.id, world.production.id).suspended


def test_bad_attestations_are_refused(sqlite_world: World) -> None:
    world = sqlite_world
    vendor = world.vendor_tool.vendor_id
    now = utcnow()
    with refused("attestation.bad_dates", InvalidInput), world.platform.db.transaction() as conn:
        record_attestation(
            conn, vendor, drafts.attestation(valid_from=now, expires_at=now), by=_legal(world)
        )
    with refused("attestation.tool_elsewhere"), world.platform.db.transaction() as conn:
        record_attestation(
            conn, vendor, drafts.attestation(tool_id=world.studio_tool.id), by=_legal(world)
        )
    with refused("vendor.not_found", NotFound), world.platform.db.transaction() as conn:
        record_attestation(conn, "ven_missing", drafts.attestation(), by=_legal(world))
    with world.platform.db.read() as conn:
        assert list_attestations(conn) == []


def test_the_producer_keeps_the_allow_list_with_who_and_when(world: World) -> None:
    producer = world.people["producer"].id
    with world.platform.db.transaction() as conn:
        first = allow_tool(conn, world.production.id, world.vendor_tool.id, by=producer)
        again = allow_tool(conn, world.production.id, world.vendor_tool.id, by=_legal(world))
        assert again == first  # allowing twice changes nothing
        assert tool_standing(conn, world.vendor_tool.id, world.production.id).allowed_on_production
        disallow_tool(conn, world.production.id, world.vendor_tool.id, by=producer)
        assert allowed_tools(conn, world.production.id) == []
        standing = tool_standing(conn, world.vendor_tool.id, world.production.id)
    assert first.allowed_by == producer
    assert not standing.allowed_on_production
    assert any("not on the production's allow-list" in r for r in standing.reasons)
    with refused("allowlist.not_listed", NotFound), world.platform.db.transaction() as conn:
        disallow_tool(conn, world.production.id, world.vendor_tool.id, by=producer)
