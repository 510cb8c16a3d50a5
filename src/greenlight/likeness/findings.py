"""Findings for legal: what each run's likeness scan found, kept with the request.

The engine records them in the transaction that makes the outputs visible
(``engine/runs.py``); the request's page lists them with their evidence frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from greenlight.core.clock import utcnow
from greenlight.core.ids import new_id
from greenlight.core.models import Record
from greenlight.likeness.scan import ScanResult
from greenlight.store.schema import likeness_findings


class Finding(Record):
    """A performer found in one output of a run: how sure, where, and whether covered."""

    id: str
    request_id: str
    run_id: str
    asset_id: str
    talent_id: str
    modality: str
    model: str
    confidence: float
    covered: bool
    frame: int | None
    time_s: float | None
    end_s: float | None
    box: list[int] | None
    evidence_sha256: str | None
    created_at: datetime


def record_findings(
    conn: Connection,
    request_id: str,
    run_id: str,
    asset_ids: Sequence[str],
    scan: ScanResult,
) -> list[Finding]:
    """Record every match of ``scan`` (``asset_ids[i]`` is output ``i``)."""
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": new_id("likeness_finding"),
            "request_id": request_id,
            "run_id": run_id,
            "asset_id": asset_ids[m.output],
            "talent_id": m.talent_id,
            "modality": m.modality,
            "model": m.model,
            "confidence": m.score,
            "covered": m.covered,
            "frame": m.frame,
            "time_s": m.time,
            "end_s": m.end,
            "box": list(m.box) if m.box else None,
            "evidence_sha256": m.evidence,
            "created_at": now,
        }
        for m in scan.matches
    ]
    if rows:
        conn.execute(insert(likeness_findings), rows)
    return [Finding.model_validate(r) for r in rows]


def findings_for(conn: Connection, request_id: str) -> list[Finding]:
    """A request's likeness findings, in the order they were made."""
    rows = conn.execute(
        select(likeness_findings)
        .where(likeness_findings.c.request_id == request_id)
        .order_by(likeness_findings.c.created_at, likeness_findings.c.id)
    ).mappings()
    return [Finding.model_validate(dict(r)) for r in rows]
