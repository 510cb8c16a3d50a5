"""What the policy engine is given and what it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from greenlight.core.enums import Intent, Outcome, UseCase
from greenlight.core.models import Consent, Requirement, Talent, Tool


@dataclass(frozen=True)
class PolicyFacts:
    """A request and the registry facts that bear on it, gathered before judging.

    ``consents`` holds every consent on record for the referenced talent on this
    production (active or not): the rules decide which ones count at ``now``.
    """

    production_id: str
    use_case: UseCase
    intent: Intent
    tool: Tool
    talent: tuple[Talent, ...]
    consents: tuple[Consent, ...]
    third_party_ip: tuple[str, ...]
    now: datetime
    shot_id: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Ruling:
    """The engine's answer: the outcome, the rules that fired and why, who must approve."""

    outcome: Outcome
    policy_version: str
    rules: tuple[str, ...]
    reasons: tuple[str, ...]
    required: tuple[Requirement, ...] = ()


class PolicyEngine(Protocol):
    """Anything that judges a request: the built-in rules now, Cedar policies later."""

    @property
    def version(self) -> str:
        """An identifier of the exact policy text, recorded with every decision."""
        ...

    def decide(self, facts: PolicyFacts) -> Ruling:
        """Judge one request. Pure: same facts, same ruling."""
        ...
