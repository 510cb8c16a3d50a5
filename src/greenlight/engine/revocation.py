"""Revoking a consent, and what that does to the work that relied on it.

Revoking blocks new uses at once: from the commit on, the policy sees the
consent revoked (the registry cache is invalidated by the database's
triggers), so a new request it would have covered is judged without it. The
work that already relied on it (:func:`greenlight.rights.affected_by_revocation`)
is dealt with in the same transaction, each request by where it stands:

=========================================  ==========================================
awaiting_approval, queued                  ``consent_revoked`` -> denied; a queued
                                           job is cancelled (nothing was made yet)
generated, in_review, accepted             ``consent_revoked`` -> quarantined: the
                                           outputs are held until legal clears them
                                           (:func:`requests.clear`) back to review
delivered                                  stays delivered (delivery is final); a
                                           ``revocation.legal_review`` event flags it
running                                    stays running; a ``revocation.pending_run``
                                           event flags it, and when the run ends its
                                           outputs go to quarantine, not review
quarantined, changes_requested, rejected   stay (final, or held already); a
                                           ``revocation.flagged`` event marks outputs
                                           that were made but never delivered
failed                                     left alone: nothing was made
=========================================  ==========================================

A request still covered by another consent of the same performer that is in
force (its decision relied on that one too) is left as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, select

from greenlight.accounts import Access
from greenlight.core.clock import utcnow
from greenlight.core.enums import RequestState as S
from greenlight.core.models import AffectedRequest, Consent, Record, RevocationImpact
from greenlight.engine.lifecycle import Step, advance, record_event
from greenlight.engine.platform import Platform
from greenlight.engine.requests import set_job_state
from greenlight.ledger import Event
from greenlight.likeness import forget_kept_under
from greenlight.rights import (
    affected_by_revocation,
    get_consent,
    on_any_covered_production,
    revoke_consent,
)
from greenlight.store.schema import generation_requests, jobs


class Action(StrEnum):
    """What a revocation did to one request that relied on the consent."""

    DENIED = "denied"  # had not run: blocked (its queued job cancelled)
    QUARANTINED = "quarantined"  # outputs held for legal
    LEGAL_REVIEW = "legal_review"  # delivered: flagged for legal review
    PENDING_RUN = "pending_run"  # running: flagged, to be checked when it finishes
    FLAGGED = "flagged"  # held already, or final with outputs never delivered
    STILL_COVERED = "still_covered"  # another consent of the performer still covers it
    LEFT = "left"  # failed: nothing was made


# What each action means, in the words the CLI and the pages use.
ACTION_WORDS = {
    Action.DENIED: "denied before it ran",
    Action.QUARANTINED: "quarantined for legal",
    Action.LEGAL_REVIEW: "delivered, flagged for legal review",
    Action.PENDING_RUN: "still running, flagged: check it when the run ends",
    Action.FLAGGED: "flagged (made but never delivered)",
    Action.STILL_COVERED: "left alone, still covered by another consent",
    Action.LEFT: "left alone, nothing was made",
}


def tally_words(tally: Mapping[Action, int]) -> str:
    """``2 quarantined for legal; 1 denied before it ran`` (or ``none``), in the
    order of :class:`Action`."""
    said = [f"{tally[a]} {ACTION_WORDS[a]}" for a in Action if tally.get(a)]
    return "; ".join(said) or "none"


class RevokedRequest(Record):
    """One request a revocation reached: its state before and after, and what was done.

    ``ledger_index`` is the ledger entry of the move or flag (none when nothing was
    written); ``still_covered_by`` names the consents that keep it covered.
    """

    request_id: str
    production_id: str
    before: S
    after: S
    action: Action
    ledger_index: int | None
    still_covered_by: tuple[str, ...] = ()


class RevocationOutcome(Record):
    """A revoked consent, the impact report (states as they were when it was revoked),
    the ``consent.revoked`` ledger entry, and what was done to each request."""

    consent: Consent
    ledger_index: int
    impact: RevocationImpact
    requests: tuple[RevokedRequest, ...]

    def tally(self) -> dict[Action, int]:
        """How many requests each action reached (actions that reached none left out)."""
        return dict(Counter(r.action for r in self.requests))


_MOVED = {
    S.AWAITING_APPROVAL: Action.DENIED,
    S.QUEUED: Action.DENIED,
    S.GENERATED: Action.QUARANTINED,
    S.IN_REVIEW: Action.QUARANTINED,
    S.ACCEPTED: Action.QUARANTINED,
}
_FLAGS = {
    S.DELIVERED: (Action.LEGAL_REVIEW, "revocation.legal_review"),
    S.RUNNING: (Action.PENDING_RUN, "revocation.pending_run"),
    S.QUARANTINED: (Action.FLAGGED, "revocation.flagged"),
    S.CHANGES_REQUESTED: (Action.FLAGGED, "revocation.flagged"),
    S.REJECTED: (Action.FLAGGED, "revocation.flagged"),
}


def revoke(
    platform: Platform, access: Access, consent_id: str, *, reason: str
) -> RevocationOutcome:
    """Revoke a consent and deal with every request that relied on it, in one transaction.

    The caller must keep rights (legal or admin) on one of the productions the
    consent covers. Unknown consent: 404 ``consent.not_found``; wrong role: 403;
    no reason: 422; revoked already: 409 ``consent.already_revoked``. Any refusal
    writes nothing. The revocation is the ledger event ``consent.revoked``; each
    request's move or flag is its own event on the request's timeline, naming the
    consent (see the module docstring for which request gets what).
    """
    actor = access.person.id
    with platform.db.transaction() as conn:
        consent = get_consent(conn, consent_id)
        _require_rights(access, consent)
        revoked = revoke_consent(conn, consent_id, reason=reason, by=actor)
        assert revoked.revocation_reason is not None  # revoke_consent always keeps one
        # Face and voice templates kept under this consent are biometric data it no
        # longer allows the studio to hold.
        forget_kept_under(conn, consent_id)
        entry = platform.ledger.append(
            conn,
            Event(
                type="consent.revoked",
                actor=actor,
                production=revoked.production_id,
                subjects={"consent": revoked.id, "talent": revoked.talent_id},
                payload={
                    "reason": revoked.revocation_reason,
                    "productions": list(revoked.covered_productions),
                },
                time=revoked.revoked_at or utcnow(),
            ),
        )
        impact = affected_by_revocation(conn, consent_id)
        now = utcnow()
        in_force: dict[str, bool] = {}
        done = tuple(
            _deal_with(conn, platform, revoked, affected, actor, now, in_force)
            for affected in (*impact.not_delivered, *impact.delivered)
        )
    return RevocationOutcome(
        consent=revoked, ledger_index=entry.index, impact=impact, requests=done
    )


def _require_rights(access: Access, consent: Consent) -> None:
    """Pass when the caller keeps rights on any production the consent covers."""
    on_any_covered_production(
        consent,
        lambda production_id: access.require_rights(production_id, code="consent.not_allowed"),
    )


def _deal_with(
    conn: Connection,
    platform: Platform,
    consent: Consent,
    affected: AffectedRequest,
    actor: str,
    now: datetime,
    in_force: dict[str, bool],
) -> RevokedRequest:
    """Move or flag one request, by the state it is in now (read under a row lock: it
    may have moved since the impact report was read)."""
    request_id = affected.request_id
    state = S(
        conn.execute(
            select(generation_requests.c.state)
            .where(generation_requests.c.id == request_id)
            .with_for_update()
        ).scalar_one()
    )
    covering = _still_covering(conn, consent, affected.other_consents, now, in_force)

    def kept(action: Action, index: int | None = None) -> RevokedRequest:
        return RevokedRequest(
            request_id=request_id,
            production_id=affected.production_id,
            before=state,
            after=state,
            action=action,
            ledger_index=index,
            still_covered_by=covering,
        )

    if covering:
        return kept(Action.STILL_COVERED)
    payload: dict[str, Any] = {
        "reason": consent.revocation_reason,
        "outputs": [o.sha256 for o in affected.outputs],
    }
    subjects = {"consent": consent.id}
    if state in _MOVED:
        job_id = conn.execute(select(jobs.c.id).where(jobs.c.request_id == request_id)).scalar()
        if state is S.QUEUED and job_id is not None:
            subjects["job"] = job_id
        moved = advance(
            conn,
            platform.ledger,
            request_id,
            Step.CONSENT_REVOKED,
            actor=actor,
            subjects=subjects,
            payload=payload,
        )
        if state is S.QUEUED and job_id is not None:
            set_job_state(conn, job_id, "cancelled")  # never to run
        return RevokedRequest(
            request_id=request_id,
            production_id=affected.production_id,
            before=state,
            after=moved.move.after,
            action=_MOVED[state],
            ledger_index=moved.entry.index,
        )
    if state in _FLAGS:
        action, event_type = _FLAGS[state]
        flagged = record_event(
            conn,
            platform.ledger,
            request_id,
            Event(
                type=event_type,
                actor=actor,
                production=affected.production_id,
                subjects={"request": request_id, **subjects},
                payload={"state": state.value, **payload},
            ),
        )
        return kept(action, flagged.index)
    return kept(Action.LEFT)


def _still_covering(
    conn: Connection,
    revoked: Consent,
    others: tuple[str, ...],
    now: datetime,
    in_force: dict[str, bool],
) -> tuple[str, ...]:
    """The other consents of the same performer, relied on by the request's decision,
    that are still in force (unrevoked, unexpired); ``in_force`` caches the answer."""
    covering = []
    for consent_id in others:
        if consent_id not in in_force:
            other = get_consent(conn, consent_id)
            in_force[consent_id] = (
                other.talent_id == revoked.talent_id
                and other.revoked_at is None
                and (other.expires_at is None or other.expires_at > now)
            )
        if in_force[consent_id]:
            covering.append(consent_id)
    return tuple(covering)
