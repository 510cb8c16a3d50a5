"""The content-addressed blob store, and the checks an upload passes before it is kept.

Blobs live at ``root/sha256/ab/cd/<hash>``. Each is written once and atomically (a
temp file in ``root/tmp`` on the same filesystem, fsync, rename), kept once however
often the same bytes are uploaded, and checked against its name whenever it is read.

Contract with the database: put the blob first, then write the rows that name it.
If that transaction rolls back, call :meth:`BlobStore.delete` only when no committed
row references the hash, because other uploads may share the same bytes. A row never
names a blob before the blob is durable, so a crash leaves at worst an unreferenced
blob (found by comparing the store with the database), never a row pointing at nothing.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import io
import os
import re
import stat
import tempfile
import time
import unicodedata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from PIL import Image

from greenlight.core.errors import InvalidInput, NotFound, TooLarge, VerificationFailed

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK = 1024 * 1024
"""Bytes read and hashed per step when storing or streaming a blob."""

SNIFF_BYTES = 4096
"""How much of the start of an upload :func:`sniff_media_type` expects to see."""

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class BlobRef:
    """A stored blob: its SHA-256 (64 lowercase hex digits), size in bytes and media type."""

    sha256: str
    size: int
    media_type: str


class BlobReader(io.RawIOBase):
    """A read-only stream of one blob that checks the bytes against the blob's hash.

    The check runs as soon as the stored size has been read (and again at end of file),
    so a consumer that stops at the known length is still protected. On a mismatch the
    read that would hand out the last bytes raises ``VerificationFailed`` instead, which
    aborts a download rather than completing it with damaged content.
    """

    def __init__(self, file: io.FileIO, sha256: str) -> None:
        super().__init__()
        self._file = file
        self._sha256 = sha256
        self._size = os.fstat(file.fileno()).st_size
        self._digest = hashlib.sha256()
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        n = self._file.readinto(view)
        if n:
            self._digest.update(view[:n])
            self._read += n
        if self._read >= self._size or (n == 0 and len(view) > 0):
            self._check()
        return n

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        return data if data is not None else b""  # None is only for non-blocking files

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """Yield the blob in pieces of at most ``size`` bytes (for streaming responses)."""
        while chunk := self.read(size):
            yield chunk

    def close(self) -> None:
        self._file.close()
        super().close()

    def _check(self) -> None:
        if self._digest.hexdigest() != self._sha256:
            raise VerificationFailed(
                "The stored blob no longer matches its SHA-256: the copy on disk is "
                "damaged. Restore it from a backup or upload the original again.",
                code="blob.corrupt",
                sha256=self._sha256,
            )


class BlobStore:
    """Blobs on disk under ``root``, named by the SHA-256 of their content."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"

    # Writing.

    def put_stream(self, stream: BinaryIO, *, media_type: str, max_bytes: int) -> BlobRef:
        """Store everything ``stream`` yields, in one pass, and return its reference.

        Refuses with ``TooLarge`` as soon as more than ``max_bytes`` arrive. On any
        error nothing is left behind: no temp file, no blob. Storing bytes that are
        already present keeps the existing file.
        """
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        tmp = Path(name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                while True:
                    # Ask for one byte past the limit at most, so an oversized
                    # upload is refused without reading (or storing) a whole chunk more.
                    chunk = stream.read(min(CHUNK, max_bytes - size + 1))
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(
                            f"The upload is larger than the {max_bytes} bytes allowed here; "
                            "send a smaller file.",
                            code="blob.too_large",
                            max_bytes=max_bytes,
                        )
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                # Read-only, so no later code can edit a blob in place by mistake.
                os.fchmod(out.fileno(), 0o440)
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            final = self.path(sha256)
            self._make_dirs(final.parent)
            # A same-sized file with this name is the same content (verified on
            # read); a different size means a damaged copy, which the fresh one heals.
            if not (final.is_file() and final.stat().st_size == size):
                os.replace(tmp, final)
                _fsync_dir(final.parent)
        finally:
            tmp.unlink(missing_ok=True)
        return BlobRef(sha256=sha256, size=size, media_type=media_type)

    def put_file(self, path: Path, *, media_type: str, max_bytes: int) -> BlobRef:
        """Store the file at ``path`` (see :meth:`put_stream`)."""
        with Path(path).open("rb") as stream:
            return self.put_stream(stream, media_type=media_type, max_bytes=max_bytes)

    def put_moved(self, path: Path, *, media_type: str) -> BlobRef:
        """Take the file at ``path`` into the store by renaming it: it is gone from
        ``path`` afterwards, on success or not.

        For a file this process just made (a signed output) on the store's filesystem:
        one read to hash it, its fsync and the rename, no copy. From another
        filesystem it is copied (:meth:`put_stream`). Durable on return, as every put.
        """
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as file:
                if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                    raise InvalidInput(
                        f"{path.name} is not a regular file; only files are stored.",
                        code="blob.not_a_file",
                    )
                sha256 = hashlib.file_digest(file, "sha256").hexdigest()
                size = os.fstat(file.fileno()).st_size
                os.fchmod(file.fileno(), 0o440)  # read-only, as every blob
                os.fsync(file.fileno())  # its bytes are on disk before its name is
            final = self.path(sha256)
            self._make_dirs(final.parent)
            if final.is_file() and final.stat().st_size == size:
                return BlobRef(sha256=sha256, size=size, media_type=media_type)
            try:
                os.replace(path, final)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                with path.open("rb") as elsewhere:  # another filesystem: copy it in
                    return self.put_stream(elsewhere, media_type=media_type, max_bytes=size)
            _fsync_dir(final.parent)
        finally:
            path.unlink(missing_ok=True)
        return BlobRef(sha256=sha256, size=size, media_type=media_type)

    def put_bytes(self, data: bytes, *, media_type: str) -> BlobRef:
        """Store ``data`` (already in memory, so its size is the caller's to limit)."""
        return self.put_stream(io.BytesIO(data), media_type=media_type, max_bytes=len(data))

    # Reading.

    def path(self, sha256: str) -> Path:
        """Where the blob named ``sha256`` lives (whether or not it exists).

        Only 64 lowercase hex digits are accepted, so a hash from a request can
        never point outside the store.
        """
        if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
            raise InvalidInput(
                "A blob hash must be a SHA-256 written as 64 lowercase hexadecimal "
                "characters; check the reference you were given.",
                code="blob.bad_hash",
            )
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    def open(self, sha256: str) -> BlobReader:
        """A stream of the blob that raises ``VerificationFailed`` if its bytes are damaged.

        Serve downloads through this reader, not by handing the file path to a web
        server, or corruption goes unnoticed.
        """
        try:
            file = io.FileIO(self.path(sha256), "r")
        except FileNotFoundError:
            raise _not_found(sha256) from None
        return BlobReader(file, sha256)

    def read_bytes(self, sha256: str) -> bytes:
        """The whole blob, verified against its hash."""
        with self.open(sha256) as reader:
            return b"".join(reader.chunks())  # big reads: read() alone goes 8 KiB at a time

    def verify(self, sha256: str) -> None:
        """Read the blob through and raise ``VerificationFailed`` if it is damaged."""
        with self.open(sha256) as reader:
            for _ in reader.chunks():
                pass

    def exists(self, sha256: str) -> bool:
        """Whether a blob with this hash is stored."""
        return self.path(sha256).is_file()

    def size(self, sha256: str) -> int:
        """The stored blob's size in bytes."""
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            raise _not_found(sha256) from None

    # Removing.

    def delete(self, sha256: str) -> None:
        """Remove a blob; removing one that is not there is not an error.

        For undoing a put whose database transaction rolled back. The caller must
        first check, in the database, that no committed row references the hash.
        Beware a concurrent upload of the same bytes that has been put but not yet
        committed: its rows will name a blob this call removed. Callers that can
        race must serialise the reference check, the delete and their own commit.
        """
        # The fan-out directories stay: removing them could race a put that has
        # just created them and is about to rename its file into place.
        self.path(sha256).unlink(missing_ok=True)

    def sweep_tmp(self, older_than_seconds: float = 3600) -> int:
        """Remove temp files a crashed process left in ``root/tmp``; return how many.

        A live upload keeps writing its temp file, so only files untouched for
        ``older_than_seconds`` are taken.
        """
        if not self._tmp.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in self._tmp.iterdir():
            try:
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # its upload finished, or another sweeper took it
        return removed

    def _make_dirs(self, directory: Path) -> None:
        # Create the missing fan-out directories top down, fsyncing each parent so
        # the new entry survives a crash along with the blob renamed into it.
        missing: list[Path] = []
        while not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        fan_out = self.root / "sha256"
        for new in reversed(missing):
            if new.parent == fan_out:
                # A young store would make one of the 256 first-level folders (and
                # sync its parent) for most of its first blobs: make them all at once.
                for prefix in _PREFIXES:
                    (fan_out / prefix).mkdir(exist_ok=True)
                _fsync_dir(fan_out)
                continue
            try:
                new.mkdir()
            except FileExistsError:
                continue  # another writer made it first (and fsyncs it)
            _fsync_dir(new.parent)


_PREFIXES = tuple(f"{i:02x}" for i in range(256))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _not_found(sha256: str) -> NotFound:
    return NotFound(
        "No blob with this SHA-256 is stored; check the hash, or upload the file first.",
        code="blob.not_found",
        sha256=sha256,
    )


# Upload checks: pure functions of their input.

_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_DRIVE = re.compile(r"[A-Za-z]:")


def safe_filename(name: str) -> str:
    """``name`` in Unicode NFC if it is a plain file name, else ``InvalidInput``.

    Refused: empty names, ``.`` and ``..``, any ``/`` or ``\\`` (so no directories
    and no absolute paths), Windows drive prefixes (``C:``), control characters
    (including NUL, line breaks and the bidi overrides that disguise extensions),
    and names over 255 bytes in UTF-8.
    """
    name = unicodedata.normalize("NFC", name)
    problem = None
    if name in ("", ".", ".."):
        problem = "is empty or a directory reference"
    elif "/" in name or "\\" in name:
        problem = "contains a path separator"
    elif _DRIVE.match(name):
        problem = "starts with a drive letter"
    elif any(
        unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in _BIDI_CONTROLS for c in name
    ):
        problem = "contains control characters"
    elif len(name.encode("utf-8")) > 255:
        problem = "is longer than 255 bytes"
    if problem:
        raise InvalidInput(
            f"The file name {problem}; rename the file to a plain name such as "
            "'shot_010_v2.exr' and upload it again.",
            code="upload.bad_filename",
        )
    return name


_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "image/exr": "image/x-exr",
    "text/srt": "application/x-subrip",
    "application/srt": "application/x-subrip",
    "text/json": "application/json",
}
# Declarations that claim nothing in particular.
_GENERIC = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_TEXT_TYPES = frozenset(
    {"application/x-subrip", "text/vtt", "application/ttml+xml", "application/json"}
)
# One container, told apart only by an unreliable brand: an M4A may say "isom".
_ISO_MEDIA = frozenset({"video/mp4", "audio/mp4", "video/quicktime"})

_SRT = re.compile(r"\s*\d+[ \t]*\r?\n[ \t]*\d+:\d\d:\d\d[,.]\d{3}[ \t]*-->")
_VTT = re.compile(r"WEBVTT(?:[ \t\r\n]|\Z)")
_TT_ROOT = re.compile(r"<(?:[\w.-]+:)?tt[\s>/]")


def sniff_media_type(head: bytes, declared: str | None) -> str:
    """The media type of an upload, judged from its first bytes (about :data:`SNIFF_BYTES`).

    Knows PNG, JPEG, WebP, TIFF, OpenEXR, WAV, MP3, MP4/M4A/MOV, SubRip, WebVTT,
    TTML and JSON, and UTF-8 plain text when it is declared ``text/plain`` (a line
    for speech, say). ``declared`` (the client's Content-Type, may be ``None``) must
    agree with the content, else ``upload.type_mismatch``; content we do not know
    is ``upload.unsupported_type``.
    """
    claim = (declared or "").split(";")[0].strip().lower()
    claim = _ALIASES.get(claim, claim)
    found = _sniff(head)
    if found is None and claim == "text/plain" and _is_plain_text(head):
        # Plain text has no signature of its own: taken only when sent as text.
        return "text/plain"
    if found is None:
        raise InvalidInput(
            "The file is not a type Greenlight accepts (images: PNG, JPEG, WebP, TIFF, "
            "EXR; audio: WAV, MP3, M4A; video: MP4, MOV; subtitles: SRT, WebVTT, TTML; "
            "JSON; UTF-8 text sent as text/plain); convert it to one of these and upload "
            "it again.",
            code="upload.unsupported_type",
        )
    if claim in _GENERIC or claim == found:
        return found
    if claim == "text/plain" and found in _TEXT_TYPES:
        return found
    if claim in _ISO_MEDIA and found in _ISO_MEDIA:
        return claim
    raise InvalidInput(
        f"The file was sent as {declared} but its content is {found}; send it with "
        "the right type, or check that it is the file you meant.",
        code="upload.type_mismatch",
        declared=declared,
        detected=found,
    )


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # TIFF, BigTIFF
        return "image/tiff"
    if head.startswith(b"v/1\x01"):
        return "image/x-exr"
    if head[4:8] == b"ftyp" and len(head) >= 12:
        brand = head[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        return "audio/mp4" if brand in (b"M4A ", b"M4B ", b"M4P ") else "video/mp4"
    if head.startswith(b"ID3") or _is_mp3_frame(head):
        return "audio/mpeg"
    return _sniff_text(head)


def _is_mp3_frame(head: bytes) -> bool:
    # An MPEG audio frame header: 11 sync bits, then no reserved version, layer,
    # bitrate or sample-rate values (which rules out AAC/ADTS and random bytes).
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


def _sniff_text(head: bytes) -> str | None:
    try:
        # Not final: the head may end inside a multi-byte character.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    text = text.removeprefix("\ufeff")
    if _VTT.match(text):
        return "text/vtt"
    if _SRT.match(text):
        return "application/x-subrip"
    body = text.lstrip()
    if body.startswith("<") and _TT_ROOT.search(body) and "http://www.w3.org/ns/ttml" in body:
        return "application/ttml+xml"
    if body.startswith(("{", "[")):
        return "application/json"
    return None


def _is_plain_text(head: bytes) -> bool:
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    text = text.removeprefix("\ufeff")
    return bool(text.strip()) and all(c.isprintable() or c in "\t\r\n" for c in text)


def check_image(path: Path, *, max_pixels: int = 80_000_000) -> tuple[int, int]:
    """Check that the image at ``path`` is safe to decode and intact; return (width, height).

    The size is read from the header before any pixel is decoded, so a small file
    that would expand to gigabytes (a decompression bomb) is refused cheaply with
    ``upload.decompression_bomb``. Pillow's own limit applies too, if lower. A damaged
    or truncated image is ``upload.corrupt``.
    """
    limit = max_pixels
    if Image.MAX_IMAGE_PIXELS is not None:
        limit = min(limit, int(Image.MAX_IMAGE_PIXELS))
    try:
        # Pillow warns between its limit and twice it; make that an error. The
        # filter is process-wide, but the explicit size check below does not need it.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # reads the header only
                width, height = image.size
                if width * height > limit:
                    raise _bomb(limit)
                image.verify()
        # verify() leaves the image unusable; a full decode needs a fresh open.
        with Image.open(path) as image:
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb(limit) from exc
    except (InvalidInput, FileNotFoundError):
        raise
    except Exception as exc:  # Pillow's decoders raise many types on bad input
        raise InvalidInput(
            "The image is damaged or truncated and cannot be decoded; export it "
            "again and upload the new file.",
            code="upload.corrupt",
        ) from exc
    return width, height


def _bomb(limit: int) -> InvalidInput:
    return InvalidInput(
        f"The image has more than {limit} pixels, too many to decode safely; send a smaller image.",
        code="upload.decompression_bomb",
        max_pixels=limit,
    )
