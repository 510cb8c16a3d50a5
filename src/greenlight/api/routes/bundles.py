"""Delivery bundles: an accepted request's outputs with their credentials and proofs."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from greenlight.api.auth import CurrentAccess, PlatformDep
from greenlight.engine.delivery import write_bundle

router = APIRouter(tags=["requests"])


@router.get(
    "/requests/{request_id}/bundle",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
def bundle(request_id: str, access: CurrentAccess, platform: PlatformDep) -> StreamingResponse:
    """The delivery bundle of an accepted or delivered request (a zip).

    It holds the outputs and sidecar manifests, the request's ledger entries with
    an inclusion proof each, and the signed checkpoint they lead to, so anyone
    with the ledger's public key can check it offline
    (`greenlight delivery verify bundle.zip --key ...`). 409 ``delivery.not_accepted``
    before acceptance.
    """
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115
    try:
        write_bundle(platform, access, request_id, spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        with spool:
            while block := spool.read(1024 * 1024):
                yield block

    return StreamingResponse(
        chunks(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{request_id}-bundle.zip"'},
    )
