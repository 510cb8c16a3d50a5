"""The ledger: an append-only Merkle log of every governance event.

RFC 9162 hashing and proofs, C2SP signed-note checkpoints and tlog-tiles
export. Entries are appended inside the caller's database transaction.
"""

from greenlight.core.errors import ProofError
from greenlight.ledger.audit import AuditReport, Problem, export_tiles, verify_log, verify_tiles
from greenlight.ledger.checkpoint import Checkpoint
from greenlight.ledger.entry import Entry, Event
from greenlight.ledger.log import (
    Appended,
    ConsistencyProof,
    InclusionProof,
    Integrator,
    Ledger,
)

__all__ = [
    "Appended",
    "AuditReport",
    "Checkpoint",
    "ConsistencyProof",
    "Entry",
    "Event",
    "InclusionProof",
    "Integrator",
    "Ledger",
    "Problem",
    "ProofError",
    "export_tiles",
    "verify_log",
    "verify_tiles",
]
