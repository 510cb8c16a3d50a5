"""The platform's standing rules, in code, until the Cedar policies take over.

Deny wins over approval, approval over allow. Each rule that fires adds its id
and a sentence, so a decision always says why.
"""

from __future__ import annotations

from greenlight.core.enums import CREATIVE_LEADS, Intent, Outcome, Role
from greenlight.core.models import Requirement
from greenlight.policy.facts import PolicyFacts, Ruling

VERSION = "builtin-2026.11"
_LEGAL = (Role.LEGAL,)
_LEADS = tuple(sorted(CREATIVE_LEADS))


class BuiltinPolicy:
    """Final deliverables need a creative lead; talent needs consent and legal sign-off."""

    @property
    def version(self) -> str:
        """The rule set's version, recorded on every decision."""
        return VERSION

    def decide(self, facts: PolicyFacts) -> Ruling:
        """Judge a request against the built-in rules."""
        denials: list[tuple[str, str]] = []
        needs: list[Requirement] = []
        use = facts.use_case.value

        if facts.use_case not in facts.tool.use_cases:
            vetted = ", ".join(u.value for u in facts.tool.use_cases)
            denials.append(
                (
                    "tool-vetted-for-use-case",
                    f"{facts.tool.name} {facts.tool.version} is vetted for {vetted}, "
                    f"not {use}; pick a tool vetted for {use}.",
                )
            )
        for person in facts.talent:
            covering = [
                c
                for c in facts.consents
                if c.talent_id == person.id and c.covers(facts.use_case, facts.now)
            ]
            if not covering:
                denials.append(
                    (
                        "talent-needs-consent",
                        f"{person.name} has no consent on record covering {use} on this "
                        "production; legal must record the performer's written consent first.",
                    )
                )
        if facts.talent and not denials:
            names = ", ".join(t.name for t in facts.talent)
            needs.append(
                Requirement(
                    roles=_LEGAL,
                    rule="talent-reference-needs-legal",
                    reason=f"The request references {names}; legal confirms the consent "
                    "covers this exact use.",
                )
            )
        if facts.third_party_ip:
            needs.append(
                Requirement(
                    roles=_LEGAL,
                    rule="third-party-ip-needs-legal",
                    reason="The request declares third-party material ("
                    + ", ".join(facts.third_party_ip)
                    + "); legal clears it.",
                )
            )
        if facts.intent is Intent.FINAL_DELIVERABLE:
            needs.append(
                Requirement(
                    roles=_LEADS,
                    rule="final-deliverable-needs-creative-lead",
                    reason="A final deliverable needs written approval from the "
                    "showrunner or director.",
                )
            )

        if denials:
            return Ruling(
                outcome=Outcome.DENY,
                policy_version=VERSION,
                rules=tuple(rule for rule, _ in denials),
                reasons=tuple(reason for _, reason in denials),
            )
        if needs:
            return Ruling(
                outcome=Outcome.NEEDS_APPROVAL,
                policy_version=VERSION,
                rules=tuple(r.rule for r in needs),
                reasons=tuple(r.reason for r in needs),
                required=tuple(needs),
            )
        return Ruling(
            outcome=Outcome.ALLOW,
            policy_version=VERSION,
            rules=("default-allow",),
            reasons=(
                f"{facts.intent.value} work with a tool vetted for {use}, "
                "no talent and no third-party material: no approval needed.",
            ),
        )
