"""Signing one output: facts to manifest, manifest into the file, the file into place.

Nothing is written half-way: the signed file (and its sidecar) go to temporary
files in the destination directory, are fsynced, then renamed over the target.
Files are streamed: the SDK reads and writes through file handles, and the
SHA-256 of the result is computed in chunks while its fsync runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import threading
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import c2pa

from greenlight.core.errors import ProvenanceError
from greenlight.provenance._facts import CredentialFacts
from greenlight.provenance._formats import (
    Binding,
    MediaType,
    check_looks_like,
    ingredient_mime,
    media_type,
    sidecar_path,
)
from greenlight.provenance._identity import SigningIdentity
from greenlight.provenance._manifest import PARENT_ID, input_id, manifest_definition
from greenlight.provenance._sdk import provenance_error, signing_context


@dataclass(frozen=True)
class SignedAsset:
    """A signed output in place: where it is, its SHA-256 and its active manifest."""

    path: Path
    sha256: str
    size: int
    mime_type: str
    manifest_label: str
    binding: Binding
    sidecar: Path | None = None


def sign_asset(
    src: Path, dst: Path, facts: CredentialFacts, identity: SigningIdentity
) -> SignedAsset:
    """Write ``src`` to ``dst`` with content credentials stating ``facts``, signed by ``identity``.

    Embeddable types (PNG, JPEG, WebP, TIFF, WAV, MP3, M4A, MP4, MOV) carry the manifest
    inside; the others (SRT, WebVTT, TTML, JSON, EXR) are copied unchanged and get a
    ``<dst>.c2pa`` sidecar whose hard binding is the SHA-256 of the whole file.
    ``dst`` may equal ``src``; it is replaced only once everything is on disk.
    """
    src, dst = Path(src), Path(dst)
    kind = media_type(src)
    if media_type(dst) != kind:
        raise ProvenanceError(
            f"{dst.name} must keep the type of {src.name} ({kind.name}); signing does not convert.",
            code="provenance.type_mismatch",
        )
    check_looks_like(src, kind)
    label = f"urn:c2pa:{uuid.uuid4()}"
    manifest = manifest_definition(facts, title=facts.title or dst.name, label=label)

    with ExitStack() as stack:
        try:
            builder = stack.enter_context(c2pa.Builder(manifest, signing_context()))
        except c2pa.C2paError as exc:
            raise provenance_error(exc, path=str(dst), doing="build a manifest for") from exc
        if facts.source is not None:
            _add_ingredient(builder, Path(facts.source), "parentOf", PARENT_ID, stack)
        for position, path in enumerate(facts.inputs):
            _add_ingredient(builder, Path(path), "inputTo", input_id(position), stack)
        if kind.binding == "sidecar":
            builder.set_no_embed()
        source = stack.enter_context(src.open("rb"))
        staged = stack.enter_context(_Staged.next_to(dst))
        manifest_store = _sign(builder, identity, kind, source, staged.file, str(src))
        digest = staged.finish()
        sidecar = None
        if kind.binding == "sidecar":
            sidecar = sidecar_path(dst)
            side = stack.enter_context(_Staged.next_to(sidecar))
            side.file.write(manifest_store)
            side.finish()
            # Media first, then its sidecar: a reader never pairs a new sidecar with
            # old media.
            staged.commit(dst)
            side.commit(sidecar)
        else:
            staged.commit(dst)
    return SignedAsset(
        path=dst,
        sha256=digest,
        size=dst.stat().st_size,
        mime_type=kind.mime,
        manifest_label=label,
        binding=kind.binding,
        sidecar=sidecar,
    )


def _add_ingredient(
    builder: c2pa.Builder, path: Path, relationship: str, label: str, stack: ExitStack
) -> None:
    path = Path(path)
    mime = ingredient_mime(path)
    ingredient: dict[str, Any] = {
        "title": path.name,
        "format": mime,
        "relationship": relationship,
        "label": label,
    }
    try:
        stream = stack.enter_context(path.open("rb"))
    except FileNotFoundError:
        raise ProvenanceError(
            f"The {relationship} ingredient {path} does not exist.",
            code="provenance.file_not_found",
            path=str(path),
        ) from None
    sidecar = sidecar_path(path)
    try:
        if sidecar.exists():
            # A subtitle or EXR carries its credentials beside it; hand them to the SDK so
            # the new manifest keeps the ancestor, as it does for embedded credentials.
            _attach_sidecar_credentials(builder, ingredient, mime, stream, sidecar)
        builder.add_ingredient(ingredient, mime, stream)
    except c2pa.C2paError as exc:
        raise provenance_error(exc, path=str(path), doing="read the ingredient") from exc


def _attach_sidecar_credentials(
    builder: c2pa.Builder,
    ingredient: dict[str, Any],
    mime: str,
    stream: IO[bytes],
    sidecar: Path,
) -> None:
    store_bytes = sidecar.read_bytes()
    with c2pa.Reader(mime, stream, store_bytes, context=signing_context()) as reader:
        store = json.loads(reader.json())
    stream.seek(0)
    resource_id = f"sidecar-{uuid.uuid4().hex}"
    builder.add_resource(resource_id, io.BytesIO(store_bytes))
    ingredient["manifest_data"] = {"format": "application/c2pa", "identifier": resource_id}
    ingredient["active_manifest"] = store["active_manifest"]
    ingredient["validation_results"] = store.get("validation_results", {})


def _sign(
    builder: c2pa.Builder,
    identity: SigningIdentity,
    kind: MediaType,
    source: IO[bytes],
    staged: IO[bytes],
    where: str,
) -> bytes:
    identity.take_callback_error()
    try:
        manifest_store: bytes = builder.sign(identity.sdk_signer(), kind.mime, source, staged)
    except c2pa.C2paError as exc:
        failed = identity.take_callback_error()
        if failed is not None:
            raise ProvenanceError(
                f"The signing callback failed: {failed!r}. Check the KMS or HSM that holds "
                "the key.",
                code="provenance.signer_failed",
            ) from failed
        raise provenance_error(exc, path=where, doing="sign") from exc
    return manifest_store


class _Staged:
    """A temporary file next to its final place, removed unless committed."""

    def __init__(self, path: Path, file: IO[bytes]) -> None:
        self.path = path
        self.file = file

    @classmethod
    def next_to(cls, final: Path) -> _Staged:
        """A new empty temporary file in ``final``'s directory."""
        try:
            fd, tmp = tempfile.mkstemp(
                dir=final.parent, prefix=f".{final.name}.", suffix=".partial"
            )
        except FileNotFoundError:
            raise ProvenanceError(
                f"The folder {final.parent} does not exist.",
                code="provenance.file_not_found",
                path=str(final),
            ) from None
        return cls(Path(tmp), os.fdopen(fd, "w+b"))

    def __enter__(self) -> _Staged:
        return self

    def __exit__(self, *_: object) -> None:
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def finish(self) -> str:
        """Flush to disk and return the SHA-256 of the content.

        The fsync runs in a thread while we hash (both release the GIL), so the digest
        costs little on top of the durability we need anyway.
        """
        self.file.flush()
        failed: list[OSError] = []

        def fsync() -> None:
            try:
                os.fsync(self.file.fileno())
            except OSError as exc:
                failed.append(exc)

        syncing = threading.Thread(target=fsync)
        syncing.start()
        try:
            with self.path.open("rb") as again:
                digest = hashlib.file_digest(again, "sha256").hexdigest()
        finally:
            syncing.join()
        if failed:
            raise failed[0]
        return digest

    def commit(self, final: Path) -> None:
        """Move the finished file over ``final`` (atomic on one filesystem)."""
        self.file.close()
        os.replace(self.path, final)
