"""A consent revocation's blast radius: every request that relied on the consent.

A request relied on a consent when its policy decision did: the policy's ledger
event (``policy.allowed``, ``policy.needs_approval``, ``policy.denied``) lists
the consents that covered the use at that moment. Only requests that reference
the consent's performer on one of its productions can have, so those are the
only ledger entries read. A request the policy denied is left out (nothing was
made and nothing can be); one denied by this revocation stays in the report.
"""

from __future__ import annotations

import json
from collections import defaultdict

from sqlalchemy import Connection, or_, select

from greenlight.core.enums import RequestState
from greenlight.core.models import AffectedOutput, AffectedRequest, RevocationImpact
from greenlight.rights._consents import get_consent
from greenlight.store.schema import (
    assets,
    consents,
    generation_requests,
    ledger_entries,
    request_events,
    request_talent,
)

# The ledger events that carry a decision's covered consents.
POLICY_EVENTS = ("policy.allowed", "policy.needs_approval", "policy.denied")
# The event of a request a revocation stopped before it ran (engine/revocation.py).
REVOCATION_DENIED = "revocation.denied"


def affected_by_revocation(conn: Connection, consent_id: str) -> RevocationImpact:
    """The requests whose decisions relied on this consent, split by whether their
    outputs were delivered, each with its state and outputs.

    Works before or after revocation (so legal can see the radius first). Each
    request also names the other consents its decision relied on that are still
    unrevoked, since those may keep it covered.
    """
    consent = get_consent(conn, consent_id)
    r = generation_requests.c
    candidates = conn.execute(
        select(r.id, r.production_id, r.state, r.use_case, r.intent, r.tool_id, r.requested_by)
        .join(request_talent, request_talent.c.request_id == r.id)
        .where(
            request_talent.c.talent_id == consent.talent_id,
            r.production_id.in_(list(consent.covered_productions)),
            or_(
                r.state != RequestState.DENIED.value,
                r.id.in_(
                    select(request_events.c.request_id).where(
                        request_events.c.event_type == REVOCATION_DENIED
                    )
                ),
            ),
        )
        .order_by(r.id)
    ).all()
    if not candidates:
        return RevocationImpact(consent=consent, not_delivered=(), delivered=())
    ids = [c.id for c in candidates]
    relied: dict[str, set[str]] = defaultdict(set)
    events = conn.execute(
        select(request_events.c.request_id, ledger_entries.c.body)
        .join(ledger_entries, ledger_entries.c.idx == request_events.c.ledger_index)
        .where(
            request_events.c.request_id.in_(ids),
            request_events.c.event_type.in_(POLICY_EVENTS),
        )
    )
    for request_id, body in events:
        listed = json.loads(body).get("payload", {}).get("consents", [])
        relied[request_id].update(str(c) for c in listed)
    relying = [c for c in candidates if consent_id in relied[c.id]]
    if not relying:
        return RevocationImpact(consent=consent, not_delivered=(), delivered=())
    others = {i for c in relying for i in relied[c.id]} - {consent_id}
    unrevoked = (
        set(
            conn.execute(
                select(consents.c.id).where(
                    consents.c.id.in_(list(others)), consents.c.revoked_at.is_(None)
                )
            ).scalars()
        )
        if others
        else set()
    )
    outputs: dict[str, list[AffectedOutput]] = defaultdict(list)
    for row in conn.execute(
        select(assets.c.id, assets.c.sha256, assets.c.filename, assets.c.request_id)
        .where(assets.c.request_id.in_([c.id for c in relying]), assets.c.origin == "output")
        .order_by(assets.c.id)
    ):
        outputs[row.request_id].append(
            AffectedOutput(asset_id=row.id, sha256=row.sha256, filename=row.filename)
        )
    not_delivered: list[AffectedRequest] = []
    delivered: list[AffectedRequest] = []
    for c in relying:
        affected = AffectedRequest(
            request_id=c.id,
            production_id=c.production_id,
            state=RequestState(c.state),
            use_case=c.use_case,
            intent=c.intent,
            tool_id=c.tool_id,
            requested_by=c.requested_by,
            outputs=tuple(outputs[c.id]),
            other_consents=tuple(sorted(relied[c.id] & unrevoked)),
        )
        (delivered if affected.state is RequestState.DELIVERED else not_delivered).append(affected)
    return RevocationImpact(
        consent=consent, not_delivered=tuple(not_delivered), delivered=tuple(delivered)
    )
