"""Policy: every request is judged before any work happens.

The lifecycle asks a :class:`PolicyEngine` for a :class:`Ruling` on a
request's :class:`PolicyDocument` (the request plus the registry facts it
depends on, built by ``engine/facts.py``). The Cedar rules
(``cedar/*.cedar``) judge it through :class:`CedarPolicy`; :func:`build_query`
is the pure step from document to Cedar request, and :class:`Watchlist` screens
prompts for the watchlist hits the rules see.
"""

from greenlight.policy.cedar_engine import CedarPolicy, Rule, policy_version
from greenlight.policy.context import CedarQuery, build_query
from greenlight.policy.document import Decision, PolicyDocument, ScreeningHit
from greenlight.policy.facts import PolicyEngine, Ruling
from greenlight.policy.screening import WatchEntry, Watchlist

__all__ = [
    "CedarPolicy",
    "CedarQuery",
    "Decision",
    "PolicyDocument",
    "PolicyEngine",
    "Rule",
    "Ruling",
    "ScreeningHit",
    "WatchEntry",
    "Watchlist",
    "build_query",
    "policy_version",
]
