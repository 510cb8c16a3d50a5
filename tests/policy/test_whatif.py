"""What-if: which stored decisions a candidate rule set would change, and why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from greenlight.core.enums import Outcome
from greenlight.policy.cedar_engine import DEFAULT_DIRECTORY, CedarPolicy
from greenlight.policy.document import PolicyDocument
from greenlight.policy.whatif import StoredDecision, what_if, what_if_file
from tests.expect import refused
from tests.policy.factory import MAYA, consent, document, tool

PUBLIC_API_DENIED = """
@id("no-public-api-tools")
@outcome("deny")
@reason("Public API tools are not used on this slate; pick an enclosed tool.")
forbid (principal, action, resource) when { resource.hosting == "public_api" };
"""


def stored_slate() -> list[PolicyDocument]:
    """Six requests: three on a public API tool, two final deliverables, one dub."""
    public = tool(hosting="public_api")
    return [
        document(id="req_previs"),
        document(id="req_public_1", tool=public),
        document(id="req_public_2", tool=public),
        document(id="req_public_3", tool=public, intent="final_deliverable"),
        document(id="req_final", intent="final_deliverable"),
        document(
            id="req_dub",
            use_case="dubbing",
            talent=[MAYA],
            consents=[consent(MAYA, "voice")],
        ),
    ]


def as_stored(
    policy: CedarPolicy, docs: list[PolicyDocument]
) -> list[tuple[str, PolicyDocument, Outcome, tuple[str, ...]]]:
    return [
        (d.request.id or "", d, r.outcome, r.rules)
        for d, r in zip(docs, policy.decide_many(docs), strict=True)
    ]


def write_jsonl(path: Path, policy: CedarPolicy, docs: list[PolicyDocument]) -> Path:
    with path.open("w") as f:
        for request_id, doc, outcome, rules in as_stored(policy, docs):
            line = StoredDecision(request_id=request_id, document=doc, outcome=outcome, rules=rules)
            f.write(line.model_dump_json() + "\n")
    return path


@pytest.fixture
def candidate_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "candidate"
    shutil.copytree(DEFAULT_DIRECTORY, folder)
    return folder


def test_the_rules_in_force_change_no_decision(policy: CedarPolicy) -> None:
    report = what_if(policy, as_stored(policy, stored_slate()))
    assert report.judged == 6
    assert report.changes == []
    assert report.unchanged == 6


def test_a_new_denial_shows_which_requests_it_stops_and_why(
    policy: CedarPolicy, candidate_dir: Path
) -> None:
    (candidate_dir / "slate.cedar").write_text(PUBLIC_API_DENIED)
    candidate = CedarPolicy.load(candidate_dir)
    report = what_if(candidate, as_stored(policy, stored_slate()), current=policy)

    assert [c.request_id for c in report.changes] == [
        "req_public_1",
        "req_public_2",
        "req_public_3",
    ]
    first = report.changes[0]
    assert first.old_outcome is Outcome.NEEDS_APPROVAL
    assert first.old_rules == ("principle-enclosed-environment",)
    assert first.new_outcome is Outcome.DENY
    assert first.new_rules == ("no-public-api-tools",)
    assert first.now_deciding == (
        (
            "no-public-api-tools",
            "Public API tools are not used on this slate; pick an enclosed tool.",
        ),
    )
    assert first.no_longer_deciding == ("principle-enclosed-environment",)
    assert "needs_approval → deny" in first.why()
    assert report.transitions[(Outcome.NEEDS_APPROVAL, Outcome.DENY)] == 3
    assert [(c.rule, c.change) for c in report.rule_changes] == [("no-public-api-tools", "added")]


def test_dropping_an_escalation_lets_requests_proceed(
    policy: CedarPolicy, candidate_dir: Path
) -> None:
    principles = candidate_dir / "principles.cedar"
    text = principles.read_text()
    start = text.index('@id("final-deliverable-needs-creative-lead")')
    end = text.index('@id("principle-union-work")')
    principles.write_text(text[:start] + text[end:])
    candidate = CedarPolicy.load(candidate_dir)
    report = what_if(candidate, as_stored(policy, stored_slate()), current=policy)

    (change,) = [c for c in report.changes if c.request_id == "req_final"]
    assert (change.old_outcome, change.new_outcome) == (Outcome.NEEDS_APPROVAL, Outcome.ALLOW)
    assert change.no_longer_deciding == ("final-deliverable-needs-creative-lead",)
    assert ("final-deliverable-needs-creative-lead", "removed") in [
        (c.rule, c.change) for c in report.rule_changes
    ]


def test_new_approvers_for_a_rule_show_as_a_rule_change(
    policy: CedarPolicy, candidate_dir: Path
) -> None:
    approvals = candidate_dir / "approvals.cedar"
    approvals.write_text(
        approvals.read_text().replace(
            '@approvers("producer")\n@reason("AI-made material goes to a writer',
            '@approvers("showrunner")\n@reason("AI-made material goes to a writer',
        )
    )
    candidate = CedarPolicy.load(candidate_dir)
    report = what_if(candidate, [], current=policy)
    (change,) = report.rule_changes
    assert change.rule == "writer-material-needs-wga-disclosure"
    assert change.change == "changed"
    assert "by producer" in change.detail and "by showrunner" in change.detail


def test_the_same_situation_is_judged_once(policy: CedarPolicy) -> None:
    same = [document(id=f"req_{i}") for i in range(50)]
    report = what_if(policy, as_stored(policy, same))
    assert report.judged == 50
    assert report.judged_by_cedar == 1


def test_recorded_outcomes_may_come_as_plain_words(policy: CedarPolicy) -> None:
    doc = document()
    report = what_if(policy, [("req_1", doc, "allow", ["proceeds-on-disclosure"])])
    assert report.changes == []


def test_a_file_of_stored_decisions_is_judged_the_same_in_one_or_two_processes(
    policy: CedarPolicy, candidate_dir: Path, tmp_path: Path
) -> None:
    (candidate_dir / "slate.cedar").write_text(PUBLIC_API_DENIED)
    candidate = CedarPolicy.load(candidate_dir)
    path = write_jsonl(tmp_path / "stored.jsonl", policy, stored_slate() * 5)

    alone = what_if_file(candidate, path, workers=1)
    shared = what_if_file(candidate, path, workers=2, split_above=0)
    assert alone.judged == shared.judged == 30
    assert sorted(c.request_id for c in alone.changes) == sorted(
        c.request_id for c in shared.changes
    )
    assert len(alone.changes) == 15
    assert alone.transitions == shared.transitions


def test_a_line_that_is_not_a_stored_decision_is_refused_with_where_it_is(
    policy: CedarPolicy, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "stored.jsonl", policy, stored_slate())
    with path.open("a") as f:
        f.write('{"request_id": "req_x", "outcome": "allow", "rules": []}\n')
    with refused("policy.whatif_line_invalid"):
        what_if_file(policy, path, workers=1)
    with refused("policy.whatif_line_invalid"):
        what_if_file(policy, path, workers=2, split_above=0)


def test_a_missing_file_is_refused(policy: CedarPolicy, tmp_path: Path) -> None:
    with refused("policy.whatif_unreadable"):
        what_if_file(policy, tmp_path / "nowhere.jsonl")
