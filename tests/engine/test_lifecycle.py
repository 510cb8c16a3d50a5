"""The lifecycle table: every allowed move, and every other refused."""

from __future__ import annotations

import re

import pytest

from greenlight.core.enums import RequestState as S
from greenlight.core.errors import Conflict
from greenlight.core.ids import is_id, new_id
from greenlight.engine import FINAL_STATES, TRANSITIONS, Step, allowed_steps, move


def walk(*steps: Step) -> S:
    state = S.REQUESTED
    for step in steps:
        state = move(state, step).after
    return state


def test_an_allowed_request_runs_to_delivery() -> None:
    assert (
        walk(
            Step.POLICY_ALLOWED,
            Step.RUN_STARTED,
            Step.RUN_SUCCEEDED,
            Step.SCAN_CLEAR,
            Step.REVIEW_ACCEPTED,
            Step.DELIVERED,
        )
        == S.DELIVERED
    )


def test_a_request_needing_approval_waits_then_queues() -> None:
    assert walk(Step.POLICY_NEEDS_APPROVAL) == S.AWAITING_APPROVAL
    assert walk(Step.POLICY_NEEDS_APPROVAL, Step.APPROVALS_COMPLETE) == S.QUEUED
    assert walk(Step.POLICY_NEEDS_APPROVAL, Step.APPROVAL_REFUSED) == S.DENIED


def test_an_unconsented_likeness_quarantines_until_legal_clears_it() -> None:
    steps = (Step.POLICY_ALLOWED, Step.RUN_STARTED, Step.RUN_SUCCEEDED)
    assert walk(*steps, Step.SCAN_MATCHED_WITHOUT_CONSENT) == S.QUARANTINED
    assert walk(*steps, Step.SCAN_MATCHED_WITHOUT_CONSENT, Step.LEGAL_CLEARED) == S.IN_REVIEW


def test_a_denied_request_cannot_be_run() -> None:
    with pytest.raises(Conflict) as err:
        walk(Step.POLICY_DENIED, Step.RUN_STARTED)
    assert err.value.code == "lifecycle.invalid_transition"
    assert "it is final" in err.value.message


def test_every_pair_not_in_the_table_is_refused() -> None:
    listed = {(m.before, m.step) for m in TRANSITIONS}
    for state in S:
        for step in Step:
            if (state, step) in listed:
                assert move(state, step).before == state
            else:
                with pytest.raises(Conflict):
                    move(state, step)


def test_final_states_have_no_way_out_and_every_other_state_has_one() -> None:
    for state in S:
        assert (not allowed_steps(state)) == (state in FINAL_STATES | {S.DELIVERED})


def test_every_move_writes_a_dotted_ledger_event() -> None:
    for m in TRANSITIONS:
        assert re.fullmatch(r"[a-z_]+\.[a-z_]+", m.event)


def test_ids_say_what_they_are_and_sort_by_time() -> None:
    first, second = new_id("request"), new_id("request")
    assert is_id(first, "request") and not is_id(first, "asset")
    assert first[:14] <= second[:14]
    assert not is_id("req_../../etc/passwd")
