"""C2SP tlog-tiles naming and bundles, and the tile-backed tree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenlight.core.errors import InvalidInput, VerificationFailed
from greenlight.ledger import merkle
from greenlight.ledger.tiles import (
    bundle_path,
    decode_bundle,
    encode_bundle,
    encode_index,
    tile_path,
    tiles_for_size,
)
from greenlight.ledger.tree import DictTiles, TileTree, build_tiles, fold_in
from tests.expect import refused


def test_tile_index_paths_follow_the_spec() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(0) == "000"
    assert encode_index(999) == "999"
    assert encode_index(1000) == "x001/000"
    assert tile_path(0, 5) == "tile/0/005"
    assert tile_path(2, 1234067, 17) == "tile/2/x001/x234/067.p/17"
    assert bundle_path(3, 112) == "tile/entries/003.p/112"


def test_tiles_for_the_specs_example_sizes() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one
    # partial level 0 tile of width 112, one full level 1 tile, one partial
    # level 1 tile of width 17, and one partial level 2 tile of width 1."
    tiles = list(tiles_for_size(70_000))
    level0 = [t for t in tiles if t[0] == 0]
    assert len([t for t in level0 if t[2] == 256]) == 273
    assert (0, 273, 112) in level0
    assert [t for t in tiles if t[0] == 1] == [(1, 0, 256), (1, 1, 17)]
    assert [t for t in tiles if t[0] == 2] == [(2, 0, 1)]
    assert list(tiles_for_size(256)) == [(0, 0, 256), (1, 0, 1)]
    assert list(tiles_for_size(0)) == []


def test_entry_bundles_round_trip_and_name_the_broken_entry() -> None:
    entries = [b"", b"a", b"x" * 300, bytes(range(256))]
    assert decode_bundle(encode_bundle(entries)) == entries
    broken = encode_bundle(entries)[:-5]
    with pytest.raises(VerificationFailed) as err:
        decode_bundle(broken, first_index=512)
    assert err.value.details["index"] == 515
    with pytest.raises(InvalidInput):
        encode_bundle([b"x" * 70_000])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=8))
def test_folding_batches_in_matches_building_from_scratch(batches: list[int]) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(sum(batches))]
    tiles = DictTiles()
    size = 0
    for n in batches:
        tiles.tiles.update(fold_in(tiles, size, leaves[size : size + n]))
        size += n
        assert TileTree(tiles).root(size) == merkle.root(leaves[:size])
    assert tiles.tiles == build_tiles(leaves)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_tree_proofs_equal_the_reference_proofs(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=1200))
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    tree = TileTree(DictTiles(build_tiles(leaves)))
    size = data.draw(st.integers(min_value=1, max_value=n))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    size1 = data.draw(st.integers(min_value=0, max_value=size))
    assert tree.inclusion_proof(index, size) == merkle.inclusion_proof(index, size, leaves)
    assert tree.consistency_proof(size1, size) == merkle.consistency_proof(size1, size, leaves)
    assert tree.root(size) == merkle.root(leaves[:size])


def test_a_missing_tile_is_reported_not_guessed() -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(10)]
    tiles = build_tiles(leaves)
    del tiles[(0, 0)]
    with refused("ledger.tile_missing", VerificationFailed):
        TileTree(DictTiles(tiles)).inclusion_proof(3, 10)
