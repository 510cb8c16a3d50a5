"""The context builder: a pure function of the document, checked without Cedar or a database.

The last test is the exception: it asks Cedar whether the built context fits
the schema the rules were validated against.
"""

from __future__ import annotations

import json
from datetime import timedelta

import cedarpy
import pytest

from greenlight.core.enums import ConsentKind, Hosting
from greenlight.policy.cedar_engine import CedarPolicy
from greenlight.policy.context import (
    DECLARABLE,
    VOCABULARY,
    attestation_status,
    build_query,
    entitled_giver,
)
from greenlight.policy.document import PolicyDocument, ScreeningHit
from tests.policy.factory import (
    ESTATE_OF_ARTHUR,
    MAYA,
    NOW,
    OTHER_PRODUCTION,
    UNREPRESENTED,
    attestation,
    consent,
    document,
    replica_consents,
    tool,
)


def rich_document() -> PolicyDocument:
    """A document that touches every part of the context."""
    return document(
        use_case="de_aging",
        intent="final_deliverable",
        talent=[MAYA, ESTATE_OF_ARTHUR],
        consents=[
            *replica_consents(MAYA),
            consent(ESTATE_OF_ARTHUR, "digital_alteration", given_by="performer"),
        ],
        third_party_ip=["Blade Runner", "Metropolis"],
        screening_hits=[
            ScreeningHit(
                entry_id="w1",
                term="Darth Vader",
                category="protected_character",
                found_in="prompt",
                matched="darth vader",
            )
        ],
        replica_models=[{"talent_id": MAYA.id, "origin_production_id": OTHER_PRODUCTION}],
        disclosure={
            "story_relevant": True,
            "given_to_writer": True,
            "replica": "employment_based",
            "alteration_purpose": "performance_change",
            "medium": "Series",
            "territory": "US",
        },
    )


def test_the_same_document_builds_the_same_query() -> None:
    first, second = build_query(rich_document()), build_query(rich_document())
    assert first == second
    assert first.key() == second.key()


def test_building_leaves_the_document_as_it_was() -> None:
    doc = rich_document()
    before = doc.model_dump_json()
    build_query(doc)
    assert doc.model_dump_json() == before


def test_the_request_id_never_reaches_the_rules() -> None:
    one, other = document(id="req_1"), document(id="req_2")
    assert build_query(one).key() == build_query(other).key()


def test_the_production_is_the_principal_and_the_tool_the_resource() -> None:
    query = build_query(document())
    assert query.principal == {"type": "Production", "id": "prod_nightfall"}
    assert query.resource == {"type": "Tool", "id": "tool_frame"}
    assert query.action == {"type": "Action", "id": "submit"}


def test_the_context_flags_the_declared_yes_answers_by_name() -> None:
    context = build_query(rich_document()).context
    assert context["flags"] == ["story_relevant", "given_to_writer", "tool_allowed_on_production"]
    assert context["replica"] == "employment_based"
    assert context["alteration_purpose"] == "performance_change"


def test_a_harmless_use_sends_only_what_the_rules_read_every_time() -> None:
    # No talent, no replica, no purpose, nothing declared, counted or missing:
    # those facts are left out rather than sent as 0, [] or "none".
    query = build_query(document())
    assert query.context == {
        "use_case": "previs",
        "intent": "temporary",
        "flags": ["tool_allowed_on_production"],
    }
    assert query.tool == {
        "hosting": "vendor_enclosed",
        "use_cases": [
            "crowd_replication",
            "de_aging",
            "dubbing",
            "marketing_art",
            "previs",
            "style_frames",
            "subtitles",
            "vfx_cleanup",
        ],
        "attestation": "current",
        "suspended": False,
        "trains_on_inputs": False,
        "retains_data_days": 0,
        "enclosed_environment": True,
        "certification": "TPN Gold",
    }


def test_the_allow_list_is_a_flag_and_suspension_a_fact_of_the_tool() -> None:
    off_list = build_query(document(tool=tool(allowed_on_production=False)))
    assert "tool_allowed_on_production" not in off_list.context["flags"]
    suspended = build_query(document(tool=tool(suspended=True)))
    assert suspended.context["flags"] == ["tool_allowed_on_production"]
    assert suspended.tool["suspended"] is True
    assert suspended.key() != build_query(document()).key()


def test_the_tool_travels_as_one_entity_the_engine_parses_once() -> None:
    query = build_query(document())
    entities = json.loads(query.tool_json)
    assert entities == [{"uid": query.resource, "attrs": query.tool, "parents": []}]
    assert not any(name.startswith("tool_") for name in query.context if name != "flags")


def test_medium_and_territory_reach_the_rules_only_through_consent_scope() -> None:
    series_us = rich_document()
    context = build_query(series_us).context
    assert not {"medium", "territory"} & context.keys()
    elsewhere = series_us.request.disclosure.model_copy(update={"territory": "FR"})
    moved = series_us.model_copy(
        update={"request": series_us.request.model_copy(update={"disclosure": elsewhere})}
    )
    assert build_query(moved).key() == build_query(series_us).key()


def test_counts_stand_for_lists_the_rules_need_only_count() -> None:
    context = build_query(rich_document()).context
    assert context["talent"] == 2
    assert context["third_party_ip"] == 2
    assert context["screening_hits"] == 1
    assert context["replica_models_from_other_productions"] == 1


def test_consent_gaps_name_each_kind_some_performer_lacks() -> None:
    context = build_query(rich_document()).context
    # Maya has both replica consents; Arthur has none, and his alteration consent
    # was signed by him in life, not by his estate.
    assert context["consent_missing"] == [
        "digital_alteration",
        "marketing_likeness",
        "replica_creation",
        "replica_use",
        "voice",
    ]
    assert context["consent_not_from_estate"] == ["digital_alteration"]


def test_without_performers_no_consent_is_missing() -> None:
    context = build_query(document()).context
    assert not {"talent", "consent_missing", "consent_not_from_estate"} & context.keys()


def test_a_performer_with_every_consent_leaves_no_gap_in_the_context() -> None:
    every_kind = [consent(MAYA, kind.value) for kind in ConsentKind]
    context = build_query(document(talent=[MAYA], consents=every_kind)).context
    assert context["talent"] == 1
    assert not {"consent_missing", "consent_not_from_estate"} & context.keys()


def test_a_performer_named_twice_counts_once() -> None:
    doc = document(talent=[MAYA])
    twice = doc.model_copy(
        update={"request": doc.request.model_copy(update={"talent_ids": [MAYA.id, MAYA.id]})}
    )
    assert build_query(twice).context["talent"] == 1


def test_attested_facts_reach_the_rules_only_while_the_attestation_holds() -> None:
    current = build_query(document()).tool
    assert current["attestation"] == "current"
    assert current["trains_on_inputs"] is False
    assert current["retains_data_days"] == 0
    assert current["enclosed_environment"] is True
    assert current["certification"] == "TPN Gold"

    lapsed = attestation(valid_from=NOW - timedelta(days=400), expires_at=NOW - timedelta(days=1))
    expired = build_query(document(tool=tool(attestation=lapsed))).tool
    assert expired["attestation"] == "expired"
    attested = {"trains_on_inputs", "retains_data_days", "enclosed_environment"}
    assert not attested & expired.keys()


def test_an_attested_fact_left_blank_is_absent_not_false() -> None:
    blank = attestation(trains_on_inputs=None, certification=None)
    facts = build_query(document(tool=tool(attestation=blank))).tool
    assert "trains_on_inputs" not in facts
    assert "certification" not in facts
    assert facts["retains_data_days"] == 0


@pytest.mark.parametrize(
    ("offset_from", "offset_to", "status"),
    [(-1, 1, "current"), (1, 2, "not_yet_valid"), (-2, -1, "expired"), (-1, 0, "expired")],
)
def test_attestation_status_at_a_moment(offset_from: int, offset_to: int, status: str) -> None:
    held = attestation(
        valid_from=NOW + timedelta(days=offset_from), expires_at=NOW + timedelta(days=offset_to)
    )
    assert attestation_status(held, NOW) == status
    assert attestation_status(None, NOW) == "none"


def test_who_may_consent_for_a_performer() -> None:
    assert entitled_giver(MAYA) == "performer"
    assert entitled_giver(ESTATE_OF_ARTHUR) == "authorized_representative"
    assert entitled_giver(UNREPRESENTED) == "union"


def test_every_declarable_answer_is_a_yes_no_question_of_the_disclosure() -> None:
    assert "story_relevant" in DECLARABLE
    assert "replica" not in DECLARABLE and "medium" not in DECLARABLE
    assert VOCABULARY["consent_missing"] == frozenset(k.value for k in ConsentKind)
    assert VOCABULARY["flags"] >= set(DECLARABLE) | {"tool_allowed_on_production"}
    assert VOCABULARY["resource.hosting"] == frozenset(h.value for h in Hosting)
    # Without a replica the fact is left out, so no rule may compare it with "none".
    assert "none" not in VOCABULARY["replica"]


def test_the_built_context_fits_the_schema_the_rules_were_checked_against(
    policy: CedarPolicy,
) -> None:
    schema = cedarpy.Schema.from_str(policy.schema)
    permit_all = cedarpy.PolicySet.from_str("permit (principal, action, resource);")
    suspended_and_reused = document(
        talent=[MAYA],
        consents=[consent(MAYA, kind.value) for kind in ConsentKind],
        tool=tool(suspended=True, attestation=None),
        third_party_ip=["Metropolis"],
    )
    for doc in (document(), rich_document(), suspended_and_reused):
        query = build_query(doc)
        answer = cedarpy.is_authorized(
            query.to_cedar(),
            permit_all,
            cedarpy.Entities.from_json_str(query.tool_json, schema=schema),
            schema=schema,
        )
        assert answer.diagnostics.errors == []
        assert answer.decision is cedarpy.Decision.Allow
