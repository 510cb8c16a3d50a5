"""Steps 4 to 6 of a request's life: claim its job, run the backend, sign and store, scan.

A run is three pieces, read top to bottom here:

1. **start** (:func:`start_next`, :func:`start_request`): one transaction claims
   the job (``engine/queue.py``: a lease), takes the ``run_started`` step and
   inserts the run row; a worker that goes on working does this for its next job
   inside the transaction that records the last one's success (:class:`Successor`);
2. **execute** (:func:`execute`): the backend runs outside any transaction, in
   the worker or on Ray (``engine/executors.py``), while a heartbeat renews the
   lease and watches for a cancel request or the time limit;
3. **finish** (:func:`finish_run`, :func:`fail_run`, :func:`stop_run`): the
   outcome is written only while the lease still holds, so a worker that lost
   its job (to the reaper, :func:`reap_lost`) can never record a result.

Outputs are signed with C2PA and stored by SHA-256 before the transaction
that makes them visible, so nobody can ever see an unsigned output; a run
that ends any other way leaves nothing visible behind (its work directory is
removed, its blobs deleted).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, update

from greenlight.accounts import Access
from greenlight.backends import Backend, BackendInput, BackendResult
from greenlight.backends.base import call_parameters
from greenlight.core.clock import utcnow
from greenlight.core.enums import RequestState, Role
from greenlight.core.errors import Conflict, Forbidden, GreenlightError, InvalidInput
from greenlight.core.ids import new_id
from greenlight.core.models import Asset, RequestDetail
from greenlight.engine import assets as asset_store
from greenlight.engine import prompt_log, queue
from greenlight.engine.executors import Executor, LocalExecutor
from greenlight.engine.lifecycle import (
    Step,
    Taken,
    advance,
    advance_through,
    move_through,
    record_event_groups,
)
from greenlight.engine.platform import Platform
from greenlight.engine.queue import (
    Heartbeat,
    Heartbeats,
    Lease,
    LeaseLost,
    QueueSettings,
    Stopped,
    Watch,
)
from greenlight.engine.requests import load_detail, load_request
from greenlight.ledger import Event
from greenlight.likeness import ScanContext, ScanResult, record_findings
from greenlight.localization import glossary, memory
from greenlight.localization.glossary import language_tag
from greenlight.provenance import (
    CredentialFacts,
    Governance,
    LedgerReference,
    Tool,
    prompt_digest,
    sign_asset,
)
from greenlight.rights import consents_for, get_tool
from greenlight.store.schema import (
    approvals,
    consents,
    jobs,
    policy_decisions,
    request_events,
    runs,
)
from greenlight.timedtext.io import read_track

log = logging.getLogger("greenlight.runs")

WORKER = "system:worker"
# The ledger events that let work start: the grant a credential points back to.
_GRANTS = ("policy.allowed", "approval.complete")
# The translation parameters the engine fills from the production when a request has none.
_GLOSSARY, _MEMORY = "glossary", "memory"


@dataclass(frozen=True)
class Started:
    """A claimed job whose run has started: what the backend call and the finishing
    steps need, and the lease that lets this worker record the outcome."""

    lease: Lease
    run_id: str
    backend: str
    tool: Tool
    parameters: dict[str, Any]
    inputs: list[tuple[Asset, str]]
    governance: Governance
    covered_talent: tuple[str, ...]
    actor: str
    prompt: str = ""  # the request's; handed to backends that declare a prompt parameter
    declared_talent: tuple[str, ...] = ()  # every performer the request named
    medium: str | None = None  # the request's declared medium
    requested_by: str = ""  # who asked: the outputs are theirs
    opened: prompt_log.RunOpened | None = None  # the run row as started (not read back)

    @property
    def job_id(self) -> str:
        """The job being run."""
        return self.lease.job_id

    @property
    def request_id(self) -> str:
        """The request the job is for."""
        return self.lease.request_id


def _always() -> bool:
    return True


@dataclass(frozen=True)
class Successor:
    """Who takes the next job in line in the transaction that records a run's success.

    A worker that will go on working claims its next job (lease, ``run_started``
    step and run row, exactly as :func:`start_next` would) as it records the job in
    hand: one commit per job instead of two. ``wanted`` is asked inside that
    transaction; a worker that is stopping says no and claims nothing.
    """

    owner: str
    settings: QueueSettings
    actor: str = WORKER
    wanted: Callable[[], bool] = _always


@dataclass(frozen=True)
class Ran:
    """How a run ended, as far as the worker that ran it needs to know."""

    # The request as the failure or stop left it (read in that transaction); ``None``
    # after a success or a lost lease, where nobody read it back.
    detail: RequestDetail | None
    # The next job, claimed for the :class:`Successor` as this one's success was recorded.
    claimed: Started | None = None


def run_request(
    platform: Platform,
    request_id: str,
    *,
    actor: str = WORKER,
    executor: Executor | None = None,
    settings: QueueSettings | None = None,
) -> RequestDetail:
    """Claim a queued request's job and run it here and now: to ``in_review``,
    ``quarantined``, ``failed`` (or ``queued`` again, for a retry). Returns the
    request as it then stands. The CLI, the demo and inline API runs use this;
    workers take the next job in line with :func:`run_next`."""
    settings = settings or QueueSettings()
    started = start_request(platform, request_id, settings, actor=actor)
    return execute(platform, started, executor or LocalExecutor(platform.backends), settings)


def run_next(
    platform: Platform,
    owner: str,
    executor: Executor,
    settings: QueueSettings,
    *,
    actor: str = WORKER,
    beats: Heartbeats | None = None,
) -> RequestDetail | None:
    """Claim the next job in line for ``owner`` and run it; ``None`` if nothing waits.

    ``beats`` is the worker's heartbeat, which renews the lease while the job runs.
    """
    started = start_next(platform, owner, settings, actor=actor)
    if started is None:
        return None
    return execute(platform, started, executor, settings, beats=beats)


def work_next(
    platform: Platform,
    owner: str,
    executor: Executor,
    settings: QueueSettings,
    *,
    actor: str = WORKER,
    beats: Heartbeats | None = None,
) -> bool:
    """Claim the next job in line for ``owner`` and run it, as :func:`run_next` does,
    without reading the request back afterwards (a worker's loop has no use for it);
    whether there was a job."""
    started = start_next(platform, owner, settings, actor=actor)
    if started is None:
        return False
    _execute(platform, started, executor, settings, beats=beats)
    return True


# --- 1. start ---------------------------------------------------------------------


def start_next(
    platform: Platform, owner: str, settings: QueueSettings, *, actor: str = WORKER
) -> Started | None:
    """Claim the next job for ``owner`` and start its run, in one transaction."""
    with platform.db.transaction() as conn:
        lease = queue.claim_next(conn, owner, settings, run_id=new_id("run"))
        return None if lease is None else _start(conn, platform, lease, actor)


def start_request(
    platform: Platform,
    request_id: str,
    settings: QueueSettings,
    *,
    actor: str = WORKER,
    owner: str | None = None,
) -> Started:
    """Claim one queued request's job and start its run (running it by hand)."""
    with platform.db.transaction() as conn:
        request = load_request(conn, request_id)
        if request.state is not RequestState.QUEUED:
            raise Conflict(
                f"Request {request_id} is {request.state.value}; only queued work runs.",
                code="run.not_queued",
                state=request.state.value,
            )
        tool = get_tool(conn, request.tool_id)
        if tool.backend is None:
            raise Conflict(
                f"{tool.name} has no backend on this installation: its vendor delivers the "
                "work. Upload the vendor's output instead of running it here.",
                code="run.no_backend",
            )
        lease = queue.claim_request(
            conn, request_id, owner or queue.worker_name("inline"), settings, run_id=new_id("run")
        )
        return _start(conn, platform, lease, actor)


def _start(
    conn: Connection,
    platform: Platform,
    lease: Lease,
    actor: str,
    *,
    backend: str | None = None,
    unrecorded: list[tuple[str, list[Event]]] | None = None,
) -> Started:
    """Take the ``run_started`` step on a just-claimed job and insert its run row.

    ``backend`` names what makes the outputs when the tool has no backend here
    (``vendor-delivery``: the vendor uploads them, ``engine/vendor_delivery.py``).
    With ``unrecorded`` the step's event is added there for the caller to append
    to the ledger before this transaction commits (with the others it has).
    """
    request_id = lease.request_id
    request = load_request(conn, request_id)
    # Tools and consents are registry rows: kept in memory while the registry is unchanged.
    registry = platform.registry.at(conn)
    tool = registry.get(("tool", request.tool_id), lambda: get_tool(conn, request.tool_id))
    backend = backend or tool.backend
    assert backend is not None  # the queue hands out only jobs with a backend
    grant = conn.execute(_LAST_GRANT, {"request": request_id}).one()
    decision = conn.execute(_DECISION, {"request": request_id}).one()  # a queued request was judged
    approval_ids = tuple(conn.execute(_APPROVED, {"request": request_id}).scalars())
    run_id = lease.run_id or new_id("run")
    started_step = Taken(
        Step.RUN_STARTED,
        actor=actor,
        subjects={"job": lease.job_id, "run": run_id},
        payload={"backend": backend, "attempt": lease.attempt, "worker": lease.owner},
    )
    if unrecorded is None:
        advance_through(
            conn,
            platform.ledger,
            request_id,
            [started_step],
            expected=request.state,
            production_id=request.production_id,
        )
    else:
        moved = move_through(
            conn,
            request_id,
            [started_step],
            expected=request.state,
            production_id=request.production_id,
        )
        unrecorded.append((request_id, [event for _, event in moved]))
    if lease.run_id is None:
        queue.attach_run(conn, lease, run_id)
    started_at = utcnow()
    conn.execute(
        _INSERT_RUN,
        {
            "id": run_id,
            "job_id": lease.job_id,
            "backend": backend,
            "model": tool.name,
            "model_version": tool.version,
            "parameters": request.parameters,
            "seed": None,
            "started_at": started_at,
            "usage": {},
        },
    )
    inputs = [(_input_asset(conn, platform, i.asset_id), i.part) for i in request.inputs]
    prompt_log.record_start(
        conn,
        platform,
        run_id=run_id,
        request=request,
        tool=tool,
        job_id=lease.job_id,
        inputs=inputs,
        # A first attempt was queued when its job was made; a retry, when the last run ended.
        queued_at=lease.queued_at if lease.attempt == 1 else None,
    )
    talent = frozenset(request.talent_ids)
    on_record = registry.get(
        ("consents", request.production_id, talent),
        lambda: consents_for(conn, request.production_id, talent),
    )
    now = utcnow()
    covered = [
        c
        for c in on_record
        if c.covers(
            request.use_case,
            now,
            production_id=request.production_id,
            medium=request.disclosure.medium,
            territory=request.disclosure.territory,
        )
    ]
    governance = Governance(
        request_id=request_id,
        production=request.production_id,
        use_case=request.use_case.value,
        policy_decision_id=decision.id,
        policy_version=decision.policy_version,
        approval_ids=approval_ids,
        consent_ids=tuple(sorted(c.id for c in covered)),
        prompt_log_id=run_id,
        prompt_sha256=prompt_digest(request.prompt),
        ledger=LedgerReference(
            origin=platform.ledger.origin,
            index=grant.ledger_index,
            leaf_hash=bytes(grant.leaf_hash).hex(),
        ),
    )
    return Started(
        lease=lease,
        run_id=run_id,
        backend=backend,
        tool=Tool(name=tool.name, version=tool.version),
        parameters=dict(request.parameters),
        inputs=inputs,
        governance=governance,
        covered_talent=tuple(sorted({c.talent_id for c in covered})),
        actor=actor,
        prompt=request.prompt,
        declared_talent=tuple(sorted(request.talent_ids)),
        medium=request.disclosure.medium,
        requested_by=request.requested_by,
        opened=prompt_log.RunOpened(backend=backend, started_at=started_at, tool_id=tool.id),
    )


def _input_asset(conn: Connection, platform: Platform, asset_id: str) -> Asset:
    """An input asset: from memory after the first read (assets never change once written)."""
    return platform.records.get(("asset", asset_id), lambda: asset_store.load_asset(conn, asset_id))


# --- 2. execute ---------------------------------------------------------------------


def work_dir(platform: Platform, run_id: str) -> Path:
    """Where a run keeps its inputs and unsigned outputs (removed when it ends)."""
    return Path(platform.work_dir) / run_id


def execute(
    platform: Platform,
    started: Started,
    executor: Executor,
    settings: QueueSettings,
    *,
    beats: Heartbeats | None = None,
) -> RequestDetail:
    """Run a started job's backend under a heartbeat, then record how it ended.

    Returns the request as it then stands. A worker that lost its lease on the
    way records nothing and gets the request as the new holder left it.
    ``beats``: the worker's heartbeat (else the run has a heartbeat thread of its own).
    """
    ran = _execute(platform, started, executor, settings, beats=beats)
    return ran.detail or read_detail(platform, started.request_id)


def execute_then(
    platform: Platform,
    started: Started,
    executor: Executor,
    settings: QueueSettings,
    successor: Successor,
    *,
    beats: Heartbeats,
) -> Ran:
    """:func:`execute`, claiming ``successor``'s next job in the transaction that records
    a success (none after a failure or a stop: those claim their next job afresh).

    The claimed job is held by ``beats`` (the worker's heartbeat) from its commit on,
    so its lease is renewed and, if the worker dies, it expires and the reaper puts
    the job back in line like any other. The caller runs it next (:attr:`Ran.claimed`).
    """
    return _execute(platform, started, executor, settings, beats=beats, successor=successor)


def read_detail(platform: Platform, request_id: str) -> RequestDetail:
    """The request as it stands, read outside any write transaction."""
    with platform.db.read() as conn:
        return load_detail(conn, request_id)


def _execute(
    platform: Platform,
    started: Started,
    executor: Executor,
    settings: QueueSettings,
    *,
    beats: Heartbeats | None,
    successor: Successor | None = None,
) -> Ran:
    """:func:`execute` up to the last commit (nothing read back after a success)."""
    work = work_dir(platform, started.run_id)
    claimed = None
    try:
        with Heartbeat(platform.db, started.lease, settings, beats=beats) as watch:
            try:
                # Two folders per run: the run's own, holding its inputs, and ``out``
                # for the backend, where each output is then signed in place.
                out_dir = work / "out"
                out_dir.mkdir(parents=True)
                inputs = _materialize(platform, started.inputs, work)
                progress = queue.progress_writer(platform.db, started.lease, watch, settings)
                backend = platform.backends(started.backend)
                parameters, seed = call_parameters(
                    started.backend, backend.capabilities, started.parameters, started.prompt
                )
                parameters = _production_references(platform, started, backend, inputs, parameters)
                result = executor.run(
                    started.backend,
                    inputs,
                    parameters,
                    out_dir,
                    seed=seed,
                    progress=progress,
                    watch=watch,
                )
                watch.check()  # asked to stop as it finished: its outputs are not kept
            except Stopped as stop:
                return Ran(stop_run(platform, started, stop.reason, settings))
            except Exception as exc:  # any backend failure is recorded, never left running
                return Ran(fail_run(platform, started, exc, settings))
            claimed = _record_outputs(platform, started, inputs, result, None, successor)
            if claimed is not None and beats is not None:
                # Renewed from its commit on, like a job claimed on its own.
                beats.hold(claimed.lease, Watch())
    except LeaseLost:
        log.warning("run %s of %s lost its lease; nothing recorded", started.run_id, started.job_id)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Ran(None, claimed)


def _production_references(
    platform: Platform,
    started: Started,
    backend: Backend,
    inputs: list[BackendInput],
    parameters: dict[str, Any],
) -> dict[str, Any]:
    """A subtitle translation's parameters with the production's glossary and translation
    memory filled in where the request gave none.

    Looked up here, as the run starts, rather than at submit: the glossary in force and
    every translation approved while the request waited are the ones used, the request
    stays small, and the run's recorded parameters say exactly what went in.
    """
    declared = {p.name for p in backend.capabilities.parameters}
    wanted = {_GLOSSARY, _MEMORY} & (declared - set(parameters))
    if "translate_subtitles" not in backend.capabilities.tasks or not wanted:
        return parameters
    production = started.governance.production
    try:
        source = language_tag(str(parameters["source"]))
        target = language_tag(str(parameters["target"]))
    except (KeyError, InvalidInput):
        return parameters  # the backend refuses these itself, with its own code
    filled = dict(parameters)
    with platform.db.read() as conn:
        if _GLOSSARY in wanted:
            filled[_GLOSSARY] = glossary.as_parameter(
                glossary.entries_for(conn, production, target)
            )
        subtitles = [i for i in inputs if i.part == "subtitles"]
        if _MEMORY in wanted and len(subtitles) == 1:
            try:
                track = read_track(subtitles[0].path, language=source)
            except InvalidInput:
                return filled  # unreadable: the backend says why
            texts = [cue.text for cue in track.cues]
            filled[_MEMORY] = memory.as_parameter(
                memory.lookup(conn, production, source, target, texts)
            )
    return filled


def _materialize(
    platform: Platform, inputs: list[tuple[Asset, str]], into: Path
) -> list[BackendInput]:
    """Copy inputs out of the blob store, checking each hash on the way, under their
    own names (C2PA ingredients and some decoders go by the file extension)."""
    into.mkdir(parents=True, exist_ok=True)
    found = []
    # A folder per input only when two share a name (fewer folders to make and remove).
    apart = _clashing([asset.filename for asset, _ in inputs], into)
    for position, (asset, part) in enumerate(inputs):
        target = _unclashed(into, position, asset.filename, apart)
        with platform.blobs.open(asset.sha256) as source, target.open("wb") as out:
            for chunk in source.chunks():
                out.write(chunk)
        found.append(BackendInput(path=target, part=part, media_type=asset.media_type))
    return found


def _clashing(names: list[str], into: Path) -> bool:
    """Whether files keeping these names in ``into`` need a folder each: two share a
    name, or one has the name of something already there."""
    return len(set(names)) != len(names) or any((into / name).exists() for name in names)


def _unclashed(into: Path, position: int, name: str, apart: bool) -> Path:
    """Where file number ``position`` keeps its own ``name`` in ``into``: in a folder of
    its own when names clash."""
    if not apart:
        return into / name
    folder = into / str(position)
    folder.mkdir()
    return folder / name


# --- 3. finish ----------------------------------------------------------------------


def finish_run(
    platform: Platform,
    started: Started,
    inputs: list[BackendInput],
    result: BackendResult,
    signed_dir: Path,
) -> RequestDetail:
    """Sign and store a run's outputs, then record them, fenced by the lease.

    Raises :class:`LeaseLost` (and deletes the blobs it stored) when the job
    is no longer this worker's. Returns the request as it then stands.
    """
    _record_outputs(platform, started, inputs, result, signed_dir)
    # Read once the outcome is committed: the writers' lock is not held for it.
    return read_detail(platform, started.request_id)


def _record_outputs(
    platform: Platform,
    started: Started,
    inputs: list[BackendInput],
    result: BackendResult,
    signed_dir: Path | None,
    successor: Successor | None = None,
) -> Started | None:
    """:func:`finish_run` up to the commit: sign (into ``signed_dir``, or each output in
    place without one), scan, store and record; and claim ``successor``'s next job in
    the same transaction (returned)."""
    request_id, actor = started.request_id, started.actor
    apart = False
    if signed_dir is not None:
        signed_dir.mkdir(exist_ok=True)
        apart = _clashing([output.path.name for output in result.outputs], signed_dir)
    put: list[str] = []
    with asset_store.ingesting(platform, put):
        signed_outputs = []
        for number, output in enumerate(result.outputs):
            parents = [inputs[p] for p in output.parents]
            source = parents[0].path if result.kind == "edited" and parents else None
            facts = CredentialFacts(
                kind=result.kind,
                tool=started.tool,
                governance=started.governance,
                source=source,
                inputs=tuple(p.path for p in parents if p.path != source),
                title=output.path.name,
            )
            target = (
                output.path
                if signed_dir is None
                else _unclashed(signed_dir, number, output.path.name, apart)
            )
            # Not fsynced here: the blob store syncs the file it takes in, before the
            # transaction that names it.
            signed_outputs.append(
                (sign_asset(output.path, target, facts, platform.identity), output)
            )
        context = ScanContext(
            production_id=started.governance.production,
            covered_talent=started.covered_talent,
            declared_talent=started.declared_talent,
            use_case=started.governance.use_case,
            medium=started.medium,
        )
        # Scanned under their own names (the scanner goes by the file extension)...
        scan = platform.scanner.scan([signed.path for signed, _ in signed_outputs], context)
        put.extend(scan.evidence)  # evidence frames go too if the run is not kept
        stored = []
        for signed, output in signed_outputs:
            # ...then renamed into the store, not copied: the work folder is on its filesystem.
            blob = platform.blobs.put_moved(signed.path, media_type=output.media_type)
            put.append(blob.sha256)
            manifest = None
            if signed.sidecar is not None:
                manifest = platform.blobs.put_moved(
                    signed.sidecar, media_type="application/c2pa"
                ).sha256
                put.append(manifest)
            parent_ids = [started.inputs[p][0].id for p in output.parents]
            stored.append((output, blob, manifest, parent_ids))
        production = started.governance.production
        with platform.db.transaction() as conn:
            # The fence: nothing is written unless this worker still holds the job.
            queue.end_lease(conn, started.lease, "done")
            made = [
                asset_store.insert_output(
                    conn,
                    production_id=production,
                    sha256=blob.sha256,
                    media_type=output.media_type,
                    size=blob.size,
                    filename=output.path.name,
                    request_id=request_id,
                    run_id=started.run_id,
                    manifest_sha256=manifest,
                    created_by=started.requested_by,
                    parents=parent_ids,
                )
                for output, blob, manifest, parent_ids in stored
            ]
            _close_run(conn, started, result)
            priced = prompt_log.record_finish(
                conn,
                platform,
                started.run_id,
                result,
                outputs=len(made),
                worker=started.lease.owner,
                opened=started.opened,
                closed_with_result_cost=True,  # _close_run wrote result.cost_usd
            )
            succeeded = Taken(
                Step.RUN_SUCCEEDED,
                actor=actor,
                subjects={"job": started.job_id, "run": started.run_id},
                payload={
                    "model": result.model,
                    "model_version": result.model_version,
                    "duration_ms": result.duration_ms,
                    "cost_usd": _money(priced.cost_usd),
                    "cost_source": priced.cost_source,
                    "gpu_seconds": format(priced.gpu_seconds, "f"),
                    "outputs": [
                        {"asset": a.id, "sha256": a.sha256, "media_type": a.media_type}
                        for a in made
                    ],
                    # A spoken output says on the record whose voice it is: generic or imitated.
                    **_voice(result),
                },
            )
            revoked = _revoked_since(conn, started.governance.consent_ids)
            if revoked:
                # A consent it ran under was revoked while it ran: hold the outputs for legal.
                then = Taken(
                    Step.CONSENT_REVOKED,
                    actor=actor,
                    payload={"consents": revoked, "while": "running"},
                )
            else:
                then = _scanned(scan, actor)
            # Both moves (running -> generated -> in_review or quarantined) in one
            # update; their events, and the next job's run_started, in one ledger
            # append at the end of this same transaction.
            moved = move_through(
                conn,
                request_id,
                [succeeded, then],
                expected=RequestState.RUNNING,
                production_id=production,
            )
            record_findings(conn, request_id, started.run_id, [a.id for a in made], scan)
            unrecorded = [(request_id, [event for _, event in moved])]
            claimed = None
            if successor is not None:
                claimed = _claim_ahead(conn, platform, successor, unrecorded)
            record_event_groups(conn, platform.ledger, unrecorded)
            return claimed


def _claim_ahead(
    conn: Connection,
    platform: Platform,
    successor: Successor,
    unrecorded: list[tuple[str, list[Event]]],
) -> Started | None:
    """Claim and start ``successor``'s next job inside a finishing transaction; its
    ``run_started`` event joins ``unrecorded`` (for the caller's one ledger append).

    Under a savepoint: a job that cannot be started is left queued (its own claim
    later says why) and never takes the finished job's outcome down with it.
    """
    if not successor.wanted():
        return None
    started: list[tuple[str, list[Event]]] = []
    try:
        with conn.begin_nested():
            lease = queue.claim_next(
                conn, successor.owner, successor.settings, run_id=new_id("run")
            )
            if lease is None:
                return None
            claimed = _start(conn, platform, lease, successor.actor, unrecorded=started)
    except Exception:
        log.warning("could not claim the next job ahead; it stays queued", exc_info=True)
        return None
    unrecorded.extend(started)
    return claimed


def _voice(result: BackendResult) -> dict[str, Any]:
    kind = result.usage.get("voice_kind")
    return {} if kind is None else {"voice_kind": kind}


def _revoked_since(conn: Any, consent_ids: tuple[str, ...]) -> list[str]:
    """Which of the consents a run started under have been revoked since."""
    if not consent_ids:
        return []
    rows = conn.execute(_REVOKED, {"ids": list(consent_ids)})
    return sorted(r.id for r in rows)


def _scanned(scan: ScanResult, actor: str) -> Taken:
    """The step the likeness scan's result takes: clear, or quarantined for legal."""
    step = Step.SCAN_MATCHED_WITHOUT_CONSENT if scan.uncovered else Step.SCAN_CLEAR
    return Taken(
        step,
        actor=actor,
        payload={
            "scanner": scan.scanner,
            "matches": [
                {
                    "talent": m.talent_id,
                    "output": m.output,
                    "score": m.score,
                    "covered": m.covered,
                    "modality": m.modality,
                    "frame": m.frame,
                    "time": m.time,
                    "box": list(m.box) if m.box else None,
                    "evidence": m.evidence,
                }
                for m in scan.matches
            ],
        },
    )


def _close_run(conn: Any, started: Started, result: BackendResult) -> None:
    conn.execute(
        _CLOSE_RUN,
        {
            "run": started.run_id,
            "model": result.model,
            "model_version": result.model_version,
            "parameters": result.parameters,
            "seed": result.seed,
            "finished_at": utcnow(),
            "duration_ms": result.duration_ms,
            "usage": result.usage,
            "cost_usd": result.cost_usd,
        },
    )


def _close_run_failed(conn: Connection, run_id: str, code: str, message: str) -> None:
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.finished_at.is_(None))
        .values(finished_at=utcnow(), error=f"[{code}] {message}")
    )


def worth_retrying(exc: Exception) -> bool:
    """Whether a failed attempt may succeed if tried again.

    A refusal the backend gives about its inputs or parameters (a 4xx error:
    a mask that does not fit, an unreadable video, a quota) fails at once;
    a crash, a timeout or a lost connection is tried again.
    """
    return not (isinstance(exc, GreenlightError) and exc.status < 500)


def fail_run(
    platform: Platform, started: Started, exc: Exception, settings: QueueSettings
) -> RequestDetail:
    """Record a failed attempt: back in line after a back-off while attempts remain
    and the failure is worth retrying, else ``failed``. Fenced by the lease."""
    if isinstance(exc, GreenlightError):
        code, message = exc.code, exc.message
    else:
        code, message = "run.backend_error", f"{type(exc).__name__}: {exc}"
    lease = started.lease
    retry = worth_retrying(exc) and lease.attempt < lease.max_attempts
    with platform.db.transaction() as conn:
        queue.require_lease(conn, lease)
        _close_run_failed(conn, started.run_id, code, message)
        prompt_log.record_failure(conn, platform, started.run_id, worker=lease.owner)
        if retry:
            at = utcnow() + settings.backoff(lease.attempt)
            queue.release(conn, lease, "queued", available_at=at)
            _retried(conn, platform, started.request_id, lease.job_id, started.run_id, at, code)
        else:
            _end_job(
                conn,
                platform,
                started,
                Step.RUN_FAILED,
                {"error": code, "message": message, "attempts": lease.attempt},
            )
        return load_detail(conn, started.request_id)


def stop_run(
    platform: Platform, started: Started, reason: str, settings: QueueSettings
) -> RequestDetail:
    """A run stopped before its end: ``cancelled`` on request, failed at the time
    limit, or nothing recorded when the lease was lost to another worker."""
    if reason == "time_limit":
        limit = GreenlightError(
            f"The run took longer than the {settings.time_limit_seconds:g} s time limit "
            "and was stopped; ask for less work at once, or raise the limit.",
            code="run.time_limit",
        )
        return fail_run(platform, started, limit, settings)
    if reason == "lease_lost":
        raise LeaseLost(f"Job {started.job_id} was taken over by another worker.")
    with platform.db.transaction() as conn:
        queue.require_lease(conn, started.lease)
        by = conn.execute(
            select(jobs.c.cancel_requested_by).where(jobs.c.id == started.job_id)
        ).scalar()
        _close_run_failed(conn, started.run_id, "run.cancelled", f"Cancelled by {by}.")
        queue.release(conn, started.lease, "cancelled")
        advance(
            conn,
            platform.ledger,
            started.request_id,
            Step.CANCELLED,
            actor=by or started.actor,
            subjects={"job": started.job_id, "run": started.run_id},
            payload={"while": "running", "attempt": started.lease.attempt},
        )
        return load_detail(conn, started.request_id)


def _end_job(
    conn: Any, platform: Platform, started: Started, step: Step, payload: dict[str, Any]
) -> None:
    """Close the job (done or failed) and take the run's last step on the request."""
    queue.release(conn, started.lease, "done" if step is Step.RUN_SUCCEEDED else "failed")
    advance(
        conn,
        platform.ledger,
        started.request_id,
        step,
        actor=started.actor,
        subjects={"job": started.job_id, "run": started.run_id},
        payload=payload,
    )


def _retried(
    conn: Connection,
    platform: Platform,
    request_id: str,
    job_id: str,
    run_id: str | None,
    at: Any,
    code: str,
) -> None:
    subjects = {"job": job_id, **({"run": run_id} if run_id else {})}
    advance(
        conn,
        platform.ledger,
        request_id,
        Step.RUN_RETRIED,
        actor=WORKER,
        subjects=subjects,
        payload={"error": code, "next_attempt_at": at.isoformat()},
    )


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


# --- lost workers ---------------------------------------------------------------------


def reap_lost(platform: Platform, settings: QueueSettings) -> int:
    """Deal with jobs whose worker stopped renewing its lease; how many there were.

    Each lost run is closed as failed (``run.worker_lost``) and its work
    directory removed, so nothing it wrote becomes visible; the job goes back
    in line after a back-off, or fails once its attempts are spent, or is
    cancelled if that was asked.
    """
    with platform.db.transaction() as conn:
        lost = queue.expired_leases(conn)
        for job in lost:
            message = (
                f"The worker running it ({job.owner}) stopped answering; its lease expired at "
                f"{job.expired_at.isoformat()}."
            )
            if job.run_id is not None:
                _close_run_failed(conn, job.run_id, "run.worker_lost", message)
            subjects = {"job": job.job_id, **({"run": job.run_id} if job.run_id else {})}
            if job.cancel_requested:
                by = conn.execute(
                    select(jobs.c.cancel_requested_by).where(jobs.c.id == job.job_id)
                ).scalar()
                queue.release(conn, job.job_id, "cancelled")
                step, actor = Step.CANCELLED, by or WORKER
                payload: dict[str, Any] = {"while": "running", "worker_lost": True}
            elif job.attempts >= job.max_attempts:
                queue.release(conn, job.job_id, "failed")
                step, actor = Step.RUN_FAILED, WORKER
                payload = {"error": "run.worker_lost", "message": message}
            else:
                at = utcnow() + settings.backoff(job.attempts)
                queue.release(conn, job.job_id, "queued", available_at=at)
                _retried(
                    conn, platform, job.request_id, job.job_id, job.run_id, at, "run.worker_lost"
                )
                continue
            advance(
                conn,
                platform.ledger,
                job.request_id,
                step,
                actor=actor,
                subjects=subjects,
                payload=payload,
            )
    for job in lost:
        if job.run_id is not None:
            shutil.rmtree(work_dir(platform, job.run_id), ignore_errors=True)
    return len(lost)


# --- cancelling ------------------------------------------------------------------------


def cancel(platform: Platform, access: Access, request_id: str) -> RequestDetail:
    """Cancel a queued or running request (its requester, a producer or an admin).

    Queued work is cancelled at once. Running work is asked to stop: its
    worker sees the request at its next heartbeat, stops the backend and
    records ``cancelled`` (the answer still shows ``running`` until then).
    """
    with platform.db.transaction() as conn:
        request = load_request(conn, request_id)
        access.require_read(request.production_id)
        roles = access.roles_in(request.production_id)
        if request.requested_by != access.person.id and not roles & {Role.PRODUCER, Role.ADMIN}:
            raise Forbidden(
                "Only the person who asked for the work, a producer or an admin may cancel it.",
                code="cancel.not_allowed",
                reason="role",
            )
        job = conn.execute(
            select(jobs.c.id, jobs.c.state).where(jobs.c.request_id == request_id)
        ).first()
        if job is None or request.state not in (RequestState.QUEUED, RequestState.RUNNING):
            raise Conflict(
                f"Request {request_id} is {request.state.value}; only queued or running "
                "work can be cancelled.",
                code="cancel.not_cancellable",
                state=request.state.value,
            )
        if request.state is RequestState.QUEUED:
            queue.release(conn, job.id, "cancelled")
            advance(
                conn,
                platform.ledger,
                request_id,
                Step.CANCELLED,
                actor=access.person.id,
                subjects={"job": job.id},
                payload={"while": "queued"},
            )
        else:
            queue.request_cancel(conn, job.id, access.person.id)
        return load_detail(conn, request_id)


# --- statements ----------------------------------------------------------------------
# Built once: every job runs these, and building them per call cost more than running them.

_e = request_events.c
_LAST_GRANT = (
    select(_e.ledger_index, _e.leaf_hash)
    .where(_e.request_id == bindparam("request"))
    .where(or_(*(_e.event_type == grant for grant in _GRANTS)))
    .order_by(_e.ledger_index.desc())
    .limit(1)
)
_DECISION = (
    select(policy_decisions.c.id, policy_decisions.c.policy_version)
    .where(policy_decisions.c.request_id == bindparam("request"))
    .order_by(policy_decisions.c.id.desc())
    .limit(1)
)
_APPROVED = (
    select(approvals.c.id)
    .where(approvals.c.request_id == bindparam("request"), approvals.c.approved.is_(True))
    .order_by(approvals.c.id)
)
_INSERT_RUN = insert(runs)
# The columns it sets are the keys of the values it is given.
_CLOSE_RUN = update(runs).where(runs.c.id == bindparam("run"))
_REVOKED = select(consents.c.id).where(
    consents.c.id.in_(bindparam("ids", expanding=True)), consents.c.revoked_at.is_not(None)
)
