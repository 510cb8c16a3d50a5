"""Revoking a consent: new uses blocked at once, and every request that relied on it
denied, quarantined or flagged for legal, in one report (issue #5's blast radius)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from greenlight.backends import backend_for
from greenlight.core.enums import RequestState, Verdict
from greenlight.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from greenlight.core.models import Consent, RequestDetail
from greenlight.core.settings import Settings
from greenlight.engine import requests, runs
from greenlight.engine.lifecycle import Step, advance
from greenlight.engine.platform import Platform
from greenlight.engine.revocation import Action, RevocationOutcome, revoke
from greenlight.rights import affected_by_revocation, consents_for, record_consent
from greenlight.store.schema import consents, jobs, ledger_entries, request_events
from tests.expect import refused
from tests.rights import drafts
from tests.world import World, build_world

WITHDREW = "Maya Okafor withdrew her consent in writing"


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    platform = Platform.open(settings)
    try:
        yield build_world(platform)
    finally:
        platform.close()


def _maya_consent(world: World) -> Consent:
    with world.platform.db.read() as conn:
        (consent,) = consents_for(conn, world.production.id, [world.consented.id])
    return consent


def _de_aging(world: World) -> RequestDetail:
    """A de-aging request on Maya: it waits for legal's approval under her consent."""
    draft = world.cleanup(
        world.upload_plate(), use_case="de_aging", talent_ids=[world.consented.id]
    )
    waiting = requests.submit(world.platform, world.access("artist"), draft)
    assert waiting.request.state is RequestState.AWAITING_APPROVAL
    return waiting


def _queued(world: World) -> RequestDetail:
    waiting = _de_aging(world)
    return requests.approve(
        world.platform, world.access("legal"), waiting.request.id, approved=True
    )


def _in_review(world: World) -> RequestDetail:
    ran = runs.run_request(world.platform, _queued(world).request.id)
    assert ran.request.state is RequestState.IN_REVIEW
    return ran


def _revoke(world: World, consent: Consent, who: str = "legal") -> RevocationOutcome:
    return revoke(world.platform, world.access(who), consent.id, reason=WITHDREW)


def _ledger_body(world: World, index: int) -> dict[str, object]:
    with world.platform.db.read() as conn:
        body = conn.execute(
            select(ledger_entries.c.body).where(ledger_entries.c.idx == index)
        ).scalar_one()
    found: dict[str, object] = json.loads(body)
    return found


def _written(world: World) -> tuple[int, int]:
    with world.platform.db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(ledger_entries)).scalar_one(),
            conn.execute(select(func.count()).select_from(request_events)).scalar_one(),
        )


def test_outputs_in_review_are_quarantined_for_legal_when_the_consent_is_revoked(
    world: World,
) -> None:
    consent = _maya_consent(world)
    in_review = _in_review(world)
    outcome = _revoke(world, consent)

    assert outcome.consent.revoked_at is not None
    assert outcome.consent.revocation_reason == WITHDREW
    (reached,) = outcome.requests
    assert reached.request_id == in_review.request.id
    assert (reached.before, reached.after) == (RequestState.IN_REVIEW, RequestState.QUARANTINED)
    assert reached.action is Action.QUARANTINED
    assert [a.request_id for a in outcome.impact.not_delivered] == [in_review.request.id]

    after = world.detail(in_review.request.id)
    assert after.request.state is RequestState.QUARANTINED
    assert after.events[-1].event_type == "revocation.quarantined"
    assert after.events[-1].index == reached.ledger_index
    moved = _ledger_body(world, after.events[-1].index)
    assert moved["subjects"] == {"request": in_review.request.id, "consent": consent.id}
    assert moved["payload"] == {
        "from": "in_review",
        "to": "quarantined",
        "reason": WITHDREW,
        "outputs": [o.sha256 for o in in_review.outputs],
    }
    # The revocation itself is on the ledger, on the consent's production.
    revoked = _ledger_body(world, outcome.ledger_index)
    assert revoked["type"] == "consent.revoked"
    assert revoked["production"] == world.production.id
    assert revoked["subjects"] == {"consent": consent.id, "talent": world.consented.id}
    assert revoked["payload"] == {"reason": WITHDREW, "productions": [world.production.id]}
    # Reviewers can no longer accept what legal holds.
    with refused("review.not_in_review", Conflict):
        requests.review(world.platform, world.access("vfx"), in_review.request.id, Verdict.ACCEPT)


def test_work_not_yet_run_is_denied_and_its_queued_job_cancelled(world: World) -> None:
    consent = _maya_consent(world)
    waiting = _de_aging(world)
    queued = _queued(world)
    outcome = _revoke(world, consent)

    assert {r.request_id: (r.before, r.after, r.action) for r in outcome.requests} == {
        waiting.request.id: (RequestState.AWAITING_APPROVAL, RequestState.DENIED, Action.DENIED),
        queued.request.id: (RequestState.QUEUED, RequestState.DENIED, Action.DENIED),
    }
    assert world.detail(waiting.request.id).request.state is RequestState.DENIED
    after = world.detail(queued.request.id)
    assert after.request.state is RequestState.DENIED
    assert after.job is not None and after.job.state == "cancelled"
    assert after.events[-1].event_type == "revocation.denied"
    # Legal cannot approve it any more, and the worker refuses to run it.
    with refused("approval.not_awaiting", Conflict):
        requests.approve(world.platform, world.access("legal"), waiting.request.id, approved=True)
    with refused("run.not_queued", Conflict):
        runs.run_request(world.platform, queued.request.id)


def test_delivered_work_stays_delivered_and_is_flagged_for_legal_review(world: World) -> None:
    consent = _maya_consent(world)
    made = _in_review(world)
    requests.review(world.platform, world.access("vfx"), made.request.id, Verdict.ACCEPT)
    requests.deliver(world.platform, world.access("producer"), made.request.id, "editorial")
    outcome = _revoke(world, consent)

    (reached,) = outcome.requests
    assert (reached.before, reached.after) == (RequestState.DELIVERED, RequestState.DELIVERED)
    assert reached.action is Action.LEGAL_REVIEW
    assert [a.request_id for a in outcome.impact.delivered] == [made.request.id]
    after = world.detail(made.request.id)
    assert after.request.state is RequestState.DELIVERED
    assert [e.event_type for e in after.events[-2:]] == ["delivery.made", "revocation.legal_review"]
    flag = _ledger_body(world, after.events[-1].index)
    assert flag["payload"] == {
        "state": "delivered",
        "reason": WITHDREW,
        "outputs": [o.sha256 for o in made.outputs],
    }


def test_a_new_de_aging_request_is_denied_the_moment_the_consent_is_revoked(
    world: World,
) -> None:
    consent = _maya_consent(world)
    _de_aging(world)  # judged with the consent in force, so the registry cache holds it
    _revoke(world, consent)
    draft = world.cleanup(
        world.upload_plate(), use_case="de_aging", talent_ids=[world.consented.id]
    )
    refused_now = requests.submit(world.platform, world.access("artist"), draft)
    assert refused_now.request.state is RequestState.DENIED
    assert refused_now.decision is not None
    assert refused_now.decision.rules == ("alteration-needs-consent",)


def test_work_running_when_the_consent_is_revoked_is_flagged_not_moved(world: World) -> None:
    consent = _maya_consent(world)
    queued = _queued(world)
    # A worker has picked it up: the run is under way outside any transaction.
    with world.platform.db.transaction() as conn:
        advance(
            conn, world.platform.ledger, queued.request.id, Step.RUN_STARTED, actor="system:worker"
        )
    (reached,) = _revoke(world, consent).requests
    assert (reached.before, reached.after, reached.action) == (
        RequestState.RUNNING,
        RequestState.RUNNING,
        Action.PENDING_RUN,
    )
    after = world.detail(queued.request.id)
    assert after.request.state is RequestState.RUNNING
    assert after.events[-1].event_type == "revocation.pending_run"


class _RevokedMidRun:
    """The real inpainting backend, during whose run legal revokes the consent."""

    def __init__(self, world: World, consent: Consent) -> None:
        self.world, self.consent = world, consent
        self.inner = backend_for("inpaint-opencv")
        self.capabilities = self.inner.capabilities

    def check(self, inputs: Any, parameters: Any) -> dict[str, Any]:
        return self.inner.check(inputs, parameters)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        _revoke(self.world, self.consent)
        return self.inner.run(*args, **kwargs)


def test_outputs_of_a_run_whose_consent_was_revoked_meanwhile_are_quarantined(
    world: World,
) -> None:
    consent = _maya_consent(world)
    queued = _queued(world)
    world.platform.backends = lambda name: _RevokedMidRun(world, consent)  # type: ignore[assignment,return-value]
    finished = runs.run_request(world.platform, queued.request.id)
    assert finished.request.state is RequestState.QUARANTINED
    assert finished.events[-1].event_type == "revocation.quarantined"
    assert len(finished.outputs) == 1  # kept, signed, held for legal


def test_an_iteration_sent_back_for_changes_keeps_its_state_and_is_flagged(
    world: World,
) -> None:
    consent = _maya_consent(world)
    made = _in_review(world)
    requests.review(
        world.platform,
        world.access("vfx"),
        made.request.id,
        Verdict.CHANGES_REQUESTED,
        "soften the jawline",
    )
    (reached,) = _revoke(world, consent).requests
    assert (reached.after, reached.action) == (RequestState.CHANGES_REQUESTED, Action.FLAGGED)
    assert world.detail(made.request.id).events[-1].event_type == "revocation.flagged"


def test_work_still_covered_by_another_consent_of_the_performer_is_left_alone(
    world: World,
) -> None:
    first = _maya_consent(world)
    with world.platform.db.transaction() as conn:
        second = record_consent(conn, drafts.consent(world))
    made = _in_review(world)  # judged under both consents
    before = world.detail(made.request.id)
    (reached,) = _revoke(world, first).requests
    assert reached.action is Action.STILL_COVERED
    assert reached.still_covered_by == (second.id,)
    assert reached.ledger_index is None
    after = world.detail(made.request.id)
    assert after.request.state is RequestState.IN_REVIEW
    assert after.events == before.events


def test_revoking_twice_is_a_conflict_and_moves_nothing(world: World) -> None:
    consent = _maya_consent(world)
    waiting = _de_aging(world)
    _revoke(world, consent)
    denied = world.detail(waiting.request.id)
    written = _written(world)
    with refused("consent.already_revoked", Conflict):
        _revoke(world, consent)
    assert _written(world) == written
    assert world.detail(waiting.request.id) == denied


def test_only_legal_or_an_admin_revokes_and_a_refusal_writes_nothing(world: World) -> None:
    consent = _maya_consent(world)
    waiting = _de_aging(world)
    written = _written(world)
    with refused("consent.not_allowed", Forbidden):
        _revoke(world, consent, "showrunner")
    with refused("access.read_only", Forbidden):
        _revoke(world, consent, "auditor")
    with refused("access.no_role", Forbidden):
        _revoke(world, consent, "outsider")
    with refused("consent.not_found", NotFound):
        revoke(world.platform, world.access("legal"), "con_missing", reason=WITHDREW)
    with refused("consent.reason_required"):
        revoke(world.platform, world.access("legal"), consent.id, reason=" ")
    assert _written(world) == written
    assert world.detail(waiting.request.id).request.state is RequestState.AWAITING_APPROVAL
    with world.platform.db.read() as conn:
        revoked_at = conn.execute(
            select(consents.c.revoked_at).where(consents.c.id == consent.id)
        ).scalar_one()
        queued_jobs = conn.execute(select(func.count()).select_from(jobs)).scalar_one()
    assert revoked_at is None and queued_jobs == 0


def test_legal_releases_quarantined_outputs_with_a_written_reason(world: World) -> None:
    consent = _maya_consent(world)
    made = _in_review(world)
    _revoke(world, consent)
    request_id = made.request.id
    with refused("clearance.not_legal", Forbidden):
        requests.clear(world.platform, world.access("showrunner"), request_id, "fine")
    with refused("clearance.note_required", InvalidInput):
        requests.clear(world.platform, world.access("legal"), request_id, "  ")
    cleared = requests.clear(
        world.platform, world.access("legal"), request_id, "Maya signed a new rider on the 21st"
    )
    assert cleared.request.state is RequestState.IN_REVIEW
    assert cleared.events[-1].event_type == "likeness.cleared_by_legal"
    with refused("clearance.not_quarantined", Conflict):
        requests.clear(world.platform, world.access("legal"), request_id, "again")


def test_the_impact_report_still_lists_work_the_revocation_denied(world: World) -> None:
    consent = _maya_consent(world)
    waiting = _de_aging(world)
    _revoke(world, consent)
    with world.platform.db.read() as conn:
        impact = affected_by_revocation(conn, consent.id)
    assert [(a.request_id, a.state) for a in impact.not_delivered] == [
        (waiting.request.id, RequestState.DENIED)
    ]
