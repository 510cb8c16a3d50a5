"""Merkle tree hashing and proofs, as RFC 9162 §2.1 defines them.

Everything here is a pure function of its arguments. The proof *generators*
take the full list of leaf hashes and are the reference the tile-backed tree
(``greenlight.ledger.tree``) is tested against; the *verifiers* are what an
auditor runs and raise :class:`ProofError` with a sentence saying exactly what
disagreed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from greenlight.core.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one log entry."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n`` >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (MTH) of a list of leaf hashes.

    Built bottom-up level by level, which gives the same tree as RFC 9162's
    recursive definition: an odd node at the end of a level is carried up.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_proof(index: int, size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
    if size > len(leaf_hashes):
        raise ProofError(
            f"Cannot prove in a tree of size {size}: only {len(leaf_hashes)} leaves are known.",
            code="ledger.size_out_of_range",
        )
    if not 0 <= index < size:
        raise ProofError(
            f"Leaf index {index} is outside a tree of size {size}.",
            code="ledger.index_out_of_range",
        )
    return _path(index, leaf_hashes[:size])


def _path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*_path(m, d[:k]), root(d[k:])]
    return [*_path(m - k, d[k:]), root(d[:k])]


def consistency_proof(size1: int, size2: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Proof that the tree of ``size1`` leaves is a prefix of the tree of ``size2``.

    Empty when ``size1`` is 0 or equals ``size2`` (nothing to prove).
    """
    if size2 > len(leaf_hashes):
        raise ProofError(
            f"Cannot prove up to size {size2}: only {len(leaf_hashes)} leaves are known.",
            code="ledger.size_out_of_range",
        )
    if not 0 <= size1 <= size2:
        raise ProofError(
            f"First size {size1} must be between 0 and the second size {size2}.",
            code="ledger.size_out_of_range",
        )
    if size1 in (0, size2):
        return []
    return _subproof(size1, leaf_hashes[:size2], True)


def _subproof(m: int, d: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if complete else [root(d)]
    k = split_point(n)
    if m <= k:
        return [*_subproof(m, d[:k], complete), root(d[k:])]
    return [*_subproof(m - k, d[k:], False), root(d[:k])]


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(
            f"{what} is {len(value)} bytes long; a SHA-256 hash is {HASH_SIZE}.",
            code="ledger.bad_hash_length",
        )


def _inclusion_shape(index: int, size: int) -> tuple[int, int]:
    """How many proof hashes sit below the split with the right edge (inner)
    and how many lie on the right edge (border): their sum is the proof length."""
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` sits at ``index`` in the tree of ``size`` with ``root``.

    Implements RFC 9162 §2.1.3.2; raises :class:`ProofError` on any mismatch.
    """
    _check_hash(leaf_hash, "The leaf hash")
    _check_hash(root, "The root hash")
    for i, p in enumerate(proof):
        _check_hash(p, f"Proof hash {i}")
    if size <= 0 or not 0 <= index < size:
        raise ProofError(
            f"Leaf index {index} is outside a tree of size {size}.",
            code="ledger.index_out_of_range",
        )
    inner, border = _inclusion_shape(index, size)
    if len(proof) != inner + border:
        raise ProofError(
            f"An inclusion proof for index {index} in a tree of size {size} has "
            f"{inner + border} hashes; this one has {len(proof)}.",
            code="ledger.proof_wrong_length",
        )
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # pragma: no cover - excluded by the length check above
        raise ProofError("The proof does not reach the root.", code="ledger.proof_wrong_length")
    if r != root:
        raise ProofError(
            f"The inclusion proof for index {index} leads to root {r.hex()}, "
            f"not the expected {root.hex()}: the entry or the proof was altered.",
            code="ledger.root_mismatch",
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size1`` with ``root1`` is a prefix of the tree
    of ``size2`` with ``root2``.

    Implements RFC 9162 §2.1.4.2 with the edge cases of the reference Go
    implementation: equal sizes need an empty proof and equal roots; any tree
    is consistent with the empty one, by an empty proof.
    """
    _check_hash(root1, "The first root")
    _check_hash(root2, "The second root")
    for i, p in enumerate(proof):
        _check_hash(p, f"Proof hash {i}")
    if size1 < 0 or size2 < 0:
        raise ProofError("Tree sizes cannot be negative.", code="ledger.size_out_of_range")
    if size1 > size2:
        raise ProofError(
            f"The first size {size1} is larger than the second {size2}: a log only grows.",
            code="ledger.size_out_of_range",
        )
    if size1 == size2:
        if proof:
            raise ProofError(
                "Two checkpoints of the same size need an empty consistency proof; "
                f"this one has {len(proof)} hashes.",
                code="ledger.proof_wrong_length",
            )
        if root1 != root2:
            raise ProofError(
                f"Two trees of size {size1} have different roots ({root1.hex()} and "
                f"{root2.hex()}): the log was forked or rewritten.",
                code="ledger.fork",
            )
        return
    if size1 == 0:
        if proof:
            raise ProofError(
                "A consistency proof from the empty tree must be empty; "
                f"this one has {len(proof)} hashes.",
                code="ledger.proof_wrong_length",
            )
        return
    if not proof:
        raise ProofError(
            f"A consistency proof from size {size1} to {size2} cannot be empty.",
            code="ledger.proof_wrong_length",
        )

    # Walk the path of the last leaf of the first tree (RFC 9162 §2.1.4.2).
    inner, border = _inclusion_shape(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    inner -= shift
    seeded = size1 == 1 << shift  # size1 is a power of two: its root is the seed
    expected = inner + border + (0 if seeded else 1)
    if len(proof) != expected:
        raise ProofError(
            f"A consistency proof from size {size1} to {size2} has {expected} hashes; "
            f"this one has {len(proof)}.",
            code="ledger.proof_wrong_length",
        )
    path = [root1, *proof] if seeded else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:  # pragma: no cover - excluded by the length check above
            raise ProofError("The proof is too long.", code="ledger.proof_wrong_length")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if fr != root1:
        raise ProofError(
            f"The consistency proof rebuilds root {fr.hex()} for size {size1}, not "
            f"{root1.hex()}: the older checkpoint is not a prefix of the newer.",
            code="ledger.root_mismatch",
        )
    if sr != root2:
        raise ProofError(
            f"The consistency proof rebuilds root {sr.hex()} for size {size2}, not "
            f"{root2.hex()}: the log was forked or rewritten.",
            code="ledger.root_mismatch",
        )
