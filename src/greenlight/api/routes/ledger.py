"""The ledger, for auditors: signed checkpoints, entries and Merkle proofs.

Everything here can be checked offline with the studio's public key: the
checkpoint is a C2SP signed note, entries hash to their RFC 9162 leaf hashes,
and proofs recompute the signed roots. Any signed-in person may read it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from greenlight.api.auth import CurrentAccess, PlatformDep
from greenlight.core.errors import Conflict, GreenlightError

router = APIRouter(prefix="/ledger", tags=["ledger"])

_TEXT: dict[int | str, dict[str, Any]] = {200: {"content": {"text/plain": {}}}}
_MAX_INDEX = (1 << 63) - 1


class LedgerEntry(BaseModel):
    """One entry: its canonical body (what the leaf hash covers), parsed event, and an
    inclusion proof in the latest signed checkpoint (null until it is integrated)."""

    index: int
    leaf_hash: str
    body: str
    event: dict[str, Any]
    inclusion_proof: dict[str, Any] | None


@router.get("/checkpoint", response_class=PlainTextResponse, responses=_TEXT)
def checkpoint(access: CurrentAccess, platform: PlatformDep) -> PlainTextResponse:
    """The latest signed checkpoint (C2SP signed note: origin, tree size, root hash,
    signature). 409 ``ledger.not_integrated`` before the first one is signed."""
    latest = platform.ledger.checkpoint()
    if latest is None:
        raise Conflict(
            "The ledger has no signed checkpoint yet; one is signed within a second of the "
            "first event while the server runs.",
            code="ledger.not_integrated",
        )
    return PlainTextResponse(latest.note_text)


@router.get("/public-key", response_class=PlainTextResponse, responses=_TEXT)
def public_key(access: CurrentAccess, platform: PlatformDep) -> PlainTextResponse:
    """The note verifier key checkpoints are signed with (``<origin>+<hash>+<key>``)."""
    return PlainTextResponse(platform.ledger.verifier_key + "\n")


@router.get("/entries/{index}", response_model=LedgerEntry)
def entry(
    index: Annotated[int, Path(ge=0, le=_MAX_INDEX)],
    access: CurrentAccess,
    platform: PlatformDep,
) -> LedgerEntry:
    """Entry ``index``: its canonical JSON body, leaf hash and inclusion proof."""
    found = platform.ledger.entry(index)
    try:
        proof: dict[str, Any] | None = platform.ledger.inclusion_proof(index).to_json()
    except GreenlightError as exc:
        if exc.code != "ledger.not_integrated":
            raise
        proof = None
    return LedgerEntry(
        index=found.index,
        leaf_hash=found.leaf_hash.hex(),
        body=found.body.decode("utf-8"),
        event=found.event(),
        inclusion_proof=proof,
    )


@router.get("/proofs/consistency")
def consistency(
    access: CurrentAccess,
    platform: PlatformDep,
    size1: Annotated[int, Query(ge=0, le=_MAX_INDEX)],
    size2: Annotated[int | None, Query(ge=0, le=_MAX_INDEX)] = None,
) -> dict[str, Any]:
    """Proof that the tree of ``size1`` is a prefix of the tree of ``size2`` (default: the
    latest checkpoint), with both roots and the checkpoints that sign them."""
    return platform.ledger.consistency_proof(size1, size2).to_json()
