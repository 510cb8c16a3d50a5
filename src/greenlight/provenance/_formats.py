"""Which files can carry credentials, and how: embedded in the file or in a sidecar.

The type comes from the file name; the first bytes must agree with it, so a
JPEG renamed ``.png`` or an empty file fails here with a sentence, not deep in
the SDK with a parser message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from greenlight.core.errors import ProvenanceError

Binding = Literal["embedded", "sidecar"]

SIDECAR_SUFFIX = ".c2pa"

# Enough bytes for every signature below (RIFF....WAVE, ....ftyp).
_HEAD = 12


def _png(head: bytes) -> bool:
    return head.startswith(b"\x89PNG\r\n\x1a\n")


def _jpeg(head: bytes) -> bool:
    return head.startswith(b"\xff\xd8\xff")


def _webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def _tiff(head: bytes) -> bool:
    return head[:4] in (b"II*\x00", b"MM\x00*")


def _wav(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def _mp3(head: bytes) -> bool:
    # An ID3v2 tag, or straight into an MPEG audio frame (11 sync bits).
    frame_sync = len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
    return head.startswith(b"ID3") or frame_sync


def _bmff(head: bytes) -> bool:
    return head[4:8] == b"ftyp"


def _exr(head: bytes) -> bool:
    return head.startswith(b"\x76\x2f\x31\x01")


def _any_text(head: bytes) -> bool:
    # Subtitles and JSON have no magic number; an empty file still has nothing to credit.
    return len(head) > 0


@dataclass(frozen=True)
class MediaType:
    """A file type Greenlight credentials: its MIME type and where the manifest goes."""

    name: str
    mime: str
    binding: Binding
    looks_right: Callable[[bytes], bool]


_PNG = MediaType("PNG", "image/png", "embedded", _png)
_JPEG = MediaType("JPEG", "image/jpeg", "embedded", _jpeg)
_WEBP = MediaType("WebP", "image/webp", "embedded", _webp)
_TIFF = MediaType("TIFF", "image/tiff", "embedded", _tiff)
_WAV = MediaType("WAV", "audio/wav", "embedded", _wav)
_MP3 = MediaType("MP3", "audio/mpeg", "embedded", _mp3)
_M4A = MediaType("M4A", "audio/mp4", "embedded", _bmff)
_MP4 = MediaType("MP4", "video/mp4", "embedded", _bmff)
_MOV = MediaType("QuickTime", "video/quicktime", "embedded", _bmff)
# C2PA has no embedding for these; the manifest lives in "<file>.c2pa" and its
# c2pa.hash.data assertion is the SHA-256 of the whole file.
_SRT = MediaType("SubRip subtitles", "application/x-subrip", "sidecar", _any_text)
_VTT = MediaType("WebVTT subtitles", "text/vtt", "sidecar", _any_text)
_TTML = MediaType("TTML subtitles", "application/ttml+xml", "sidecar", _any_text)
_JSON = MediaType("JSON", "application/json", "sidecar", _any_text)
_EXR = MediaType("OpenEXR", "image/x-exr", "sidecar", _exr)

_BY_SUFFIX: dict[str, MediaType] = {
    ".png": _PNG,
    ".jpg": _JPEG,
    ".jpeg": _JPEG,
    ".webp": _WEBP,
    ".tif": _TIFF,
    ".tiff": _TIFF,
    ".wav": _WAV,
    ".mp3": _MP3,
    ".m4a": _M4A,
    ".mp4": _MP4,
    ".mov": _MOV,
    ".srt": _SRT,
    ".vtt": _VTT,
    ".ttml": _TTML,
    ".json": _JSON,
    ".exr": _EXR,
}

SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(sorted(_BY_SUFFIX))


def media_type(path: Path) -> MediaType:
    """The credentialed type of ``path`` by its suffix, or ``provenance.unsupported_type``."""
    found = _BY_SUFFIX.get(path.suffix.lower())
    if found is None:
        raise ProvenanceError(
            f"{path.name}: Greenlight cannot attach content credentials to "
            f"{path.suffix or 'files without a suffix'!r} files. Supported: "
            f"{', '.join(SUPPORTED_SUFFIXES)}.",
            code="provenance.unsupported_type",
            path=str(path),
        )
    return found


def ingredient_mime(path: Path) -> str:
    """MIME type for an input of any type: known types by name, the rest as opaque bytes."""
    found = _BY_SUFFIX.get(path.suffix.lower())
    return found.mime if found else "application/octet-stream"


def check_looks_like(path: Path, kind: MediaType) -> None:
    """Refuse a file whose first bytes contradict its name (``provenance.corrupt_file``)."""
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD)
    except FileNotFoundError:
        raise ProvenanceError(
            f"{path}: no such file.", code="provenance.file_not_found", path=str(path)
        ) from None
    except IsADirectoryError:
        raise ProvenanceError(
            f"{path} is a directory; give the path of a media file.",
            code="provenance.file_not_found",
            path=str(path),
        ) from None
    if not kind.looks_right(head):
        state = "is empty" if not head else f"does not start like a {kind.name} file"
        raise ProvenanceError(
            f"{path.name} {state}; it is corrupt, truncated or misnamed. "
            "Re-export it from its source and try again.",
            code="provenance.corrupt_file",
            path=str(path),
        )


def sidecar_path(path: Path) -> Path:
    """Where the sidecar manifest of ``path`` lives: ``<file>.c2pa`` next to it."""
    return path.with_name(path.name + SIDECAR_SUFFIX)
