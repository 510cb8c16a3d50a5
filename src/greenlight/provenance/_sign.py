"""Signing one output: facts to manifest, manifest into the file, the file into place.

Nothing is written half-way: the signed file (and its sidecar) go to temporary
files in the destination directory and are renamed over the target only when
complete. Durability (fsync) and the content hash are the storing side's job:
the blob store hashes and syncs once as it takes the file in, so signing does
neither by default (``durable=True`` syncs before the rename; ``sha256`` is
computed, streamed, on first use).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from functools import cached_property
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
    """A signed output in place: where it is, its active manifest and (on demand) its SHA-256."""

    path: Path
    size: int
    mime_type: str
    manifest_label: str
    binding: Binding
    sidecar: Path | None = None

    @cached_property
    def sha256(self) -> str:
        """SHA-256 (hex) of the signed file, read in chunks on first use."""
        with self.path.open("rb") as signed:
            return hashlib.file_digest(signed, "sha256").hexdigest()


def sign_asset(
    src: Path,
    dst: Path,
    facts: CredentialFacts,
    identity: SigningIdentity,
    *,
    durable: bool = False,
) -> SignedAsset:
    """Write ``src`` to ``dst`` with content credentials stating ``facts``, signed by ``identity``.

    Embeddable types (PNG, JPEG, WebP, TIFF, WAV, MP3, M4A, MP4, MOV) carry the manifest
    inside; the others (SRT, WebVTT, TTML, JSON, EXR) are copied unchanged and get a
    ``<dst>.c2pa`` sidecar whose hard binding is the SHA-256 of the whole file.
    ``dst`` may equal ``src``; it is replaced only once the signed file is complete.
    With ``durable`` the new files are fsynced before the rename.
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
        manifest_store = _sign(builder, identity, kind, source, staged, str(src))
        staged.finish(durable)
        sidecar = None
        if kind.binding == "sidecar":
            sidecar = sidecar_path(dst)
            side = stack.enter_context(_Staged.next_to(sidecar))
            side.write(manifest_store)
            side.finish(durable)
            # Media first, then its sidecar: a reader never pairs a new sidecar with
            # old media.
            staged.commit(dst)
            side.commit(sidecar)
        else:
            staged.commit(dst)
    return SignedAsset(
        path=dst,
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
    staged: _Staged,
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
    """A temporary file next to its final place, removed unless committed.

    It is also the stream the SDK writes the signed file into.
    """

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

    # The stream protocol c2pa-python drives.

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def write(self, data: bytes) -> int:
        return self.file.write(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def flush(self) -> None:
        self.file.flush()

    # Greenlight's side.

    def finish(self, durable: bool) -> None:
        """Flush what the SDK wrote; with ``durable``, force it to disk."""
        self.file.flush()
        if durable:
            os.fsync(self.file.fileno())

    def commit(self, final: Path) -> None:
        """Move the finished file over ``final`` (atomic on one filesystem)."""
        self.file.close()
        os.replace(self.path, final)
