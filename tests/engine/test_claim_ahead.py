"""A busy worker claims its next job in the transaction that records the last one's
success: one commit per job, with the same lease, events and run row as a claim of
its own, taken over like any other job when the worker dies (real databases)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, event, select

from greenlight.core.enums import RequestState
from greenlight.core.settings import Settings
from greenlight.engine import requests
from greenlight.engine.executors import LocalExecutor
from greenlight.engine.queue import QueueSettings
from greenlight.engine.runs import reap_lost
from greenlight.engine.workers import Worker
from greenlight.store.schema import policy_decisions, runs
from tests.engine.test_queue import Slow, _using
from tests.world import World, build_world, opened_platform

FAST = QueueSettings(lease_seconds=5.0, heartbeat_seconds=0.05, backoff_seconds=0.0)


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    with opened_platform(settings) as platform:
        yield build_world(platform)


def _queued(world: World, count: int) -> list[str]:
    plate = world.upload_plate()
    made = [
        requests.submit(world.platform, world.access("artist"), world.cleanup(plate))
        for _ in range(count)
    ]
    assert all(d.request.state is RequestState.QUEUED for d in made)
    return [d.request.id for d in made]


def test_a_busy_worker_starts_its_next_job_as_it_records_the_last(world: World) -> None:
    first, second = _queued(world, 2)
    worker = Worker(world.platform, LocalExecutor(), settings=FAST, name="busy")

    done = worker.run_once(claim_next=True)
    assert done is not None and done.request.state is RequestState.IN_REVIEW
    assert worker.holding
    # The next job is claimed and started exactly as a claim of its own would have:
    # leased to this worker, its run open, its request running with run.started last,
    # recorded in the same commit as the last job's events, right after them.
    job = world.job(second)
    assert job.state == "running" and job.lease_owner == "busy" and job.attempts == 1
    assert job.run_id is not None and job.stage == "starting"
    waiting = world.detail(second)
    assert waiting.request.state is RequestState.RUNNING
    assert waiting.events[-1].event_type == "run.started"
    assert waiting.events[-1].index == done.events[-1].index + 1
    with world.platform.db.read() as conn:
        opened = conn.execute(select(runs).where(runs.c.id == job.run_id)).one()
    assert opened.job_id == job.id and opened.finished_at is None

    ran = worker.run_once()
    assert ran is not None and ran.request.state is RequestState.IN_REVIEW
    assert not worker.holding and len(ran.outputs) == 1
    assert [r.id for r in (ran.job.runs if ran.job else ())] == [job.run_id]
    # Both requests went through the same steps, in the same order.
    assert [e.event_type for e in ran.events] == [e.event_type for e in done.events]
    assert world.detail(first).request.state is RequestState.IN_REVIEW


def test_a_job_claimed_ahead_by_a_worker_that_dies_is_taken_over_after_its_lease(
    world: World,
) -> None:
    _, second = _queued(world, 2)
    dying = QueueSettings(lease_seconds=0.05, heartbeat_seconds=60, backoff_seconds=0.0)
    doomed = Worker(world.platform, LocalExecutor(), settings=dying, name="worker-that-dies")
    assert doomed.run_once(claim_next=True) is not None and doomed.holding
    time.sleep(0.1)  # it dies holding the next job: no heartbeat renews the lease

    taker = Worker(world.platform, LocalExecutor(), settings=FAST, name="worker-b")
    done = taker.run_once()
    assert done is not None and done.request.id == second
    assert done.request.state is RequestState.IN_REVIEW and len(done.outputs) == 1
    lost, kept = done.job.runs if done.job else ()
    assert lost.error is not None and "run.worker_lost" in lost.error and kept.error is None
    kinds = [e.event_type for e in done.events]
    assert kinds.count("run.started") == 2 and "run.retried" in kinds

    # The first worker wakes up and runs the job it held: nothing of it is recorded.
    stale = doomed.run_once()
    assert stale is not None and stale.request.state is RequestState.IN_REVIEW
    assert [o.id for o in stale.outputs] == [o.id for o in done.outputs]
    assert len(stale.job.runs if stale.job else ()) == 2


def test_a_job_claimed_ahead_keeps_its_lease_while_it_waits_its_turn(world: World) -> None:
    _, second = _queued(world, 2)
    short = QueueSettings(lease_seconds=0.3, heartbeat_seconds=0.05, backoff_seconds=0.0)
    worker = Worker(world.platform, LocalExecutor(), settings=short)
    worker.run_once(claim_next=True)
    claimed = world.job(second).lease_expires_at
    time.sleep(0.6)  # twice its lease: only the worker's heartbeat keeps it
    assert reap_lost(world.platform, short) == 0
    job = world.job(second)
    assert job.state == "running" and job.lease_expires_at > claimed and job.attempts == 1
    done = worker.run_once()
    assert done is not None and done.request.state is RequestState.IN_REVIEW
    assert [e.event_type for e in done.events].count("run.started") == 1


def test_a_worker_told_to_stop_claims_nothing_more(world: World) -> None:
    first, second = _queued(world, 2)
    slow = Slow(steps=40)
    worker = Worker(world.platform, _using(slow), settings=FAST, poll_seconds=0.01)
    running = threading.Thread(target=worker.run)
    running.start()
    assert slow.started.wait(10)
    worker.stop.set()  # while the first job runs
    running.join(30)
    assert not running.is_alive() and not worker.holding
    assert world.detail(first).request.state is RequestState.IN_REVIEW
    job = world.job(second)
    assert job.state == "queued" and job.lease_id is None and job.attempts == 0


def test_the_job_claimed_for_a_stopping_worker_runs_before_it_exits(world: World) -> None:
    _, second, third = _queued(world, 3)
    worker = Worker(world.platform, LocalExecutor(), settings=FAST)
    worker.run_once(claim_next=True)
    worker.stop.set()
    assert worker.run() == 2  # the job in hand, and no other
    assert world.detail(second).request.state is RequestState.IN_REVIEW
    assert world.job(third).state == "queued"


def test_a_job_that_cannot_start_never_undoes_the_one_finished_before_it(world: World) -> None:
    first, broken = _queued(world, 2)
    with world.platform.db.transaction() as conn:  # its policy decision is gone
        conn.execute(delete(policy_decisions).where(policy_decisions.c.request_id == broken))
    worker = Worker(world.platform, LocalExecutor(), settings=FAST)
    done = worker.run_once(claim_next=True)
    assert done is not None and done.request.id == first
    assert done.request.state is RequestState.IN_REVIEW and len(done.outputs) == 1
    assert not worker.holding
    assert world.job(broken).state == "queued"
    assert world.detail(broken).request.state is RequestState.QUEUED


def test_a_busy_worker_commits_once_per_job(sqlite_settings: Settings) -> None:
    with opened_platform(sqlite_settings) as platform:
        world = build_world(platform)
        queued = _queued(world, 4)
        writes: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.startswith("BEGIN IMMEDIATE"):
                writes.append(statement)

        event.listen(platform.db.engine, "before_cursor_execute", count)
        try:
            calm = QueueSettings(heartbeat_seconds=30)  # no renewal inside the count
            assert Worker(platform, LocalExecutor(), settings=calm).run(until_idle=True) == 4
        finally:
            event.remove(platform.db.engine, "before_cursor_execute", count)
        assert all(world.detail(r).request.state is RequestState.IN_REVIEW for r in queued)
        # The reaper's look and the first claim, one commit per job (each claiming the
        # next), and the last look for work that finds none.
        assert len(writes) == 2 + len(queued) + 1
