"""Loading the rules: validated at start-up, named by a version that follows their text."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from greenlight.core.enums import Outcome
from greenlight.policy.cedar_engine import DEFAULT_DIRECTORY, CedarPolicy, policy_version
from tests.expect import refused
from tests.policy.factory import MAYA, document

EXTRA = """
@id("no-marketing-on-this-tool")
@outcome("deny")
@reason("Marketing art may not use this tool.")
forbid (principal, action == Action::"submit", resource == Tool::"tool_frame")
when { context.use_case == "marketing_art" };
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of the shipped rules to change."""
    folder = tmp_path / "rules"
    shutil.copytree(DEFAULT_DIRECTORY, folder)
    return folder


def add(folder: Path, text: str, name: str = "extra.cedar") -> Path:
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_the_shipped_rules_load_with_a_content_version(policy: CedarPolicy) -> None:
    assert re.fullmatch(r"cedar-[0-9a-f]{12}", policy.version)
    assert len(policy.rules) >= 30
    assert all(rule.reason and rule.id for rule in policy.rules)
    assert CedarPolicy.load().version == policy.version


def test_a_copy_of_the_rules_has_the_same_version(policy: CedarPolicy, rules: Path) -> None:
    assert CedarPolicy.load(rules).version == policy.version


def test_the_version_changes_when_a_rule_changes(policy: CedarPolicy, rules: Path) -> None:
    tools = rules / "tools.cedar"
    tools.write_text(tools.read_text().replace("pick a tool", "choose a tool"))
    assert CedarPolicy.load(rules).version != policy.version


def test_the_version_changes_when_a_rule_file_is_added(policy: CedarPolicy, rules: Path) -> None:
    assert CedarPolicy.load(add(rules, EXTRA)).version != policy.version


def test_windows_line_endings_keep_the_version(policy: CedarPolicy, rules: Path) -> None:
    for path in rules.iterdir():
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert CedarPolicy.load(rules).version == policy.version


def test_a_rule_may_name_the_tool_it_is_about(rules: Path) -> None:
    stricter = CedarPolicy.load(add(rules, EXTRA))
    ruling = stricter.decide(document(use_case="marketing_art"))
    assert ruling.outcome is Outcome.DENY
    assert ruling.rules == ("no-marketing-on-this-tool",)


def test_version_is_a_hash_of_names_and_text() -> None:
    assert policy_version({"a.cedar": "x"}) == policy_version({"a.cedar": "x"})
    assert policy_version({"a.cedar": "x"}) != policy_version({"b.cedar": "x"})
    assert policy_version({"a.cedar": "xy"}) != policy_version({"a.cedar": "x", "b.cedar": "y"})


@pytest.mark.parametrize(
    ("story", "text"),
    [
        ("a syntax error", "forbid (principal, action, resource) when { context.talent > };"),
        (
            "a misspelt fact",
            '@id("x") @outcome("deny") @reason("r.")\n'
            "forbid (principal, action, resource) when { context.talnet > 0 };",
        ),
        (
            "an unknown fact read without has",
            '@id("x") @outcome("deny") @reason("r.")\n'
            "forbid (principal, action, resource) when { resource.trains_on_inputs };",
        ),
        (
            "a count left out when zero read without has",
            '@id("x") @outcome("deny") @reason("r.")\n'
            "forbid (principal, action, resource) when { context.talent > 0 };",
        ),
        (
            "a replica compared with none, which the context leaves out",
            '@id("x") @outcome("deny") @reason("r.")\n'
            "forbid (principal, action, resource)\n"
            'when { context has replica && context.replica == "none" };',
        ),
        (
            "a misspelt use case",
            '@id("x") @outcome("deny") @reason("r.")\n'
            'forbid (principal, action, resource) when { context.use_case == "de-aging" };',
        ),
        (
            "a misspelt hosting of the tool",
            '@id("x") @outcome("deny") @reason("r.")\n'
            'forbid (principal, action, resource) when { resource.hosting == "cloud" };',
        ),
        (
            "a misspelt declared answer",
            '@id("x") @outcome("deny") @reason("r.")\n'
            "forbid (principal, action, resource)\n"
            'when { context.flags.contains("key_creative") };',
        ),
        (
            "a misspelt consent kind in a set",
            '@id("x") @outcome("deny") @reason("r.")\n'
            "forbid (principal, action, resource)\n"
            'when { context.consent_missing.containsAny(["voice", "likeness"]) };',
        ),
        (
            "no id",
            '@outcome("deny") @reason("r.")\nforbid (principal, action, resource);',
        ),
        (
            "an id already taken",
            '@id("tool-suspended") @outcome("deny") @reason("r.")\n'
            "forbid (principal, action, resource);",
        ),
        ("no reason", '@id("x") @outcome("deny")\nforbid (principal, action, resource);'),
        ("no outcome on a forbid", '@id("x") @reason("r.")\nforbid (principal, action, resource);'),
        (
            "an escalation with no approvers",
            '@id("x") @outcome("needs_approval") @reason("r.")\n'
            "forbid (principal, action, resource);",
        ),
        (
            "an unknown approver",
            '@id("x") @outcome("needs_approval") @approvers("legal; studio_boss") @reason("r.")\n'
            "forbid (principal, action, resource);",
        ),
        (
            "approvers on a denial",
            '@id("x") @outcome("deny") @approvers("legal") @reason("r.")\n'
            "forbid (principal, action, resource);",
        ),
        (
            "a permit claiming to deny",
            '@id("x") @outcome("deny") @reason("r.")\npermit (principal, action, resource);',
        ),
        (
            "a template",
            '@id("x") @outcome("deny") @reason("r.")\n'
            "forbid (principal == ?principal, action, resource);",
        ),
    ],
)
def test_a_bad_rule_is_refused_at_load(rules: Path, story: str, text: str) -> None:
    with refused("policy.invalid"):
        CedarPolicy.load(add(rules, text))


def test_the_refusal_names_the_file_and_the_rule(rules: Path) -> None:
    bad = '@id("talnet-rule") @outcome("deny") @reason("r.")\n'
    bad += "forbid (principal, action, resource) when { context.talnet > 0 };"
    with pytest.raises(Exception, match="talnet-rule") as caught:
        CedarPolicy.load(add(rules, bad))
    assert "schema" in str(caught.value)


def test_a_directory_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with refused("policy.invalid"):
        CedarPolicy.load(tmp_path / "nowhere")


def test_rules_without_their_schema_are_refused(rules: Path) -> None:
    (rules / "greenlight.cedarschema").unlink()
    with refused("policy.invalid"):
        CedarPolicy.load(rules)


def test_a_directory_without_rules_is_refused(rules: Path) -> None:
    for path in rules.glob("*.cedar"):
        path.unlink()
    with refused("policy.invalid"):
        CedarPolicy.load(rules)


def test_rules_that_permit_nothing_are_refused(rules: Path) -> None:
    (rules / "principles.cedar").unlink()
    with refused("policy.invalid"):
        CedarPolicy.load(rules)


def test_a_broken_schema_is_refused(rules: Path) -> None:
    (rules / "greenlight.cedarschema").write_text("entity Production; action {")
    with refused("policy.invalid"):
        CedarPolicy.load(rules)


def test_a_use_no_rule_permits_is_denied_and_says_so(rules: Path) -> None:
    principles = rules / "principles.cedar"
    principles.write_text(
        principles.read_text().replace(
            "permit (principal, action, resource);",
            'permit (principal, action, resource) when { context.use_case == "previs" };',
        )
    )
    narrower = CedarPolicy.load(rules)
    assert narrower.decide(document()).outcome is Outcome.ALLOW
    ruling = narrower.decide(document(use_case="style_frames"))
    assert ruling.outcome is Outcome.DENY
    assert ruling.rules == ("no-rule-permits",)


def test_a_rule_that_errs_refuses_rather_than_being_skipped(rules: Path) -> None:
    # Cedar skips a policy whose evaluation errs; for a forbid that would let the
    # request through, so the engine refuses instead.
    add(
        rules,
        '@id("overflowing") @outcome("deny") @reason("r.")\n'
        "forbid (principal, action, resource)\n"
        "when { context has talent && context.talent + 9223372036854775807 > 0 };",
    )
    ruling = CedarPolicy.load(rules).decide(document(talent=[MAYA]))
    assert ruling.outcome is Outcome.DENY
    assert ruling.rules == ("policy-evaluation-error",)
    assert "overflow" in ruling.reasons[0]
