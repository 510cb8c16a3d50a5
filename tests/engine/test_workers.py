"""Workers as people run them: `greenlight worker` processes, progress over a real HTTP
stream, and jobs run as Ray tasks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import update

from greenlight.accounts import create_api_token
from greenlight.api import create_app
from greenlight.core.enums import RequestState
from greenlight.core.settings import Settings
from greenlight.engine import requests
from greenlight.engine.executors import LocalExecutor, RayExecutor, connect_ray
from greenlight.engine.queue import QueueSettings
from greenlight.engine.workers import Worker
from greenlight.store.schema import generation_requests
from greenlight.web import pages
from tests.world import World, build_world, opened_platform

FAST = QueueSettings(heartbeat_seconds=0.05, backoff_seconds=0.0, progress_seconds=0.0)
GREENLIGHT = str(Path(sys.executable).with_name("greenlight"))


@pytest.fixture
def world(sqlite_settings: Settings) -> Iterator[World]:
    with opened_platform(sqlite_settings) as platform:
        yield build_world(platform)


def _queued(world: World) -> str:
    detail = requests.submit(
        world.platform, world.access("artist"), world.cleanup(world.upload_plate())
    )
    assert detail.request.state is RequestState.QUEUED
    return detail.request.id


def _state(world: World, request_id: str) -> RequestState:
    with world.platform.db.read() as conn:
        return requests.load_request(conn, request_id).state


def _environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "GREENLIGHT_DATA_DIR": str(settings.data_dir),
        "GREENLIGHT_DATABASE_URL": settings.database_url,
        "GREENLIGHT_EXECUTOR": "local",
    }


@pytest.mark.slow
def test_greenlight_worker_processes_run_the_queue_until_it_is_empty(world: World) -> None:
    queued = [_queued(world) for _ in range(3)]
    done = subprocess.run(
        [GREENLIGHT, "worker", "--processes", "2", "--until-idle", "--poll", "0.1"],
        env=_environment(world.platform.settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "2 worker process(es)" in done.stdout
    assert [_state(world, r) for r in queued] == [RequestState.IN_REVIEW] * 3


@pytest.mark.slow
def test_greenlight_worker_stops_cleanly_on_sigterm(world: World) -> None:
    worker = subprocess.Popen(
        [GREENLIGHT, "worker", "--processes", "1", "--poll", "0.1"],
        env=_environment(world.platform.settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        request_id = _queued(world)
        deadline = time.monotonic() + 60
        while _state(world, request_id) is not RequestState.IN_REVIEW:
            assert time.monotonic() < deadline, "the worker never ran the job"
            time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


@pytest.fixture
def server(world: World) -> Iterator[str]:
    """The real app on a loopback port, with the web pages."""
    platform = world.platform
    config = uvicorn.Config(
        create_app(platform, pages=pages(platform), secure_cookies=False),
        host="127.0.0.1",
        port=0,
        log_level="warning",
    )
    serving = uvicorn.Server(config)
    thread = threading.Thread(target=serving.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not serving.started:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    port = serving.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    serving.should_exit = True
    thread.join(10)


def _events(stream: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    name = ""
    for line in stream.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


def test_progress_streams_as_server_sent_events_until_the_run_ends(
    world: World, server: str
) -> None:
    request_id = _queued(world)
    with world.platform.db.transaction() as conn:
        token, _ = create_api_token(conn, world.people["artist"].id, "progress test")
    worker = Worker(world.platform, LocalExecutor(), settings=FAST, poll_seconds=0.05)
    seen: list[tuple[str, dict[str, Any]]] = []
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token}"}) as client:
        with client.stream("GET", f"/api/v1/requests/{request_id}/progress", timeout=30) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            for name, data in _events(stream):
                seen.append((name, data))
                if len(seen) == 1:
                    worker.start()  # the job runs once someone is watching
        worker.close(10)
        script = client.get("/static/progress.js")
        outsider = client.get(
            f"/api/v1/requests/{request_id}/progress",
            headers={"Authorization": "Bearer glt_not_a_token"},
        )
    assert seen[0] == ("progress", {**seen[0][1], "state": "queued"})
    assert seen[-1][0] == "end" and seen[-1][1]["state"] == "in_review"
    assert [d["state"] for _, d in seen].count("in_review") >= 1
    assert script.status_code == 200 and "EventSource" in script.text
    assert outsider.status_code == 401


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """One local Ray for the session (two CPUs, no dashboard)."""
    import ray

    address = connect_ray(None, num_cpus=2)
    yield address
    ray.shutdown()


@pytest.mark.slow
def test_jobs_run_as_ray_tasks_and_their_outputs_come_back_signed(
    world: World, ray_cluster: str
) -> None:
    queued = [_queued(world) for _ in range(2)]
    worker = Worker(world.platform, RayExecutor(address=ray_cluster), settings=FAST)
    assert worker.run(until_idle=True) == 2
    for request_id in queued:
        with world.platform.db.read() as conn:
            detail = requests.load_detail(conn, request_id)
        assert detail.request.state is RequestState.IN_REVIEW
        (output,) = detail.outputs
        assert output.manifest_sha256 is not None or output.media_type == "image/png"
        assert detail.job is not None and detail.job.runs[0].usage["masked_pixels"] == 96 * 3


@pytest.mark.slow
def test_a_refusal_inside_a_ray_task_fails_the_run_with_the_backends_code(
    world: World, ray_cluster: str
) -> None:
    bad = world.cleanup(world.upload_plate(), parameters={"regions": [[0, 30, 96, 3]]})
    detail = requests.submit(world.platform, world.access("artist"), bad)
    with world.platform.db.transaction() as conn:
        # The request was valid when checked; the backend refuses what it is handed now.
        conn.execute(
            update(generation_requests)
            .where(generation_requests.c.id == detail.request.id)
            .values(parameters={"regions": [[0, 30, 96, 3]], "radius": -5})
        )
    Worker(world.platform, RayExecutor(address=ray_cluster), settings=FAST).run(until_idle=True)
    with world.platform.db.read() as conn:
        failed = requests.load_detail(conn, detail.request.id)
    assert failed.request.state is RequestState.FAILED
    assert failed.job is not None and failed.job.attempts == 1  # a refusal is not retried
    error = failed.job.runs[0].error or ""
    assert error.startswith("[backend.inpaint-opencv.")
