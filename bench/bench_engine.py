"""Engine overhead per job, local pool throughput, and Ray scaling.

A trivial job is a real backend task: inpaint-opencv filling two rows of an
8x8 plate. The baseline is that backend's ``run`` called directly, in the same
process and run. The engine adds, per job: the claim (lease + ``run_started``
ledger event + run row), the heartbeat thread, copying the input out of the
blob store, C2PA signing of the output, storing it, the finishing transaction
(outputs, prompt log, ``run_succeeded`` + scan events) and the hand-off. C2PA
signing is timed on its own (the same ``sign_asset`` call on the same output)
so the engine's own overhead can be read without it.

Then the same kind of jobs through ``greenlight worker``-style local processes
(throughput from the first claim to the last finish, read from the runs'
own timestamps), and on Ray: the same jobs with 1 and with 2 local Ray CPUs
(one worker process per CPU), plus the bare Ray tasks for reference.

Run: ``.venv/bin/python bench/bench_engine.py [--jobs 1000] [--local-jobs 300]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.world (the seeded test production)

from sqlalchemy import func, select  # noqa: E402
from tests.world import World, build_world  # noqa: E402

from greenlight.backends import BackendInput, backend_for  # noqa: E402
from greenlight.core.enums import RequestState  # noqa: E402
from greenlight.core.models import InputRef, RequestDraft  # noqa: E402
from greenlight.core.settings import Settings  # noqa: E402
from greenlight.engine import requests  # noqa: E402
from greenlight.engine.executors import LocalExecutor, connect_ray, run_shipped  # noqa: E402
from greenlight.engine.platform import Platform  # noqa: E402
from greenlight.engine.queue import QueueSettings  # noqa: E402
from greenlight.engine.workers import PoolOptions, Worker, run_pool  # noqa: E402
from greenlight.provenance import CredentialFacts, Governance, Tool, sign_asset  # noqa: E402
from greenlight.store.schema import generation_requests, jobs, runs  # noqa: E402

BACKEND = "inpaint-opencv"
PARAMETERS = {"regions": [[0, 3, 8, 2]]}
QUEUE = QueueSettings(heartbeat_seconds=5.0)


def tiny_plate() -> bytes:
    image = np.full((8, 8, 3), 120, np.uint8)
    image[3:5] = 255
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def open_world(root: Path) -> World:
    settings = Settings(data_dir=root, database_url=f"sqlite:///{root / 'greenlight.db'}")
    platform = Platform.open(settings)
    return build_world(platform)


def queue_jobs(world: World, count: int) -> list[str]:
    """``count`` queued trivial requests on the same uploaded 8x8 plate."""
    plate = world.upload_plate(data=tiny_plate())
    draft = RequestDraft.model_validate(
        {
            **world.cleanup(plate).model_dump(),
            "parameters": PARAMETERS,
            "inputs": [InputRef(asset_id=plate.id, part="plate")],
        }
    )
    access = world.access("artist")
    made = [requests.submit(world.platform, access, draft) for _ in range(count)]
    assert all(d.request.state is RequestState.QUEUED for d in made)
    return [d.request.id for d in made]


def direct_backend_ms(scratch: Path, count: int) -> float:
    """The backend's own ``run`` on the 8x8 plate: median ms per call."""
    plate = scratch / "plate.png"
    plate.write_bytes(tiny_plate())
    backend = backend_for(BACKEND)
    inputs = [BackendInput(path=plate, part="plate", media_type="image/png")]
    timings = []
    for number in range(count):
        out = scratch / f"direct-{number}"
        out.mkdir()
        started = time.perf_counter()
        backend.run(inputs, PARAMETERS, out)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def signing_ms(world: World, scratch: Path, count: int) -> float:
    """``sign_asset`` on a backend output of the 8x8 plate, as finish_run calls it."""
    plate = scratch / "sign-plate.png"
    plate.write_bytes(tiny_plate())
    out = scratch / "sign-out"
    out.mkdir()
    result = backend_for(BACKEND).run(
        [BackendInput(path=plate, part="plate", media_type="image/png")], PARAMETERS, out
    )
    output = result.outputs[0].path
    facts = CredentialFacts(
        kind="edited",
        tool=Tool(name="OpenCV inpaint", version="4"),
        governance=Governance(
            request_id="req_bench",
            production=world.production.id,
            use_case="vfx_cleanup",
            policy_decision_id="dec_bench",
            policy_version="bench",
            approval_ids=(),
            consent_ids=(),
            prompt_log_id="run_bench",
            prompt_sha256="0" * 64,
        ),
        source=plate,
        inputs=(),
        title=output.name,
    )
    timings = []
    for number in range(count):
        target = scratch / f"signed-{number}" / output.name
        target.parent.mkdir()
        started = time.perf_counter()
        sign_asset(output, target, facts, world.platform.identity)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def engine_ms(world: World, count: int) -> list[float]:
    """Per-job wall time of the whole lifecycle run by one in-process worker.

    Timed as the worker's loop runs it (``work_once``, each job claiming the
    next as it ends); that every request reached review is checked afterwards,
    so reading each one back is not counted as the engine's work.
    """
    request_ids = queue_jobs(world, count)
    worker = Worker(world.platform, LocalExecutor(), settings=QUEUE, name="bench")
    timings = []
    while True:
        started = time.perf_counter()
        ran = worker.work_once(claim_next=True)
        if not ran:
            break
        timings.append(time.perf_counter() - started)
    reviewed, _ = span(world, request_ids)
    assert reviewed == count == len(timings), (reviewed, count, len(timings))
    return timings


def span(world: World, request_ids: list[str]) -> tuple[int, float]:
    """How many of ``request_ids`` are in review, and the seconds from the first
    claim to the last finish (from the runs' own timestamps)."""
    with world.platform.db.read() as conn:
        reviewed = conn.execute(
            select(func.count())
            .select_from(generation_requests)
            .where(
                generation_requests.c.id.in_(request_ids),
                generation_requests.c.state == RequestState.IN_REVIEW.value,
            )
        ).scalar_one()
        first, last = conn.execute(
            select(func.min(runs.c.started_at), func.max(runs.c.finished_at))
            .select_from(runs.join(jobs, jobs.c.id == runs.c.job_id))
            .where(jobs.c.request_id.in_(request_ids))
        ).one()
    return int(reviewed), (last - first).total_seconds()


def pool(world: World, count: int, processes: int, environ: dict[str, str]) -> tuple[int, float]:
    request_ids = queue_jobs(world, count)
    settings = world.platform.settings
    environ = {
        **environ,
        "GREENLIGHT_DATA_DIR": str(settings.data_dir),
        "GREENLIGHT_DATABASE_URL": settings.database_url,
    }
    options = PoolOptions(
        until_idle=True,
        poll_seconds=0.05,
        settings=QUEUE,
        ray_address=environ.get("RAY_ADDRESS"),
        environ=environ,
    )
    assert run_pool(processes, options) == 0
    return span(world, request_ids)


def bare_ray(count: int) -> float:
    """Seconds for ``count`` bare Ray tasks of the same backend call."""
    import ray

    task = ray.remote(run_shipped)
    shipped = [("plate.png", "plate", "image/png", tiny_plate())]
    ray.get(task.options(num_cpus=1).remote(BACKEND, shipped, PARAMETERS, None))  # warm
    started = time.perf_counter()
    ray.get(
        [task.options(num_cpus=1).remote(BACKEND, shipped, PARAMETERS, None) for _ in range(count)]
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per Ray configuration")
    parser.add_argument("--local-jobs", type=int, default=300, help="jobs for the local pool")
    parser.add_argument("--engine-jobs", type=int, default=200, help="jobs timed one by one")
    parser.add_argument("--processes", type=int, default=2, help="local pool processes")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray part")
    args = parser.parse_args()

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        root = Path(tmp)
        world = open_world(root / "data")
        scratch = root / "scratch"
        scratch.mkdir()

        direct = direct_backend_ms(scratch, args.engine_jobs)
        signed = signing_ms(world, scratch, min(args.engine_jobs, 100))
        per_job = engine_ms(world, args.engine_jobs)
        whole = statistics.median(per_job) * 1000
        overhead = whole - direct - signed
        rows += [
            ("backend called directly (8x8 inpaint-opencv), median", f"{direct:8.2f} ms"),
            ("whole lifecycle per job, one worker, median", f"{whole:8.2f} ms"),
            ("  of which C2PA signing of the output (timed alone)", f"{signed:8.2f} ms"),
            ("  engine overhead without signing (target < 5 ms)", f"{overhead:8.2f} ms"),
            ("  engine overhead with signing", f"{whole - direct:8.2f} ms"),
            ("ratio lifecycle / direct call", f"{whole / direct:8.1f} x"),
        ]

        done, seconds = pool(
            world, args.local_jobs, args.processes, {"GREENLIGHT_EXECUTOR": "local"}
        )
        rows.append(
            (
                f"local pool, {args.processes} processes, {done} jobs (target >= 200/s)",
                f"{done / seconds:8.1f} jobs/s",
            )
        )

        if not args.no_ray:
            import ray

            ray_rates = {}
            for cpus in (1, 2):
                address = connect_ray(None, num_cpus=cpus)
                bare = bare_ray(args.jobs)
                done, seconds = pool(
                    world,
                    args.jobs,
                    cpus,
                    {"GREENLIGHT_EXECUTOR": "ray", "RAY_ADDRESS": address},
                )
                ray_rates[cpus] = done / seconds
                rows.append(
                    (
                        f"Ray, {cpus} CPU(s): {args.jobs} bare Ray tasks",
                        f"{args.jobs / bare:8.1f} tasks/s",
                    )
                )
                rows.append(
                    (
                        f"Ray, {cpus} CPU(s), {cpus} worker(s): {done} engine jobs",
                        f"{ray_rates[cpus]:8.1f} jobs/s",
                    )
                )
                ray.shutdown()
            rows.append(
                ("Ray scaling, 2 workers / 1 worker", f"{ray_rates[2] / ray_rates[1]:8.2f} x")
            )
        world.platform.close()

    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)}  value")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
