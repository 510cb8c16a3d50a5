"""Group commit: many callers' new rows and ledger events, one transaction.

A governed submission writes a handful of rows and two ledger events. Done
one by one, concurrent submissions queue on the database's single writer and
each pays its own BEGIN, ledger-head update, statement round trips and
COMMIT (an fsync). Here the callers that arrive while a commit is running
queue up, and the first of them (the leader) writes everyone's rows with one
multi-row INSERT per table and one ledger append, then commits once. Nobody
waits longer than one commit for a batch to start, and a lone caller commits
at once, so there is no timer and no extra thread: whichever caller thread
leads does the work (the leader/follower scheme of LevelDB's write queue).

A batch is all or nothing in the database, but never for the callers: when a
batch fails (one unit's row breaks a constraint, say), each of its units is
retried alone, so only the faulty unit sees the error.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table

from greenlight.core.models import LedgerMark
from greenlight.engine.lifecycle import record_event_groups
from greenlight.ledger import Event, Ledger
from greenlight.store import Database
from greenlight.store.schema import metadata

# Parents before children, so one batch's rows satisfy its foreign keys.
_TABLE_ORDER = {table.name: i for i, table in enumerate(metadata.sorted_tables)}
MAX_BATCH = 128


@dataclass(frozen=True)
class NewRows:
    """One unit of work: rows to insert, and ledger events about one request.

    ``guard`` runs first inside the transaction and may refuse the unit (it
    raises); units with a guard commit alone, since a guard checks the
    database as it stands and a batch-mate's rows are not in it yet.
    """

    rows: Mapping[Table, Sequence[Mapping[str, Any]]]
    request_id: str
    events: Sequence[Event]
    guard: Callable[[Connection], None] | None = None


@dataclass
class _Waiting:
    unit: NewRows
    woken: threading.Event = field(default_factory=threading.Event)
    marks: tuple[LedgerMark, ...] | None = None
    error: BaseException | None = None

    def outcome(self) -> tuple[LedgerMark, ...]:
        if self.error is not None:
            raise self.error
        assert self.marks is not None
        return self.marks


class GroupCommit:
    """Writes :class:`NewRows` units, batching the ones that arrive together."""

    def __init__(self, db: Database, ledger: Ledger, *, max_batch: int = MAX_BATCH) -> None:
        self.db, self.ledger, self.max_batch = db, ledger, max_batch
        self._mutex = threading.Lock()
        self._queue: deque[_Waiting] = deque()

    def write(self, unit: NewRows) -> tuple[LedgerMark, ...]:
        """Commit ``unit`` (with whatever else is waiting); returns its ledger marks.

        Raises whatever writing this unit alone raised; nothing of it is written then.
        """
        waiting = _Waiting(unit)
        with self._mutex:
            self._queue.append(waiting)
            leads = len(self._queue) == 1
        if not leads:
            waiting.woken.wait()  # set when done, or when it is this one's turn to lead
            if waiting.marks is not None or waiting.error is not None:
                return waiting.outcome()
        with self._mutex:
            batch = [self._queue[i] for i in range(min(len(self._queue), self.max_batch))]
        try:
            self._commit(batch)
        finally:
            with self._mutex:
                for _ in batch:
                    self._queue.popleft()
                successor = self._queue[0] if self._queue else None
            for member in batch:
                if member.marks is None and member.error is None:
                    member.error = RuntimeError("group commit ended without an outcome")
                member.woken.set()
            if successor is not None:
                successor.woken.set()
        return waiting.outcome()

    def _commit(self, batch: list[_Waiting]) -> None:
        alone = [w for w in batch if w.unit.guard is not None]
        together = [w for w in batch if w.unit.guard is None]
        if len(together) > 1:
            try:
                with self.db.transaction() as conn:
                    marks = self._insert(conn, [w.unit for w in together])
                for member, got in zip(together, marks, strict=True):
                    member.marks = got
                together = []
            except Exception:  # retried one by one below, so each unit gets its own error
                pass
        for member in (*together, *alone):
            try:
                with self.db.transaction() as conn:
                    if member.unit.guard is not None:
                        member.unit.guard(conn)
                    member.marks = self._insert(conn, [member.unit])[0]
            except Exception as exc:  # handed to the caller that owns the unit
                member.error = exc

    def _insert(self, conn: Connection, units: Sequence[NewRows]) -> list[tuple[LedgerMark, ...]]:
        merged: dict[Table, list[Mapping[str, Any]]] = {}
        for unit in units:
            for table, rows in unit.rows.items():
                merged.setdefault(table, []).extend(rows)
        for table in sorted(merged, key=lambda t: _TABLE_ORDER[t.name]):
            if merged[table]:
                conn.execute(table.insert(), merged[table])
        return record_event_groups(
            conn, self.ledger, [(unit.request_id, unit.events) for unit in units]
        )
