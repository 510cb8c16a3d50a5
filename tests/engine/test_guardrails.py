"""The guardrails as a requester meets them: registry facts reach the Cedar policy.

Each test changes the registry the way legal, a producer or an auditor would,
then submits through the engine, so it checks the whole path: registry rows,
the in-memory registry cache (and its invalidation), the policy document and
the Cedar rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from greenlight.core.clock import utcnow
from greenlight.core.enums import Outcome, RequestState
from greenlight.core.errors import InvalidInput
from greenlight.core.models import AuditDraft, FindingDraft, RequestDetail, WatchlistDraft
from greenlight.core.settings import Settings
from greenlight.engine import requests
from greenlight.engine.platform import Platform
from greenlight.policy import PolicyDocument
from greenlight.rights import (
    add_finding,
    add_watch,
    disallow_tool,
    list_disclosures,
    remediate_finding,
    schedule_audit,
    set_studio_contact,
)
from greenlight.store.schema import consents, policy_decisions
from tests.expect import refused
from tests.world import World, attest, build_world


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    platform = Platform.open(settings)
    yield build_world(platform)
    platform.close()


def _submit(world: World, **changes: object) -> RequestDetail:
    draft = world.cleanup(world.upload_plate(), **changes)
    return requests.submit(world.platform, world.access("artist"), draft)


def test_temporary_cleanup_with_an_attested_enclosed_tool_proceeds_on_disclosure(
    world: World,
) -> None:
    detail = _submit(world)
    assert detail.request.state is RequestState.QUEUED
    assert detail.decision is not None
    assert detail.decision.rules == ("proceeds-on-disclosure",)
    assert detail.decision.policy_version == world.platform.policy.version


def test_every_request_is_disclosed_to_the_studio_contact(world: World) -> None:
    with world.platform.db.transaction() as conn:
        set_studio_contact(conn, world.production.id, "ai@studio.example")
    allowed = _submit(world)
    denied = _submit(world, use_case="de_aging", talent_ids=[world.unconsented.id])
    with world.platform.db.read() as conn:
        disclosed = list_disclosures(conn, world.production.id)
    assert {d.request_id for d in disclosed} == {allowed.request.id, denied.request.id}
    assert {d.studio_contact for d in disclosed} == {"ai@studio.example"}


def test_a_prompt_naming_a_watched_character_waits_for_legal(world: World) -> None:
    with world.platform.db.transaction() as conn:
        add_watch(
            conn,
            world.production.id,
            WatchlistDraft(term="Captain Aurora", category="protected_character"),
            by=world.people["legal"].id,
        )
    detail = _submit(world, prompt="paint the wire out behind CAPTAIN   AURÓRA's cape")
    assert detail.request.state is RequestState.AWAITING_APPROVAL
    assert detail.decision is not None
    assert "watchlist-hit-needs-legal" in detail.decision.rules
    assert any("legal" in r.roles for r in detail.decision.required)


def test_an_open_critical_finding_suspends_the_tool_until_remediated(world: World) -> None:
    legal = world.people["legal"].id
    assert _submit(world).decision.outcome is Outcome.ALLOW  # cached standing, then...
    with world.platform.db.transaction() as conn:
        audit = schedule_audit(
            conn,
            world.studio_tool.vendor_id,
            AuditDraft(scheduled_for=date.today(), auditor="TPN assessor"),
            by=legal,
        )
        finding = add_finding(
            conn,
            audit.id,
            FindingDraft(
                severity="critical",
                description="Plates copied to an unmanaged bucket",
                remediation="Delete the bucket and prove it",
            ),
            by=legal,
        )
    suspended = _submit(world)
    assert suspended.request.state is RequestState.DENIED
    assert suspended.decision is not None
    assert "tool-suspended" in suspended.decision.rules
    with world.platform.db.transaction() as conn:
        remediate_finding(conn, finding.id, note="Bucket deleted, logs reviewed", by=legal)
    assert _submit(world).decision.outcome is Outcome.ALLOW


def test_a_tool_taken_off_the_allow_list_is_refused_at_once(world: World) -> None:
    assert _submit(world).request.state is RequestState.QUEUED
    with world.platform.db.transaction() as conn:
        disallow_tool(
            conn, world.production.id, world.studio_tool.id, by=world.people["producer"].id
        )
    refused = _submit(world)
    assert refused.request.state is RequestState.DENIED
    assert refused.decision is not None
    assert "tool-not-on-production-allow-list" in refused.decision.rules


def test_an_expired_attestation_suspends_and_a_training_tool_escalates(world: World) -> None:
    vendor, legal = world.vendor_tool.vendor_id, world.people["legal"].id
    with world.platform.db.transaction() as conn:
        # The tool's own attestation wins over the vendor's: it says the tool trains on inputs.
        attest(conn, vendor, legal, tool_id=world.vendor_tool.id, trains_on_inputs=True)
    trains = _submit(world, tool_id=world.vendor_tool.id)
    assert trains.request.state is RequestState.AWAITING_APPROVAL
    assert trains.decision is not None
    assert "principle-no-training-on-inputs" in trains.decision.rules


def test_the_decision_keeps_the_document_it_was_made_on(world: World) -> None:
    detail = _submit(world, intent="final_deliverable")
    with world.platform.db.read() as conn:
        stored = conn.execute(
            select(policy_decisions.c.facts).where(
                policy_decisions.c.request_id == detail.request.id
            )
        ).scalar_one()
    document = PolicyDocument.model_validate(stored)
    assert document.request.id == detail.request.id
    assert document.tool.attestation is not None
    again = world.platform.policy.decide(document)
    assert detail.decision is not None
    assert (again.outcome, again.rules) == (detail.decision.outcome, detail.decision.rules)


def test_a_consent_that_has_expired_no_longer_covers_de_aging(world: World) -> None:
    ok = _submit(world, use_case="de_aging", talent_ids=[world.consented.id])
    assert ok.request.state is RequestState.AWAITING_APPROVAL  # legal confirms the use
    with world.platform.db.transaction() as conn:
        conn.execute(consents.update().values(expires_at=utcnow() - timedelta(minutes=1)))
    expired = _submit(world, use_case="de_aging", talent_ids=[world.consented.id])
    assert expired.request.state is RequestState.DENIED
    assert expired.decision is not None
    assert "alteration-needs-consent" in expired.decision.rules


def test_work_that_could_pass_for_real_events_needs_legal_and_a_creative_lead(
    world: World,
) -> None:
    waiting = _submit(world, disclosure={"could_be_mistaken_for_real_events": True})
    assert waiting.request.state is RequestState.AWAITING_APPROVAL
    assert waiting.decision is not None
    wanted = sorted(sorted(r.roles) for r in waiting.decision.required)
    assert wanted == [["director", "showrunner"], ["legal"]]
    request_id = waiting.request.id
    after_legal = requests.approve(
        world.platform, world.access("legal"), request_id, approved=True, note="Cleared: fiction"
    )
    assert after_legal.request.state is RequestState.AWAITING_APPROVAL  # one group still owed
    both = requests.approve(
        world.platform, world.access("showrunner"), request_id, approved=True, note="Go"
    )
    assert both.request.state is RequestState.QUEUED
    assert [a.role for a in both.approvals] == ["legal", "showrunner"]


def test_a_likeness_model_built_on_another_production_is_not_reused(world: World) -> None:
    here = {"replica_model_built_on": world.production.id}
    ok = _submit(world, use_case="de_aging", talent_ids=[world.consented.id], disclosure=here)
    assert ok.decision is not None
    assert "replica-model-from-another-production" not in ok.decision.rules
    elsewhere = {"replica_model_built_on": "prod_01JAURORAPILOT0000000000"}
    reused = _submit(
        world, use_case="de_aging", talent_ids=[world.consented.id], disclosure=elsewhere
    )
    assert reused.request.state is RequestState.DENIED
    assert reused.decision is not None
    assert "replica-model-from-another-production" in reused.decision.rules


def test_a_model_with_no_performer_named_is_refused(world: World) -> None:
    with refused("request.replica_model_without_talent", InvalidInput):
        _submit(world, disclosure={"replica_model_built_on": world.production.id})
