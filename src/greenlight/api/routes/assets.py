"""Assets: upload files, read their metadata, download their bytes and credentials.

Downloads stream from the blob store, which checks every byte against the
asset's SHA-256 as it goes: a damaged copy breaks the download off instead of
delivering altered content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import PurePath
from urllib.parse import quote

from fastapi import APIRouter, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from greenlight.accounts import Access
from greenlight.api.auth import CurrentAccess, PlatformDep
from greenlight.api.idempotency import IdempotencyKey, fingerprint, once, read_key
from greenlight.api.limits import upload_body
from greenlight.core.errors import InvalidInput, NotFound, ProvenanceError
from greenlight.core.models import Asset
from greenlight.engine import assets as store
from greenlight.engine.platform import Platform
from greenlight.provenance import ActionRecord, Governance, IngredientRecord, ValidationNote
from greenlight.store.blobs import CHUNK, BlobReader

router = APIRouter(tags=["assets"])


class Credentials(BaseModel):
    """What an asset's content credentials say, and whether they hold.

    ``state`` is ``Trusted`` (intact and signed by this studio), ``Valid`` (intact,
    signer not trusted here) or ``Invalid`` (see ``failures``).
    """

    asset_id: str
    state: str
    trusted: bool
    binding: str
    signed_by: str | None
    issuer: str | None
    failures: list[ValidationNote]
    governance: Governance | None
    actions: list[ActionRecord]
    ingredients: list[IngredientRecord]


@router.post(
    "/productions/{production_id}/assets",
    response_model=Asset,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": Asset, "description": "These bytes were already an asset here"}},
    openapi_extra=upload_body(),
)
async def upload(
    production_id: str, request: Request, access: CurrentAccess, platform: PlatformDep
) -> Response:
    """Upload a file (multipart field ``file``) as an asset of the production.

    201 with the new asset, or 200 with the existing one when the same bytes were
    uploaded here before. Refused: files over the platform's upload limit (413),
    names with paths or control characters (422 ``upload.bad_filename``), types
    that are unknown or not what the name says, and damaged images or images
    that would decode to too many pixels (422). Accepts ``Idempotency-Key``.
    """
    key = read_key(request)  # a bad key is refused before the upload is read
    form = await request.form(max_files=1, max_fields=0)
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise InvalidInput(
                "Send the file as multipart/form-data in a field named 'file'.",
                code="upload.no_file",
            )
        filename = part.filename or ""
        declared = part.content_type
        once_key = None
        if key is not None:
            digest = await run_in_threadpool(_sha256_of, part)
            body = f"{filename}\n{declared}\n{digest}"
            once_key = IdempotencyKey(key, fingerprint(request.method, request.url.path, body))

        def work() -> tuple[int, BaseModel]:
            asset, new = store.upload(
                platform, access, production_id, filename, part.file, declared
            )
            return (status.HTTP_201_CREATED if new else status.HTTP_200_OK), asset

        return await run_in_threadpool(once, platform, access.person.id, once_key, work)
    finally:
        await form.close()


def _sha256_of(part: UploadFile) -> str:
    digest = hashlib.sha256()
    part.file.seek(0)
    while chunk := part.file.read(CHUNK):
        digest.update(chunk)
    part.file.seek(0)
    return digest.hexdigest()


def _asset(platform: Platform, access: Access, asset_id: str) -> Asset:
    with platform.db.read() as conn:
        return store.get_asset(conn, access, asset_id)


@router.get("/assets/{asset_id}", response_model=Asset)
def asset(asset_id: str, access: CurrentAccess, platform: PlatformDep) -> Asset:
    """An asset's metadata: hash, type, size, file name, origin and lineage (parents)."""
    return _asset(platform, access, asset_id)


@router.get(
    "/assets/{asset_id}/content",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The bytes"},
        304: {"description": "Unchanged: the If-None-Match ETag matches"},
    },
)
def content(
    asset_id: str, request: Request, access: CurrentAccess, platform: PlatformDep
) -> Response:
    """Download an asset's bytes, verified against its SHA-256 as they stream.

    ``ETag`` is the quoted SHA-256; send it back in ``If-None-Match`` to get 304
    when you already hold these bytes (assets never change).
    """
    found = _asset(platform, access, asset_id)
    return _download(platform, request, found.sha256, found.media_type, found.filename)


@router.get(
    "/assets/{asset_id}/manifest",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/c2pa": {}}, "description": "The C2PA manifest"}},
)
def manifest(
    asset_id: str, request: Request, access: CurrentAccess, platform: PlatformDep
) -> Response:
    """Download the asset's ``.c2pa`` sidecar manifest, for formats that cannot embed one.

    404 ``asset.no_sidecar`` when the credentials are embedded in the file itself
    (or the asset has none).
    """
    found = _asset(platform, access, asset_id)
    if found.manifest_sha256 is None:
        raise NotFound(
            f"Asset {asset_id} has no sidecar manifest; its credentials, if any, are embedded "
            "in the file (GET /assets/{id}/credentials reads them).",
            code="asset.no_sidecar",
        )
    return _download(
        platform, request, found.manifest_sha256, "application/c2pa", f"{found.filename}.c2pa"
    )


@router.get("/assets/{asset_id}/credentials", response_model=Credentials)
def credentials(asset_id: str, access: CurrentAccess, platform: PlatformDep) -> Credentials:
    """Read and validate the asset's content credentials against the studio's trust anchor.

    Says whether they are ``Trusted``, what was done (actions, with IPTC digital
    source types), from what (ingredients) and under which governance (request,
    policy decision, approvals, consents, ledger entry). A file without
    credentials is 422 ``provenance.no_credentials``.
    """
    found = _asset(platform, access, asset_id)
    try:
        report = store.credentials(platform, found)
    except ProvenanceError as exc:
        raise _without_server_paths(exc) from None
    return Credentials(
        asset_id=found.id,
        state=report.state,
        trusted=report.trusted,
        binding=report.binding,
        signed_by=report.manifest.signed_by,
        issuer=report.manifest.issuer,
        failures=list(report.failures),
        governance=report.manifest.governance,
        actions=list(report.manifest.actions),
        ingredients=list(report.manifest.ingredients),
    )


def _without_server_paths(exc: ProvenanceError) -> ProvenanceError:
    """The same error, naming the file but not where the server keeps it.

    The provenance reader names the scratch copy it read by full path, in the
    message and in ``details.path``; callers need only the file's name.
    """
    path = exc.details.get("path")
    message = exc.message
    if isinstance(path, str):
        message = message.replace(path, PurePath(path).name)
    details = {k: v for k, v in exc.details.items() if k != "path"}
    return ProvenanceError(message, code=exc.code, **details)


# --- downloads ------------------------------------------------------------------


def _download(
    platform: Platform, request: Request, sha256: str, media_type: str, filename: str
) -> Response:
    etag = f'"{sha256}"'
    headers = {"ETag": etag, "Cache-Control": "private", "X-Content-Type-Options": "nosniff"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    reader = platform.blobs.open(sha256)  # 404 before any header is sent
    size = platform.blobs.size(sha256)
    headers["Content-Length"] = str(size)
    headers["Content-Disposition"] = content_disposition(filename)
    return StreamingResponse(_chunks(reader), media_type=media_type, headers=headers)


def _chunks(reader: BlobReader) -> Iterator[bytes]:
    with reader:
        yield from reader.chunks()


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact name in RFC 5987 form."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename
    )
    header = f'attachment; filename="{fallback}"'
    if fallback != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header
