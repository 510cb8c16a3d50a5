"""The log's Merkle tree, read from stored hash tiles instead of recomputed.

Greenlight stores the hashes of *every* level of the tree in tiles of 256
(C2SP ``tlog-tiles`` keeps only every eighth level and rebuilds the seven in
between by hashing). Keeping them all doubles the stored hashes, about 64
bytes per entry, and turns every proof into a handful of table lookups with
no hashing: the price of the 1 ms proof target. The C2SP levels are simply
our levels 0, 8, 16..., so export is a copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from greenlight.core.errors import VerificationFailed
from greenlight.ledger.merkle import EMPTY_ROOT, HASH_SIZE, node_hash, split_point
from greenlight.ledger.tiles import TILE_HEIGHT, TILE_WIDTH

TileKey = tuple[int, int]  # (tree level, tile index)


class TileSource(Protocol):
    """Where stored hash tiles come from (a database, a cache, a dict)."""

    def read_tile(self, level: int, index: int) -> bytes:
        """The tile's hashes concatenated; ``b""`` when the tile does not exist."""
        ...


class DictTiles:
    """Tiles held in a plain dict: for building trees in memory and for tests."""

    def __init__(self, tiles: dict[TileKey, bytes] | None = None) -> None:
        self.tiles: dict[TileKey, bytes] = tiles if tiles is not None else {}

    def read_tile(self, level: int, index: int) -> bytes:
        """The tile, or ``b""``."""
        return self.tiles.get((level, index), b"")


class TileTree:
    """Roots and proofs of a log, for any size up to what the tiles hold."""

    def __init__(self, source: TileSource) -> None:
        self.source = source

    def node(self, level: int, index: int) -> bytes:
        """The hash of the complete subtree of ``2**level`` leaves at ``index``."""
        tile = self.source.read_tile(level, index >> TILE_HEIGHT)
        offset = (index & (TILE_WIDTH - 1)) * HASH_SIZE
        value = tile[offset : offset + HASH_SIZE]
        if len(value) != HASH_SIZE:
            raise VerificationFailed(
                f"The stored tree has no hash for level {level} index {index}: "
                "the tiles are missing or truncated. Run `greenlight ledger verify`.",
                code="ledger.tile_missing",
                index=index << level,
            )
        return value

    def subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)``, where ``start`` is aligned as RFC 9162
        subtrees always are (a multiple of the largest power of two below the width)."""
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            level = n.bit_length() - 1
            return self.node(level, start >> level)
        k = split_point(n)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int) -> bytes:
        """The root hash of the first ``size`` leaves."""
        return EMPTY_ROOT if size == 0 else self.subtree(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 audit path of ``index`` in the tree of ``size``."""
        path: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = split_point(hi - lo)
            if index - lo < k:
                path.append(self.subtree(lo + k, hi))
                hi = lo + k
            else:
                path.append(self.subtree(lo, lo + k))
                lo += k
        path.reverse()
        return path

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 consistency proof between two sizes (empty for 0 or equal)."""
        if size1 in (0, size2):
            return []
        path: list[bytes] = []
        lo, hi, m, complete = 0, size2, size1, True
        while True:
            n = hi - lo
            if m == n:
                if not complete:
                    path.append(self.subtree(lo, hi))
                break
            k = split_point(n)
            if m <= k:
                path.append(self.subtree(lo + k, hi))
                hi = lo + k
            else:
                path.append(self.subtree(lo, lo + k))
                lo += k
                m -= k
                complete = False
        path.reverse()
        return path


def fold_in(source: TileSource, old_size: int, new_leaves: Sequence[bytes]) -> dict[TileKey, bytes]:
    """Fold new leaf hashes into a tree of ``old_size`` leaves.

    Reads at most one stored tile per level (the right edge) and returns every
    tile that changed, whole, ready to be written back. Nothing is recomputed
    from scratch: the work is proportional to the new leaves.
    """
    tree = TileTree(source)
    changed: dict[TileKey, bytes] = {}
    new_size = old_size + len(new_leaves)
    level = 0
    first = old_size  # index of the first new node on this level
    nodes = list(new_leaves)
    while nodes:
        _write_nodes(source, changed, level, first, nodes)
        parent_first = old_size >> (level + 1)
        parent_end = new_size >> (level + 1)
        if parent_end == parent_first:
            break
        # The left child of the first new parent may be an old node.
        left_edge = [tree.node(level, first - 1)] if first & 1 else []
        row = left_edge + nodes
        nodes = [
            node_hash(row[i], row[i + 1]) for i in range(0, 2 * (parent_end - parent_first), 2)
        ]
        first = parent_first
        level += 1
    return changed


def _write_nodes(
    source: TileSource, changed: dict[TileKey, bytes], level: int, first: int, nodes: list[bytes]
) -> None:
    pos = 0
    index = first
    while pos < len(nodes):
        tile_index = index >> TILE_HEIGHT
        offset = index & (TILE_WIDTH - 1)
        take = min(TILE_WIDTH - offset, len(nodes) - pos)
        base = source.read_tile(level, tile_index)[: offset * HASH_SIZE] if offset else b""
        if len(base) != offset * HASH_SIZE:
            raise VerificationFailed(
                f"The stored tile at level {level} index {tile_index} is shorter than the tree: "
                "the tiles were truncated. Run `greenlight ledger verify`.",
                code="ledger.tile_missing",
                index=(tile_index << TILE_HEIGHT) << level,
            )
        changed[(level, tile_index)] = base + b"".join(nodes[pos : pos + take])
        pos += take
        index += take


def build_tiles(leaf_hashes: Sequence[bytes]) -> dict[TileKey, bytes]:
    """All tiles of a tree built from scratch: what the verifier compares against."""
    return fold_in(DictTiles(), 0, leaf_hashes)
