"""Opening the platform database: SQLite (WAL) by default, PostgreSQL by URL.

SQLite notes: every write transaction starts with ``BEGIN IMMEDIATE`` so two
writers queue on the lock instead of deadlocking when a read upgrades to a
write; read-only work asks for a plain ``BEGIN`` (see :meth:`Database.read`)
so readers never wait for writers under WAL.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from greenlight.core.errors import InvalidInput
from greenlight.core.settings import Settings

_READ_ONLY = "greenlight_read_only"


def _sqlite_engine(url: str, synchronous: str) -> Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"isolation_level": None, "timeout": 60, "check_same_thread": False},
        poolclass=NullPool if not path or path == ":memory:" else None,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_READ_ONLY, False):
            # Straight to the driver: SQLAlchemy's execute path costs several times
            # the statement, and every API call opens a read transaction.
            conn.connection.dbapi_connection.execute("BEGIN")  # type: ignore[union-attr]
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def engine_for(url: str) -> Engine:
    """An engine for ``url`` with Greenlight's connection settings."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError for junk URLs
        raise InvalidInput(
            f"GREENLIGHT_DATABASE_URL {url!r} is not a database URL; use sqlite:///path "
            "or postgresql+psycopg://user@host/db.",
            code="config.bad_database_url",
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        # FULL: a committed ledger entry survives power loss, not only a crash.
        return _sqlite_engine(url, os.environ.get("GREENLIGHT_SQLITE_SYNCHRONOUS", "FULL"))
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(False))
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    raise InvalidInput(
        f"Database {parsed.get_backend_name()!r} is not supported; use SQLite or PostgreSQL.",
        code="config.bad_database_url",
    )


class _WriterLock:
    """One SQLite writer at a time, queued in order rather than by SQLite's busy handler.

    SQLite lets one writer in and makes the others sleep and retry with growing
    back-off (up to 100 ms a try), which under load turns a 1 ms commit into a
    second-long tail. Waiting here instead hands the lock straight to the next
    writer: a thread lock within the process, and ``flock`` on a file next to
    the database across processes (the kernel wakes the next waiter at once).
    """

    def __init__(self, path: Path) -> None:
        self._thread_lock = threading.Lock()
        self._path = path.with_name(path.name + ".writer-lock")

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the flock


@dataclass
class Database:
    """The platform database: an engine plus transaction helpers."""

    engine: Engine
    _writer: _WriterLock | None = field(default=None, repr=False)
    # The reading connection the event loop's thread keeps: (thread id, connection).
    _loop_reader: tuple[int, Connection] | None = field(default=None, repr=False)
    _loop_reader_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.engine.dialect.name == "sqlite":
            path = make_url(str(self.engine.url)).database
            if path and path != ":memory:":
                self._writer = _WriterLock(Path(path))

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Database:
        """Open (and by default migrate to the newest schema) the configured database."""
        db = cls(engine_for(settings.database_url))
        if migrate:
            from greenlight.store.migrate import upgrade

            upgrade(db.engine)
        return db

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        if self._writer is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._writer.held(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction that never blocks writers.

        On the thread of an event loop (the server's, which authenticates and
        judges submissions between awaits) a SQLite database keeps one
        connection for these, checked out once: taking a pooled connection and
        handing it back cost as much as the rest of the transaction. Each
        transaction on it begins afresh, so it sees every commit made before it.
        """
        kept = self._kept_reader()
        if kept is not None:
            with kept.begin():
                yield kept
            return
        with self.engine.connect().execution_options(**{_READ_ONLY: True}) as conn, conn.begin():
            yield conn

    def _kept_reader(self) -> Connection | None:
        """This thread's kept reading connection, if it runs an event loop and may have one.

        One thread per database keeps one (the first event loop to read); others,
        and a read nested in another on the same connection, take a pooled one.
        """
        if self._writer is None or asyncio._get_running_loop() is None:
            return None
        me = threading.get_ident()
        kept = self._loop_reader
        if kept is not None:
            owner, conn = kept
            if owner != me:
                return None
            if not (conn.closed or conn.invalidated):
                return None if conn.in_transaction() else conn
        with self._loop_reader_lock:
            kept = self._loop_reader
            if kept is not None and kept[0] != me:
                return None
            if kept is not None:
                kept[1].close()  # closed or invalidated: replaced below
            conn = self.engine.connect().execution_options(**{_READ_ONLY: True})
            self._loop_reader = (me, conn)
            return conn

    def close(self) -> None:
        """Release every pooled connection (and the event loop's kept one)."""
        with self._loop_reader_lock:
            kept, self._loop_reader = self._loop_reader, None
        if kept is not None:
            kept[1].close()
        self.engine.dispose()
