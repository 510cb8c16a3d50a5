"""Policy: every request is judged before any work happens.

The lifecycle asks a :class:`PolicyEngine` for a :class:`Ruling` given the
request and the facts from the registries (:class:`PolicyFacts`). Until the
engine switches over, :class:`BuiltinPolicy` holds the platform's standing rules.

The Cedar rules (``cedar/*.cedar``) judge a self-contained
:class:`PolicyDocument` through :class:`CedarPolicy`; :func:`build_query` is
the pure step from document to Cedar request, and :class:`Watchlist` screens
prompts for the watchlist hits the rules see.
"""

from greenlight.policy.builtin import BuiltinPolicy
from greenlight.policy.cedar_engine import CedarPolicy, Rule, policy_version
from greenlight.policy.context import CedarQuery, build_query
from greenlight.policy.document import Decision, PolicyDocument, ScreeningHit
from greenlight.policy.facts import PolicyEngine, PolicyFacts, Ruling
from greenlight.policy.screening import WatchEntry, Watchlist

__all__ = [
    "BuiltinPolicy",
    "CedarPolicy",
    "CedarQuery",
    "Decision",
    "PolicyDocument",
    "PolicyEngine",
    "PolicyFacts",
    "Rule",
    "Ruling",
    "ScreeningHit",
    "WatchEntry",
    "Watchlist",
    "build_query",
    "policy_version",
]
