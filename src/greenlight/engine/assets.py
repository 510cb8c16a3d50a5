"""Assets: uploads and signed outputs, stored by SHA-256, with their lineage.

Bytes go to the blob store first (fsynced), then the row that names them
commits. If the row does not commit, the bytes are removed again unless some
committed row already names them. Both steps run under one process-wide lock,
so a rollback here can never remove bytes another upload has just put and is
about to commit (one Greenlight process serves a data directory).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from sqlalchemy import Connection, bindparam, exists, insert, or_, select

from greenlight.accounts import Access
from greenlight.backends import BackendInput
from greenlight.core.clock import utcnow
from greenlight.core.errors import Forbidden, NotFound, ProvenanceError
from greenlight.core.ids import new_id
from greenlight.core.models import Asset
from greenlight.engine.platform import Platform
from greenlight.productions import get_production
from greenlight.provenance import CredentialReport, TrustAnchors, read_credentials
from greenlight.store.blobs import SNIFF_BYTES, check_image, safe_filename, sniff_media_type
from greenlight.store.registry import RecordCache
from greenlight.store.schema import (
    asset_parents,
    assets,
    generation_requests,
    likeness_findings,
    tools,
)

_INGEST = threading.Lock()


@contextmanager
def ingesting(platform: Platform, shas: list[str]) -> Iterator[None]:
    """Hold the ingest lock while blobs are put and their rows committed.

    The caller appends each blob it puts to ``shas``; if the block fails, each
    of those no committed row names is deleted.
    """
    with _INGEST:
        try:
            yield
        except BaseException:
            _discard(platform, shas)
            raise


def _discard(platform: Platform, shas: list[str]) -> None:
    with platform.db.read() as conn:
        for sha in shas:
            named = (
                conn.execute(
                    select(
                        exists().where(or_(assets.c.sha256 == sha, assets.c.manifest_sha256 == sha))
                    )
                ).scalar()
                or conn.execute(
                    select(exists().where(likeness_findings.c.evidence_sha256 == sha))
                ).scalar()
            )
            if not named:
                platform.blobs.delete(sha)


def upload(
    platform: Platform,
    access: Access,
    production_id: str,
    filename: str,
    stream: BinaryIO,
    declared_type: str | None,
) -> tuple[Asset, bool]:
    """Store an uploaded file as an asset of ``production_id``.

    Returns the asset and whether it is new: the same bytes uploaded twice to a
    production are one asset. Refuses bad names, unknown or mislabelled types,
    oversized files, and images that are damaged or would decode to too many
    pixels, leaving nothing behind.
    """
    access.require_submit(production_id)
    name = safe_filename(filename)
    with platform.db.read() as conn:
        get_production(conn, production_id)
    put: list[str] = []
    with ingesting(platform, put):
        ref = platform.blobs.put_stream(stream, media_type="", max_bytes=platform.max_upload)
        put.append(ref.sha256)
        path = platform.blobs.path(ref.sha256)
        with path.open("rb") as head:
            media_type = sniff_media_type(head.read(SNIFF_BYTES), declared_type)
        if media_type.startswith("image/") and media_type != "image/x-exr":
            check_image(path)
        with platform.db.transaction() as conn:
            found = conn.execute(
                select(assets.c.id).where(
                    assets.c.production_id == production_id, assets.c.sha256 == ref.sha256
                )
            ).first()
            if found is not None:
                put.clear()  # already named by a committed row: nothing to undo
                return load_asset(conn, found.id), False
            row: dict[str, Any] = {
                "id": new_id("asset"),
                "production_id": production_id,
                "sha256": ref.sha256,
                "media_type": media_type,
                "size": ref.size,
                "filename": name,
                "origin": "upload",
                "request_id": None,
                "run_id": None,
                "manifest_sha256": None,
                "created_by": access.person.id,
                "created_at": utcnow(),
            }
            conn.execute(insert(assets).values(**row))
            return Asset(parents=(), **row), True


def insert_output(
    conn: Connection,
    *,
    production_id: str,
    sha256: str,
    media_type: str,
    size: int,
    filename: str,
    request_id: str,
    run_id: str,
    manifest_sha256: str | None,
    created_by: str,
    parents: Sequence[str],
) -> Asset:
    """Record a signed output and its lineage (inside the caller's transaction)."""
    row: dict[str, Any] = {
        "id": new_id("asset"),
        "production_id": production_id,
        "sha256": sha256,
        "media_type": media_type,
        "size": size,
        "filename": filename,
        "origin": "output",
        "request_id": request_id,
        "run_id": run_id,
        "manifest_sha256": manifest_sha256,
        "created_by": created_by,
        "created_at": utcnow(),
    }
    conn.execute(_INSERT_ASSET, row)
    distinct = list(dict.fromkeys(parents))
    if distinct:
        conn.execute(_INSERT_PARENTS, [{"asset_id": row["id"], "parent_id": p} for p in distinct])
    return Asset(parents=tuple(distinct), **row)


def load_asset(conn: Connection, asset_id: str) -> Asset:
    """The asset with this id and its parents, or NotFound."""
    row = conn.execute(_ASSET, {"asset": asset_id}).mappings().first()
    if row is None:
        raise NotFound(
            f"There is no asset {asset_id!r}; check the id, or upload the file first.",
            code="asset.not_found",
        )
    parents = conn.execute(_PARENTS, {"asset": asset_id}).scalars()
    return Asset(parents=tuple(parents), **row)


def request_outputs(conn: Connection, request_id: str) -> list[Asset]:
    """A request's signed outputs, oldest first."""
    rows = conn.execute(_OUTPUTS, {"request": request_id}).mappings().all()
    if not rows:
        return []
    lineage: dict[str, list[str]] = {}
    for asset_id, parent_id in conn.execute(_OUTPUT_PARENTS, {"request": request_id}):
        lineage.setdefault(asset_id, []).append(parent_id)
    return [Asset(parents=tuple(lineage.get(row["id"], ())), **row) for row in rows]


def get_asset(
    conn: Connection, access: Access, asset_id: str, *, records: RecordCache | None = None
) -> Asset:
    """An asset the caller may see; others are NotFound or Forbidden with a reason.

    With ``records``, an asset read once is served from memory after (assets and
    their lineage never change once written).
    """
    if records is None:
        asset = load_asset(conn, asset_id)
    else:
        asset = records.get(("asset", asset_id), lambda: load_asset(conn, asset_id))
    access.require_read(asset.production_id)
    vendor = access.vendor_scope(asset.production_id)
    if vendor is not None and not _vendor_sees(conn, asset, vendor, access.person.id):
        raise_vendor_forbidden("asset", asset_id)
    return asset


def blob_path(platform: Platform, sha256: str) -> Path:
    """Where the bytes of an asset (or its sidecar manifest) are kept."""
    return platform.blobs.path(sha256)


def _vendor_sees(conn: Connection, asset: Asset, vendor_id: str, person_id: str) -> bool:
    if asset.created_by == person_id:
        return True
    if asset.request_id is None:
        return False
    owner = conn.execute(
        select(tools.c.vendor_id)
        .join(generation_requests, generation_requests.c.tool_id == tools.c.id)
        .where(generation_requests.c.id == asset.request_id)
    ).scalar()
    return owner == vendor_id


def raise_vendor_forbidden(kind: str, item_id: str) -> NoReturn:
    """A vendor asked for another vendor's (or the studio's own) work."""
    raise Forbidden(
        f"This {kind} ({item_id}) belongs to work by another vendor or the studio; a vendor "
        "sees only requests made with its own tools and their outputs.",
        code="access.other_vendor",
        reason="vendor_scope",
    )


def backend_input(platform: Platform, asset: Asset, part: str) -> BackendInput:
    """An asset as a backend sees it: a read-only file, its part and its media type."""
    return BackendInput(
        path=platform.blobs.path(asset.sha256), part=part, media_type=asset.media_type
    )


def credentials(platform: Platform, asset: Asset) -> CredentialReport:
    """Read and validate an asset's content credentials against the studio's trust anchor.

    The blob store names files by hash alone, while C2PA readers go by extension,
    so the asset (and its sidecar manifest) are linked under their own names first.
    """
    with tempfile.TemporaryDirectory(dir=platform.work_dir) as scratch:
        target = Path(scratch) / asset.filename
        _link(platform.blobs.path(asset.sha256), target)
        if asset.manifest_sha256 is not None:
            _link(platform.blobs.path(asset.manifest_sha256), Path(f"{target}.c2pa"))
        try:
            return read_credentials(target, trust=TrustAnchors.studio(platform.settings))
        except ProvenanceError as exc:
            # Name the asset, not the server's scratch directory.
            raise ProvenanceError(
                exc.message.replace(str(target), asset.filename),
                code=exc.code,
                asset=asset.id,
            ) from None


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links not allowed: copy instead
        shutil.copyfile(source, target)


# Built once: every run reads and writes these, and building them per call cost more
# than running them.
_INSERT_ASSET = insert(assets)
_INSERT_PARENTS = insert(asset_parents)
_ASSET = select(assets).where(assets.c.id == bindparam("asset"))
_PARENTS = (
    select(asset_parents.c.parent_id)
    .where(asset_parents.c.asset_id == bindparam("asset"))
    .order_by(asset_parents.c.parent_id)
)
_OUTPUTS = (
    select(assets)
    .where(assets.c.request_id == bindparam("request"), assets.c.origin == "output")
    .order_by(assets.c.id)
)
_OUTPUT_PARENTS = (
    select(asset_parents.c.asset_id, asset_parents.c.parent_id)
    .join(assets, assets.c.id == asset_parents.c.asset_id)
    .where(assets.c.request_id == bindparam("request"), assets.c.origin == "output")
    .order_by(asset_parents.c.asset_id, asset_parents.c.parent_id)
)
