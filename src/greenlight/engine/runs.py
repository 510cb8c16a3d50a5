"""Steps 4 to 6 of a request's life: run the backend, sign and store, scan.

The backend runs outside any database transaction (it may take minutes); the
database holds the request in ``running`` meanwhile. Outputs are signed with
C2PA and stored by SHA-256 before the transaction that makes them visible, so
nobody can ever see an unsigned output.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from greenlight.backends import BackendInput, BackendResult
from greenlight.core.clock import utcnow
from greenlight.core.enums import RequestState
from greenlight.core.errors import Conflict, GreenlightError
from greenlight.core.ids import new_id
from greenlight.core.models import Asset, RequestDetail
from greenlight.engine import assets as asset_store
from greenlight.engine.lifecycle import Step, advance
from greenlight.engine.platform import Platform
from greenlight.engine.requests import load_detail, load_request, set_job_state
from greenlight.likeness import ScanResult
from greenlight.provenance import (
    CredentialFacts,
    Governance,
    LedgerReference,
    Tool,
    prompt_digest,
    sign_asset,
)
from greenlight.rights import consents_for, get_tool
from greenlight.store.schema import consents, jobs, runs

WORKER = "system:worker"
# The ledger events that let work start: the grant a credential points back to.
_GRANTS = ("policy.allowed", "approval.complete")


@dataclass(frozen=True)
class _Started:
    run_id: str
    job_id: str
    backend: str
    tool: Tool
    parameters: dict[str, Any]
    inputs: list[tuple[Asset, str]]
    governance: Governance
    covered_talent: tuple[str, ...]


def run_request(platform: Platform, request_id: str, *, actor: str = WORKER) -> RequestDetail:
    """Run a queued request's job on its backend, to ``in_review``, ``quarantined`` or
    ``failed``. Returns the request as it then stands."""
    started = _start(platform, request_id, actor)
    work = Path(tempfile.mkdtemp(prefix=f"{started.run_id}-", dir=platform.work_dir))
    try:
        try:
            inputs = _materialize(platform, started.inputs, work / "in")
            out_dir = work / "out"
            out_dir.mkdir()
            backend = platform.backends(started.backend)
            result = backend.run(inputs, started.parameters, out_dir)
        except Exception as exc:  # any backend failure is recorded, never left running
            return _fail(platform, request_id, started, exc, actor)
        return _finish(platform, request_id, started, inputs, result, work / "signed", actor)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _start(platform: Platform, request_id: str, actor: str) -> _Started:
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
        job_id = conn.execute(select(jobs.c.id).where(jobs.c.request_id == request_id)).scalar_one()
        detail = load_detail(conn, request_id)
        grant = next(e for e in reversed(detail.events) if e.event_type in _GRANTS)
        run_id = new_id("run")
        advance(
            conn,
            platform.ledger,
            request_id,
            Step.RUN_STARTED,
            actor=actor,
            subjects={"job": job_id, "run": run_id},
            payload={"backend": tool.backend},
        )
        set_job_state(conn, job_id, "running", attempt=True)
        conn.execute(
            insert(runs).values(
                id=run_id,
                job_id=job_id,
                backend=tool.backend,
                model=tool.name,
                model_version=tool.version,
                parameters=request.parameters,
                seed=None,
                started_at=utcnow(),
                usage={},
            )
        )
        inputs = [(asset_store.load_asset(conn, i.asset_id), i.part) for i in request.inputs]
        on_record = consents_for(conn, request.production_id, request.talent_ids)
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
        decision = detail.decision
        assert decision is not None  # a queued request has been judged
        governance = Governance(
            request_id=request_id,
            production=request.production_id,
            use_case=request.use_case.value,
            policy_decision_id=decision.id,
            policy_version=decision.policy_version,
            approval_ids=tuple(a.id for a in detail.approvals if a.approved),
            consent_ids=tuple(sorted(c.id for c in covered)),
            prompt_log_id=run_id,
            prompt_sha256=prompt_digest(request.prompt),
            ledger=LedgerReference(
                origin=platform.ledger.origin, index=grant.index, leaf_hash=grant.leaf_hash
            ),
        )
        return _Started(
            run_id=run_id,
            job_id=job_id,
            backend=tool.backend,
            tool=Tool(name=tool.name, version=tool.version),
            parameters=dict(request.parameters),
            inputs=inputs,
            governance=governance,
            covered_talent=tuple(sorted({c.talent_id for c in covered})),
        )


def _materialize(
    platform: Platform, inputs: list[tuple[Asset, str]], into: Path
) -> list[BackendInput]:
    """Copy inputs out of the blob store, checking each hash on the way, under their
    own names (C2PA ingredients and some decoders go by the file extension)."""
    into.mkdir(parents=True)
    found = []
    for position, (asset, part) in enumerate(inputs):
        target = into / str(position) / asset.filename
        target.parent.mkdir()
        with platform.blobs.open(asset.sha256) as source, target.open("wb") as out:
            for chunk in source.chunks():
                out.write(chunk)
        found.append(BackendInput(path=target, part=part, media_type=asset.media_type))
    return found


def _finish(
    platform: Platform,
    request_id: str,
    started: _Started,
    inputs: list[BackendInput],
    result: BackendResult,
    signed_dir: Path,
    actor: str,
) -> RequestDetail:
    signed_dir.mkdir()
    put: list[str] = []
    with asset_store.ingesting(platform, put):
        stored = []
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
            target = signed_dir / str(number) / output.path.name
            target.parent.mkdir()
            signed = sign_asset(output.path, target, facts, platform.identity, durable=True)
            blob = platform.blobs.put_file(
                signed.path, media_type=output.media_type, max_bytes=1 << 40
            )
            put.append(blob.sha256)
            manifest = None
            if signed.sidecar is not None:
                manifest = platform.blobs.put_file(
                    signed.sidecar, media_type="application/c2pa", max_bytes=1 << 30
                ).sha256
                put.append(manifest)
            parent_ids = [started.inputs[p][0].id for p in output.parents]
            stored.append((signed.path, output, blob, manifest, parent_ids))
        scan = platform.scanner.scan([s[0] for s in stored], started.covered_talent)
        with platform.db.transaction() as conn:
            request = load_request(conn, request_id)
            made = [
                asset_store.insert_output(
                    conn,
                    production_id=request.production_id,
                    sha256=blob.sha256,
                    media_type=output.media_type,
                    size=blob.size,
                    filename=output.path.name,
                    request_id=request_id,
                    run_id=started.run_id,
                    manifest_sha256=manifest,
                    created_by=request.requested_by,
                    parents=parent_ids,
                )
                for _, output, blob, manifest, parent_ids in stored
            ]
            _close_run(conn, started, result)
            _end_job(
                conn,
                platform,
                request_id,
                started,
                Step.RUN_SUCCEEDED,
                actor,
                {
                    "model": result.model,
                    "model_version": result.model_version,
                    "duration_ms": result.duration_ms,
                    "cost_usd": _money(result.cost_usd),
                    "outputs": [
                        {"asset": a.id, "sha256": a.sha256, "media_type": a.media_type}
                        for a in made
                    ],
                },
            )
            revoked = _revoked_since(conn, started.governance.consent_ids)
            if revoked:
                # A consent it ran under was revoked while it ran: hold the outputs for legal.
                advance(
                    conn,
                    platform.ledger,
                    request_id,
                    Step.CONSENT_REVOKED,
                    actor=actor,
                    payload={"consents": revoked, "while": "running"},
                )
            else:
                _scanned(conn, platform, request_id, scan, actor)
            return load_detail(conn, request_id)


def _revoked_since(conn: Any, consent_ids: tuple[str, ...]) -> list[str]:
    """Which of the consents a run started under have been revoked since."""
    if not consent_ids:
        return []
    rows = conn.execute(
        select(consents.c.id).where(
            consents.c.id.in_(consent_ids), consents.c.revoked_at.is_not(None)
        )
    )
    return sorted(r.id for r in rows)


def _scanned(conn: Any, platform: Platform, request_id: str, scan: ScanResult, actor: str) -> None:
    step = Step.SCAN_MATCHED_WITHOUT_CONSENT if scan.uncovered else Step.SCAN_CLEAR
    advance(
        conn,
        platform.ledger,
        request_id,
        step,
        actor=actor,
        payload={
            "scanner": scan.scanner,
            "matches": [
                {"talent": m.talent_id, "output": m.output, "score": m.score, "covered": m.covered}
                for m in scan.matches
            ],
        },
    )


def _close_run(conn: Any, started: _Started, result: BackendResult) -> None:
    conn.execute(
        update(runs)
        .where(runs.c.id == started.run_id)
        .values(
            model=result.model,
            model_version=result.model_version,
            parameters=result.parameters,
            seed=result.seed,
            finished_at=utcnow(),
            duration_ms=result.duration_ms,
            usage=result.usage,
            cost_usd=result.cost_usd,
        )
    )


def _fail(
    platform: Platform, request_id: str, started: _Started, exc: Exception, actor: str
) -> RequestDetail:
    if isinstance(exc, GreenlightError):
        code, message = exc.code, exc.message
    else:
        code, message = "run.backend_error", f"{type(exc).__name__}: {exc}"
    with platform.db.transaction() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == started.run_id)
            .values(finished_at=utcnow(), error=f"[{code}] {message}")
        )
        _end_job(
            conn,
            platform,
            request_id,
            started,
            Step.RUN_FAILED,
            actor,
            {"error": code, "message": message},
        )
        return load_detail(conn, request_id)


def _end_job(
    conn: Any,
    platform: Platform,
    request_id: str,
    started: _Started,
    step: Step,
    actor: str,
    payload: dict[str, Any],
) -> None:
    """Close the job (done or failed) and take the run's last step on the request."""
    set_job_state(conn, started.job_id, "done" if step is Step.RUN_SUCCEEDED else "failed")
    advance(
        conn,
        platform.ledger,
        request_id,
        step,
        actor=actor,
        subjects={"job": started.job_id, "run": started.run_id},
        payload=payload,
    )


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")
