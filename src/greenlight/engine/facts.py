"""What the policy is told about a request: the registries, read into one document.

The :class:`PolicyDocument` is self-contained, so the policy judges it without
a database, and it is stored with the decision: an auditor or a what-if run
can judge exactly the same facts again. Registry reads go through the
platform's :class:`RegistryCache`, so a submission costs one generation check
rather than a dozen queries while nothing in the registry changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from greenlight.core.models import Asset, Consent, RequestDraft, Talent, Tool, ToolStanding
from greenlight.policy import PolicyDocument, Watchlist
from greenlight.rights import (
    consents_for,
    get_vendor,
    list_talent,
    standing_facts,
    studio_contact,
    watchlist_for,
)
from greenlight.store.registry import RegistryView


def load_talent(conn: Connection, registry: RegistryView, ids: Sequence[str]) -> list[Talent]:
    """The performers a request names (unknown ids are simply absent)."""
    key = frozenset(ids)
    if not key:
        return []
    return registry.get(("talent", key), lambda: list_talent(conn, key))


def load_consents(
    conn: Connection, registry: RegistryView, production_id: str, talent: Sequence[Talent]
) -> list[Consent]:
    """Every consent on record covering this production for these performers."""
    key = frozenset(t.id for t in talent)
    if not key:
        return []
    return registry.get(
        ("consents", production_id, key), lambda: consents_for(conn, production_id, key)
    )


def policy_document(
    conn: Connection,
    registry: RegistryView,
    draft: RequestDraft,
    *,
    request_id: str,
    tool: Tool,
    talent: Sequence[Talent],
    consents: Sequence[Consent],
    inputs: Sequence[Asset],
    now: datetime,
) -> tuple[PolicyDocument, ToolStanding]:
    """The document the policy judges ``draft`` on, and the tool's standing it states."""
    production_id = draft.production_id
    facts = registry.get(
        ("standing", tool.id, production_id), lambda: standing_facts(conn, tool.id, production_id)
    )
    standing = facts.at(now)
    vendor = registry.get(("vendor", tool.vendor_id), lambda: get_vendor(conn, tool.vendor_id))
    contact = registry.get(
        ("studio_contact", production_id), lambda: studio_contact(conn, production_id)
    )
    watchlist = registry.get(
        ("watchlist", production_id), lambda: Watchlist(watchlist_for(conn, production_id))
    )
    references = [*draft.third_party_ip, *(a.filename for a in inputs)]
    attestation = standing.attestation
    document = PolicyDocument.model_validate(
        {
            "request": {
                "id": request_id,
                "production_id": production_id,
                "use_case": draft.use_case,
                "intent": draft.intent,
                "tool_id": tool.id,
                "talent_ids": sorted(t.id for t in talent),
                "third_party_ip": list(draft.third_party_ip),
                "disclosure": draft.disclosure,
                "screening_hits": watchlist.screen(draft.prompt, references),
            },
            "tool": {
                "id": tool.id,
                "name": tool.name,
                "version": tool.version,
                "vendor_id": tool.vendor_id,
                "vendor": vendor.name,
                "hosting": tool.hosting,
                "use_cases": list(tool.use_cases),
                "allowed_on_production": standing.allowed_on_production,
                "suspended": standing.suspended,
                "suspension_reason": " ".join(
                    r for r in standing.reasons if r.startswith("Suspended")
                )
                or None,
                "attestation": None
                if attestation is None
                else {
                    "trains_on_inputs": attestation.trains_on_inputs,
                    "retains_data_days": attestation.retains_data_days,
                    "enclosed_environment": attestation.enclosed_environment,
                    "training_data_sources": [s.source for s in attestation.training_data],
                    "licences": sorted({s.licence for s in attestation.training_data}),
                    "certification": attestation.security_certification,
                    "valid_from": attestation.valid_from,
                    "expires_at": attestation.expires_at,
                },
            },
            "talent": [
                {
                    "id": t.id,
                    "name": t.name,
                    "union_member": t.union_member,
                    "deceased": t.deceased,
                    "authorized_representative": t.authorized_representative,
                }
                for t in talent
            ],
            "consents": [
                {
                    "id": c.id,
                    "talent_id": c.talent_id,
                    "kind": c.kind,
                    "intended_use": c.intended_use,
                    "production_ids": list(c.productions or (c.production_id,)),
                    "use_cases": list(c.use_cases),
                    "media": list(c.media),
                    "territories": list(c.territories),
                    "granted_at": c.granted_at,
                    "expires_at": c.expires_at,
                    "revoked_at": c.revoked_at,
                    "given_by": c.given_by,
                    "compensation_ref": c.compensation_reference,
                }
                for c in consents
            ],
            "production": {
                "id": production_id,
                "studio_contact": contact,
                "replica_models": [
                    {"talent_id": t.id, "origin_production_id": built_on}
                    for t in talent
                    if (built_on := draft.disclosure.replica_model_built_on) is not None
                ],
            },
            "now": now,
        }
    )
    return document, standing
