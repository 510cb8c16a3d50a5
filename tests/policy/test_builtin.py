"""The built-in rules, judged without a database."""

from __future__ import annotations

from datetime import timedelta

from greenlight.core.clock import utcnow
from greenlight.core.enums import Hosting, Intent, Outcome, Role, UseCase
from greenlight.core.models import Consent, Talent, Tool
from greenlight.policy import BuiltinPolicy, PolicyFacts

NOW = utcnow()
TOOL = Tool(
    id="tool_1",
    vendor_id="ven_1",
    name="Cleaner",
    version="1",
    hosting=Hosting.STUDIO,
    backend="inpaint",
    use_cases=(UseCase.VFX_CLEANUP, UseCase.DE_AGING),
    created_at=NOW,
)
MAYA = Talent(id="tal_1", name="Maya Okafor", union_affiliation="SAG-AFTRA", created_at=NOW)


def _consent(**changes: object) -> Consent:
    fields: dict[str, object] = {
        "id": "con_1",
        "talent_id": MAYA.id,
        "production_id": "prod_1",
        "use_cases": (UseCase.DE_AGING,),
        "granted_at": NOW - timedelta(days=1),
        "expires_at": None,
        "revoked_at": None,
        "document_sha256": None,
        "note": None,
    }
    fields.update(changes)
    return Consent.model_validate(fields)


def _facts(**changes: object) -> PolicyFacts:
    fields: dict[str, object] = {
        "production_id": "prod_1",
        "use_case": UseCase.VFX_CLEANUP,
        "intent": Intent.TEMPORARY,
        "tool": TOOL,
        "talent": (),
        "consents": (),
        "third_party_ip": (),
        "now": NOW,
    }
    fields.update(changes)
    return PolicyFacts(**fields)  # type: ignore[arg-type]


def test_temporary_cleanup_with_a_vetted_tool_is_allowed() -> None:
    ruling = BuiltinPolicy().decide(_facts())
    assert ruling.outcome is Outcome.ALLOW
    assert ruling.rules == ("default-allow",)
    assert ruling.policy_version == BuiltinPolicy().version


def test_final_deliverable_needs_a_creative_lead() -> None:
    ruling = BuiltinPolicy().decide(_facts(intent=Intent.FINAL_DELIVERABLE))
    assert ruling.outcome is Outcome.NEEDS_APPROVAL
    (need,) = ruling.required
    assert set(need.roles) == {Role.SHOWRUNNER, Role.DIRECTOR}


def test_tool_not_vetted_for_the_use_is_denied() -> None:
    ruling = BuiltinPolicy().decide(_facts(use_case=UseCase.DUBBING))
    assert ruling.outcome is Outcome.DENY
    assert ruling.rules == ("tool-vetted-for-use-case",)
    assert "dubbing" in ruling.reasons[0]


def test_replica_needs_a_consent_that_covers_this_use_now() -> None:
    replica = {"use_case": UseCase.DE_AGING, "talent": (MAYA,)}
    ok = BuiltinPolicy().decide(_facts(**replica, consents=(_consent(),)))
    assert ok.outcome is Outcome.NEEDS_APPROVAL
    assert ok.required[0].roles == (Role.LEGAL,)
    for consent in (
        _consent(revoked_at=NOW - timedelta(hours=1)),
        _consent(expires_at=NOW - timedelta(seconds=1)),
        _consent(use_cases=(UseCase.DUBBING,)),
        _consent(granted_at=NOW + timedelta(days=1)),
        _consent(talent_id="tal_other"),
    ):
        ruling = BuiltinPolicy().decide(_facts(**replica, consents=(consent,)))
        assert ruling.outcome is Outcome.DENY, consent
        assert ruling.rules == ("talent-needs-consent",)


def test_declared_third_party_material_goes_to_legal_with_final_approval() -> None:
    ruling = BuiltinPolicy().decide(
        _facts(intent=Intent.FINAL_DELIVERABLE, third_party_ip=("stock skyline",))
    )
    assert ruling.outcome is Outcome.NEEDS_APPROVAL
    assert ruling.rules == ("third-party-ip-needs-legal", "final-deliverable-needs-creative-lead")


def test_deny_wins_over_approval() -> None:
    ruling = BuiltinPolicy().decide(
        _facts(use_case=UseCase.DUBBING, intent=Intent.FINAL_DELIVERABLE)
    )
    assert ruling.outcome is Outcome.DENY
    assert ruling.required == ()
