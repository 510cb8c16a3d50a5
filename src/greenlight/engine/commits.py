"""Group commit: many callers' new rows and ledger events, one transaction.

A governed submission writes a handful of rows and two ledger events. Done
one by one, concurrent submissions queue on the database's single writer and
each pays its own BEGIN, ledger-head update, statement round trips and
COMMIT (an fsync). Here one committer thread takes every unit that arrived
while it was busy and writes them all with one multi-row INSERT per table and
one ledger append, then commits once. A lone unit commits at once (no timer).
Under load (many units queued up behind the last batch) the committer lets the
next batch fill for up to ``pace`` (20 ms) after the last one started, while
units keep arriving, so a commit's fixed cost is shared by many more of them.

Callers on an event loop ``await write_async(unit)``: the committer resolves
all of a batch's futures with one hand-off to the loop, so a batch of 30 costs
one wake-up, not 30 threads contending for the interpreter. Other callers
block in :meth:`GroupCommit.write`.

A batch is all or nothing in the database, but never for the callers: when a
batch fails (one unit's row breaks a constraint, say), each of its units is
retried alone, so only the faulty unit sees the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table

from greenlight.core.models import LedgerMark
from greenlight.engine.lifecycle import record_event_groups
from greenlight.ledger import Event, Ledger
from greenlight.store import Database
from greenlight.store.inserts import BoundInsert, bound_insert
from greenlight.store.schema import metadata

# Parents before children, so one batch's rows satisfy its foreign keys.
_TABLE_ORDER = {table.name: i for i, table in enumerate(metadata.sorted_tables)}
MAX_BATCH = 128
# Under load (CROWD or more units arrived while a batch was being written), the
# next batch starts at most PACE after the previous one did, and sooner once GAP
# passes with nothing new: with 30 writers this makes batches of ~15 instead of ~4,
# and a commit's fixed cost (~1 ms of a ~0.2 ms-per-unit write) is shared by more.
PACE = 0.02
GAP = 0.004
CROWD = 4


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
    marks: tuple[LedgerMark, ...] | None = None
    error: BaseException | None = None
    # Exactly one of these tells the caller it is done.
    woken: threading.Event | None = None
    future: asyncio.Future[tuple[LedgerMark, ...]] | None = None

    def outcome(self) -> tuple[LedgerMark, ...]:
        if self.error is not None:
            raise self.error
        assert self.marks is not None
        return self.marks


class GroupCommit:
    """Writes :class:`NewRows` units, batching the ones that arrive together."""

    def __init__(
        self, db: Database, ledger: Ledger, *, max_batch: int = MAX_BATCH, pace: float = PACE
    ) -> None:
        self.db, self.ledger, self.max_batch, self.pace = db, ledger, max_batch, pace
        self._ready = threading.Condition()
        self._queue: deque[_Waiting] = deque()
        self._committer: threading.Thread | None = None
        self._closed = False

    def write(self, unit: NewRows) -> tuple[LedgerMark, ...]:
        """Commit ``unit`` (with whatever else is waiting); returns its ledger marks.

        Raises whatever writing this unit alone raised; nothing of it is written then.
        """
        waiting = _Waiting(unit, woken=threading.Event())
        self._enqueue(waiting)
        assert waiting.woken is not None
        waiting.woken.wait()
        return waiting.outcome()

    async def write_async(self, unit: NewRows) -> tuple[LedgerMark, ...]:
        """:meth:`write` for a caller on an event loop: waits without holding a thread."""
        future: asyncio.Future[tuple[LedgerMark, ...]] = asyncio.get_running_loop().create_future()
        self._enqueue(_Waiting(unit, future=future))
        return await future

    def close(self) -> None:
        """Commit what is queued, then stop the committer thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
            committer = self._committer
        if committer is not None:
            committer.join()

    def _enqueue(self, waiting: _Waiting) -> None:
        with self._ready:
            if self._closed:
                raise RuntimeError("the platform is closed; nothing more can be written")
            self._queue.append(waiting)
            if len(self._queue) not in (1, self.max_batch):
                return  # the committer is writing, or pacing and will look when it is time
            if self._committer is None:
                self._committer = threading.Thread(
                    target=self._run, name="greenlight-group-commit", daemon=True
                )
                self._committer.start()
            self._ready.notify()

    def _run(self) -> None:
        busy = False  # many units arrived while the last batch was being written
        started = 0.0  # when the last batch started
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if busy:  # let the batch fill while writers keep coming, up to the pace
                    until = started + self.pace
                    seen = len(self._queue)
                    while seen < self.max_batch and not self._closed:
                        left = until - time.monotonic()
                        if left <= 0:
                            break
                        self._ready.wait(min(GAP, left))
                        if len(self._queue) == seen:
                            break
                        seen = len(self._queue)
                if not self._queue:
                    return  # closed and drained
                batch = [
                    self._queue.popleft() for _ in range(min(len(self._queue), self.max_batch))
                ]
            started = time.monotonic()
            try:
                self._commit(batch)
            except BaseException as exc:  # pragma: no cover - _commit hands errors to members
                for member in batch:
                    if member.marks is None and member.error is None:
                        member.error = exc
            _hand_back(batch)
            with self._ready:
                busy = len(self._queue) >= CROWD

    def _commit(self, batch: list[_Waiting]) -> None:
        alone = [w for w in batch if w.unit.guard is not None]
        together = [w for w in batch if w.unit.guard is None]
        if len(together) > 1:
            try:
                batch_writes = self._bound([w.unit for w in together])  # before the lock
                with self.db.transaction() as conn:
                    marks = self._insert(conn, batch_writes)
                for member, got in zip(together, marks, strict=True):
                    member.marks = got
                together = []
            except Exception:  # retried one by one below, so each unit gets its own error
                pass
        for member in (*together, *alone):
            try:
                writes = self._bound([member.unit])
                with self.db.transaction() as conn:
                    if member.unit.guard is not None:
                        member.unit.guard(conn)
                    member.marks = self._insert(conn, writes)[0]
            except Exception as exc:  # handed to the caller that owns the unit
                member.error = exc

    def _bound(self, units: Sequence[NewRows]) -> _Writes:
        """What ``units`` write, made ready outside the write lock: each table's rows
        (parents first) with their values bound where possible, and each event's
        canonical bytes (checked and encoded once, here)."""
        merged: dict[Table, list[Mapping[str, Any]]] = {}
        for unit in units:
            for table, rows in unit.rows.items():
                merged.setdefault(table, []).extend(rows)
        dialect = self.db.engine.dialect
        tables = [
            _Write(table, merged[table], bound_insert(table, merged[table], dialect))
            for table in sorted(merged, key=lambda t: _TABLE_ORDER[t.name])
            if merged[table]
        ]
        events: list[tuple[str, Sequence[Event]]] = [
            (unit.request_id, [_Sealed.of(e) for e in unit.events]) for unit in units
        ]
        return _Writes(tables, events)

    def _insert(self, conn: Connection, writes: _Writes) -> list[tuple[LedgerMark, ...]]:
        for write in writes.tables:
            if write.statements is not None:
                write.statements.run(conn)
            else:
                conn.execute(write.table.insert(), write.rows)
        return record_event_groups(conn, self.ledger, writes.events)


@dataclass(frozen=True)
class _Write:
    """One table's rows, and (when SQLAlchemy need not do it) the driver's statements
    that insert them, bound already."""

    table: Table
    rows: Sequence[Mapping[str, Any]]
    statements: BoundInsert | None = None


@dataclass(frozen=True)
class _Sealed(Event):
    """An event with its canonical bytes worked out already (the ledger asks for them
    under the write lock; encoding there would hold every other writer up)."""

    body: bytes = b""

    @classmethod
    def of(cls, event: Event) -> _Sealed:
        """``event`` and its canonical bytes; refuses what ``Event.canonical`` refuses."""
        body = event.canonical()
        sealed = object.__new__(cls)
        # Its fields copied as they are, without the dataclass constructor's
        # per-field work: an event has no checks there (they are in canonical()).
        sealed.__dict__.update(vars(event), body=body)
        return sealed

    def canonical(self) -> bytes:
        """The bytes :meth:`Event.canonical` gave when the event was sealed."""
        return self.body


@dataclass(frozen=True)
class _Writes:
    """A batch ready to write: its tables' rows, and its events by request."""

    tables: list[_Write]
    events: list[tuple[str, Sequence[Event]]]


def _hand_back(batch: Sequence[_Waiting]) -> None:
    """Wake every caller of ``batch``: one call into each event loop, one event per thread."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Waiting]] = {}
    for member in batch:
        if member.future is not None:
            by_loop.setdefault(member.future.get_loop(), []).append(member)
        elif member.woken is not None:
            member.woken.set()
    for loop, members in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_resolve, members)


def _resolve(members: Sequence[_Waiting]) -> None:
    for member in members:
        future = member.future
        assert future is not None
        if future.done():  # the caller was cancelled
            continue
        if member.error is not None:
            future.set_exception(member.error)
        elif member.marks is not None:
            future.set_result(member.marks)
        else:
            future.set_exception(RuntimeError("group commit ended without an outcome"))
