"""Registry rows kept in memory for exactly as long as they are current.

Every submission reads the same few registry rows: the production, the tool
and its standing, the performers and their consents, the watchlist. They
change rarely, and when they do a trigger moves ``registry_state.generation``
in the same transaction (migration 0004), whichever process or tool made the
change. A reader asks for the generation inside its own transaction, so what
it gets from memory is what the database would have answered in that
transaction: never staler, and a revocation counts from the commit that made it.

A reader whose transaction predates the cached generation (it began before a
change another reader has already seen) reads the database and leaves the
cache alone.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from sqlalchemy import Connection, select

from greenlight.store.schema import registry_state

T = TypeVar("T")
_GENERATION = select(registry_state.c.generation).where(registry_state.c.id == 1)
_GENERATION_SQL = "SELECT generation FROM registry_state WHERE id = 1"
MAX_ENTRIES = 50_000


class RegistryCache:
    """One process's copy of registry reads, keyed by what was asked."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._generation = -1
        self._entries: dict[Hashable, object] = {}

    def at(self, conn: Connection) -> RegistryView:
        """A view for the transaction ``conn`` is in (reads the generation once)."""
        if not conn.in_transaction():  # the query begins it, as SQLAlchemy does
            return RegistryView(self, conn.execute(_GENERATION).scalar_one())
        # One indexed row, read through the driver in the transaction already
        # begun: SQLAlchemy's execute path costs several times the query, on
        # every request.
        cursor = conn.connection.cursor()
        try:
            cursor.execute(_GENERATION_SQL)
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:  # as scalar_one() refuses it: migration 0004 writes the row
            raise LookupError("registry_state has no generation row; migrate the database")
        return RegistryView(self, int(row[0]))

    def _lookup(self, generation: int, key: Hashable) -> tuple[bool, object]:
        with self._lock:
            if generation > self._generation:
                self._generation = generation
                self._entries.clear()
            if generation != self._generation or key not in self._entries:
                return False, None
            return True, self._entries[key]

    def _keep(self, generation: int, key: Hashable, value: object) -> None:
        with self._lock:
            if generation != self._generation:
                return
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # rare: a registry far larger than one show's
            self._entries[key] = value


class RegistryView:
    """Registry reads at one generation: from memory when current, else loaded and kept."""

    def __init__(self, cache: RegistryCache, generation: int) -> None:
        self.cache, self.generation = cache, generation

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The value for ``key``: ``load()`` once per generation (errors are not kept).

        ``load`` must read through the same transaction the view was made in,
        and the value must not be mutated by callers (share records, not lists
        you append to).
        """
        found, value = self.cache._lookup(self.generation, key)
        if found:
            return value  # type: ignore[return-value]
        loaded = load()
        self.cache._keep(self.generation, key, loaded)
        return loaded


class RecordCache:
    """Rows that never change once written (an asset and its lineage), kept by key.

    Nothing invalidates it because nothing needs to: such rows are never
    updated or deleted. Bounded, oldest first out.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, object] = OrderedDict()

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The record for ``key``: ``load()`` the first time (errors are not kept)."""
        with self._lock:
            if key in self._entries:
                return self._entries[key]  # type: ignore[return-value]
        loaded = load()
        with self._lock:
            self._entries[key] = loaded
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return loaded
