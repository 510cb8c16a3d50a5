"""From a policy document to the Cedar request the rules judge: pure, no I/O.

Cedar has no "there exists" over a list, so the few facts that need one are
reduced here to what the rules can test: the consent kinds some referenced
performer lacks (in force and in scope), how many replica models came from
another production. Everything else passes through as the requester and the
registries stated it, and the rules in ``cedar/`` decide.

The principal is the production and the resource the tool, so a rule may name
either; the request's own id never enters the context. Two requests with the
same facts therefore build the same query, which the what-if run relies on to
judge each distinct situation once.

The tool asked for is the resource, and its registry facts are the Tool
entity's attributes (``resource.hosting``, ``resource.use_cases``,
``resource.attestation``, ``resource.suspended`` and the attested facts),
built by :func:`tool_entity`. Those facts repeat across requests (a studio
has a few dozen tools), so the engine parses each distinct Tool entity into
Cedar once and keeps it; only the request's own facts travel in the context,
which Cedar parses on every request at one to two microseconds per value.
The context is therefore lean and flat too: the yes/no facts are one set of
``flags`` holding only those that are true (the requester's yes-answers, and
whether the tool is on this production's allow-list, which is a fact of the
pair, not of the tool); consent gaps are sets of kinds; lists the rules only
count are counts; and a fact that usually holds its empty value (no talent,
no consent gap, no third-party work, no replica) is left out rather than sent
as 0, [] or "none", so the rules ask ``context has talent`` before reading
it. The declared medium and territory reach the rules only through the
consent gaps they decide. ``VOCABULARY`` names the words each string fact
can hold (``resource.*`` for the tool's), so the loader can refuse a rule
that compares a fact with a word it can never hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from greenlight.core.enums import AlterationPurpose, ConsentKind, Hosting, Intent, Replica, UseCase
from greenlight.core.models import Disclosure
from greenlight.policy.document import (
    Attestation,
    DocumentConsent,
    DocumentTalent,
    DocumentTool,
    PolicyDocument,
)

ACTION = "submit"
_KINDS = tuple(ConsentKind)
# The disclosure's yes/no answers, by field name: a yes puts the name in `flags`.
DECLARABLE = tuple(name for name, f in Disclosure.model_fields.items() if f.annotation is bool)
# The one yes/no fact of the production and tool together, flagged when true.
ALLOWED_ON_PRODUCTION = "tool_allowed_on_production"
ATTESTATION_STATES = ("current", "expired", "not_yet_valid", "none")

VOCABULARY: dict[str, frozenset[str]] = {
    "use_case": frozenset(UseCase),
    "intent": frozenset(Intent),
    "flags": frozenset((*DECLARABLE, ALLOWED_ON_PRODUCTION)),
    # Without a replica the fact is absent, so a rule never compares it with "none".
    "replica": frozenset(Replica) - {Replica.NONE},
    "alteration_purpose": frozenset(AlterationPurpose),
    "resource.hosting": frozenset(Hosting),
    "resource.use_cases": frozenset(UseCase),
    "resource.attestation": frozenset(ATTESTATION_STATES),
    "consent_missing": frozenset(ConsentKind),
    "consent_not_from_estate": frozenset(ConsentKind),
}


@dataclass(frozen=True)
class CedarQuery:
    """One Cedar authorization request: who asks (the production), for what, with which facts.

    ``context_json`` is the context serialized once, keys in the builder's fixed
    order: it is what Cedar parses on every request. ``tool_json`` is the Tool
    entity (the resource with its attributes) serialized the same way: what
    the engine parses once per distinct tool and keeps. Together with the
    principal they tell two situations apart.
    """

    principal: dict[str, str]
    action: dict[str, str]
    resource: dict[str, str]
    context: dict[str, Any]
    tool: dict[str, Any]
    context_json: str = field(init=False, repr=False, compare=False)
    tool_json: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "context_json", _compact(self.context))
        entity = [{"uid": self.resource, "attrs": self.tool, "parents": []}]
        object.__setattr__(self, "tool_json", _compact(entity))

    def key(self) -> str:
        """Equal for two queries Cedar must answer the same way."""
        return f"{self.principal['id']}\x00{self.tool_json}\x00{self.context_json}"

    def to_cedar(self) -> dict[str, Any]:
        """The request as cedarpy takes it (entity uids as dicts parse fastest).

        The Tool entity goes separately, as the entities the request is judged with.
        """
        return {
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "context": self.context_json,
        }


def _compact(value: object) -> str:
    """Compact JSON (no spaces), UTF-8 left as is; the enums write as their values.

    orjson, because the standard encoder builds a C encoder on every call and
    two of those were a tenth of a decision.
    """
    return orjson.dumps(value).decode()


def build_query(document: PolicyDocument) -> CedarQuery:
    """Turn a document into the Cedar request the rules judge. Same document, same query."""
    request = document.request
    disclosure = request.disclosure
    tool = document.tool
    # The enums are StrEnums: equal to their words, and written as them.
    context: dict[str, Any] = {
        "use_case": request.use_case,
        "intent": request.intent,
        "flags": flags(disclosure, tool),
    }
    if disclosure.replica is not Replica.NONE:
        context["replica"] = disclosure.replica
    if disclosure.alteration_purpose is not None:
        context["alteration_purpose"] = disclosure.alteration_purpose
    referenced = _referenced_talent(document)
    if referenced:
        context["talent"] = len(referenced)
        missing, not_from_estate = consent_gaps(document, referenced)
        if missing:
            context["consent_missing"] = missing
        if not_from_estate:
            context["consent_not_from_estate"] = not_from_estate
    reused = sum(
        1
        for model in document.production.replica_models
        if model.origin_production_id != request.production_id
    )
    if reused:
        context["replica_models_from_other_productions"] = reused
    if request.third_party_ip:
        context["third_party_ip"] = len(request.third_party_ip)
    if request.screening_hits:
        context["screening_hits"] = len(request.screening_hits)
    return CedarQuery(
        principal={"type": "Production", "id": request.production_id},
        action={"type": "Action", "id": ACTION},
        resource={"type": "Tool", "id": tool.id},
        context=context,
        tool=tool_entity(tool, document.now),
    )


def flags(disclosure: Disclosure, tool: DocumentTool) -> list[str]:
    """The yes/no facts that hold: the disclosure's yes-answers in field order, then
    whether the production's allow-list includes the tool."""
    answers = disclosure.__dict__  # a pydantic model's field values, read without getattr
    names = [name for name in DECLARABLE if answers[name]]
    if tool.allowed_on_production:
        names.append(ALLOWED_ON_PRODUCTION)
    return names


def attestation_status(attestation: Attestation | None, now: datetime) -> str:
    """``current``, ``expired``, ``not_yet_valid`` or ``none``."""
    if attestation is None:
        return "none"
    if now < attestation.valid_from:
        return "not_yet_valid"
    if now >= attestation.expires_at:
        return "expired"
    return "current"


def tool_entity(tool: DocumentTool, now: datetime) -> dict[str, Any]:
    """The Tool entity's attributes: its registry facts, attested ones only while current.

    An attested fact that is missing is unknown to the rules, and a principle
    that depends on it cannot be shown to hold.
    """
    status = attestation_status(tool.attestation, now)
    facts: dict[str, Any] = {
        "hosting": tool.hosting,
        "use_cases": sorted(set(tool.use_cases)),
        "attestation": status,
        "suspended": tool.suspended,
    }
    attestation = tool.attestation
    if status == "current" and attestation is not None:
        if attestation.trains_on_inputs is not None:
            facts["trains_on_inputs"] = attestation.trains_on_inputs
        if attestation.retains_data_days is not None:
            facts["retains_data_days"] = attestation.retains_data_days
        if attestation.enclosed_environment is not None:
            facts["enclosed_environment"] = attestation.enclosed_environment
        if attestation.certification:
            facts["certification"] = attestation.certification
    return facts


def consent_gaps(
    document: PolicyDocument, referenced: Iterable[DocumentTalent]
) -> tuple[list[str], list[str]]:
    """The consent kinds some referenced performer lacks, and those lacking for want of an estate.

    A kind is missing when a performer has no consent of that kind that is in
    force at ``now``, covers this production, use case, medium and territory,
    and was given by the party entitled to give it. It is also listed as not
    from the estate when a deceased performer does have such a consent, but
    signed by someone else (one the performer gave in life, or the union's
    while an estate exists).
    """
    givers: dict[tuple[str, ConsentKind], list[str]] = {}  # who signed each in-scope consent
    for consent in document.consents:
        if covers(consent, document):
            givers.setdefault((consent.talent_id, consent.kind), []).append(consent.given_by)
    missing: set[str] = set()  # ConsentKinds: StrEnums, sorted and written as their words
    not_from_estate: set[str] = set()
    for person in referenced:
        entitled = entitled_giver(person)
        for kind in _KINDS:
            signed = givers.get((person.id, kind))
            if signed is None:
                missing.add(kind)
            elif entitled not in signed:
                missing.add(kind)
                if person.deceased:
                    not_from_estate.add(kind)
    return sorted(missing), sorted(not_from_estate)


def entitled_giver(person: DocumentTalent) -> str:
    """Who may consent for this performer (SAG-AFTRA 2023).

    The performer in life; after death their authorized representative, or the
    union when none can be found.
    """
    if not person.deceased:
        return "performer"
    return "authorized_representative" if person.authorized_representative else "union"


def covers(consent: DocumentConsent, document: PolicyDocument) -> bool:
    """Whether a consent is in force at ``now`` and its scope includes this use.

    Revoked, expired and not-yet-granted consents do not count. A consent
    limited to some media or territories covers only a use that declares one
    of them; an undeclared medium or territory is not assumed to fit.
    """
    now = document.now
    if consent.revoked_at is not None and consent.revoked_at <= now:
        return False
    if consent.expires_at is not None and consent.expires_at <= now:
        return False
    if consent.granted_at > now:
        return False
    request = document.request
    if request.production_id not in consent.production_ids:
        return False
    if request.use_case not in consent.use_cases:
        return False
    disclosure = request.disclosure
    return _within(consent.media, disclosure.medium) and _within(
        consent.territories, disclosure.territory
    )


def _within(allowed: list[str], declared: str | None) -> bool:
    if not allowed:
        return True
    if declared is None:
        return False
    wanted = declared.casefold()
    return any(a.casefold() == wanted for a in allowed)


def _referenced_talent(document: PolicyDocument) -> list[DocumentTalent]:
    by_id = {t.id: t for t in document.talent}
    seen: dict[str, DocumentTalent] = {}
    for talent_id in document.request.talent_ids:
        seen.setdefault(talent_id, by_id[talent_id])
    return list(seen.values())
