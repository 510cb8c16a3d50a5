"""Each rule of the studio guidance, SAG-AFTRA 2023 and WGA 2023, judged by real Cedar."""

from __future__ import annotations

from datetime import timedelta

import pytest

from greenlight.core.enums import AlterationPurpose, Outcome, Role
from greenlight.policy.cedar_engine import CedarPolicy
from greenlight.policy.facts import Ruling
from greenlight.policy.screening import WatchEntry, Watchlist
from tests.policy.factory import (
    ESTATE_OF_ARTHUR,
    MAYA,
    NOW,
    OTHER_PRODUCTION,
    PRODUCTION,
    UNREPRESENTED,
    attestation,
    consent,
    document,
    replica_consents,
    tool,
)

LEGAL = (Role.LEGAL,)
LEADS = (Role.SHOWRUNNER, Role.DIRECTOR)


def denied(ruling: Ruling, *rules: str) -> None:
    assert ruling.outcome is Outcome.DENY, ruling
    assert set(rules) <= set(ruling.rules), ruling.rules
    assert ruling.required == ()
    assert len(ruling.reasons) == len(ruling.rules)


def escalated(ruling: Ruling, rule: str, roles: tuple[Role, ...]) -> None:
    """``rule`` fired and asks for one of ``roles``."""
    assert ruling.outcome is Outcome.NEEDS_APPROVAL, ruling
    assert rule in ruling.rules, ruling.rules
    asked = [r.roles for r in ruling.required if r.rule == rule]
    assert roles in asked, asked


def only(ruling: Ruling, rule: str, roles: tuple[Role, ...]) -> None:
    """``rule`` is the only one that fired, asking for one of ``roles``."""
    escalated(ruling, rule, roles)
    assert ruling.rules == (rule,), ruling.rules


# --- proceeds on disclosure ---------------------------------------------------


def test_temporary_previs_with_an_attested_enclosed_tool_proceeds_on_disclosure(
    policy: CedarPolicy,
) -> None:
    ruling = policy.decide(document())
    assert ruling.outcome is Outcome.ALLOW
    assert ruling.rules == ("proceeds-on-disclosure",)
    assert "disclosure" in ruling.reasons[0]
    assert ruling.policy_version == policy.version


def test_ideation_style_frames_proceed_on_disclosure(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(use_case="style_frames", intent="ideation"))
    assert ruling.outcome is Outcome.ALLOW


def test_background_extras_in_a_crowd_proceed_on_disclosure(policy: CedarPolicy) -> None:
    crowd = document(use_case="crowd_replication", disclosure={"story_relevant": False})
    assert policy.decide(crowd).outcome is Outcome.ALLOW


def test_a_story_relevant_crowd_needs_a_creative_lead(policy: CedarPolicy) -> None:
    crowd = document(use_case="crowd_replication", disclosure={"story_relevant": True})
    only(policy.decide(crowd), "story-relevant-element-needs-creative-lead", LEADS)


def test_story_relevant_previs_stays_on_disclosure(policy: CedarPolicy) -> None:
    # Previs is the story by nature and never on screen: the rule is for on-screen elements.
    ruling = policy.decide(document(disclosure={"story_relevant": True}))
    assert ruling.outcome is Outcome.ALLOW


# --- the tool -----------------------------------------------------------------


def test_tool_not_vetted_for_the_use_is_denied(policy: CedarPolicy) -> None:
    previs_only = tool(use_cases=["previs"])
    ruling = policy.decide(document(use_case="dubbing", tool=previs_only))
    denied(ruling, "tool-not-vetted-for-use")


def test_tool_missing_from_the_production_allow_list_is_denied(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(tool=tool(allowed_on_production=False)))
    denied(ruling, "tool-not-on-production-allow-list")


def test_suspended_tool_is_denied(policy: CedarPolicy) -> None:
    flawed = tool(suspended=True, suspension_reason="open critical finding F-12")
    denied(policy.decide(document(tool=flawed)), "tool-suspended")


def test_tool_whose_attestation_expired_is_denied(policy: CedarPolicy) -> None:
    lapsed = attestation(valid_from=NOW - timedelta(days=400), expires_at=NOW - timedelta(days=1))
    ruling = policy.decide(document(tool=tool(attestation=lapsed)))
    denied(ruling, "tool-attestation-expired")


def test_attestation_expiring_at_this_very_moment_has_expired(policy: CedarPolicy) -> None:
    lapsing = attestation(expires_at=NOW)
    denied(policy.decide(document(tool=tool(attestation=lapsing))), "tool-attestation-expired")


def test_attestation_not_yet_in_force_leaves_every_attested_fact_unknown(
    policy: CedarPolicy,
) -> None:
    early = attestation(valid_from=NOW + timedelta(days=1), expires_at=NOW + timedelta(days=365))
    ruling = policy.decide(document(tool=tool(attestation=early)))
    assert ruling.outcome is Outcome.NEEDS_APPROVAL
    assert set(ruling.rules) == {
        "principle-no-training-on-inputs",
        "principle-no-data-retention",
        "principle-enclosed-environment",
    }


def test_tool_without_attestation_escalates_to_legal(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(tool=tool(attestation=None)))
    escalated(ruling, "principle-no-training-on-inputs", LEGAL)
    escalated(ruling, "principle-no-data-retention", LEGAL)
    escalated(ruling, "principle-enclosed-environment", LEGAL)


@pytest.mark.parametrize(
    ("unknown", "rule"),
    [
        ("trains_on_inputs", "principle-no-training-on-inputs"),
        ("retains_data_days", "principle-no-data-retention"),
        ("enclosed_environment", "principle-enclosed-environment"),
    ],
)
def test_an_attested_fact_the_vendor_left_blank_escalates(
    policy: CedarPolicy, unknown: str, rule: str
) -> None:
    partial = attestation(**{unknown: None})
    only(policy.decide(document(tool=tool(attestation=partial))), rule, LEGAL)


# --- the five principles --------------------------------------------------------


def test_output_recreating_unowned_material_needs_legal(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(disclosure={"recreates_unowned_material": True}))
    only(ruling, "principle-owned-material", LEGAL)


def test_tool_that_trains_on_our_inputs_needs_legal(policy: CedarPolicy) -> None:
    trains = tool(attestation=attestation(trains_on_inputs=True))
    only(policy.decide(document(tool=trains)), "principle-no-training-on-inputs", LEGAL)


def test_tool_that_keeps_our_data_for_thirty_days_needs_legal(policy: CedarPolicy) -> None:
    keeps = tool(attestation=attestation(retains_data_days=30))
    only(policy.decide(document(tool=keeps)), "principle-no-data-retention", LEGAL)


def test_public_api_tool_needs_legal_even_when_it_claims_enclosure(policy: CedarPolicy) -> None:
    public = tool(hosting="public_api")
    only(policy.decide(document(tool=public)), "principle-enclosed-environment", LEGAL)


def test_vendor_tool_attested_not_enclosed_needs_legal(policy: CedarPolicy) -> None:
    open_env = tool(attestation=attestation(enclosed_environment=False))
    only(policy.decide(document(tool=open_env)), "principle-enclosed-environment", LEGAL)


def test_tool_on_the_studios_own_machines_counts_as_enclosed(policy: CedarPolicy) -> None:
    ours = tool(hosting="studio", attestation=attestation(enclosed_environment=None))
    assert policy.decide(document(tool=ours)).outcome is Outcome.ALLOW


def test_final_deliverable_needs_a_creative_lead(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(use_case="vfx_cleanup", intent="final_deliverable"))
    only(ruling, "final-deliverable-needs-creative-lead", LEADS)


def test_replacing_union_work_needs_legal(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(disclosure={"replaces_union_work": True}))
    only(ruling, "principle-union-work", LEGAL)


# --- always written approval ------------------------------------------------------


def test_personal_data_going_into_the_tool_needs_legal(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(disclosure={"inputs_personal_data": True}))
    only(ruling, "personal-data-into-tool-needs-legal", LEGAL)


def test_output_carrying_personal_data_needs_legal(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(disclosure={"output_personal_data": True}))
    only(ruling, "personal-data-in-output-needs-legal", LEGAL)


def test_declared_third_party_ip_needs_legal(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(third_party_ip=["Blade Runner poster"]))
    only(ruling, "third-party-ip-needs-legal", LEGAL)


def test_unreleased_script_into_an_attested_certified_tool_needs_the_producer(
    policy: CedarPolicy,
) -> None:
    ruling = policy.decide(document(disclosure={"inputs_unreleased_material": True}))
    only(ruling, "unreleased-material-needs-producer", (Role.PRODUCER,))


def test_unreleased_footage_into_an_uncertified_tool_needs_legal(policy: CedarPolicy) -> None:
    uncertified = tool(attestation=attestation(certification=None))
    ruling = policy.decide(
        document(tool=uncertified, disclosure={"inputs_unreleased_material": True})
    )
    only(ruling, "unreleased-material-into-unproven-tool-needs-legal", LEGAL)


def test_unreleased_script_into_a_tool_that_trains_needs_legal_not_the_producer(
    policy: CedarPolicy,
) -> None:
    trains = tool(attestation=attestation(trains_on_inputs=True))
    ruling = policy.decide(document(tool=trains, disclosure={"inputs_unreleased_material": True}))
    escalated(ruling, "unreleased-material-into-unproven-tool-needs-legal", LEGAL)
    assert "unreleased-material-needs-producer" not in ruling.rules


def test_a_main_character_design_needs_a_creative_lead(policy: CedarPolicy) -> None:
    ruling = policy.decide(
        document(use_case="style_frames", disclosure={"key_creative_element": True})
    )
    only(ruling, "key-creative-element-needs-creative-lead", LEADS)


@pytest.mark.parametrize(
    ("declared", "rule"),
    [
        ("references_copyrighted_work", "copyrighted-work-needs-legal"),
        ("references_public_figure", "public-figure-needs-legal"),
        ("references_deceased_person", "deceased-person-needs-legal"),
    ],
)
def test_referencing_protected_people_or_works_needs_legal(
    policy: CedarPolicy, declared: str, rule: str
) -> None:
    only(policy.decide(document(disclosure={declared: True})), rule, LEGAL)


def test_footage_that_could_pass_for_real_events_needs_legal_and_a_creative_lead(
    policy: CedarPolicy,
) -> None:
    ruling = policy.decide(document(disclosure={"could_be_mistaken_for_real_events": True}))
    rule = "real-events-look-needs-legal-and-creative-lead"
    assert ruling.rules == (rule,)
    assert [r.roles for r in ruling.required] == [LEGAL, LEADS]


def test_a_prompt_naming_a_watchlisted_character_needs_legal(policy: CedarPolicy) -> None:
    watchlist = Watchlist(
        [WatchEntry(id="w_vader", term="Darth Vader", category="protected_character")]
    )
    hits = watchlist.screen("hero in a dark helmet, like Darth-Vader, rain")
    ruling = policy.decide(document(screening_hits=hits))
    only(ruling, "watchlist-hit-needs-legal", LEGAL)


def test_a_synthetic_performer_needs_legal_to_notify_the_union(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(disclosure={"synthetic_performer": True}))
    only(ruling, "synthetic-performer-needs-union-notice", LEGAL)


def test_ai_material_handed_to_a_writer_needs_the_producer_to_disclose_it(
    policy: CedarPolicy,
) -> None:
    ruling = policy.decide(document(disclosure={"given_to_writer": True}))
    only(ruling, "writer-material-needs-wga-disclosure", (Role.PRODUCER,))


# --- performers -------------------------------------------------------------------


def test_any_referenced_performer_needs_legal(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(use_case="vfx_cleanup", talent=[MAYA]))
    only(ruling, "talent-likeness-needs-legal", LEGAL)


def test_replica_without_consent_is_denied(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(talent=[MAYA], disclosure={"replica": "employment_based"}))
    denied(ruling, "replica-needs-consent")


def test_replica_with_use_consent_but_no_creation_consent_is_denied(policy: CedarPolicy) -> None:
    ruling = policy.decide(
        document(
            talent=[MAYA],
            consents=[consent(MAYA, "replica_use")],
            disclosure={"replica": "independently_created"},
        )
    )
    denied(ruling, "replica-needs-consent")


def test_replica_with_creation_and_use_consent_needs_only_legal(policy: CedarPolicy) -> None:
    ruling = policy.decide(
        document(
            talent=[MAYA],
            consents=replica_consents(MAYA),
            disclosure={"replica": "employment_based"},
        )
    )
    only(ruling, "talent-likeness-needs-legal", LEGAL)


def test_replica_names_no_performer_is_denied(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(disclosure={"replica": "employment_based"}))
    denied(ruling, "performer-must-be-named")


def test_de_aging_that_names_no_performer_is_denied(policy: CedarPolicy) -> None:
    ruling = policy.decide(
        document(use_case="de_aging", disclosure={"alteration_purpose": "cosmetic"})
    )
    denied(ruling, "performer-must-be-named")


def test_synthetic_voice_without_voice_consent_is_denied(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(use_case="dubbing", talent=[MAYA]))
    denied(ruling, "voice-needs-consent")


def test_synthetic_voice_with_voice_consent_needs_only_legal(policy: CedarPolicy) -> None:
    ruling = policy.decide(
        document(use_case="dubbing", talent=[MAYA], consents=[consent(MAYA, "voice")])
    )
    only(ruling, "talent-likeness-needs-legal", LEGAL)


def test_performer_in_marketing_art_without_marketing_consent_is_denied(
    policy: CedarPolicy,
) -> None:
    replica_only = replica_consents(MAYA)
    ruling = policy.decide(document(use_case="marketing_art", talent=[MAYA], consents=replica_only))
    denied(ruling, "marketing-likeness-needs-consent")


def test_performer_in_marketing_art_with_marketing_consent_needs_legal(
    policy: CedarPolicy,
) -> None:
    ruling = policy.decide(
        document(
            use_case="marketing_art",
            talent=[MAYA],
            consents=[consent(MAYA, "marketing_likeness")],
        )
    )
    only(ruling, "talent-likeness-needs-legal", LEGAL)


def test_de_aging_without_alteration_consent_needs_legal(policy: CedarPolicy) -> None:
    # Cosmetic de-aging keeps the performance as performed: exempt from alteration
    # consent, but the performer's likeness still needs legal's written approval.
    ruling = policy.decide(
        document(use_case="de_aging", talent=[MAYA], disclosure={"alteration_purpose": "cosmetic"})
    )
    only(ruling, "talent-likeness-needs-legal", LEGAL)


def test_de_aging_that_changes_the_performance_without_alteration_consent_is_denied(
    policy: CedarPolicy,
) -> None:
    ruling = policy.decide(
        document(
            use_case="de_aging",
            talent=[MAYA],
            disclosure={"alteration_purpose": "performance_change"},
        )
    )
    denied(ruling, "alteration-needs-consent")


def test_de_aging_with_no_declared_purpose_needs_alteration_consent(policy: CedarPolicy) -> None:
    ruling = policy.decide(document(use_case="de_aging", talent=[MAYA]))
    denied(ruling, "alteration-needs-consent")


def test_performance_change_with_alteration_consent_needs_only_legal(
    policy: CedarPolicy,
) -> None:
    ruling = policy.decide(
        document(
            use_case="vfx_cleanup",
            talent=[MAYA],
            consents=[consent(MAYA, "digital_alteration")],
            disclosure={"alteration_purpose": "performance_change"},
        )
    )
    only(ruling, "talent-likeness-needs-legal", LEGAL)


@pytest.mark.parametrize(
    "purpose", [p for p in AlterationPurpose if p is not AlterationPurpose.PERFORMANCE_CHANGE]
)
def test_exempt_alterations_need_no_alteration_consent(
    policy: CedarPolicy, purpose: AlterationPurpose
) -> None:
    ruling = policy.decide(
        document(use_case="vfx_cleanup", talent=[MAYA], disclosure={"alteration_purpose": purpose})
    )
    only(ruling, "talent-likeness-needs-legal", LEGAL)


def test_replica_of_deceased_performer_needs_estate_consent(policy: CedarPolicy) -> None:
    signed_in_life = replica_consents(ESTATE_OF_ARTHUR, given_by="performer")
    ruling = policy.decide(
        document(
            talent=[ESTATE_OF_ARTHUR],
            consents=signed_in_life,
            disclosure={"replica": "independently_created"},
        )
    )
    denied(ruling, "replica-needs-consent", "deceased-performer-needs-estate-consent")


def test_replica_of_deceased_performer_with_estate_consent_needs_legal(
    policy: CedarPolicy,
) -> None:
    from_estate = replica_consents(ESTATE_OF_ARTHUR, given_by="authorized_representative")
    ruling = policy.decide(
        document(
            talent=[ESTATE_OF_ARTHUR],
            consents=from_estate,
            disclosure={"replica": "independently_created"},
        )
    )
    only(ruling, "talent-likeness-needs-legal", LEGAL)


def test_union_consent_does_not_count_while_an_estate_exists(policy: CedarPolicy) -> None:
    from_union = replica_consents(ESTATE_OF_ARTHUR, given_by="union")
    ruling = policy.decide(
        document(
            talent=[ESTATE_OF_ARTHUR],
            consents=from_union,
            disclosure={"replica": "independently_created"},
        )
    )
    denied(ruling, "deceased-performer-needs-estate-consent")


def test_union_consents_for_a_deceased_performer_with_no_representative(
    policy: CedarPolicy,
) -> None:
    from_union = replica_consents(UNREPRESENTED, given_by="union")
    ruling = policy.decide(
        document(
            talent=[UNREPRESENTED],
            consents=from_union,
            disclosure={"replica": "independently_created"},
        )
    )
    only(ruling, "talent-likeness-needs-legal", LEGAL)


def test_living_performer_consent_signed_by_the_union_does_not_count(
    policy: CedarPolicy,
) -> None:
    ruling = policy.decide(
        document(
            talent=[MAYA],
            consents=replica_consents(MAYA, given_by="union"),
            disclosure={"replica": "employment_based"},
        )
    )
    denied(ruling, "replica-needs-consent")
    assert "deceased-performer-needs-estate-consent" not in ruling.rules


def test_deceased_voice_without_estate_consent_is_denied(policy: CedarPolicy) -> None:
    ruling = policy.decide(
        document(
            use_case="dubbing",
            talent=[ESTATE_OF_ARTHUR],
            consents=[consent(ESTATE_OF_ARTHUR, "voice", given_by="performer")],
        )
    )
    denied(ruling, "voice-needs-consent", "deceased-performer-needs-estate-consent")


def test_replica_model_built_on_another_production_is_not_reused(policy: CedarPolicy) -> None:
    ruling = policy.decide(
        document(
            talent=[MAYA],
            consents=replica_consents(MAYA),
            disclosure={"replica": "employment_based"},
            replica_models=[{"talent_id": MAYA.id, "origin_production_id": OTHER_PRODUCTION}],
        )
    )
    denied(ruling, "replica-model-from-another-production")


def test_replica_model_built_on_this_production_may_be_used(policy: CedarPolicy) -> None:
    ruling = policy.decide(
        document(
            talent=[MAYA],
            consents=replica_consents(MAYA),
            disclosure={"replica": "employment_based"},
            replica_models=[{"talent_id": MAYA.id, "origin_production_id": PRODUCTION}],
        )
    )
    only(ruling, "talent-likeness-needs-legal", LEGAL)


# --- how rules combine --------------------------------------------------------------


def test_a_denial_wins_over_every_escalation(policy: CedarPolicy) -> None:
    ruling = policy.decide(
        document(
            intent="final_deliverable",
            tool=tool(allowed_on_production=False, attestation=None),
            third_party_ip=["Blade Runner"],
            disclosure={"key_creative_element": True},
        )
    )
    assert ruling.outcome is Outcome.DENY
    assert ruling.rules == ("tool-not-on-production-allow-list",)
    assert ruling.required == ()


def test_every_denial_is_listed_with_its_reason(policy: CedarPolicy) -> None:
    ruling = policy.decide(
        document(
            use_case="dubbing",
            talent=[MAYA],
            tool=tool(use_cases=["previs"], suspended=True, allowed_on_production=False),
        )
    )
    assert ruling.outcome is Outcome.DENY
    assert set(ruling.rules) == {
        "tool-not-vetted-for-use",
        "tool-not-on-production-allow-list",
        "tool-suspended",
        "voice-needs-consent",
    }
    assert all(reason.endswith(".") for reason in ruling.reasons)


def test_every_escalation_asks_for_its_own_approval(policy: CedarPolicy) -> None:
    ruling = policy.decide(
        document(
            intent="final_deliverable",
            third_party_ip=["Blade Runner"],
            disclosure={"given_to_writer": True},
        )
    )
    assert ruling.outcome is Outcome.NEEDS_APPROVAL
    assert {(r.rule, r.roles) for r in ruling.required} == {
        ("final-deliverable-needs-creative-lead", LEADS),
        ("third-party-ip-needs-legal", LEGAL),
        ("writer-material-needs-wga-disclosure", (Role.PRODUCER,)),
    }
    assert ruling.reasons == tuple(r.reason for r in ruling.required)


def test_many_documents_judged_in_one_call_match_one_by_one(policy: CedarPolicy) -> None:
    documents = [
        document(),
        document(intent="final_deliverable"),
        document(tool=tool(suspended=True)),
        document(use_case="de_aging", talent=[MAYA]),
    ]
    assert policy.decide_many(documents) == [policy.decide(d) for d in documents]
