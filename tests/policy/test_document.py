"""The policy check document: what it refuses, and that the README documents all of it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from greenlight.policy.document import PolicyDocument
from tests.policy.factory import MAYA, NOW, consent, document

README = Path(__file__).resolve().parents[2] / "README.md"


def as_json() -> dict[str, Any]:
    """Maya's de-aging request as a JSON object, with one consent on record."""
    doc = document(use_case="de_aging", talent=[MAYA], consents=[consent(MAYA)])
    data: dict[str, Any] = json.loads(doc.model_dump_json())
    return data


def test_a_document_round_trips_through_json() -> None:
    doc = document(talent=[MAYA], consents=[consent(MAYA)])
    assert PolicyDocument.model_validate_json(doc.model_dump_json()) == doc


def _tool(d: dict[str, Any]) -> dict[str, Any]:
    tool: dict[str, Any] = d["tool"]
    return tool


CASES: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("another tool than requested", lambda d: _tool(d).update(id="tool_other"), "requested tool"),
    ("another production", lambda d: d["production"].update(id="prod_other"), "production"),
    ("a performer not described", lambda d: d.update(talent=[]), "tal_maya"),
    ("a misspelt field", lambda d: d["request"].update(use_cse="previs"), "use_cse"),
    ("a time without a zone", lambda d: d.update(now="2026-11-20T12:00:00"), "timezone"),
    ("an unknown use case", lambda d: d["request"].update(use_case="deepfake"), "use_case"),
    (
        "a negative retention",
        lambda d: _tool(d)["attestation"].update(retains_data_days=-1),
        "retains_data_days",
    ),
    (
        "an attestation ending before it starts",
        lambda d: _tool(d)["attestation"].update(expires_at="2020-01-01T00:00:00Z"),
        "expires_at",
    ),
    (
        "a consent with no intended use",
        lambda d: d["consents"][0].update(intended_use=""),
        "intended_use",
    ),
    (
        "a consent signed by nobody known",
        lambda d: d["consents"][0].update(given_by="agent"),
        "given_by",
    ),
]


@pytest.mark.parametrize(("story", "change", "complaint"), CASES, ids=[c[0] for c in CASES])
def test_a_document_that_does_not_hold_together_is_refused(
    story: str, change: Callable[[dict[str, Any]], object], complaint: str
) -> None:
    data = as_json()
    PolicyDocument.model_validate(data)  # whole, it holds
    change(data)
    with pytest.raises(ValidationError, match=complaint):
        PolicyDocument.model_validate(data)


def test_now_is_kept_with_its_zone() -> None:
    assert document().now == NOW


def _fields(schema: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for definition in [schema, *schema.get("$defs", {}).values()]:
        names.update(definition.get("properties", {}))
    return names


def test_every_field_of_the_document_is_documented_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Policy check document") :]
    documented = set(re.findall(r"`([a-z_]+)(?:\[\])?`", section))
    missing = _fields(PolicyDocument.model_json_schema()) - documented
    assert not missing, f"README's policy check document section lacks: {sorted(missing)}"
