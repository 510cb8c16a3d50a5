"""Group commit: concurrent submissions share transactions, never each other's errors."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from greenlight.core.settings import Settings
from greenlight.engine import requests
from greenlight.engine.commits import GroupCommit, NewRows
from greenlight.engine.lifecycle import record_events
from greenlight.engine.platform import Platform
from greenlight.store import Database
from greenlight.store.db import engine_for
from greenlight.store.schema import generation_requests, ledger_entries, metadata
from tests.world import World, build_world


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    platform = Platform.open(settings)
    yield build_world(platform)
    platform.close()


def _prepared(world: World, count: int) -> list[NewRows]:
    plate = world.upload_plate()
    artist = world.access("artist")
    return [
        requests.prepare(world.platform, artist, world.cleanup(plate)).unit for _ in range(count)
    ]


def _commits_counted(world: World) -> list[int]:
    """A list that grows by one for every COMMIT the platform's engine issues."""
    counted: list[int] = []
    event.listen(world.platform.db.engine, "commit", lambda conn: counted.append(1))
    return counted


def _stored(world: World) -> tuple[int, list[int]]:
    with world.platform.db.read() as conn:
        count = conn.execute(select(func.count()).select_from(generation_requests)).scalar_one()
        indexes = list(conn.execute(select(ledger_entries.c.idx).order_by("idx")).scalars())
    return count, indexes


def test_concurrent_submissions_share_commits_and_all_land(world: World) -> None:
    units = _prepared(world, 40)
    before, _ = _stored(world)
    commits = _commits_counted(world)
    start = threading.Barrier(len(units))
    marks: list[int] = []

    def submit(unit: NewRows) -> None:
        start.wait()
        marks.extend(m.index for m in world.platform.commits.write(unit))

    threads = [threading.Thread(target=submit, args=(u,)) for u in units]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    count, indexes = _stored(world)
    assert count == before + 40
    assert sorted(marks) == indexes[-80:]  # two ledger events each, no gaps, no repeats
    assert indexes == list(range(len(indexes)))
    assert len(commits) < 40  # some arrived together and committed as one


def test_one_bad_unit_fails_alone_and_its_batch_mates_commit(world: World) -> None:
    good = _prepared(world, 6)
    before, _ = _stored(world)
    twin = good[0]  # the same request id twice: the second breaks the primary key
    results: dict[int, object] = {}
    start = threading.Barrier(len(good) + 1)

    def submit(i: int, unit: NewRows) -> None:
        start.wait()
        try:
            results[i] = world.platform.commits.write(unit)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=submit, args=(i, u)) for i, u in enumerate([*good, twin])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    failures = [r for r in results.values() if isinstance(r, Exception)]
    assert len(failures) == 1 and isinstance(failures[0], IntegrityError)
    count, indexes = _stored(world)
    assert count == before + 6
    assert indexes == list(range(len(indexes)))  # the failed unit left no ledger entry


def test_callers_on_an_event_loop_await_their_commit(world: World) -> None:
    units = _prepared(world, 25)
    before, _ = _stored(world)

    async def submit_all() -> list[tuple[int, ...]]:
        done = await asyncio.gather(*(world.platform.commits.write_async(u) for u in units))
        return [tuple(m.index for m in marks) for marks in done]

    marks = asyncio.run(submit_all())
    count, _ = _stored(world)
    assert count == before + 25
    assert len({i for pair in marks for i in pair}) == 50


def test_a_closed_platform_refuses_writes_after_finishing_queued_ones(settings: Settings) -> None:
    platform = Platform.open(settings)
    world = build_world(platform)
    (unit, late) = _prepared(world, 2)
    platform.commits.write(unit)
    platform.close()
    with pytest.raises(RuntimeError, match="closed"):
        platform.commits.write(late)


def test_a_lone_writer_never_waits_for_the_pace(world: World) -> None:
    units = _prepared(world, 5)
    paced = GroupCommit(world.platform.db, world.platform.ledger, pace=30.0)
    commits = _commits_counted(world)
    started = time.monotonic()
    for unit in units:
        paced.write(unit)
    paced.close()
    assert time.monotonic() - started < 30.0
    assert len(commits) == 5


def test_a_crowd_of_writers_is_written_in_few_large_batches(world: World) -> None:
    units = _prepared(world, 60)
    before, _ = _stored(world)
    paced = GroupCommit(world.platform.db, world.platform.ledger, pace=0.5)
    commits = _commits_counted(world)
    start = threading.Barrier(len(units))

    def submit(unit: NewRows) -> None:
        start.wait()
        paced.write(unit)

    threads = [threading.Thread(target=submit, args=(u,)) for u in units]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    paced.close()

    count, indexes = _stored(world)
    assert count == before + 60
    assert indexes == list(range(len(indexes)))
    assert len(commits) <= 10


@pytest.mark.parametrize("batched", [False, True], ids=["one_by_one", "together"])
def test_a_batch_is_stored_byte_for_byte_as_sqlalchemy_stores_it(
    sqlite_settings: Settings, tmp_path: Path, batched: bool
) -> None:
    platform = Platform.open(sqlite_settings)
    world = build_world(platform)
    units = _prepared(world, 6)
    # A twin of the database as it stands, to write the same batch the plain way.
    twin_path = tmp_path / "twin.db"
    source, copy = sqlite3.connect(tmp_path / "greenlight.db"), sqlite3.connect(twin_path)
    source.backup(copy)
    source.close()
    copy.close()
    twin = Database(engine_for(f"sqlite:///{twin_path}"))

    commits = _commits_counted(world)
    if batched:
        asyncio.run(_queued_behind_the_writer_lock(platform, units))
        assert len(commits) < len(units)  # several units went in one multi-row batch
    else:
        for unit in units:
            assert len(platform.commits.write(unit)) == 2
        assert len(commits) == len(units)
    with twin.transaction() as conn:
        for table in sorted(
            {t for u in units for t in u.rows}, key=lambda t: metadata.sorted_tables.index(t)
        ):
            rows = [row for u in units for row in u.rows.get(table, [])]
            if rows:
                conn.execute(table.insert(), rows)
        for unit in units:
            record_events(conn, platform.ledger, unit.request_id, unit.events)

    written = [t.name for u in units for t, rows in u.rows.items() if rows]
    tables = [*written, "ledger_entries", "request_events"]
    for name in dict.fromkeys(tables):
        query = f"SELECT * FROM {name} ORDER BY 1, 2"
        with platform.db.read() as conn:
            ours = conn.exec_driver_sql(query).all()
        with twin.read() as conn:
            plain = conn.exec_driver_sql(query).all()
        assert ours == plain, name
        assert ours, name
    twin.close()
    platform.close()


async def _queued_behind_the_writer_lock(platform: Platform, units: list[NewRows]) -> None:
    """Write ``units`` in order, most of them in one batch: they queue while this
    holds the writer lock, so the committer finds them waiting when it gets it."""
    with platform.db.transaction():
        waiting = [asyncio.ensure_future(platform.commits.write_async(u)) for u in units]
        for _ in range(3):
            await asyncio.sleep(0)  # every unit is queued, in order
    for marks in await asyncio.gather(*waiting):
        assert len(marks) == 2
