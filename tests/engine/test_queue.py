"""The job queue: priorities, leases and heartbeats, lost workers, retries, cancellation,
fencing, and SKIP LOCKED on PostgreSQL (real databases, real backends)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from greenlight.accounts import grant_role
from greenlight.backends import Backend, BackendInput, BackendResult, backend_for
from greenlight.backends.base import CheckedBackend, Task
from greenlight.core.enums import RequestState, Role
from greenlight.core.errors import Conflict, Forbidden, InvalidInput
from greenlight.core.models import ProductionDraft
from greenlight.core.settings import Settings
from greenlight.engine import assets, queue, requests, runs
from greenlight.engine.executors import LocalExecutor
from greenlight.engine.platform import Platform
from greenlight.engine.queue import QueueSettings
from greenlight.engine.workers import Worker
from greenlight.productions import create_production
from greenlight.rights import allow_tool
from tests.world import World, build_world, opened_platform, plate_png

FAST = QueueSettings(
    lease_seconds=5.0,
    heartbeat_seconds=0.05,
    backoff_seconds=0.0,
    progress_seconds=0.0,
)


@dataclass
class Flaky(CheckedBackend):
    """A real inpainting backend in front of which the first ``failures`` runs crash."""

    failures: int
    error: Exception = field(default_factory=lambda: RuntimeError("GPU fell off the bus"))
    calls: int = 0
    name: str = "inpaint-opencv"

    def __post_init__(self) -> None:
        real = backend_for(self.name)
        assert isinstance(real, CheckedBackend)
        self.real = real
        self.capabilities = self.real.capabilities

    def check(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self.real.check(inputs, parameters)

    def work(self, task: Task) -> BackendResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.real.work(task)


@dataclass
class Slow(Flaky):
    """The real backend, after ``steps`` progress reports ``pause`` seconds apart."""

    failures: int = 0
    steps: int = 200
    pause: float = 0.01
    started: threading.Event = field(default_factory=threading.Event)

    def work(self, task: Task) -> BackendResult:
        self.started.set()
        for step in range(self.steps):
            task.progress(step / self.steps, "thinking")
            time.sleep(self.pause)
        return super().work(task)


def _using(backend: Backend) -> LocalExecutor:
    return LocalExecutor(lambda name: backend)


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    with opened_platform(settings) as platform:
        yield build_world(platform)


def _queued(world: World, production_id: str | None = None) -> str:
    where = production_id or world.production.id
    plate, _ = assets.upload(
        world.platform, world.access("artist"), where, "plate.png", io.BytesIO(plate_png()), None
    )
    draft = world.cleanup(plate).model_copy(update={"production_id": where})
    detail = requests.submit(world.platform, world.access("artist"), draft)
    assert detail.request.state is RequestState.QUEUED
    return detail.request.id


def _second_production(world: World) -> str:
    """Another show on the same studio, where the artist and producer also work."""
    with world.platform.db.transaction() as conn:
        other = create_production(
            conn, ProductionDraft(code="SN", title="Summer Nights", kind="series")
        )
        for who, role in (("artist", Role.ARTIST), ("producer", Role.PRODUCER)):
            grant_role(conn, production_id=other.id, person_id=world.people[who].id, role=role)
        allow_tool(conn, other.id, world.studio_tool.id, by=world.people["producer"].id)
    return other.id


def _claim_order(platform: Platform) -> list[str]:
    order = []
    while True:
        with platform.db.transaction() as conn:
            lease = queue.claim_next(conn, "test", FAST)
        if lease is None:
            return order
        order.append(lease.request_id)


def test_a_higher_priority_production_is_served_first_then_the_oldest(world: World) -> None:
    other = _second_production(world)
    first_nl, first_sn, second_nl, second_sn = (
        _queued(world),
        _queued(world, other),
        _queued(world),
        _queued(world, other),
    )
    with world.platform.db.transaction() as conn:
        queue.set_priority(conn, world.access("producer"), other, 10)
    assert _claim_order(world.platform) == [first_sn, second_sn, first_nl, second_nl]


def test_only_producers_and_admins_set_a_production_priority(world: World) -> None:
    with world.platform.db.transaction() as conn:
        with pytest.raises(Forbidden) as refused:
            queue.set_priority(conn, world.access("artist"), world.production.id, 5)
        assert refused.value.code == "queue.not_allowed"
        with pytest.raises(InvalidInput):
            queue.set_priority(conn, world.access("producer"), world.production.id, 1000)
        queue.set_priority(conn, world.access("producer"), world.production.id, -3)
        assert queue.get_priority(conn, world.production.id) == -3


def test_a_heartbeat_pushes_the_lease_forward_while_the_backend_runs(world: World) -> None:
    request_id = _queued(world)
    settings = QueueSettings(lease_seconds=0.5, heartbeat_seconds=0.05, progress_seconds=0.0)
    slow = Slow(steps=60)
    expiries = []
    ran = threading.Thread(
        target=runs.run_request,
        args=(world.platform, request_id),
        kwargs={"executor": _using(slow), "settings": settings},
    )
    ran.start()
    assert slow.started.wait(10)
    for _ in range(3):
        expiries.append(world.job(request_id).lease_expires_at)
        time.sleep(0.15)
    ran.join(30)
    assert expiries == sorted(expiries) and len(set(expiries)) == 3
    job = world.job(request_id)
    assert job.state == "done" and job.lease_id is None and job.progress == 1.0
    assert world.detail(request_id).request.state is RequestState.IN_REVIEW


def test_a_dead_workers_job_is_taken_over_and_its_partial_outputs_discarded(world: World) -> None:
    _queued(world)
    dying = QueueSettings(lease_seconds=0.05, heartbeat_seconds=60, backoff_seconds=0.0)
    lost = runs.start_next(world.platform, "worker-that-dies", dying)
    assert lost is not None
    partial = runs.work_dir(world.platform, lost.run_id) / "out" / "half-written.png"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\x89PNG half")
    time.sleep(0.1)  # its lease runs out: no heartbeat came

    taker = Worker(world.platform, LocalExecutor(), settings=FAST, name="worker-b")
    done = taker.run_once()
    assert done is not None and done.request.state is RequestState.IN_REVIEW
    assert not partial.exists()
    first, second = done.job.runs if done.job else ()
    assert first.error is not None and "run.worker_lost" in first.error
    assert second.error is None and len(done.outputs) == 1
    events = [e.event_type for e in done.events]
    assert events.count("run.started") == 2 and "run.retried" in events

    # The first worker wakes up and tries to finish: it may not record anything.
    stale = runs.execute(world.platform, lost, LocalExecutor(), FAST)
    assert stale.request.state is RequestState.IN_REVIEW
    assert [o.id for o in stale.outputs] == [o.id for o in done.outputs]
    assert len(stale.job.runs if stale.job else ()) == 2


def test_a_stale_worker_cannot_record_a_failure_either(world: World) -> None:
    request_id = _queued(world)
    stale = runs.start_next(world.platform, "a", QueueSettings(lease_seconds=0.01))
    assert stale is not None
    time.sleep(0.05)
    runs.reap_lost(world.platform, FAST)
    with pytest.raises(queue.LeaseLost):
        runs.fail_run(world.platform, stale, RuntimeError("late news"), FAST)
    assert world.detail(request_id).request.state is RequestState.QUEUED


def test_a_crash_is_retried_after_a_back_off_and_then_succeeds(world: World) -> None:
    request_id = _queued(world)
    flaky = Flaky(failures=1)
    waiting = QueueSettings(heartbeat_seconds=0.05, backoff_seconds=0.3)
    worker = Worker(world.platform, _using(flaky), settings=waiting, poll_seconds=0.02)
    retried = worker.run_once()
    assert retried is not None and retried.request.state is RequestState.QUEUED
    job = world.job(request_id)
    assert job.state == "queued" and job.attempts == 1 and job.available_at is not None
    assert worker.run_once() is None  # still backing off
    assert worker.run(until_idle=True) == 2
    ran = world.detail(request_id)
    assert ran.request.state is RequestState.IN_REVIEW and flaky.calls == 2
    assert [r.error is None for r in (ran.job.runs if ran.job else ())] == [False, True]


def test_a_backend_that_keeps_crashing_fails_after_its_attempts(world: World) -> None:
    request_id = _queued(world)
    flaky = Flaky(failures=99)
    Worker(world.platform, _using(flaky), settings=FAST, poll_seconds=0.01).run(until_idle=True)
    failed = world.detail(request_id)
    assert failed.request.state is RequestState.FAILED
    assert flaky.calls == 3 and failed.job is not None and failed.job.attempts == 3
    assert all("GPU fell off the bus" in (r.error or "") for r in failed.job.runs)


def test_a_refusal_about_the_inputs_is_not_retried(world: World) -> None:
    request_id = _queued(world)
    refusing = Flaky(
        failures=99, error=InvalidInput("The mask is 8x8; the plate is 96x64.", code="backend.x")
    )
    Worker(world.platform, _using(refusing), settings=FAST).run(until_idle=True)
    assert world.detail(request_id).request.state is RequestState.FAILED
    assert refusing.calls == 1


def test_queued_work_is_cancelled_at_once_by_its_requester(world: World) -> None:
    request_id = _queued(world)
    with pytest.raises(Forbidden):
        runs.cancel(world.platform, world.access("vfx"), request_id)
    cancelled = runs.cancel(world.platform, world.access("artist"), request_id)
    assert cancelled.request.state is RequestState.CANCELLED
    assert cancelled.events[-1].event_type == "run.cancelled"
    assert cancelled.events[-1].actor == world.people["artist"].id
    assert world.job(request_id).state == "cancelled"
    assert Worker(world.platform, LocalExecutor(), settings=FAST).run_once() is None
    with pytest.raises(Conflict) as again:
        runs.cancel(world.platform, world.access("artist"), request_id)
    assert again.value.code == "cancel.not_cancellable"


def test_running_work_stops_at_the_next_heartbeat_when_a_producer_cancels(world: World) -> None:
    request_id = _queued(world)
    slow = Slow(steps=2000)
    worker = Worker(world.platform, _using(slow), settings=FAST)
    ran: list[Any] = []
    thread = threading.Thread(target=lambda: ran.append(worker.run_once()))
    thread.start()
    assert slow.started.wait(10)
    asked = runs.cancel(world.platform, world.access("producer"), request_id)
    assert asked.request.state is RequestState.RUNNING
    thread.join(10)
    (stopped,) = ran
    assert stopped.request.state is RequestState.CANCELLED and stopped.outputs == ()
    assert stopped.events[-1].actor == world.people["producer"].id
    assert not runs.work_dir(world.platform, stopped.job.runs[0].id).exists()


@pytest.mark.postgres
def test_two_claimers_on_postgres_never_get_the_same_job(postgres: Any, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=postgres.new_database())
    with opened_platform(settings) as platform:
        world = build_world(platform)
        queued = {_queued(world) for _ in range(4)}
        barrier = threading.Barrier(2)
        got: list[str] = []

        def claim_twice() -> None:
            for _ in range(2):
                with platform.db.transaction() as conn:
                    lease = queue.claim_next(conn, threading.current_thread().name, FAST)
                    assert lease is not None
                    barrier.wait(5)  # both hold an uncommitted claim at the same moment
                    got.append(lease.request_id)

        claimers = [threading.Thread(target=claim_twice) for _ in range(2)]
        for t in claimers:
            t.start()
        for t in claimers:
            t.join(20)
        assert sorted(got) == sorted(queued)
