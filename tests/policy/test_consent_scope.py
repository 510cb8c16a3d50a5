"""A consent counts only when it covers this production, use, medium, territory and moment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from greenlight.core.enums import Outcome
from greenlight.policy.cedar_engine import CedarPolicy
from greenlight.policy.facts import Ruling
from tests.policy.factory import MAYA, NOW, OTHER_PRODUCTION, PRODUCTION, consent, document


def dub(consent_changes: dict[str, Any], **disclosure: Any) -> Any:
    """Maya's synthetic voice for the series in the US, on her voice consent changed so."""
    fields = {"kind": "voice", **consent_changes}
    return document(
        use_case="dubbing",
        talent=[MAYA],
        consents=[consent(MAYA, **fields)],
        disclosure={"medium": "series", "territory": "US", **disclosure},
    )


def refused_for_want_of_voice_consent(ruling: Ruling) -> None:
    assert ruling.outcome is Outcome.DENY
    assert "voice-needs-consent" in ruling.rules


@pytest.mark.parametrize(
    ("story", "changes"),
    [
        ("another production", {"production_ids": [OTHER_PRODUCTION]}),
        ("another use case", {"use_cases": ["marketing_art"]}),
        ("another medium", {"media": ["theatrical"]}),
        ("another territory", {"territories": ["FR", "DE"]}),
        ("expired", {"expires_at": NOW - timedelta(days=1)}),
        ("expiring now", {"expires_at": NOW}),
        ("revoked", {"revoked_at": NOW - timedelta(hours=1)}),
        ("not yet valid", {"granted_at": NOW + timedelta(days=1)}),
        ("the wrong kind", {"kind": "replica_use"}),
        ("another performer", {"talent_id": "tal_someone_else"}),
    ],
)
def test_a_voice_consent_for_something_else_does_not_cover_the_dub(
    policy: CedarPolicy, story: str, changes: dict[str, Any]
) -> None:
    refused_for_want_of_voice_consent(policy.decide(dub(changes)))


def test_a_consent_limited_to_some_media_does_not_cover_an_undeclared_medium(
    policy: CedarPolicy,
) -> None:
    ruling = policy.decide(dub({"media": ["series"]}, medium=None))
    refused_for_want_of_voice_consent(ruling)


def test_a_consent_limited_to_some_territories_does_not_cover_an_undeclared_one(
    policy: CedarPolicy,
) -> None:
    ruling = policy.decide(dub({"territories": ["US"]}, territory=None))
    refused_for_want_of_voice_consent(ruling)


@pytest.mark.parametrize(
    ("story", "changes"),
    [
        ("any medium and territory", {}),
        (
            "the same medium and territory in other case",
            {"media": ["Series"], "territories": ["us"]},
        ),
        (
            "several productions, this one among them",
            {"production_ids": [OTHER_PRODUCTION, PRODUCTION]},
        ),
        ("an expiry still ahead", {"expires_at": NOW + timedelta(minutes=1)}),
        ("a revocation dated later", {"revoked_at": NOW + timedelta(days=3)}),
        ("granted this very moment", {"granted_at": NOW}),
    ],
)
def test_a_voice_consent_in_scope_covers_the_dub(
    policy: CedarPolicy, story: str, changes: dict[str, Any]
) -> None:
    ruling = policy.decide(dub(changes))
    assert ruling.outcome is Outcome.NEEDS_APPROVAL
    assert ruling.rules == ("talent-likeness-needs-legal",)


def test_one_consent_in_scope_is_enough_among_lapsed_ones(policy: CedarPolicy) -> None:
    lapsed = consent(MAYA, "voice", id="con_old", expires_at=NOW - timedelta(days=10))
    current = consent(MAYA, "voice", id="con_new")
    ruling = policy.decide(document(use_case="dubbing", talent=[MAYA], consents=[lapsed, current]))
    assert ruling.outcome is Outcome.NEEDS_APPROVAL


def test_every_referenced_performer_needs_their_own_consent(policy: CedarPolicy) -> None:
    other = MAYA.model_copy(update={"id": "tal_omar", "name": "Omar Reyes"})
    ruling = policy.decide(
        document(use_case="dubbing", talent=[MAYA, other], consents=[consent(MAYA, "voice")])
    )
    refused_for_want_of_voice_consent(ruling)
