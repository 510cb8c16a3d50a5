"""The life of a generation request, in one table.

Every allowed move is a row: (state before, step) -> (state after, the ledger
event type it writes). Anything not in the table is refused. The flow reads
top to bottom here:

    requested --policy--> denied | awaiting_approval | queued
    awaiting_approval --approvals--> queued | denied
    queued --> running --> failed | generated
    running --run retried--> queued        (a failure worth retrying, a worker lost)
    queued | running --cancelled--> cancelled
    generated --likeness scan--> quarantined | in_review
    quarantined --legal clears--> in_review
    in_review --review--> changes_requested | rejected | accepted
    accepted --> delivered

A consent revoked (``engine/revocation.py``) moves the work that relied on it:

    awaiting_approval | queued --consent revoked--> denied
    generated | in_review | accepted --consent revoked--> quarantined

``changes_requested`` is final for that iteration: the next iteration is a new
request linked to it (``previous_request_id``), so each iteration keeps its own
decision, approvals, run and review on the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from greenlight.core.clock import utcnow
from greenlight.core.enums import RequestState as S
from greenlight.core.errors import Conflict, NotFound
from greenlight.core.models import LedgerMark
from greenlight.ledger import Appended, Event, Ledger
from greenlight.store.inserts import insert_rows
from greenlight.store.schema import generation_requests, request_events


class Step(StrEnum):
    """Something that happens to a request."""

    POLICY_ALLOWED = "policy_allowed"
    POLICY_NEEDS_APPROVAL = "policy_needs_approval"
    POLICY_DENIED = "policy_denied"
    APPROVALS_COMPLETE = "approvals_complete"
    APPROVAL_REFUSED = "approval_refused"
    RUN_STARTED = "run_started"
    RUN_FAILED = "run_failed"
    RUN_SUCCEEDED = "run_succeeded"
    RUN_RETRIED = "run_retried"
    CANCELLED = "cancelled"
    SCAN_CLEAR = "scan_clear"
    SCAN_MATCHED_WITHOUT_CONSENT = "scan_matched_without_consent"
    LEGAL_CLEARED = "legal_cleared"
    REVIEW_ACCEPTED = "review_accepted"
    REVIEW_REJECTED = "review_rejected"
    REVIEW_CHANGES_REQUESTED = "review_changes_requested"
    DELIVERED = "delivered"
    CONSENT_REVOKED = "consent_revoked"


@dataclass(frozen=True)
class Move:
    """One allowed transition and the ledger event that records it."""

    before: S
    step: Step
    after: S
    event: str


TRANSITIONS: tuple[Move, ...] = (
    Move(S.REQUESTED, Step.POLICY_ALLOWED, S.QUEUED, "policy.allowed"),
    Move(S.REQUESTED, Step.POLICY_NEEDS_APPROVAL, S.AWAITING_APPROVAL, "policy.needs_approval"),
    Move(S.REQUESTED, Step.POLICY_DENIED, S.DENIED, "policy.denied"),
    Move(S.AWAITING_APPROVAL, Step.APPROVALS_COMPLETE, S.QUEUED, "approval.complete"),
    Move(S.AWAITING_APPROVAL, Step.APPROVAL_REFUSED, S.DENIED, "approval.refused"),
    Move(S.QUEUED, Step.RUN_STARTED, S.RUNNING, "run.started"),
    Move(S.RUNNING, Step.RUN_FAILED, S.FAILED, "run.failed"),
    Move(S.RUNNING, Step.RUN_SUCCEEDED, S.GENERATED, "run.succeeded"),
    # The queue: a failed attempt worth retrying (or a lost worker's) goes back in
    # line; work asked to stop is cancelled before or while it runs.
    Move(S.RUNNING, Step.RUN_RETRIED, S.QUEUED, "run.retried"),
    Move(S.QUEUED, Step.CANCELLED, S.CANCELLED, "run.cancelled"),
    Move(S.RUNNING, Step.CANCELLED, S.CANCELLED, "run.cancelled"),
    Move(S.GENERATED, Step.SCAN_CLEAR, S.IN_REVIEW, "likeness.clear"),
    Move(S.GENERATED, Step.SCAN_MATCHED_WITHOUT_CONSENT, S.QUARANTINED, "likeness.quarantined"),
    Move(S.QUARANTINED, Step.LEGAL_CLEARED, S.IN_REVIEW, "likeness.cleared_by_legal"),
    Move(S.IN_REVIEW, Step.REVIEW_ACCEPTED, S.ACCEPTED, "review.accepted"),
    Move(S.IN_REVIEW, Step.REVIEW_REJECTED, S.REJECTED, "review.rejected"),
    Move(
        S.IN_REVIEW, Step.REVIEW_CHANGES_REQUESTED, S.CHANGES_REQUESTED, "review.changes_requested"
    ),
    Move(S.ACCEPTED, Step.DELIVERED, S.DELIVERED, "delivery.made"),
    # A revoked consent blocks what has not run and holds for legal what has.
    Move(S.AWAITING_APPROVAL, Step.CONSENT_REVOKED, S.DENIED, "revocation.denied"),
    Move(S.QUEUED, Step.CONSENT_REVOKED, S.DENIED, "revocation.denied"),
    Move(S.GENERATED, Step.CONSENT_REVOKED, S.QUARANTINED, "revocation.quarantined"),
    Move(S.IN_REVIEW, Step.CONSENT_REVOKED, S.QUARANTINED, "revocation.quarantined"),
    Move(S.ACCEPTED, Step.CONSENT_REVOKED, S.QUARANTINED, "revocation.quarantined"),
)

_BY_KEY = {(m.before, m.step): m for m in TRANSITIONS}
FINAL_STATES = frozenset(
    {S.DENIED, S.FAILED, S.CANCELLED, S.REJECTED, S.CHANGES_REQUESTED, S.DELIVERED}
)


def allowed_steps(state: S) -> list[Step]:
    """The steps a request in ``state`` can take."""
    return [m.step for m in TRANSITIONS if m.before == state]


def move(state: S, step: Step) -> Move:
    """The transition for ``step`` from ``state``; refuses anything not in the table."""
    found = _BY_KEY.get((state, step))
    if found is None:
        allowed = ", ".join(allowed_steps(state)) or "nothing: it is final"
        raise Conflict(
            f"A request that is {state.value} cannot take the step {step.value!r}; "
            f"from {state.value} it can take: {allowed}.",
            code="lifecycle.invalid_transition",
            state=state.value,
            step=step.value,
        )
    return found


@dataclass(frozen=True)
class Advanced:
    """A move made and where its ledger event landed."""

    move: Move
    entry: Appended


def record_event(conn: Connection, ledger: Ledger, request_id: str, event: Event) -> Appended:
    """Append ``event`` about a request to the ledger and to the request's timeline."""
    mark = record_events(conn, ledger, request_id, [event])[0]
    return Appended(mark.index, bytes.fromhex(mark.leaf_hash))


def record_events(
    conn: Connection, ledger: Ledger, request_id: str, events: Sequence[Event]
) -> tuple[LedgerMark, ...]:
    """Append several events about one request, in order, with its timeline rows."""
    return record_event_groups(conn, ledger, [(request_id, events)])[0]


def record_event_groups(
    conn: Connection, ledger: Ledger, groups: Sequence[tuple[str, Sequence[Event]]]
) -> list[tuple[LedgerMark, ...]]:
    """Append each request's events, in order, with one ledger append and one insert."""
    appended = ledger.append_many(conn, [event for _, events in groups for event in events])
    marks: list[tuple[LedgerMark, ...]] = []
    for _, events in groups:
        mine, appended = appended[: len(events)], appended[len(events) :]
        marks.append(
            tuple(
                LedgerMark(
                    index=a.index,
                    event_type=e.type,
                    actor=e.actor,
                    leaf_hash=a.leaf_hash.hex(),
                    created_at=e.time,
                )
                for e, a in zip(events, mine, strict=True)
            )
        )
    rows = [
        {
            "request_id": request_id,
            "ledger_index": m.index,
            "event_type": m.event_type,
            "actor": m.actor,
            "leaf_hash": bytes.fromhex(m.leaf_hash),
            "created_at": m.created_at,
        }
        for (request_id, _), group in zip(groups, marks, strict=True)
        for m in group
    ]
    if rows:
        insert_rows(conn, request_events, rows)  # one multi-row INSERT on SQLite
    return marks


def advance(
    conn: Connection,
    ledger: Ledger,
    request_id: str,
    step: Step,
    *,
    actor: str,
    payload: dict[str, Any] | None = None,
    subjects: dict[str, str] | None = None,
) -> Advanced:
    """Take ``step`` on a request inside the caller's transaction ``conn``.

    Reads the state under a row lock, refuses a move the table does not allow,
    writes the new state and appends the move's ledger event: all of it commits
    or none of it does.
    """
    taken = Taken(step, actor=actor, payload=payload, subjects=subjects)
    return advance_through(conn, ledger, request_id, [taken])[0]


@dataclass(frozen=True)
class Taken:
    """A step to take with :func:`advance_through`: who takes it and what its event says."""

    step: Step
    actor: str
    payload: dict[str, Any] | None = None
    subjects: dict[str, str] | None = None


def advance_through(
    conn: Connection,
    ledger: Ledger,
    request_id: str,
    steps: Sequence[Taken],
    *,
    expected: S | None = None,
    production_id: str | None = None,
) -> list[Advanced]:
    """Take ``steps`` on a request one after the other, inside the caller's transaction.

    Each move is checked against the table from the state the one before left;
    the request's state is written once, and every move's ledger event is
    appended, in order, with one ledger append: all of it commits or none of it
    does, exactly as the same steps taken one by one with :func:`advance`.

    A caller that knows the request's state and production (a worker holding
    the job's lease: nobody else moves a running request) passes them as
    ``expected`` and ``production_id``; the move is then one update that only
    applies while the request is still ``expected``. Otherwise, or when it no
    longer is, the state is read under a row lock as :func:`advance` does.
    """
    moved = move_through(conn, request_id, steps, expected=expected, production_id=production_id)
    marks = record_events(conn, ledger, request_id, [event for _, event in moved])
    return [
        Advanced(chosen, Appended(mark.index, bytes.fromhex(mark.leaf_hash)))
        for (chosen, _), mark in zip(moved, marks, strict=True)
    ]


def move_through(
    conn: Connection,
    request_id: str,
    steps: Sequence[Taken],
    *,
    expected: S | None = None,
    production_id: str | None = None,
) -> list[tuple[Move, Event]]:
    """:func:`advance_through` up to the ledger: the request's state is written and each
    move's event returned, for the caller to append in this same transaction with
    :func:`record_event_groups` (with other requests' events, in one append).

    For a transaction that moves several requests; anywhere else use
    :func:`advance_through`. Events not recorded before the commit break the rule
    that every transition is on the ledger.
    """
    moves: list[Move] | None = None
    now = utcnow()
    if expected is not None and production_id is not None:
        try:
            moves = _chain(expected, steps)
        except Conflict:
            moves = None  # judged below from the state on record
        else:
            changed = conn.execute(
                _MOVE_FROM,
                {
                    "request": request_id,
                    "before": expected.value,
                    "after": moves[-1].after.value,
                    "at": now,
                },
            ).rowcount
            if changed != 1:
                moves = None
    if moves is None:
        found = conn.execute(_STATE, {"request": request_id}).first()
        if found is None:
            raise NotFound(f"There is no request {request_id!r}.", code="request.not_found")
        moves = _chain(S(found.state), steps)
        production_id = found.production_id
        conn.execute(_MOVE, {"request": request_id, "after": moves[-1].after.value, "at": now})
    assert production_id is not None
    return [
        (
            chosen,
            Event(
                type=chosen.event,
                actor=taken.actor,
                production=production_id,
                subjects={"request": request_id, **(taken.subjects or {})},
                payload={
                    "from": chosen.before.value,
                    "to": chosen.after.value,
                    **(taken.payload or {}),
                },
                time=now,
            ),
        )
        for chosen, taken in zip(moves, steps, strict=True)
    ]


def _chain(state: S, steps: Sequence[Taken]) -> list[Move]:
    """The moves ``steps`` make from ``state``, each checked against the table."""
    moves = []
    for taken in steps:
        chosen = move(state, taken.step)
        moves.append(chosen)
        state = chosen.after
    return moves


# Built once: taking a step is on every request's path, and building these per
# call cost more than running them.
_r = generation_requests.c
_STATE = select(_r.state, _r.production_id).where(_r.id == bindparam("request")).with_for_update()
_MOVE = (
    update(generation_requests)
    .where(_r.id == bindparam("request"))
    .values(state=bindparam("after"), updated_at=bindparam("at"))
)
_MOVE_FROM = _MOVE.where(_r.state == bindparam("before"))
