"""What the policy engine answers, and the interface the lifecycle calls it through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from greenlight.core.enums import Outcome
from greenlight.core.models import Requirement

if TYPE_CHECKING:
    from greenlight.policy.document import PolicyDocument


@dataclass(frozen=True)
class Ruling:
    """The engine's answer: the outcome, the rules that fired and why, who must approve."""

    outcome: Outcome
    policy_version: str
    rules: tuple[str, ...]
    reasons: tuple[str, ...]
    required: tuple[Requirement, ...] = ()


class PolicyEngine(Protocol):
    """Anything that judges a request's :class:`PolicyDocument` (the Cedar rules here)."""

    @property
    def version(self) -> str:
        """An identifier of the exact policy text, recorded with every decision."""
        ...

    def decide(self, document: PolicyDocument) -> Ruling:
        """Judge one request. Pure: same document, same ruling."""
        ...
