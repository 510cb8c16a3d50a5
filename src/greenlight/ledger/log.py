"""The ledger service: append inside the caller's transaction, integrate, prove.

Appends only write the entry and bump the head counter, so they are cheap and
commit atomically with whatever state change they record. The integrator,
running at least every second, folds committed entries into the stored tree
and signs a checkpoint. Proofs are served from the stored tiles.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from greenlight.core.clock import utcnow
from greenlight.core.errors import Conflict, InvalidInput, NotFound, VerificationFailed
from greenlight.core.settings import Settings
from greenlight.ledger import checkpoint as checkpoints
from greenlight.ledger import merkle, note
from greenlight.ledger.checkpoint import Checkpoint
from greenlight.ledger.entry import Entry, Event
from greenlight.ledger.keys import load_or_create_signer
from greenlight.ledger.tiles import TILE_HEIGHT, TILE_WIDTH
from greenlight.ledger.tree import TileKey, TileTree, fold_in
from greenlight.store.db import Database
from greenlight.store.inserts import insert_rows
from greenlight.store.schema import (
    ledger_checkpoints,
    ledger_entries,
    ledger_head,
    ledger_leaf_index,
    ledger_tiles,
    ledger_tree,
)

# Built once: every state change appends, and building these per call cost more
# than running them.
_RESERVE = (
    update(ledger_head)
    .where(ledger_head.c.id == 1)
    .values(next_index=ledger_head.c.next_index + bindparam("count"))
    .returning(ledger_head.c.next_index)
)


def leaf_key(leaf_hash: bytes) -> int:
    """The first 8 bytes of a leaf hash as a signed 64-bit integer (an index key)."""
    return int.from_bytes(leaf_hash[:8], "big", signed=True)


@dataclass(frozen=True)
class Appended:
    """Where an event landed: its index and leaf hash."""

    index: int
    leaf_hash: bytes


@dataclass(frozen=True)
class InclusionProof:
    """Proof that entry ``index`` is in the tree of ``size`` whose root is ``root_hash``."""

    index: int
    size: int
    leaf_hash: bytes
    hashes: list[bytes]
    root_hash: bytes
    checkpoint: Checkpoint | None

    def verify(self, verifier_key: str | None = None) -> None:
        """Check the path; with a key, also that a signed checkpoint vouches for the root."""
        merkle.verify_inclusion(self.leaf_hash, self.index, self.size, self.hashes, self.root_hash)
        if verifier_key is not None:
            _check_vouched(self.checkpoint, self.size, self.root_hash, verifier_key)

    def to_json(self) -> dict[str, Any]:
        """Hex-encoded form for the API and CLI."""
        return {
            "index": self.index,
            "tree_size": self.size,
            "leaf_hash": self.leaf_hash.hex(),
            "proof": [h.hex() for h in self.hashes],
            "root_hash": self.root_hash.hex(),
            "checkpoint": self.checkpoint.note_text if self.checkpoint else None,
        }


@dataclass(frozen=True)
class ConsistencyProof:
    """Proof that the tree of ``size1`` is a prefix of the tree of ``size2``."""

    size1: int
    size2: int
    hashes: list[bytes]
    root1: bytes
    root2: bytes
    checkpoint1: Checkpoint | None
    checkpoint2: Checkpoint | None

    def verify(self, verifier_key: str | None = None) -> None:
        """Check the proof; with a key, also both signed checkpoints."""
        merkle.verify_consistency(self.size1, self.size2, self.hashes, self.root1, self.root2)
        if verifier_key is not None:
            _check_vouched(self.checkpoint1, self.size1, self.root1, verifier_key)
            _check_vouched(self.checkpoint2, self.size2, self.root2, verifier_key)

    def to_json(self) -> dict[str, Any]:
        """Hex-encoded form for the API and CLI."""
        return {
            "size1": self.size1,
            "size2": self.size2,
            "proof": [h.hex() for h in self.hashes],
            "root1": self.root1.hex(),
            "root2": self.root2.hex(),
            "checkpoint1": self.checkpoint1.note_text if self.checkpoint1 else None,
            "checkpoint2": self.checkpoint2.note_text if self.checkpoint2 else None,
        }


def _check_vouched(cp: Checkpoint | None, size: int, root: bytes, verifier_key: str) -> None:
    if cp is None:
        raise VerificationFailed(
            f"No signed checkpoint covers size {size}; ask for a proof at a checkpoint size.",
            code="ledger.no_checkpoint",
        )
    opened = checkpoints.open_signed(cp.note_text, verifier_key)
    if opened.size != size or opened.root_hash != root:
        raise VerificationFailed(
            f"The signed checkpoint says size {opened.size} root {opened.root_hash.hex()}, "
            f"but the proof is for size {size} root {root.hex()}.",
            code="ledger.checkpoint_mismatch",
        )


class _TileCache:
    """Tiles already read. A tile's first W hashes never change once written,
    so a cached tile serves any tree size it is wide enough for."""

    def __init__(self, capacity: int = 16384) -> None:
        self.capacity = capacity
        self._tiles: OrderedDict[TileKey, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: TileKey, need: int) -> bytes | None:
        with self._lock:
            tile = self._tiles.get(key)
            if tile is None or len(tile) < need:
                return None
            self._tiles.move_to_end(key)
            return tile

    def put(self, key: TileKey, tile: bytes) -> None:
        with self._lock:
            old = self._tiles.get(key)
            if old is not None and len(old) > len(tile):
                return
            self._tiles[key] = tile
            self._tiles.move_to_end(key)
            while len(self._tiles) > self.capacity:
                self._tiles.popitem(last=False)


class _DatabaseTiles:
    """Tiles for a tree of ``size`` leaves, from the cache or the database."""

    def __init__(self, conn: Connection, cache: _TileCache | None, size: int) -> None:
        self.conn, self.cache, self.size = conn, cache, size

    def read_tile(self, level: int, index: int) -> bytes:
        need = min(TILE_WIDTH, (self.size >> level) - (index << TILE_HEIGHT)) * merkle.HASH_SIZE
        if self.cache is not None and (tile := self.cache.get((level, index), need)) is not None:
            return tile
        row = self.conn.execute(
            select(ledger_tiles.c.hashes).where(
                ledger_tiles.c.level == level, ledger_tiles.c.tile_index == index
            )
        ).first()
        tile = bytes(row[0]) if row else b""
        if self.cache is not None and tile:
            self.cache.put((level, index), tile)
        return tile


class Ledger:
    """One studio's append-only governance log."""

    def __init__(self, db: Database, signer: note.Signer) -> None:
        self.db = db
        self.signer = signer
        self.origin = signer.name
        self._cache = _TileCache()
        self._integrate_lock = threading.Lock()
        # Checkpoint rows never change: verify each note's signature once.
        self._opened: dict[str, Checkpoint] = {}

    @classmethod
    def open(cls, settings: Settings, db: Database | None = None) -> Ledger:
        """The ledger in the configured database, with its key (created on first use)."""
        database = db if db is not None else Database.open(settings)
        return cls(database, load_or_create_signer(settings.keys_dir, settings.ledger_origin))

    @property
    def verifier_key(self) -> str:
        """The public key string auditors verify checkpoints with."""
        return self.signer.verifier_key

    # --- appending ----------------------------------------------------------

    def append(self, conn: Connection, event: Event) -> Appended:
        """Append one event inside the caller's transaction ``conn``.

        The entry commits or rolls back with the caller's own writes. Until the
        integrator has run it is durable but not yet in a signed checkpoint.
        """
        return self.append_many(conn, [event])[0]

    def append_many(self, conn: Connection, events: Sequence[Event]) -> list[Appended]:
        """Append several events, in order, inside the caller's transaction."""
        if not events:
            return []
        bodies = [e.canonical() for e in events]  # validate everything before writing
        end = conn.execute(_RESERVE, {"count": len(bodies)}).scalar_one()
        start = end - len(bodies)
        rows = []
        out = []
        for offset, (event, body) in enumerate(zip(events, bodies, strict=True)):
            leaf = merkle.leaf_hash(body)
            rows.append(
                {
                    "idx": start + offset,
                    "leaf_hash": leaf,
                    "body": body,
                    "event_type": event.type,
                    "production_id": event.production,
                }
            )
            out.append(Appended(start + offset, leaf))
        insert_rows(conn, ledger_entries, rows)  # one multi-row INSERT on SQLite
        return out

    def record(self, *events: Event) -> list[Appended]:
        """Append events in a transaction of their own (for work with no other state)."""
        with self.db.transaction() as conn:
            return self.append_many(conn, events)

    # --- integrating --------------------------------------------------------

    def integrate(self, max_entries: int = 1 << 20) -> Checkpoint | None:
        """Fold committed entries into the tree and sign a checkpoint.

        Returns the new checkpoint, or None when there was nothing new. Runs in
        one transaction holding the tree row, so concurrent integrators (a
        server and a CLI) take turns and the log never signs two checkpoints
        that disagree: each new root is checked against the last signed one
        with a consistency proof before it is signed.
        """
        with self._integrate_lock, self.db.transaction() as conn:
            size, _ = conn.execute(
                select(ledger_tree.c.size, ledger_tree.c.root_hash)
                .where(ledger_tree.c.id == 1)
                .with_for_update()
            ).one()
            rows = conn.execute(
                select(ledger_entries.c.idx, ledger_entries.c.leaf_hash)
                .where(ledger_entries.c.idx >= size)
                .order_by(ledger_entries.c.idx)
                .limit(max_entries)
            ).all()
            leaves: list[bytes] = []
            for idx, leaf in rows:
                if idx != size + len(leaves):
                    break  # an index not yet committed; integrate up to it
                leaves.append(bytes(leaf))
            if not leaves:
                return None
            source = _DatabaseTiles(conn, None, size)
            changed = fold_in(source, size, leaves)
            self._write_tiles(conn, changed)
            conn.execute(
                ledger_leaf_index.insert(),
                [{"leaf_key": leaf_key(leaf), "idx": size + i} for i, leaf in enumerate(leaves)],
            )
            new_size = size + len(leaves)
            tree = TileTree(_DatabaseTiles(conn, None, new_size))
            root = tree.root(new_size)
            last = conn.execute(
                select(ledger_checkpoints.c.size, ledger_checkpoints.c.root_hash)
                .order_by(ledger_checkpoints.c.size.desc())
                .limit(1)
            ).first()
            if last is not None:
                # Never sign a checkpoint the previous one is not a prefix of.
                merkle.verify_consistency(
                    last.size,
                    new_size,
                    tree.consistency_proof(last.size, new_size),
                    bytes(last.root_hash),
                    root,
                )
            cp = Checkpoint(self.origin, new_size, root).signed(self.signer)
            conn.execute(
                ledger_checkpoints.insert().values(
                    size=new_size, root_hash=root, note=cp.note_text, signed_at=utcnow()
                )
            )
            conn.execute(
                update(ledger_tree)
                .where(ledger_tree.c.id == 1)
                .values(size=new_size, root_hash=root)
            )
        for key, tile in changed.items():
            self._cache.put(key, tile)
        return cp

    def _write_tiles(self, conn: Connection, changed: dict[TileKey, bytes]) -> None:
        rows = [{"level": lv, "tile_index": ix, "hashes": h} for (lv, ix), h in changed.items()]
        insert: Any = postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert
        stmt = insert(ledger_tiles)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["level", "tile_index"], set_={"hashes": stmt.excluded.hashes}
            ),
            rows,
        )

    # --- reading ------------------------------------------------------------

    def size(self) -> int:
        """How many entries have been appended (committed), integrated or not."""
        with self.db.read() as conn:
            return int(conn.execute(select(ledger_head.c.next_index)).scalar_one())

    def tree_size(self) -> int:
        """How many entries the tree (and so the proofs) cover."""
        with self.db.read() as conn:
            return int(conn.execute(select(ledger_tree.c.size)).scalar_one())

    def entry(self, index: int) -> Entry:
        """The stored entry at ``index``."""
        with self.db.read() as conn:
            row = conn.execute(
                select(ledger_entries.c.leaf_hash, ledger_entries.c.body).where(
                    ledger_entries.c.idx == index
                )
            ).first()
        if row is None:
            raise NotFound(f"The ledger has no entry {index}.", code="ledger.no_such_entry")
        return Entry(index, bytes(row.leaf_hash), bytes(row.body))

    def entries(
        self, start: int = 0, limit: int = 100, production: str | None = None
    ) -> list[Entry]:
        """Entries from ``start`` in index order, optionally of one production."""
        query = select(ledger_entries.c.idx, ledger_entries.c.leaf_hash, ledger_entries.c.body)
        query = query.where(ledger_entries.c.idx >= start)
        if production is not None:
            query = query.where(ledger_entries.c.production_id == production)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(ledger_entries.c.idx).limit(limit)).all()
        return [Entry(r.idx, bytes(r.leaf_hash), bytes(r.body)) for r in rows]

    def index_of(self, leaf_hash: bytes) -> int:
        """The first integrated index whose leaf hash is ``leaf_hash``."""
        with self.db.read() as conn:
            found = conn.execute(
                select(func.min(ledger_entries.c.idx))
                .select_from(
                    ledger_leaf_index.join(
                        ledger_entries, ledger_entries.c.idx == ledger_leaf_index.c.idx
                    )
                )
                .where(
                    ledger_leaf_index.c.leaf_key == leaf_key(leaf_hash),
                    ledger_entries.c.leaf_hash == leaf_hash,
                )
            ).scalar()
        if found is None:
            raise NotFound(
                f"No integrated ledger entry has leaf hash {leaf_hash.hex()}; a just-logged "
                "entry is found after the next checkpoint (within a second).",
                code="ledger.no_such_leaf",
            )
        return int(found)

    def checkpoint(self, size: int | None = None) -> Checkpoint | None:
        """The signed checkpoint at ``size`` (default: the latest), if there is one."""
        with self.db.read() as conn:
            return self._checkpoint(conn, size)

    def _checkpoint(self, conn: Connection, size: int | None) -> Checkpoint | None:
        query = select(ledger_checkpoints.c.note)
        if size is None:
            query = query.order_by(ledger_checkpoints.c.size.desc()).limit(1)
        else:
            query = query.where(ledger_checkpoints.c.size == size)
        text = conn.execute(query).scalar()
        if text is None:
            return None
        if (cp := self._opened.get(text)) is None:
            cp = checkpoints.open_signed(text, self.signer.verifier_key, self.origin)
            if len(self._opened) > 4096:
                self._opened.clear()
            self._opened[text] = cp
        return cp

    def checkpoints(self) -> list[Checkpoint]:
        """Every signed checkpoint, oldest first (unverified: see ``verify_log``)."""
        with self.db.read() as conn:
            texts = conn.execute(
                select(ledger_checkpoints.c.note).order_by(ledger_checkpoints.c.size)
            ).scalars()
            out = []
            for text in texts:
                body = text[: text.rfind("\n\n") + 1]
                cp = checkpoints.parse(body)
                out.append(Checkpoint(cp.origin, cp.size, cp.root_hash, text))
        return out

    # --- proving ------------------------------------------------------------

    def _resolve_size(self, conn: Connection, size: int | None) -> tuple[int, Checkpoint | None]:
        tree_size = int(conn.execute(select(ledger_tree.c.size)).scalar_one())
        if size is None:
            cp = self._checkpoint(conn, None)
            if cp is None:
                raise Conflict(
                    "The ledger has no signed checkpoint yet; run `greenlight ledger integrate`.",
                    code="ledger.not_integrated",
                )
            return cp.size, cp
        if not 0 <= size <= tree_size:
            raise InvalidInput(
                f"Tree size {size} is outside the integrated log (0 to {tree_size}).",
                code="ledger.size_out_of_range",
            )
        return size, self._checkpoint(conn, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """Prove entry ``index`` is in the tree of ``size`` (default: the latest checkpoint)."""
        with self.db.read() as conn:
            size, cp = self._resolve_size(conn, size)
            if not 0 <= index < size:
                if index >= 0 and index < int(
                    conn.execute(select(ledger_head.c.next_index)).scalar_one()
                ):
                    raise Conflict(
                        f"Entry {index} is logged but not yet in a signed checkpoint (size "
                        f"{size}); try again in a second.",
                        code="ledger.not_integrated",
                    )
                raise NotFound(
                    f"Entry {index} is outside the tree of size {size}.",
                    code="ledger.index_out_of_range",
                )
            tree = TileTree(_DatabaseTiles(conn, self._cache, size))
            leaf = tree.node(0, index)
            return InclusionProof(
                index, size, leaf, tree.inclusion_proof(index, size), tree.root(size), cp
            )

    def confirm(self, origin: str, index: int, leaf_hash: bytes) -> tuple[Entry, InclusionProof]:
        """Check a reference to this log (as a content credential carries one).

        The origin must be this log's, the entry at ``index`` must hash to
        ``leaf_hash``, and a signed checkpoint must include it, so a reference
        to a forged or altered entry fails. Raises VerificationFailed.
        """
        if origin != self.origin:
            raise VerificationFailed(
                f"The reference names log {origin!r}; this ledger is {self.origin!r}.",
                code="ledger.wrong_log",
            )
        try:
            entry = self.entry(index)
        except NotFound:
            raise VerificationFailed(
                f"The reference points at entry {index}, which this ledger does not have.",
                code="ledger.reference_missing",
            ) from None
        if entry.leaf_hash != leaf_hash or merkle.leaf_hash(entry.body) != leaf_hash:
            raise VerificationFailed(
                f"Entry {index} has leaf hash {entry.leaf_hash.hex()}, but the reference says "
                f"{leaf_hash.hex()}: the credential points at a different or altered entry.",
                code="ledger.reference_mismatch",
            )
        self.integrate()
        proof = self.inclusion_proof(index)
        proof.verify(self.verifier_key)
        return entry, proof

    def consistency_proof(self, size1: int, size2: int | None = None) -> ConsistencyProof:
        """Prove the tree of ``size1`` is a prefix of the tree of ``size2`` (default: latest)."""
        with self.db.read() as conn:
            size2, cp2 = self._resolve_size(conn, size2)
            if not 0 <= size1 <= size2:
                raise InvalidInput(
                    f"The first size {size1} must be between 0 and {size2}.",
                    code="ledger.size_out_of_range",
                )
            cp1 = self._checkpoint(conn, size1)
            tree = TileTree(_DatabaseTiles(conn, self._cache, size2))
            return ConsistencyProof(
                size1,
                size2,
                tree.consistency_proof(size1, size2),
                tree.root(size1),
                tree.root(size2),
                cp1,
                cp2,
            )


class Integrator:
    """Integrates and signs in the background, at least every ``interval`` seconds.

    Started by ``greenlight serve`` and ``greenlight ledger integrate --follow``.
    """

    def __init__(self, ledger: Ledger, interval: float = 0.5) -> None:
        self.ledger = ledger
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: Exception | None = None

    def start(self) -> None:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="ledger-integrator", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Integrate until stopped; an error is kept in ``last_error`` and retried."""
        while not self._stop.is_set():
            try:
                self.ledger.integrate()
                self.last_error = None
            except Exception as exc:  # keep serving; the error is visible in last_error
                self.last_error = exc
            self._stop.wait(self.interval)

    def stop(self) -> None:
        """Stop after a final integration, so nothing appended is left unsigned."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.ledger.integrate()
