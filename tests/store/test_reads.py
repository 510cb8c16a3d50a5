"""Read transactions: the event loop's kept connection is as fresh as a pooled one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, select, update

from greenlight.core.settings import Settings
from greenlight.store import Database
from greenlight.store.schema import registry_state


@pytest.fixture
def db(sqlite_settings: Settings) -> Iterator[Database]:
    database = Database.open(sqlite_settings)
    yield database
    database.close()


def _generation(conn: Connection) -> int:
    return int(conn.execute(select(registry_state.c.generation)).scalar_one())


def _move_generation(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(
            update(registry_state)
            .where(registry_state.c.id == 1)
            .values(generation=registry_state.c.generation + 1)
        )


def test_reads_on_the_event_loop_share_one_connection_and_see_each_new_commit(
    db: Database,
) -> None:
    async def serve() -> tuple[list[Connection], list[int]]:
        used, seen = [], []
        for _ in range(3):
            with db.read() as conn:
                used.append(conn)
                seen.append(_generation(conn))
            _move_generation(db)  # another writer commits between two requests
        return used, seen

    used, seen = asyncio.run(serve())
    assert used[0] is used[1] is used[2]
    assert seen == [seen[0], seen[0] + 1, seen[0] + 2]


def test_a_read_inside_another_on_the_event_loop_gets_its_own_connection(db: Database) -> None:
    async def nested() -> tuple[Connection, Connection, bool]:
        with db.read() as outer, db.read() as inner:
            return outer, inner, inner.in_transaction()

    outer, inner, inner_began = asyncio.run(nested())
    assert outer is not inner
    assert inner_began


def test_only_one_event_loop_thread_keeps_a_connection_and_others_still_read(
    db: Database,
) -> None:
    async def read_twice() -> list[Connection]:
        used = []
        for _ in range(2):
            with db.read() as conn:
                _generation(conn)
                used.append(conn)
        return used

    first = asyncio.run(read_twice())
    second: list[Connection] = []
    other = threading.Thread(target=lambda: second.extend(asyncio.run(read_twice())))
    other.start()
    other.join()
    assert first[0] is first[1]  # the first loop's thread keeps its connection
    assert second[0] is not first[0] and second[1] is not first[0]


def test_closing_the_database_closes_the_kept_connection(db: Database) -> None:
    async def read() -> Connection:
        with db.read() as conn:
            return conn

    kept = asyncio.run(read())
    db.close()
    assert kept.closed
    again = asyncio.run(read())  # a closed database reopens its pool on use
    assert again is not kept and not again.closed
