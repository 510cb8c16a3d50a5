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
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from queue import SimpleQueue
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
        staged = stack.enter_context(
            _Staged.next_to(dst, stream_digest=not kind.rewritten_in_place)
        )
        manifest_store = _sign(builder, identity, kind, source, staged, str(src))
        digest = staged.finish()
        sidecar = None
        if kind.binding == "sidecar":
            sidecar = sidecar_path(dst)
            side = stack.enter_context(_Staged.next_to(sidecar, stream_digest=False))
            side.write(manifest_store)
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


# Bytes handed to the hashing thread at a time: large enough that the thread wakes
# rarely, small enough that hashing keeps pace with the SDK's writes.
_BATCH = 1 << 20


class _Job:
    """``work`` run in a thread; ``result`` joins it and re-raises what it raised."""

    def __init__(self, work: Callable[[], str], generation: int) -> None:
        self.generation = generation
        self._work = work
        self._value = ""
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as exc:
            self._error = exc

    def result(self) -> str:
        """What ``work`` returned, once it has."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class _StreamingDigest:
    """SHA-256 of bytes handed over in order, computed in a thread as they arrive."""

    def __init__(self) -> None:
        self._queue: SimpleQueue[list[bytes] | None] = SimpleQueue()
        self._abandoned = False
        self._job = _Job(self._run, 0)

    def _run(self) -> str:
        digest = hashlib.sha256()
        while (batch := self._queue.get()) is not None:
            for chunk in batch:
                view = memoryview(chunk)
                # Slices, so that an abandoned digest stops soon even mid-way a big write.
                for start in range(0, len(view), _BATCH):
                    if self._abandoned:
                        return ""
                    digest.update(view[start : start + _BATCH])
        return digest.hexdigest()

    def add(self, batch: list[bytes]) -> None:
        """Hash ``batch`` after everything added before it."""
        self._queue.put(batch)

    def close(self) -> str:
        """The digest of everything added."""
        self._queue.put(None)
        return self._job.result()

    def abandon(self) -> None:
        """Stop hashing without waiting: the bytes changed under us.

        The thread only ever reads bytes in memory, never the file, so it may wind
        down on its own while the file is renamed or deleted.
        """
        self._abandoned = True
        self._queue.put(None)


class _Staged:
    """A temporary file next to its final place, removed unless committed.

    It is also the stream the SDK writes the signed file into, so the work Greenlight
    adds runs alongside the SDK's instead of after it: appended bytes are hashed in a
    thread as they are written, and the fsync starts when the SDK flushes after its
    last write (it then still verifies the new manifest in memory). When the SDK
    rewrites bytes already written (WAV and WebP sizes, TIFF directories), the
    streamed digest is dropped and the file is hashed again from the page cache.
    """

    def __init__(self, path: Path, file: IO[bytes], *, stream_digest: bool = True) -> None:
        self.path = path
        self.file = file
        self._pos = 0
        self._end = 0
        self._writes = 0
        self._batch: list[bytes] = []
        self._batch_size = 0
        self._streaming = _StreamingDigest() if stream_digest else None
        self._rehash: _Job | None = None
        self._fsync: _Job | None = None

    @classmethod
    def next_to(cls, final: Path, *, stream_digest: bool = True) -> _Staged:
        """A new empty temporary file in ``final``'s directory; ``stream_digest=False``
        when the writer is known to rewrite what it wrote (hash once, at the end)."""
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
        return cls(Path(tmp), os.fdopen(fd, "w+b"), stream_digest=stream_digest)

    def __enter__(self) -> _Staged:
        return self

    def __exit__(self, *_: object) -> None:
        self._drop_streaming()
        # Never leave a thread reading or syncing a file we are about to delete.
        for job in (self._rehash, self._fsync):
            if job is not None:
                with contextlib.suppress(OSError):
                    job.result()
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # The stream protocol c2pa-python drives.

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self._pos += len(data)
        return data

    def write(self, data: bytes) -> int:
        if self._pos != self._end:
            self._drop_streaming()
        elif self._streaming is not None:
            self._batch.append(data)
            self._batch_size += len(data)
            if self._batch_size >= _BATCH:
                self._hand_over(self._streaming)
        self.file.write(data)
        self._pos += len(data)
        self._end = max(self._end, self._pos)
        self._writes += 1
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._pos = self.file.seek(offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        self.file.flush()
        if self._fsync is None:
            self._fsync = self._start_fsync()
        if self._streaming is None and self._rehash is None:
            self._rehash = self._start_rehash()

    # Greenlight's side.

    def finish(self) -> str:
        """Make sure the content is on disk and return its SHA-256 (hex)."""
        self.file.flush()
        if self._fsync is None or self._fsync.generation != self._writes:
            if self._fsync is not None:
                self._fsync.result()
            self._fsync = self._start_fsync()
        if self._streaming is not None:
            streaming, self._streaming = self._streaming, None
            self._hand_over(streaming)
            digest = streaming.close()
        else:
            if self._rehash is None or self._rehash.generation != self._writes:
                if self._rehash is not None:
                    self._rehash.result()
                self._rehash = self._start_rehash()
            digest = self._rehash.result()
        self._fsync.result()
        return digest

    def commit(self, final: Path) -> None:
        """Move the finished file over ``final`` (atomic on one filesystem)."""
        self.file.close()
        os.replace(self.path, final)

    def _hand_over(self, streaming: _StreamingDigest) -> None:
        if self._batch:
            streaming.add(self._batch)
            self._batch, self._batch_size = [], 0

    def _drop_streaming(self) -> None:
        if self._streaming is not None:
            self._streaming.abandon()
            self._streaming = None
            self._batch, self._batch_size = [], 0

    def _start_fsync(self) -> _Job:
        fd = self.file.fileno()

        def fsync() -> str:
            os.fsync(fd)
            return ""

        return _Job(fsync, self._writes)

    def _start_rehash(self) -> _Job:
        path = self.path

        def rehash() -> str:
            with path.open("rb") as again:
                return hashlib.file_digest(again, "sha256").hexdigest()

        return _Job(rehash, self._writes)
