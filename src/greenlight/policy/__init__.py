"""Policy: every request is judged before any work happens.

The lifecycle asks a :class:`PolicyEngine` for a :class:`Ruling` given the
request and the facts from the registries (:class:`PolicyFacts`). Until the
Cedar policies land, :class:`BuiltinPolicy` holds the platform's standing rules.
"""

from greenlight.policy.builtin import BuiltinPolicy
from greenlight.policy.facts import PolicyEngine, PolicyFacts, Ruling

__all__ = ["BuiltinPolicy", "PolicyEngine", "PolicyFacts", "Ruling"]
