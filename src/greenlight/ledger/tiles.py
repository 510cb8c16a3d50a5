"""C2SP ``tlog-tiles`` naming and entry bundles: pure functions, no I/O."""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence

from greenlight.core.errors import InvalidInput, VerificationFailed

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes
MAX_ENTRY_SIZE = 0xFFFF  # entry bundles prefix each entry with a uint16 length


def encode_index(n: int) -> str:
    """``1234067`` → ``x001/x234/067``: zero-padded 3-digit path elements."""
    if n < 0:
        raise InvalidInput(f"Tile index {n} is negative.", code="tiles.bad_index")
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """Path of a hash tile, with the ``.p/<W>`` suffix for partial tiles."""
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{encode_index(index)}{suffix}"


def bundle_path(index: int, width: int = TILE_WIDTH) -> str:
    """Path of an entry bundle, with the ``.p/<W>`` suffix for partial bundles."""
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/entries/{encode_index(index)}{suffix}"


def tiles_for_size(size: int) -> Iterator[tuple[int, int, int]]:
    """Every (tlog level, tile index, width) a tree of ``size`` leaves is served as."""
    level = 0
    while (count := size >> (TILE_HEIGHT * level)) > 0:
        for index in range(count // TILE_WIDTH):
            yield level, index, TILE_WIDTH
        if count % TILE_WIDTH:
            yield level, count // TILE_WIDTH, count % TILE_WIDTH
        level += 1


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """Concatenate entries, each behind its big-endian uint16 length."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise InvalidInput(
                f"An entry of {len(entry)} bytes does not fit a tile bundle "
                f"(at most {MAX_ENTRY_SIZE}).",
                code="ledger.entry_too_large",
            )
        out += struct.pack(">H", len(entry))
        out += entry
    return bytes(out)


def decode_bundle(data: bytes, first_index: int = 0) -> list[bytes]:
    """Split an entry bundle back into entries; names the entry where it breaks."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise VerificationFailed(
                f"Entry bundle is truncated inside the length of entry "
                f"{first_index + len(entries)}.",
                code="tiles.bad_bundle",
                index=first_index + len(entries),
            )
        (length,) = struct.unpack_from(">H", data, pos)
        pos += 2
        if pos + length > len(data):
            raise VerificationFailed(
                f"Entry bundle is truncated inside entry {first_index + len(entries)}.",
                code="tiles.bad_bundle",
                index=first_index + len(entries),
            )
        entries.append(data[pos : pos + length])
        pos += length
    return entries
