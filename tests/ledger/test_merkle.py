"""RFC 9162 hashing and proofs: reference vectors, properties and every failure."""

from __future__ import annotations

import base64
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenlight.ledger import ProofError
from greenlight.ledger.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# The reference tree used by the Certificate Transparency and Trillian suites.
REFERENCE_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]  # fmt: skip
REFERENCE_ROOT_PREFIXES = [
    "6e340b9c", "fac54203", "aeb6bcfe", "d37ee418", "4e3bbb1f", "76e67dad", "ddb89be4", "5dc9da79",
]  # fmt: skip
REFERENCE_ROOT_8 = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
LEAVES = [leaf_hash(d) for d in REFERENCE_LEAVES]


def hashes(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_hashing_matches_rfc_6962_vectors() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root([]) == EMPTY_ROOT
    assert (
        leaf_hash(b"L123456").hex()
        == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert (
        node_hash(b"N123", b"N456").hex()
        == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_reference_tree_roots_for_every_size() -> None:
    for n, prefix in enumerate(REFERENCE_ROOT_PREFIXES, start=1):
        assert root(LEAVES[:n]).hex().startswith(prefix)
    assert root(LEAVES).hex() == REFERENCE_ROOT_8


def test_reference_inclusion_vector_from_transparency_dev() -> None:
    # testdata/inclusion/1/happy-path.json: leaf 0 of the 8-leaf reference tree.
    want_root = base64.b64decode("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=")
    want_leaf = base64.b64decode("bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=")
    assert root(LEAVES) == want_root and LEAVES[0] == want_leaf
    proof = inclusion_proof(0, 8, LEAVES)
    assert len(proof) == 3
    verify_inclusion(want_leaf, 0, 8, proof, want_root)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=130))
def test_every_index_proves_in_every_size(n: int) -> None:
    leaves = hashes(n)
    for size in range(1, n + 1):
        r = root(leaves[:size])
        for index in range(size):
            verify_inclusion(leaves[index], index, size, inclusion_proof(index, size, leaves), r)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=100))
def test_every_pair_of_sizes_is_consistent(n: int) -> None:
    leaves = hashes(n)
    roots = [root(leaves[:s]) for s in range(n + 1)]
    for a in range(n + 1):
        for b in range(a, n + 1):
            verify_consistency(a, b, consistency_proof(a, b, leaves), roots[a], roots[b])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_changed_proof_hash_is_refused(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=2, max_value=300))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    leaves = hashes(size)
    proof = inclusion_proof(index, size, leaves)
    which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=255))
    bad = bytearray(proof[which])
    bad[bit // 8] ^= 1 << (bit % 8)
    proof[which] = bytes(bad)
    with pytest.raises(ProofError):
        verify_inclusion(leaves[index], index, size, proof, root(leaves))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_consistency_proof_for_other_sizes_is_refused(data: st.DataObject) -> None:
    size2 = data.draw(st.integers(min_value=3, max_value=300))
    size1 = data.draw(st.integers(min_value=1, max_value=size2 - 1))
    other = data.draw(st.integers(min_value=1, max_value=size2 - 1).filter(lambda s: s != size1))
    leaves = hashes(size2)
    proof = consistency_proof(size1, size2, leaves)
    with pytest.raises(ProofError):
        verify_consistency(other, size2, proof, root(leaves[:other]), root(leaves))


_LEAVES11 = hashes(11)


class TestInclusionFailures:
    leaves: ClassVar[list[bytes]] = _LEAVES11
    proof: ClassVar[list[bytes]] = inclusion_proof(4, 11, _LEAVES11)
    r = root(_LEAVES11)

    def check(self, code: str, *args: object) -> None:
        with pytest.raises(ProofError) as err:
            verify_inclusion(*args)  # type: ignore[arg-type]
        assert err.value.code == code
        assert err.value.message

    def test_wrong_root(self) -> None:
        self.check("ledger.root_mismatch", self.leaves[4], 4, 11, self.proof, EMPTY_ROOT)

    def test_wrong_leaf(self) -> None:
        self.check("ledger.root_mismatch", self.leaves[5], 4, 11, self.proof, self.r)

    def test_wrong_index_same_length(self) -> None:
        self.check("ledger.root_mismatch", self.leaves[4], 5, 11, self.proof, self.r)

    def test_index_out_of_range(self) -> None:
        self.check("ledger.index_out_of_range", self.leaves[4], 11, 11, self.proof, self.r)
        self.check("ledger.index_out_of_range", self.leaves[4], -1, 11, self.proof, self.r)

    def test_empty_tree(self) -> None:
        self.check("ledger.index_out_of_range", self.leaves[0], 0, 0, [], EMPTY_ROOT)

    def test_proof_too_long_or_short(self) -> None:
        self.check(
            "ledger.proof_wrong_length", self.leaves[4], 4, 11, [*self.proof, self.r], self.r
        )
        self.check("ledger.proof_wrong_length", self.leaves[4], 4, 11, self.proof[:-1], self.r)
        self.check("ledger.proof_wrong_length", self.leaves[4], 4, 11, [], self.r)

    def test_size_doubled_or_halved(self) -> None:
        self.check("ledger.proof_wrong_length", self.leaves[4], 4, 22, self.proof, self.r)
        self.check("ledger.proof_wrong_length", self.leaves[4], 4, 5, self.proof, self.r)

    def test_truncated_hash(self) -> None:
        self.check("ledger.bad_hash_length", self.leaves[4][:31], 4, 11, self.proof, self.r)
        self.check("ledger.bad_hash_length", self.leaves[4], 4, 11, [b"x", *self.proof[1:]], self.r)

    def test_single_leaf_tree_needs_empty_proof(self) -> None:
        verify_inclusion(self.leaves[0], 0, 1, [], self.leaves[0])
        self.check("ledger.proof_wrong_length", self.leaves[0], 0, 1, [self.r], self.leaves[0])


_LEAVES13 = hashes(13)


class TestConsistencyFailures:
    leaves: ClassVar[list[bytes]] = _LEAVES13
    roots: ClassVar[list[bytes]] = [root(_LEAVES13[:s]) for s in range(14)]

    def check(
        self, code: str, size1: int, size2: int, proof: list[bytes], r1: bytes, r2: bytes
    ) -> None:
        with pytest.raises(ProofError) as err:
            verify_consistency(size1, size2, proof, r1, r2)
        assert err.value.code == code

    def test_first_larger_than_second(self) -> None:
        self.check("ledger.size_out_of_range", 7, 5, [], self.roots[7], self.roots[5])

    def test_from_empty_tree_needs_empty_proof(self) -> None:
        verify_consistency(0, 13, [], EMPTY_ROOT, self.roots[13])
        self.check("ledger.proof_wrong_length", 0, 13, [self.roots[1]], EMPTY_ROOT, self.roots[13])

    def test_equal_sizes_need_empty_proof_and_equal_roots(self) -> None:
        verify_consistency(6, 6, [], self.roots[6], self.roots[6])
        self.check("ledger.proof_wrong_length", 6, 6, [self.roots[1]], self.roots[6], self.roots[6])
        self.check("ledger.fork", 6, 6, [], self.roots[6], self.roots[5])

    def test_non_trivial_proof_cannot_be_empty(self) -> None:
        self.check("ledger.proof_wrong_length", 3, 13, [], self.roots[3], self.roots[13])

    def test_wrong_roots(self) -> None:
        proof = consistency_proof(5, 13, self.leaves)
        self.check("ledger.root_mismatch", 5, 13, proof, self.roots[4], self.roots[13])
        self.check("ledger.root_mismatch", 5, 13, proof, self.roots[5], self.roots[12])

    def test_proof_with_extra_or_missing_hashes(self) -> None:
        proof = consistency_proof(5, 13, self.leaves)
        self.check(
            "ledger.proof_wrong_length", 5, 13, [*proof, proof[0]], self.roots[5], self.roots[13]
        )
        self.check("ledger.proof_wrong_length", 5, 13, proof[1:], self.roots[5], self.roots[13])

    def test_power_of_two_first_size(self) -> None:
        proof = consistency_proof(4, 13, self.leaves)
        verify_consistency(4, 13, proof, self.roots[4], self.roots[13])
        self.check("ledger.root_mismatch", 4, 13, proof, self.roots[3], self.roots[13])


def test_generators_refuse_impossible_requests() -> None:
    leaves = hashes(4)
    with pytest.raises(ProofError):
        inclusion_proof(4, 4, leaves)
    with pytest.raises(ProofError):
        inclusion_proof(0, 5, leaves)
    with pytest.raises(ProofError):
        consistency_proof(3, 2, leaves)
    assert consistency_proof(0, 4, leaves) == [] == consistency_proof(4, 4, leaves)
