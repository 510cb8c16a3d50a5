"""Inserting many rows at once, bound as SQLAlchemy binds them, in few driver calls.

The hot writers (group commit, the ledger, a request's timeline) insert rows of
one shape many at a time. SQLAlchemy's ``execute(table.insert(), rows)`` does
its per-execution work (compiling from its cache, type processing per row)
every time and hands the rows to the driver's ``executemany``, which on SQLite
releases and retakes the interpreter's lock for every row: under load every
retake waits for the event loop's turn, and the hand-overs cost more CPU than
the inserts. Here the INSERT is compiled once per table, column set and
dialect, the values go through SQLAlchemy's own bind processors (same SQL,
same stored bytes), and on SQLite the rows go in multi-row INSERTs.

Rows that cannot be bound so (mixed column sets, a column SQLAlchemy would
fill in itself, a value a type refuses) are left to SQLAlchemy, which then
does and reports exactly what it always did.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Table

# SQLite's oldest default limit on one statement's bound values.
MAX_VARIABLES = 999

Statement = tuple[str, tuple[Any, ...] | list[Any]]
"""SQL for the driver and its values: one tuple, or a list of tuples to run it for each."""


@dataclass(frozen=True)
class BoundInsert:
    """The driver statements that insert some rows, their values bound already."""

    statements: tuple[Statement, ...]

    def run(self, conn: Connection) -> None:
        """Execute the statements in ``conn``'s transaction (errors wrapped as SQLAlchemy's)."""
        for sql, values in self.statements:
            conn.exec_driver_sql(sql, values)


@dataclass(frozen=True)
class _CompiledInsert:
    sql: str
    names: tuple[str, ...]
    binders: tuple[Callable[[Any], Any] | None, ...]
    positional: bool
    # On SQLite: the statement up to and with VALUES, and one row's placeholders
    # (None: the SQL is not of that plain shape, so rows go one by one).
    values_clause: tuple[str, str] | None

    def statements(self, values: list[Any]) -> tuple[Statement, ...]:
        """Statements inserting ``values`` (bound rows, in order): multi-row where it can."""
        if self.values_clause is None or len(values) < 2:
            return ((self.sql, values),)
        head, row = self.values_clause
        per = max(1, MAX_VARIABLES // max(1, len(self.names)))
        out: list[Statement] = []
        for start in range(0, len(values), per):
            chunk = values[start : start + per]
            flat = tuple(value for bound in chunk for value in bound)
            out.append((head + ", ".join([row] * len(chunk)), flat))
        return tuple(out)


# An INSERT compiled once per dialect, table and column set (None: not bindable here).
_COMPILED: dict[tuple[str, str, tuple[str, ...]], _CompiledInsert | None] = {}


def _compiled_insert(
    table: Table, keys: tuple[str, ...], dialect: Dialect
) -> _CompiledInsert | None:
    found = _COMPILED.get((dialect.name, table.name, keys), False)
    if found is not False:
        return found  # type: ignore[return-value]
    compiled = table.insert().compile(dialect=dialect, column_keys=list(keys))
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(keys)
    processors = compiled._bind_processors
    binders: list[Callable[[Any], Any] | None] = []
    for name in names:
        processor = processors.get(name)
        if processor is not None and not callable(processor):
            binders = []  # a tuple type's processors: leave it to SQLAlchemy
            break
        binders.append(processor)
    insert: _CompiledInsert | None = None
    # Only when every value comes from the rows: a column default SQLAlchemy would
    # fill in per row keeps its own path.
    if (
        len(binders) == len(names)
        and sorted(names) == sorted(keys)
        and set(compiled.binds) == set(keys)
    ):
        sql = compiled.string
        row = "(" + ", ".join(["?"] * len(names)) + ")"
        values_clause = None
        if dialect.name == "sqlite" and compiled.positional and sql.endswith(" VALUES " + row):
            values_clause = (sql[: -len(row)], row)
        insert = _CompiledInsert(
            sql, names, tuple(binders), bool(compiled.positional), values_clause
        )
    _COMPILED[(dialect.name, table.name, keys)] = insert
    return insert


def bound_insert(
    table: Table, rows: Sequence[Mapping[str, Any]], dialect: Dialect
) -> BoundInsert | None:
    """``rows`` bound for the driver as SQLAlchemy would bind them, or None to leave
    them to SQLAlchemy (see the module's notes). Pure: safe outside any transaction."""
    if not rows:
        return BoundInsert(())
    keys = tuple(rows[0])
    insert = _compiled_insert(table, keys, dialect)
    if insert is None or any(tuple(row) != keys for row in rows):
        return None
    pairs = tuple(zip(insert.names, insert.binders, strict=True))
    try:
        if insert.positional:
            values: list[Any] = [
                tuple(bind(row[n]) if bind is not None else row[n] for n, bind in pairs)
                for row in rows
            ]
        else:
            values = [
                {n: bind(row[n]) if bind is not None else row[n] for n, bind in pairs}
                for row in rows
            ]
    except Exception:  # SQLAlchemy will raise it, wrapped as it always does
        return None
    return BoundInsert(insert.statements(values))


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` in ``conn``'s transaction: the same rows, and the
    same errors, as ``conn.execute(table.insert(), rows)``, in fewer driver calls."""
    bound = bound_insert(table, rows, conn.dialect)
    if bound is None:
        conn.execute(table.insert(), list(rows))
    else:
        bound.run(conn)
