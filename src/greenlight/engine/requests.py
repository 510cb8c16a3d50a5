"""A request's life, step by step: submit, approve, run, review, deliver.

Each function is one step of the flow in DESIGN.md and does all of its writes,
state move and ledger event in one transaction. Checks come first, so a
refused step writes nothing. The state machine itself is ``lifecycle.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, func, insert, or_, select, update

from greenlight.accounts import Access
from greenlight.backends.base import call_parameters, stored_parameters
from greenlight.core.clock import utcnow
from greenlight.core.enums import CREATIVE_LEADS, Intent, Outcome, RequestState, Role, Verdict
from greenlight.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from greenlight.core.ids import is_id, new_id
from greenlight.core.models import (
    Approval,
    Asset,
    Consent,
    Delivery,
    GenerationRequest,
    InputRef,
    Job,
    LedgerMark,
    PolicyDecision,
    RequestDetail,
    RequestDraft,
    Requirement,
    Review,
    Run,
    Talent,
    Tool,
)
from greenlight.engine import assets as asset_store
from greenlight.engine.commits import NewRows
from greenlight.engine.facts import load_consents, load_talent, policy_document
from greenlight.engine.lifecycle import Step, advance, move, record_event
from greenlight.engine.platform import Platform
from greenlight.ledger import Event
from greenlight.policy import PolicyDocument
from greenlight.productions import get_production, get_shot
from greenlight.provenance import prompt_digest
from greenlight.rights import disclosure_row, get_tool
from greenlight.store.registry import RegistryView
from greenlight.store.schema import (
    approvals,
    consents,
    deliveries,
    disclosures,
    generation_requests,
    jobs,
    policy_decisions,
    request_events,
    request_inputs,
    request_talent,
    reviews,
    runs,
    tools,
)

_POLICY_STEP = {
    Outcome.ALLOW: Step.POLICY_ALLOWED,
    Outcome.NEEDS_APPROVAL: Step.POLICY_NEEDS_APPROVAL,
    Outcome.DENY: Step.POLICY_DENIED,
}
_REVIEW_STEP = {
    Verdict.ACCEPT: Step.REVIEW_ACCEPTED,
    Verdict.REJECT: Step.REVIEW_REJECTED,
    Verdict.CHANGES_REQUESTED: Step.REVIEW_CHANGES_REQUESTED,
}
MAX_PAGE = 200


# --- 1. request + 2. policy ---------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """A judged request, ready to write: its rows and events, and the answer to give."""

    unit: NewRows
    detail: RequestDetail  # without ledger marks until written

    def written(self, marks: tuple[LedgerMark, ...]) -> RequestDetail:
        """The answer once ``unit`` is committed and its events have ledger marks."""
        return self.detail.model_copy(update={"events": marks})


def submit(platform: Platform, access: Access, draft: RequestDraft) -> RequestDetail:
    """Record a request and judge it: denied, waiting for approval, or queued.

    Everything the request names (production, shot, tool, inputs, talent, the
    iteration it follows, the backend's parameters) is checked and the policy
    consulted before anything is written, so a bad request leaves no trace but
    its error. The write itself is short: the request, its decision, its job
    and its two ledger events (``request.submitted`` and the policy's move)
    commit together, batched with whatever other submissions are writing.
    """
    submission = prepare(platform, access, draft)
    return submission.written(platform.commits.write(submission.unit))


def prepare(
    platform: Platform,
    access: Access,
    draft: RequestDraft,
    *,
    reading: tuple[Connection, RegistryView] | None = None,
) -> Submission:
    """Check and judge a draft (reads only); :func:`submit` is this plus the write.

    The reads happen in a read transaction of their own, or in ``reading``: a
    read transaction the caller already has open (the one that authenticated
    the caller, say) and its registry view.
    """
    access.require_submit(draft.production_id)
    request_id, decision_id = new_id("request"), new_id("decision")
    if reading is None:
        with platform.db.read() as conn:
            found = _gather(conn, platform.registry.at(conn), platform, access, draft, request_id)
    else:
        found = _gather(*reading, platform, access, draft, request_id)
    ruling = platform.policy.decide(found.document)
    chosen = move(RequestState.REQUESTED, _POLICY_STEP[ruling.outcome])
    now, tool, inputs = found.now, found.tool, found.inputs
    disclosure = draft.disclosure
    covered = sorted(
        c.id
        for c in found.consents
        if c.covers(
            draft.use_case,
            now,
            production_id=draft.production_id,
            medium=disclosure.medium,
            territory=disclosure.territory,
        )
    )
    submitted = Event(
        type="request.submitted",
        actor=access.person.id,
        production=draft.production_id,
        subjects={"request": request_id, "tool": tool.id},
        payload={
            "use_case": draft.use_case.value,
            "intent": draft.intent.value,
            "tool": {"name": tool.name, "version": tool.version},
            "prompt_sha256": prompt_digest(draft.prompt),
            "parameters": found.parameters,
            "inputs": [{"sha256": a.sha256, "part": part} for a, part in inputs],
            "talent": sorted(t.id for t in found.talent),
            "third_party_ip": list(draft.third_party_ip),
            "disclosure": disclosure.model_dump(mode="json", exclude_defaults=True),
            "previous_request": draft.previous_request_id,
            "iteration": found.iteration,
        },
        time=now,
    )
    judged = Event(
        type=chosen.event,
        actor="system:policy",
        production=draft.production_id,
        subjects={"request": request_id, "decision": decision_id},
        payload={
            "from": chosen.before.value,
            "to": chosen.after.value,
            "outcome": ruling.outcome.value,
            "policy_version": ruling.policy_version,
            "rules": list(ruling.rules),
            "reasons": list(ruling.reasons),
            "required": [r.model_dump(mode="json") for r in ruling.required],
            "consents": covered,
            "screening_hits": [h.term for h in found.document.request.screening_hits],
        },
        time=now,
    )
    request = GenerationRequest(
        id=request_id,
        production_id=draft.production_id,
        shot_id=draft.shot_id,
        use_case=draft.use_case,
        tool_id=tool.id,
        intent=draft.intent,
        prompt=draft.prompt,
        parameters=found.parameters,
        inputs=tuple(InputRef(asset_id=a.id, part=part) for a, part in inputs),
        talent_ids=tuple(sorted(t.id for t in found.talent)),
        third_party_ip=tuple(draft.third_party_ip),
        disclosure=disclosure,
        state=chosen.after,
        iteration=found.iteration,
        previous_request_id=draft.previous_request_id,
        requested_by=access.person.id,
        created_at=now,
        updated_at=now,
    )
    decision = PolicyDecision(
        id=decision_id,
        request_id=request_id,
        outcome=ruling.outcome,
        policy_version=ruling.policy_version,
        rules=ruling.rules,
        reasons=ruling.reasons,
        required=ruling.required,
        created_at=now,
        facts=found.document.model_dump(mode="json"),
    )
    job = None
    if ruling.outcome is Outcome.ALLOW:
        job = Job(id=new_id("job"), request_id=request_id, state="queued", attempts=0)
    rows: dict[Table, list[dict[str, Any]]] = {
        generation_requests: [_request_row(request)],
        request_talent: [{"request_id": request_id, "talent_id": t} for t in request.talent_ids],
        request_inputs: [
            {"request_id": request_id, "position": i, "asset_id": a.id, "part": part}
            for i, (a, part) in enumerate(inputs)
        ],
        policy_decisions: [
            {
                **decision.model_dump(mode="json", exclude={"created_at", "facts"}),
                "facts": decision.facts,  # already JSON: dumped once, above
                "created_at": now,
            }
        ],
        # Every request is disclosed to the studio, whatever the policy said.
        disclosures: [_disclosed(request, tool, found)],
    }
    if job is not None:
        rows[jobs] = [{**job.model_dump(exclude={"runs"}), "created_at": now, "updated_at": now}]
    guard = None
    if draft.previous_request_id is not None or covered:
        previous = draft.previous_request_id

        def guard(conn: Connection) -> None:
            # Checked under the write lock: two requests must not both follow one
            # iteration, and a consent revoked since the judging voids the judgement.
            _iteration(conn, draft.production_id, previous)
            _still_in_force(conn, covered)

    return Submission(
        unit=NewRows(rows=rows, request_id=request_id, events=(submitted, judged), guard=guard),
        detail=RequestDetail(
            request=request,
            decision=decision,
            approvals=(),
            job=job,
            outputs=(),
            reviews=(),
            delivery=None,
            events=(),
        ),
    )


@dataclass(frozen=True)
class _Gathered:
    """What a draft names, checked, and the document the policy judges it on."""

    document: PolicyDocument
    tool: Tool
    talent: list[Talent]
    consents: list[Consent]
    inputs: list[tuple[Asset, str]]
    parameters: dict[str, Any]
    iteration: int
    now: datetime
    voice_kind: str | None = None  # a speaking backend's voice: "generic" or "imitated"


def _gather(
    conn: Connection,
    registry: RegistryView,
    platform: Platform,
    access: Access,
    draft: RequestDraft,
    request_id: str,
) -> _Gathered:
    """Check what a draft names and collect the facts the policy judges it on."""
    production = registry.get(
        ("production", draft.production_id), lambda: get_production(conn, draft.production_id)
    )
    tool = registry.get(("tool", draft.tool_id), lambda: get_tool(conn, draft.tool_id))
    vendor = access.vendor_scope(production.id)
    if vendor is not None and tool.vendor_id != vendor:
        raise Forbidden(
            f"{tool.name} belongs to another vendor; a vendor requests work only with "
            "its own tools.",
            code="access.other_vendor_tool",
            reason="vendor_scope",
        )
    if draft.shot_id is not None and get_shot(conn, draft.shot_id).production_id != (production.id):
        raise InvalidInput(
            f"Shot {draft.shot_id} belongs to another production; pick one of "
            f"{production.title}'s shots.",
            code="request.shot_elsewhere",
        )
    inputs = _checked_inputs(conn, platform, access, production.id, draft.inputs)
    talent = load_talent(conn, registry, draft.talent_ids)
    missing = set(draft.talent_ids) - {t.id for t in talent}
    if missing:
        raise NotFound(
            f"No registered talent {', '.join(sorted(missing))}; register the performer "
            "before referencing them.",
            code="talent.not_found",
        )
    if draft.disclosure.replica_model_built_on is not None and not talent:
        raise InvalidInput(
            "The request says it uses a likeness or voice model; name the performer whose "
            "model it is in talent_ids.",
            code="request.replica_model_without_talent",
        )
    iteration = _iteration(conn, production.id, draft.previous_request_id)  # rechecked on write
    parameters = dict(draft.parameters)
    voice_kind = None
    if tool.backend is not None:
        backend = platform.backends(tool.backend)
        voice_kind = backend.capabilities.extra.get("voice_kind")
        given, seed = call_parameters(tool.backend, backend.capabilities, parameters, draft.prompt)
        checked = backend.check(
            [asset_store.backend_input(platform, a, part) for a, part in inputs], given
        )
        parameters = stored_parameters(checked, seed)
    now = utcnow()
    consents = load_consents(conn, registry, production.id, talent)
    document, _ = policy_document(
        conn,
        registry,
        draft,
        request_id=request_id,
        tool=tool,
        talent=talent,
        consents=consents,
        inputs=[a for a, _ in inputs],
        now=now,
    )
    return _Gathered(
        document, tool, talent, consents, inputs, parameters, iteration, now, voice_kind
    )


def _disclosed(request: GenerationRequest, tool: Tool, found: _Gathered) -> dict[str, Any]:
    """The request's disclosure row; a synthetic voice is named as such (generic or imitated)."""
    row = disclosure_row(request, tool, found.document.production.studio_contact)
    if found.voice_kind is not None:
        row["summary"]["synthetic_voice"] = found.voice_kind
    return row


def _still_in_force(conn: Connection, consent_ids: Sequence[str]) -> None:
    if not consent_ids:
        return
    revoked = conn.execute(
        select(consents.c.id).where(
            consents.c.id.in_(consent_ids), consents.c.revoked_at.is_not(None)
        )
    ).first()
    if revoked is not None:
        raise Conflict(
            f"Consent {revoked.id} was revoked while this request was being judged; "
            "submit it again to have it judged without that consent.",
            code="request.consent_revoked",
        )


def _request_row(request: GenerationRequest) -> dict[str, Any]:
    row = request.model_dump(exclude={"inputs", "talent_ids"})
    row["third_party_ip"] = list(request.third_party_ip)
    return row


def _checked_inputs(
    conn: Connection,
    platform: Platform,
    access: Access,
    production_id: str,
    refs: Sequence[InputRef],
) -> list[tuple[Asset, str]]:
    found = []
    for ref in refs:
        asset = asset_store.get_asset(conn, access, ref.asset_id, records=platform.records)
        if asset.production_id != production_id:
            raise InvalidInput(
                f"Input {ref.asset_id} belongs to another production; upload it to this "
                "production first.",
                code="request.input_elsewhere",
            )
        found.append((asset, ref.part))
    return found


def _iteration(conn: Connection, production_id: str, previous_id: str | None) -> int:
    if previous_id is None:
        return 1
    previous = load_request(conn, previous_id)
    if previous.production_id != production_id:
        raise InvalidInput(
            "The previous iteration belongs to another production.",
            code="request.previous_elsewhere",
        )
    if previous.state is not RequestState.CHANGES_REQUESTED:
        raise Conflict(
            f"Request {previous_id} is {previous.state.value}; only a request whose reviewer "
            "asked for changes can have a next iteration.",
            code="request.not_iterable",
        )
    taken = conn.execute(
        select(generation_requests.c.id).where(
            generation_requests.c.previous_request_id == previous_id
        )
    ).first()
    if taken is not None:
        raise Conflict(
            f"Request {previous_id} already has its next iteration, {taken.id}; iterate on "
            "that one instead.",
            code="request.already_iterated",
        )
    return previous.iteration + 1


def _queue(conn: Connection, request_id: str) -> None:
    now = utcnow()
    conn.execute(
        insert(jobs).values(
            id=new_id("job"),
            request_id=request_id,
            state="queued",
            attempts=0,
            created_at=now,
            updated_at=now,
        )
    )


# --- 3. approval ---------------------------------------------------------------


def approve(
    platform: Platform,
    access: Access,
    request_id: str,
    *,
    approved: bool,
    note: str = "",
    role: Role | None = None,
) -> RequestDetail:
    """Approve (or refuse) a request waiting for approval, in one of the caller's roles.

    The request moves on once every requirement of its decision has an approval
    from someone holding a named role; one refusal denies it. Nobody approves
    their own request.
    """
    note = note.strip()
    with platform.db.transaction() as conn:
        request = _request_at(
            conn, access, request_id, RequestState.AWAITING_APPROVAL, "approval.not_awaiting"
        )
        if request.requested_by == access.person.id:
            raise Forbidden(
                "You asked for this work, so someone else must approve it.",
                code="approval.own_request",
                reason="separation_of_duties",
            )
        decision = _decision(conn, request_id)
        given = _approvals(conn, request_id)
        waiting = outstanding(decision, given) if decision else []
        wanted = {r for req in waiting for r in req.roles}
        held = access.approval_roles(request.production_id, wanted)
        if role is not None and role not in held:
            held = frozenset()
        if not held:
            needed = "; ".join(f"{'/'.join(r.roles)}: {r.reason}" for r in waiting)
            raise Forbidden(
                f"This request waits for approval from {needed or 'nobody'} "
                f"and you hold {role.value if role else 'none of those roles'} here.",
                code="approval.wrong_role",
                reason="role",
                needed=sorted(wanted),
            )
        chosen = role or next(r for req in waiting for r in req.roles if r in held)
        if not approved and not note:
            raise InvalidInput(
                "Say why you refuse in the note; the requester and the record need a reason.",
                code="approval.note_required",
            )
        approval_id = new_id("approval")
        conn.execute(
            insert(approvals).values(
                id=approval_id,
                request_id=request_id,
                person_id=access.person.id,
                role=chosen.value,
                approved=approved,
                note=note,
                created_at=utcnow(),
            )
        )
        record_event(
            conn,
            platform.ledger,
            request_id,
            Event(
                type="approval.given" if approved else "approval.refused_by",
                actor=access.person.id,
                production=request.production_id,
                subjects={"request": request_id, "approval": approval_id},
                payload={"role": chosen.value, "approved": approved, "note": note},
            ),
        )
        given = _approvals(conn, request_id)
        if not approved:
            advance(
                conn,
                platform.ledger,
                request_id,
                Step.APPROVAL_REFUSED,
                actor=access.person.id,
                subjects={"approval": approval_id},
                payload={"role": chosen.value},
            )
        elif decision is not None and not outstanding(decision, given):
            advance(
                conn,
                platform.ledger,
                request_id,
                Step.APPROVALS_COMPLETE,
                actor=access.person.id,
                payload={"approvals": [a.id for a in given if a.approved]},
            )
            _queue(conn, request_id)
        return load_detail(conn, request_id)


def outstanding(decision: PolicyDecision, given: Sequence[Approval]) -> list[Requirement]:
    """The decision's requirements no approval in ``given`` satisfies yet."""
    return [
        req
        for req in decision.required
        if not any(a.approved and a.role in req.roles for a in given)
    ]


# --- 7. review + 8. delivery ---------------------------------------------------


def review(
    platform: Platform, access: Access, request_id: str, verdict: Verdict, note: str = ""
) -> RequestDetail:
    """Accept, reject or ask for changes on a request's outputs.

    Accepting a final deliverable takes the production's showrunner or director;
    anything else takes any reviewing role. Rejections and change requests say why.
    """
    note = note.strip()
    with platform.db.transaction() as conn:
        request = _request_at(
            conn, access, request_id, RequestState.IN_REVIEW, "review.not_in_review"
        )
        roles = access.review_roles(request.production_id)
        final = request.intent is Intent.FINAL_DELIVERABLE and verdict is Verdict.ACCEPT
        if final:
            roles = roles & CREATIVE_LEADS
        if not roles:
            raise Forbidden(
                "Accepting a final deliverable takes the production's showrunner or director."
                if final
                else "Reviewing takes a reviewing role on this production (showrunner, director, "
                "producer, VFX supervisor, localization manager or marketing lead).",
                code="review.needs_creative_lead" if final else "review.not_reviewer",
                reason="role",
            )
        if verdict is not Verdict.ACCEPT and not note:
            raise InvalidInput(
                "Say what is wrong or what to change in the note.", code="review.note_required"
            )
        role = sorted(roles)[0]
        review_id = new_id("review")
        conn.execute(
            insert(reviews).values(
                id=review_id,
                request_id=request_id,
                reviewer_id=access.person.id,
                role=role.value,
                verdict=verdict.value,
                note=note,
                created_at=utcnow(),
            )
        )
        if verdict is Verdict.ACCEPT:
            # Post-edited subtitle lines become approved translations in the same
            # transaction as the acceptance, whichever door it came through. Imported
            # here: localization builds on the engine, not the other way round.
            from greenlight.localization.post_edit import remember_accepted

            remember_accepted(conn, platform.blobs, request_id, by=access.person.id)
        return _step_on_outputs(
            conn,
            platform,
            access,
            request_id,
            _REVIEW_STEP[verdict],
            subjects={"review": review_id},
            payload={"role": role.value, "note": note},
        )


def clear(platform: Platform, access: Access, request_id: str, note: str) -> RequestDetail:
    """Legal releases a quarantined request's outputs to review, saying why in writing.

    Quarantine holds outputs that show a performer without covering consent, or
    whose consent was revoked; only the production's legal team lets them go on
    (after a new consent is recorded, say), and the note is on the record.
    """
    note = note.strip()
    with platform.db.transaction() as conn:
        request = _request_at(
            conn, access, request_id, RequestState.QUARANTINED, "clearance.not_quarantined"
        )
        if Role.LEGAL not in access.roles_in(request.production_id):
            raise Forbidden(
                "Only the production's legal team releases quarantined outputs.",
                code="clearance.not_legal",
                reason="role",
            )
        if not note:
            raise InvalidInput(
                "Say in the note why the outputs may go on (a new consent, a false match...).",
                code="clearance.note_required",
            )
        return _step_on_outputs(
            conn,
            platform,
            access,
            request_id,
            Step.LEGAL_CLEARED,
            subjects={},
            payload={"note": note},
        )


def deliver(
    platform: Platform, access: Access, request_id: str, destination: str, note: str = ""
) -> RequestDetail:
    """Send an accepted request's outputs on, with their credentials and proofs."""
    destination = destination.strip()
    if not destination or len(destination) > 200:
        raise InvalidInput(
            "Name where the outputs go (1 to 200 characters), e.g. 'editorial' or 'vendor:lumen'.",
            code="delivery.bad_destination",
        )
    with platform.db.transaction() as conn:
        request = _request_at(
            conn, access, request_id, RequestState.ACCEPTED, "delivery.not_accepted"
        )
        if not access.review_roles(request.production_id) and Role.ADMIN not in access.roles_in(
            request.production_id
        ):
            raise Forbidden(
                "Delivering takes a reviewing role on this production.",
                code="delivery.not_allowed",
                reason="role",
            )
        delivery_id = new_id("delivery")
        conn.execute(
            insert(deliveries).values(
                id=delivery_id,
                request_id=request_id,
                delivered_by=access.person.id,
                destination=destination,
                note=note.strip(),
                created_at=utcnow(),
            )
        )
        return _step_on_outputs(
            conn,
            platform,
            access,
            request_id,
            Step.DELIVERED,
            subjects={"delivery": delivery_id},
            payload={"destination": destination},
        )


# What the review and delivery steps have in common.

_STATE_WANTED = {
    RequestState.AWAITING_APPROVAL: "awaiting approval",
    RequestState.IN_REVIEW: "in review (only outputs in review can be reviewed)",
    RequestState.ACCEPTED: "accepted (only accepted outputs are delivered)",
    RequestState.QUARANTINED: "quarantined (only held outputs are cleared)",
}


def _request_at(
    conn: Connection, access: Access, request_id: str, state: RequestState, code: str
) -> GenerationRequest:
    """The request, if the caller may see it and it is in ``state``; else 404/403/409."""
    request = load_request(conn, request_id)
    access.require_read(request.production_id)
    if request.state is not state:
        raise Conflict(
            f"Request {request_id} is {request.state.value}, not {_STATE_WANTED[state]}.",
            code=code,
            state=request.state.value,
        )
    return request


def _step_on_outputs(
    conn: Connection,
    platform: Platform,
    access: Access,
    request_id: str,
    step: Step,
    *,
    subjects: dict[str, str],
    payload: dict[str, Any],
) -> RequestDetail:
    """Take a step that concerns the request's outputs, naming their hashes in the ledger."""
    outputs = asset_store.request_outputs(conn, request_id)
    advance(
        conn,
        platform.ledger,
        request_id,
        step,
        actor=access.person.id,
        subjects=subjects,
        payload={**payload, "outputs": [o.sha256 for o in outputs]},
    )
    return load_detail(conn, request_id)


# --- reading -------------------------------------------------------------------


def get_request(conn: Connection, access: Access, request_id: str) -> RequestDetail:
    """A request the caller may see, with everything that happened to it."""
    request = load_request(conn, request_id)
    access.require_read(request.production_id)
    vendor = access.vendor_scope(request.production_id)
    if vendor is not None and _tool_vendor(conn, request.tool_id) != vendor:
        asset_store.raise_vendor_forbidden("request", request_id)
    return load_detail(conn, request_id)


def count_requests(conn: Connection) -> dict[str, dict[str, int]]:
    """How many requests each production has in each state (for operators' summaries)."""
    r = generation_requests.c
    rows = conn.execute(
        select(r.production_id, r.state, func.count()).group_by(r.production_id, r.state)
    )
    counts: dict[str, dict[str, int]] = {}
    for production_id, state, n in rows:
        counts.setdefault(production_id, {})[state] = int(n)
    return counts


def list_requests(
    conn: Connection,
    access: Access,
    *,
    production_id: str | None = None,
    state: RequestState | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[GenerationRequest], str | None]:
    """Requests the caller may see, newest first, a page at a time.

    Returns the page and the cursor for the next one (``None`` at the end).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1 to {MAX_PAGE}.", code="page.bad_limit")
    if cursor is not None and not is_id(cursor, "request"):
        raise InvalidInput(
            "The cursor is not one this API handed out; start again without it.",
            code="page.bad_cursor",
        )
    r = generation_requests.c
    query = select(generation_requests).join(tools, tools.c.id == r.tool_id)
    if production_id is not None:
        access.require_read(production_id)
        query = query.where(r.production_id == production_id)
    if not access.person.is_admin:
        visible = []
        for prod in access.roles:
            vendor = access.vendor_scope(prod)
            if vendor is None:
                visible.append(r.production_id == prod)
            else:
                visible.append(and_(r.production_id == prod, tools.c.vendor_id == vendor))
        if not visible:
            return [], None
        query = query.where(or_(*visible))
    if state is not None:
        query = query.where(r.state == state.value)
    if cursor is not None:
        query = query.where(r.id < cursor)
    rows = conn.execute(query.order_by(r.id.desc()).limit(limit + 1)).mappings().all()
    page = [_request(conn, row) for row in rows[:limit]]
    return page, (page[-1].id if len(rows) > limit else None)


def review_queue(conn: Connection, access: Access, limit: int = 500) -> list[GenerationRequest]:
    """Requests in review, oldest first, on every production where the caller reviews."""
    productions = [p for p in access.roles if access.review_roles(p)]
    if not productions:
        return []
    r = generation_requests.c
    rows = conn.execute(
        select(generation_requests)
        .where(r.production_id.in_(productions), r.state == RequestState.IN_REVIEW.value)
        .order_by(r.id)
        .limit(limit)
    ).mappings()
    return [_request(conn, row) for row in rows]


def load_request(conn: Connection, request_id: str) -> GenerationRequest:
    """The request with this id (no access check), or NotFound."""
    row = conn.execute(_REQUEST, {"request": request_id}).mappings().first()
    if row is None:
        raise NotFound(
            f"There is no request {request_id!r}; list requests to find its id.",
            code="request.not_found",
        )
    return _request(conn, row)


def load_detail(conn: Connection, request_id: str) -> RequestDetail:
    """A request with its decision, approvals, job and runs, outputs, reviews and events."""
    request = load_request(conn, request_id)
    job_row = conn.execute(_JOB, {"request": request_id}).mappings().first()
    job = None
    if job_row is not None:
        run_rows = conn.execute(_RUNS, {"job": job_row["id"]}).mappings()
        job = Job(
            id=job_row["id"],
            request_id=request_id,
            state=job_row["state"],
            attempts=job_row["attempts"],
            runs=tuple(Run.model_validate(dict(r)) for r in run_rows),
        )
    review_rows = conn.execute(_REVIEWS, {"request": request_id}).mappings()
    delivery_row = conn.execute(_DELIVERY, {"request": request_id}).mappings().first()
    event_rows = conn.execute(_EVENTS, {"request": request_id}).mappings()
    return RequestDetail(
        request=request,
        decision=_decision(conn, request_id),
        approvals=tuple(_approvals(conn, request_id)),
        job=job,
        outputs=tuple(asset_store.request_outputs(conn, request_id)),
        reviews=tuple(Review.model_validate(dict(r)) for r in review_rows),
        delivery=Delivery.model_validate(dict(delivery_row)) if delivery_row else None,
        events=tuple(
            LedgerMark(
                index=e["ledger_index"],
                event_type=e["event_type"],
                actor=e["actor"],
                leaf_hash=e["leaf_hash"].hex(),
                created_at=e["created_at"],
            )
            for e in event_rows
        ),
    )


def _request(conn: Connection, row: Any) -> GenerationRequest:
    talent_ids = conn.execute(_TALENT, {"request": row["id"]}).scalars()
    inputs = conn.execute(_INPUTS, {"request": row["id"]})
    return GenerationRequest(
        inputs=tuple(InputRef(asset_id=i.asset_id, part=i.part) for i in inputs),
        talent_ids=tuple(talent_ids),
        **{k: v for k, v in dict(row).items() if k != "third_party_ip"},
        third_party_ip=tuple(row["third_party_ip"]),
    )


def _decision(conn: Connection, request_id: str) -> PolicyDecision | None:
    row = conn.execute(_DECISION, {"request": request_id}).mappings().first()
    return PolicyDecision.model_validate(dict(row)) if row else None


def _approvals(conn: Connection, request_id: str) -> list[Approval]:
    rows = conn.execute(_APPROVALS, {"request": request_id}).mappings()
    return [Approval.model_validate(dict(r)) for r in rows]


def _tool_vendor(conn: Connection, tool_id: str) -> str | None:
    return conn.execute(select(tools.c.vendor_id).where(tools.c.id == tool_id)).scalar()


def set_job_state(conn: Connection, job_id: str, state: str, *, attempt: bool = False) -> None:
    """Move a job's own state (queued, running, done, failed)."""
    values: dict[str, Any] = {"state": state, "updated_at": utcnow()}
    if attempt:
        values["attempts"] = jobs.c.attempts + 1
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


# Built once: a request's detail is read on every step of its life, and building
# these per call cost more than running them.
_REQUEST = select(generation_requests).where(generation_requests.c.id == bindparam("request"))
_TALENT = (
    select(request_talent.c.talent_id)
    .where(request_talent.c.request_id == bindparam("request"))
    .order_by(request_talent.c.talent_id)
)
_INPUTS = (
    select(request_inputs.c.asset_id, request_inputs.c.part)
    .where(request_inputs.c.request_id == bindparam("request"))
    .order_by(request_inputs.c.position)
)
_JOB = select(jobs).where(jobs.c.request_id == bindparam("request"))
_RUNS = select(runs).where(runs.c.job_id == bindparam("job")).order_by(runs.c.id)
_REVIEWS = (
    select(reviews).where(reviews.c.request_id == bindparam("request")).order_by(reviews.c.id)
)
_DELIVERY = select(deliveries).where(deliveries.c.request_id == bindparam("request"))
_EVENTS = (
    select(request_events)
    .where(request_events.c.request_id == bindparam("request"))
    .order_by(request_events.c.ledger_index)
)
_DECISION = (
    select(policy_decisions)
    .where(policy_decisions.c.request_id == bindparam("request"))
    .order_by(policy_decisions.c.id.desc())
)
_APPROVALS = (
    select(approvals).where(approvals.c.request_id == bindparam("request")).order_by(approvals.c.id)
)
