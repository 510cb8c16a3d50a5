"""End-to-end verification of the log, and its export as static C2SP tiles.

``verify_log`` replays the database: every entry re-hashed and parsed, the
whole tree rebuilt and compared with the stored tiles, every checkpoint's
signature checked and its root recomputed, consecutive checkpoints proven
consistent. ``verify_tiles`` does the same from an exported directory and a
verifier key alone, with no database: what an outside auditor runs.
Both name the first bad index and what disagreed.
"""

from __future__ import annotations

import gc
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from greenlight.core.errors import GreenlightError, VerificationFailed
from greenlight.ledger import checkpoint as checkpoints
from greenlight.ledger import merkle
from greenlight.ledger.checkpoint import Checkpoint
from greenlight.ledger.entry import check_body
from greenlight.ledger.log import Ledger, leaf_key
from greenlight.ledger.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    bundle_path,
    decode_bundle,
    encode_bundle,
    tile_path,
    tiles_for_size,
)
from greenlight.ledger.tree import DictTiles, TileKey, TileTree, build_tiles
from greenlight.store.schema import (
    ledger_checkpoints,
    ledger_entries,
    ledger_leaf_index,
    ledger_tiles,
    ledger_tree,
)

CHECKPOINT_HISTORY = "greenlight/checkpoints"
_MAX_PROBLEMS = 50


@dataclass(frozen=True)
class Problem:
    """One disagreement: where (the first entry index affected, if known) and what."""

    index: int | None
    what: str


@dataclass
class AuditReport:
    """What a verification looked at and what it found."""

    entries: int = 0
    tree_size: int = 0
    checkpoints: int = 0
    root_hash: bytes = merkle.EMPTY_ROOT
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing disagreed."""
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        """The problem at the lowest index (problems without an index come last)."""
        if not self.problems:
            return None
        return min(self.problems, key=lambda p: (p.index is None, p.index or 0))

    def add(self, index: int | None, what: str) -> None:
        """Record a problem (the first few hundred are enough to act on)."""
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(Problem(index, what))

    def raise_for_problems(self) -> None:
        """Raise VerificationFailed naming the first bad index, if anything disagreed."""
        first = self.first_problem
        if first is None:
            return
        where = f"entry {first.index}" if first.index is not None else "the log"
        raise VerificationFailed(
            f"Verification failed at {where}: {first.what}.",
            code="ledger.verify_failed",
            index=first.index,
        )


def _check_entries(
    report: AuditReport, entries: Iterable[tuple[int, bytes | None, bytes]]
) -> list[bytes]:
    """Re-hash and parse (index, stored leaf hash or None, body) in order;
    returns the recomputed leaf hashes."""
    leaves: list[bytes] = []
    for expected, (index, stored_leaf, body) in enumerate(entries):
        if index != expected:
            report.add(expected, f"the entries jump from index {expected - 1} to {index}")
            break
        leaf = merkle.leaf_hash(body)
        if stored_leaf is not None and leaf != stored_leaf:
            report.add(index, "its body does not hash to its stored leaf hash")
        elif (problem := check_body(body)) is not None:
            report.add(index, problem)
        leaves.append(leaf)
    report.entries = len(leaves)
    return leaves


def _compare_tiles(
    report: AuditReport, rebuilt: dict[TileKey, bytes], stored: dict[TileKey, bytes], label: str
) -> None:
    """Compare stored tiles with rebuilt ones and report each root cause once.

    One bad leaf makes every ancestor disagree too; only the lowest
    disagreement is reported (a node whose children agree was itself altered),
    named by the first entry under it.
    """
    size = merkle.HASH_SIZE
    bad: set[tuple[int, int]] = set()
    for key in set(rebuilt) | set(stored):
        level, index = key
        want, have = rebuilt.get(key, b""), stored.get(key, b"")
        if want == have:
            continue
        for slot in range(max(len(want), len(have)) // size):
            if want[slot * size : (slot + 1) * size] != have[slot * size : (slot + 1) * size]:
                bad.add((level, (index << TILE_HEIGHT) + slot))
    for level, node in sorted(bad, key=lambda b: (b[1] << b[0], b[0])):
        if level > 0 and ({(level - 1, 2 * node), (level - 1, 2 * node + 1)} & bad):
            continue  # explained by a bad child
        report.add(
            node << level,
            f"the stored {label} hash at level {level} index {node} disagrees with "
            "the hash rebuilt from the entries",
        )


def _check_leaf_lookups(report: AuditReport, rows: Sequence[Any], leaves: list[bytes]) -> None:
    """Every integrated entry findable by its leaf hash, and nothing else."""
    seen = bytearray(len(leaves))
    for key, idx in rows:
        if not 0 <= idx < len(leaves) or leaf_key(leaves[idx]) != key:
            report.add(
                idx if 0 <= idx < len(leaves) else None,
                "the leaf-hash lookup row for this entry has the wrong hash",
            )
        else:
            seen[idx] = 1
    if not all(seen):
        report.add(seen.index(0), "this entry is missing from the leaf-hash lookup")


def _check_checkpoints(
    report: AuditReport,
    cps: Iterable[tuple[int, bytes | None, str]],
    verifier_key: str,
    origin: str | None,
    tree: TileTree,
    tree_size: int,
) -> None:
    """Signatures, roots against the rebuilt tree, and pairwise consistency."""
    previous: Checkpoint | None = None
    for size, stored_root, text in cps:
        report.checkpoints += 1
        try:
            cp = checkpoints.open_signed(text, verifier_key, origin)
        except GreenlightError as exc:
            report.add(None, f"the checkpoint at size {size} does not verify: {exc.message}")
            continue
        if cp.size != size or (stored_root is not None and cp.root_hash != stored_root):
            report.add(None, f"the checkpoint stored at size {size} signs size {cp.size}")
            continue
        if cp.size > tree_size:
            report.add(tree_size, f"the checkpoint at size {cp.size} is beyond the log's end")
            continue
        if tree.root(cp.size) != cp.root_hash:
            start = previous.size if previous else 0
            if any(p.index is not None and p.index < cp.size for p in report.problems):
                previous = cp
                continue  # already explained by a bad entry or tile
            report.add(
                start,
                f"the signed checkpoint at size {cp.size} no longer matches the entries "
                f"between {start} and {cp.size}: they were rewritten",
            )
        elif previous is not None:
            try:
                merkle.verify_consistency(
                    previous.size,
                    cp.size,
                    tree.consistency_proof(previous.size, cp.size),
                    previous.root_hash,
                    cp.root_hash,
                )
            except GreenlightError as exc:
                report.add(previous.size, f"checkpoints {previous.size} and {cp.size}: {exc}")
        previous = cp


@contextmanager
def _bulk() -> Iterator[None]:
    """No cyclic GC while millions of acyclic objects are made: it would rescan
    them over and over and nearly double verification time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def verify_log(ledger: Ledger) -> AuditReport:
    """Replay the whole log in the database and check everything against everything."""
    with _bulk():
        return _verify_log(ledger)


def _verify_log(ledger: Ledger) -> AuditReport:
    report = AuditReport()
    with ledger.db.read() as conn:
        rows = conn.execution_options(yield_per=20_000).execute(
            select(
                ledger_entries.c.idx, ledger_entries.c.leaf_hash, ledger_entries.c.body
            ).order_by(ledger_entries.c.idx)
        )
        leaves = _check_entries(report, ((r[0], bytes(r[1]), bytes(r[2])) for r in rows))
        tree_size, tree_root = conn.execute(
            select(ledger_tree.c.size, ledger_tree.c.root_hash)
        ).one()
        stored = {
            (r[0], r[1]): bytes(r[2])
            for r in conn.execute(
                select(ledger_tiles.c.level, ledger_tiles.c.tile_index, ledger_tiles.c.hashes)
            )
        }
        lookups = conn.execute(select(ledger_leaf_index.c.leaf_key, ledger_leaf_index.c.idx)).all()
        cp_rows = conn.execute(
            select(
                ledger_checkpoints.c.size, ledger_checkpoints.c.root_hash, ledger_checkpoints.c.note
            ).order_by(ledger_checkpoints.c.size)
        ).all()
    report.tree_size = tree_size
    if tree_size > len(leaves):
        report.add(len(leaves), f"the tree covers {tree_size} entries but only {len(leaves)} exist")
        tree_size = len(leaves)
    rebuilt = build_tiles(leaves[:tree_size])
    _compare_tiles(report, rebuilt, stored, "tree")
    _check_leaf_lookups(report, lookups, leaves[:tree_size])
    tree = TileTree(DictTiles(rebuilt))
    report.root_hash = tree.root(tree_size)
    if bytes(tree_root) != report.root_hash and report.ok:
        report.add(None, "the stored root of the tree disagrees with the rebuilt root")
    _check_checkpoints(
        report,
        ((r[0], bytes(r[1]), r[2]) for r in cp_rows),
        ledger.verifier_key,
        ledger.origin,
        tree,
        tree_size,
    )
    return report


# --- static tiles ------------------------------------------------------------


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_tiles(ledger: Ledger, directory: Path) -> Checkpoint:
    """Write the log at its latest checkpoint as C2SP ``tlog-tiles``.

    Full tiles and bundles are immutable and skipped when already present, so
    re-exporting into the same directory only writes what is new. Every
    signed checkpoint is also kept under ``greenlight/checkpoints/<size>`` so
    an auditor can check the log's history, not only its head.
    """
    with ledger.db.read() as conn:
        texts = conn.execute(
            select(ledger_checkpoints.c.size, ledger_checkpoints.c.note).order_by(
                ledger_checkpoints.c.size
            )
        ).all()
        if not texts:
            raise VerificationFailed(
                "The ledger has no signed checkpoint to export; run `greenlight ledger integrate`.",
                code="ledger.not_integrated",
            )
        size, latest = texts[-1]
        for level, index, width in tiles_for_size(size):
            path = directory / tile_path(level, index, width)
            if width == TILE_WIDTH and path.exists():
                continue
            tile = conn.execute(
                select(ledger_tiles.c.hashes).where(
                    ledger_tiles.c.level == level * TILE_HEIGHT, ledger_tiles.c.tile_index == index
                )
            ).scalar_one()
            _write_atomic(path, bytes(tile)[: width * merkle.HASH_SIZE])
        for index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
            first = index * TILE_WIDTH
            width = min(TILE_WIDTH, size - first)
            path = directory / bundle_path(index, width)
            if width == TILE_WIDTH and path.exists():
                continue
            bodies = conn.execute(
                select(ledger_entries.c.body)
                .where(ledger_entries.c.idx >= first, ledger_entries.c.idx < first + width)
                .order_by(ledger_entries.c.idx)
            ).scalars()
            _write_atomic(path, encode_bundle([bytes(b) for b in bodies]))
    for cp_size, text in texts:
        path = directory / CHECKPOINT_HISTORY / str(cp_size)
        if not path.exists():
            _write_atomic(path, text.encode())
    _write_atomic(directory / "checkpoint", latest.encode())
    parsed = checkpoints.parse(latest[: latest.rfind("\n\n") + 1])
    return Checkpoint(parsed.origin, parsed.size, parsed.root_hash, latest)


def _bundle_entries(
    directory: Path, size: int, report: AuditReport
) -> Iterator[tuple[int, bytes | None, bytes]]:
    for index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        first = index * TILE_WIDTH
        width = min(TILE_WIDTH, size - first)
        path = directory / bundle_path(index, width)
        try:
            bodies = decode_bundle(path.read_bytes(), first)
        except FileNotFoundError:
            report.add(first, f"the entry bundle {bundle_path(index, width)} is missing")
            return
        except VerificationFailed as exc:
            report.add(exc.details.get("index", first), exc.message)
            return
        if len(bodies) != width:
            report.add(
                first,
                f"the entry bundle {bundle_path(index, width)} holds "
                f"{len(bodies)} entries, not {width}",
            )
            return
        for offset, body in enumerate(bodies):
            yield first + offset, None, body


def verify_tiles(directory: Path, verifier_key: str) -> AuditReport:
    """Verify an exported tile directory with nothing but the log's verifier key."""
    with _bulk():
        return _verify_tiles(directory, verifier_key)


def _verify_tiles(directory: Path, verifier_key: str) -> AuditReport:
    report = AuditReport()
    try:
        latest_text = (directory / "checkpoint").read_text()
    except (FileNotFoundError, UnicodeDecodeError):
        raise VerificationFailed(
            f"{directory} has no readable 'checkpoint' file; is it a `greenlight ledger "
            "export-tiles` directory?",
            code="tiles.no_checkpoint",
        ) from None
    latest = checkpoints.open_signed(latest_text, verifier_key)
    size = latest.size
    leaves = _check_entries(report, _bundle_entries(directory, size, report))
    if len(leaves) < size:
        report.tree_size = size
        return report
    rebuilt = build_tiles(leaves)
    exported: dict[TileKey, bytes] = {}
    for level, index, width in tiles_for_size(size):
        path = directory / tile_path(level, index, width)
        try:
            exported[(level * TILE_HEIGHT, index)] = path.read_bytes()
        except FileNotFoundError:
            report.add(
                (index << TILE_HEIGHT) << (level * TILE_HEIGHT),
                f"the hash tile {tile_path(level, index, width)} is missing",
            )
    wanted = {
        (level * TILE_HEIGHT, index): rebuilt[(level * TILE_HEIGHT, index)][
            : width * merkle.HASH_SIZE
        ]
        for level, index, width in tiles_for_size(size)
    }
    _compare_tiles(report, wanted, exported, "exported tile")
    tree = TileTree(DictTiles(rebuilt))
    report.tree_size = size
    report.root_hash = tree.root(size)
    history_dir = directory / CHECKPOINT_HISTORY
    history: list[tuple[int, bytes | None, str]] = []
    if history_dir.is_dir():
        history = sorted(
            (int(p.name), None, p.read_text()) for p in history_dir.glob("*") if p.name.isdigit()
        )
    if not any(h[0] == size for h in history):
        history.append((size, latest.root_hash, latest_text))
    _check_checkpoints(report, history, verifier_key, latest.origin, tree, size)
    return report
