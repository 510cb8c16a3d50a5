"""``greenlight policy``: legal checks a document, reads the schema, compares rule sets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from greenlight.cli import app
from greenlight.policy.cedar_engine import DEFAULT_DIRECTORY, CedarPolicy
from greenlight.policy.document import Decision, PolicyDocument
from greenlight.policy.whatif import write_decisions
from tests.policy.factory import MAYA, document, tool

runner = CliRunner()


def write(path: Path, doc: PolicyDocument) -> Path:
    path.write_text(doc.model_dump_json(indent=2))
    return path


def check(path: Path, *more: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["policy", "check", "--request", str(path), *more])
    return result.exit_code, result.stdout, result.stderr


def test_an_allowed_request_prints_its_decision_and_exits_0(
    tmp_path: Path, policy: CedarPolicy
) -> None:
    code, out, _ = check(write(tmp_path / "previs.json", document()))
    assert code == 0
    decision = Decision.model_validate_json(out)
    assert decision.outcome == "allow"
    assert decision.rules == ["proceeds-on-disclosure"]
    assert decision.policy_version == policy.version
    assert decision.request_id == "req_1"


def test_a_request_needing_approval_names_the_roles_and_exits_3(tmp_path: Path) -> None:
    code, out, _ = check(write(tmp_path / "final.json", document(intent="final_deliverable")))
    assert code == 3
    decision = json.loads(out)
    assert decision["outcome"] == "needs_approval"
    assert decision["required"] == [
        {
            "roles": ["showrunner", "director"],
            "reason": decision["reasons"][0],
            "rule": "final-deliverable-needs-creative-lead",
        }
    ]


def test_a_denied_request_lists_its_rules_and_exits_1(tmp_path: Path) -> None:
    doc = document(use_case="dubbing", talent=[MAYA], tool=tool(suspended=True))
    code, out, _ = check(write(tmp_path / "dub.json", doc))
    assert code == 1
    decision = json.loads(out)
    assert decision["outcome"] == "deny"
    assert set(decision["rules"]) == {"tool-suspended", "voice-needs-consent"}


def test_a_document_that_is_not_json_exits_2_with_a_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, out, err = check(bad)
    assert code == 2
    assert out == ""
    assert "policy.document_invalid" in err
    assert "greenlight policy schema" in err


def test_a_document_missing_facts_says_which(tmp_path: Path) -> None:
    doc = json.loads(document(talent=[MAYA]).model_dump_json())
    doc["talent"] = []
    del doc["tool"]["hosting"]
    path = tmp_path / "gaps.json"
    path.write_text(json.dumps(doc))
    code, _, err = check(path)
    assert code == 2
    assert "tool.hosting" in err


def test_a_document_naming_a_performer_it_does_not_describe_is_refused(tmp_path: Path) -> None:
    doc = json.loads(document(talent=[MAYA]).model_dump_json())
    doc["talent"] = []
    path = tmp_path / "ghost.json"
    path.write_text(json.dumps(doc))
    code, _, err = check(path)
    assert code == 2
    assert "tal_maya" in err


def test_a_missing_document_exits_2(tmp_path: Path) -> None:
    code, _, err = check(tmp_path / "nowhere.json")
    assert code == 2
    assert "policy.document_unreadable" in err


def test_check_against_candidate_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_DIRECTORY, rules)
    (rules / "previs.cedar").write_text(
        '@id("no-previs") @outcome("deny") @reason("No previs this week.")\n'
        'forbid (principal, action, resource) when { context.use_case == "previs" };\n'
    )
    code, out, _ = check(write(tmp_path / "previs.json", document()), "--policies", str(rules))
    assert code == 1
    assert json.loads(out)["rules"] == ["no-previs"]


def test_check_refuses_a_broken_rule_directory(tmp_path: Path) -> None:
    code, _, err = check(write(tmp_path / "d.json", document()), "--policies", str(tmp_path))
    assert code == 2
    assert "policy.invalid" in err


def test_the_schema_describes_every_part_of_the_document() -> None:
    result = runner.invoke(app, ["policy", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert set(schema["required"]) == {"request", "tool", "production", "now"}
    assert {"request", "tool", "talent", "consents", "production", "now"} <= set(
        schema["properties"]
    )
    consent = schema["$defs"]["DocumentConsent"]["properties"]
    assert consent["given_by"]["enum"] == ["performer", "authorized_representative", "union"]
    assert all("description" in field for field in consent.values())


def test_validate_lists_the_rules_and_version_prints_it(policy: CedarPolicy) -> None:
    listed = runner.invoke(app, ["policy", "validate"])
    assert listed.exit_code == 0
    assert "talent-likeness-needs-legal" in listed.stdout
    assert policy.version in listed.stdout
    version = runner.invoke(app, ["policy", "version"])
    assert version.stdout.strip() == policy.version


def test_validate_refuses_a_bad_rule_with_exit_2(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_DIRECTORY, rules)
    (rules / "typo.cedar").write_text(
        '@id("typo") @outcome("deny") @reason("r.")\n'
        'forbid (principal, action, resource) when { context.intent == "final" };\n'
    )
    result = runner.invoke(app, ["policy", "validate", "--policies", str(rules)])
    assert result.exit_code == 2
    assert "policy.invalid" in result.stderr and "'final'" in result.stderr


def test_whatif_reports_the_changed_decisions(tmp_path: Path, policy: CedarPolicy) -> None:
    docs = [document(id="req_previs"), document(id="req_public", tool=tool(hosting="public_api"))]
    stored = tmp_path / "stored.jsonl"
    write_decisions(stored, docs, policy.decide_many(docs))
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_DIRECTORY, rules)

    same = runner.invoke(
        app, ["policy", "whatif", "--policies", str(rules), "--documents", str(stored)]
    )
    assert same.exit_code == 0, same.output
    assert "no decision would change" in same.stdout

    (rules / "slate.cedar").write_text(
        '@id("no-public-api") @outcome("deny") @reason("Enclosed tools only.")\n'
        'forbid (principal, action, resource) when { resource.hosting == "public_api" };\n'
    )
    table = runner.invoke(
        app, ["policy", "whatif", "--policies", str(rules), "--documents", str(stored)]
    )
    assert table.exit_code == 1
    assert "req_public" in table.stdout and "no-public-api" in table.stdout

    as_json = runner.invoke(
        app,
        ["policy", "whatif", "--policies", str(rules), "--documents", str(stored), "--json"],
    )
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert report["judged"] == 2
    assert report["current_version"] == policy.version
    (change,) = report["changes"]
    assert change["request_id"] == "req_public"
    assert change["old"] == {
        "outcome": "needs_approval",
        "rules": ["principle-enclosed-environment"],
    }
    assert change["new"] == {"outcome": "deny", "rules": ["no-public-api"]}
    assert change["now_deciding"] == [{"rule": "no-public-api", "reason": "Enclosed tools only."}]
    assert report["rule_changes"] == [
        {"rule": "no-public-api", "change": "added", "detail": "deny: Enclosed tools only."}
    ]


def test_screen_prints_the_watchlist_hits(tmp_path: Path) -> None:
    watchlist = tmp_path / "watchlist.json"
    watchlist.write_text(
        json.dumps(
            [{"id": "w1", "term": "Darth Vader", "category": "protected_character", "aliases": []}]
        )
    )
    result = runner.invoke(
        app,
        ["policy", "screen", "--watchlist", str(watchlist), "--prompt", "a Dárth V-ader helmet"],
    )
    assert result.exit_code == 0
    (hit,) = json.loads(result.stdout)
    assert hit["entry_id"] == "w1" and hit["matched"] == "Dárth V-ader"
