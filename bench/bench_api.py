"""Governed submissions per second at 32 concurrent clients, against bare FastAPI.

Run: .venv/bin/python bench/bench_api.py [--seconds 10] [--clients 32] [--workers 1]

Two servers run one after the other, each as uvicorn on loopback with the same
number of worker processes, and the same load generator hits each:

- governed: ``POST /api/v1/requests`` on the real app: API-token auth, role
  check, registry facts (tool standing, attestation, allow-list, talent,
  consents, watchlist screening: from the generation-checked cache), the
  backend's parameter check on the input plate, the Cedar decision, the
  request, decision (with its policy document), disclosure and two ledger
  entries, committed in SQLite (WAL, synchronous=FULL) with whatever other
  submissions are committing at the same moment (group commit). Every request
  is a final deliverable, so it stops at ``awaiting_approval`` and no backend
  runs. ``BENCH_THREADS=N`` caps the server's worker threads.
- bare: a FastAPI endpoint that validates the same JSON body with pydantic and
  answers 201, with no auth, no database and no ledger.

The load generator speaks HTTP/1.1 keep-alive over raw asyncio streams (one
connection per client) so its own cost stays small next to the servers'; it
shares the machine's 2 cores with the server, as a co-located client would.
Each server's CPU time over the measured seconds (its processes' user + system,
from /proc) is reported per request too: on a shared machine it moves less
than the rates do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from greenlight.cli._serving import run_workers, settle_for_serving
from greenlight.core.models import RequestDraft  # at module level: FastAPI reads the annotation

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.world (the seeded test production)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the two servers (run in child processes) ---------------------------------


def governed_app() -> Any:
    """The real app on the seeded data directory (a uvicorn factory, one per worker)."""
    from greenlight.api import create_app
    from greenlight.core.settings import Settings
    from greenlight.engine.platform import Platform

    settings = Settings.from_env({"GREENLIGHT_DATA_DIR": os.environ["BENCH_DATA_DIR"]})
    app = create_app(Platform.open(settings))
    settle_for_serving()  # as `greenlight serve` does
    threads = int(os.environ.get("BENCH_THREADS", "0"))
    if threads:
        import anyio.to_thread

        @app.on_event("startup")
        async def _limit() -> None:
            anyio.to_thread.current_default_thread_limiter().total_tokens = threads

    return app


def bare_app() -> Any:
    """A FastAPI endpoint that validates the same body and answers 201."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/api/v1/requests", status_code=201)
    def submit(draft: RequestDraft) -> dict[str, str]:
        return {"production_id": draft.production_id, "state": "requested"}

    settle_for_serving()  # the same process tuning as the governed server
    return app


def serve(name: str, port: int, workers: int, data_dir: str | None) -> None:
    import uvicorn

    integrator = None
    if name == "governed":
        from greenlight.core.settings import Settings
        from greenlight.engine.platform import Platform
        from greenlight.ledger import Integrator

        assert data_dir is not None
        os.environ["BENCH_DATA_DIR"] = data_dir
        # Checkpoints are signed by one process, as `greenlight serve` does.
        platform = Platform.open(Settings.from_env({"GREENLIGHT_DATA_DIR": data_dir}))
        integrator = Integrator(platform.ledger)
        integrator.start()
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        if workers == 1:
            uvicorn.run(
                f"bench_api:{name}_app",
                factory=True,
                host="127.0.0.1",
                port=port,
                log_level="error",
            )
        else:
            # As `greenlight serve --workers N` does (greenlight/cli/_serving.py).
            run_workers(f"bench_api:{name}_app", "127.0.0.1", port, workers, log_level="error")
    finally:
        if integrator is not None:
            integrator.stop()


def start(args: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, __file__, *args])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server {args} did not start")


# --- the load generator --------------------------------------------------------


async def client(
    port: int, request: bytes, stop_at: float, latencies: list[float], statuses: dict[int, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split()[1])
            length = next(
                int(line.split(b":")[1])
                for line in lines
                if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def load(
    port: int, request: bytes, clients: int, seconds: float, server_pid: int | None = None
) -> tuple[float, list[float], dict[int, int], float | None]:
    """Rate, latencies (ms), statuses and the server's CPU seconds per request."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    # A short warm-up, not counted.
    await asyncio.gather(
        *(client(port, request, time.perf_counter() + 1, [], {}) for _ in range(clients))
    )
    cpu_before = cpu_seconds(server_pid)
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(client(port, request, stop_at, latencies, statuses) for _ in range(clients))
    )
    elapsed = time.perf_counter() - started
    cpu_after = cpu_seconds(server_pid)
    cpu = None
    if cpu_before is not None and cpu_after is not None and latencies:
        cpu = (cpu_after - cpu_before) / len(latencies)
    return len(latencies) / elapsed, latencies, statuses, cpu


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of ``pid`` and its descendants so far (None without /proc)."""
    if pid is None or not os.path.exists(f"/proc/{pid}/stat"):
        return None
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        parents[int(entry)] = int(fields[1])
        used[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    family, grown = {pid}, True
    while grown:  # a worker's own children too
        grown = False
        for child, parent in parents.items():
            if parent in family and child not in family:
                family.add(child)
                grown = True
    return sum(used.get(member, 0.0) for member in family)


def http_post(path: str, body: bytes, token: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def seed(data_dir: str) -> tuple[bytes, str]:
    """The test production, a plate, and a token for its artist; returns the body and token."""
    from tests.world import build_world

    from greenlight.accounts import create_api_token
    from greenlight.core.settings import Settings
    from greenlight.engine.platform import Platform

    platform = Platform.open(Settings.from_env({"GREENLIGHT_DATA_DIR": data_dir}))
    world = build_world(platform)
    plate = world.upload_plate()
    draft = world.cleanup(plate, intent="final_deliverable")
    with platform.db.transaction() as conn:
        token, _ = create_api_token(conn, world.people["artist"].id, "bench")
    platform.close()
    return json.dumps(draft.model_dump(mode="json", exclude_defaults=True)).encode(), token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes for both servers (default 1)"
    )
    parser.add_argument("--serve", choices=["governed", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve, args.port, args.workers, args.data_dir)

    with tempfile.TemporaryDirectory() as data_dir:
        os.environ.setdefault("GREENLIGHT_SQLITE_SYNCHRONOUS", "FULL")
        body, token = seed(data_dir)
        request = http_post("/api/v1/requests", body, token)
        results = {}
        for name, extra in (("bare", []), ("governed", ["--data-dir", data_dir])):
            port = free_port()
            proc = start(
                ["--serve", name, "--port", str(port), "--workers", str(args.workers), *extra],
                port,
            )
            try:
                results[name] = asyncio.run(
                    load(port, request, args.clients, args.seconds, server_pid=proc.pid)
                )
            finally:
                proc.terminate()
                proc.wait(timeout=30)

    print(
        f"{args.clients} concurrent clients, {args.seconds:.0f} s each, "
        "2 cores shared with the client"
    )
    print(f"{'endpoint':<34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>7}  statuses")
    for name, (rate, lat, statuses, cpu) in results.items():
        label = "bare FastAPI (validate, 201)" if name == "bare" else "governed submission"
        cpu_ms = "n/a" if cpu is None else f"{cpu * 1000:.2f}"
        print(
            f"{label:<34} {rate:>9,.0f} {percentile(lat, 0.5):>8.1f} {percentile(lat, 0.99):>8.1f}"
            f" {cpu_ms:>7}  {dict(sorted(statuses.items()))}"
        )
    governed, bare = results["governed"][0], results["bare"][0]
    print(f"governed / bare rate: {governed / bare:.2f} (target >= 0.33)")
    governed_cpu, bare_cpu = results["governed"][3], results["bare"][3]
    if governed_cpu and bare_cpu:
        print(f"bare / governed CPU per request: {bare_cpu / governed_cpu:.2f}")
    print(f"governed p99: {percentile(results['governed'][1], 0.99):.1f} ms (target < 50 ms)")


if __name__ == "__main__":
    main()
