"""Workers: processes (or a thread in the server) that take jobs from the queue and run them.

A :class:`Worker` loops: now and then it reaps jobs whose worker died
(:func:`~greenlight.engine.runs.reap_lost`), then claims the next job and runs
it through the lifecycle (:func:`~greenlight.engine.runs.run_next`), or sleeps
``poll_seconds`` when nothing waits. :func:`run_pool` runs N of them as local
processes (``greenlight worker --processes N``); each process opens the
installation itself and stops cleanly on SIGTERM or Ctrl+C: it finishes the
job in hand, then exits. ``greenlight serve`` runs one worker in a thread.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import FrameType

from greenlight.core.models import RequestDetail
from greenlight.core.settings import Settings
from greenlight.engine import queue
from greenlight.engine.executors import Executor, connect_ray, executor_from_env
from greenlight.engine.platform import Platform
from greenlight.engine.queue import Heartbeats, QueueSettings
from greenlight.engine.runs import reap_lost, run_next, work_next

log = logging.getLogger("greenlight.worker")


@dataclass
class Worker:
    """One worker: claims jobs one at a time and runs them until told to stop."""

    platform: Platform
    executor: Executor
    settings: QueueSettings = field(default_factory=QueueSettings)
    name: str = field(default_factory=queue.worker_name)
    poll_seconds: float = 1.0
    stop: threading.Event = field(default_factory=threading.Event)
    done: int = 0  # jobs this worker ran to an outcome
    _reaped_at: float = field(default=0.0, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    # One heartbeat thread for the worker's whole life, not one per job.
    _beats: Heartbeats | None = field(default=None, repr=False)

    def run_once(self) -> RequestDetail | None:
        """Reap lost jobs if due, then claim and run the next job; ``None`` if none waits."""
        beats = self._prepare()
        ran = run_next(self.platform, self.name, self.executor, self.settings, beats=beats)
        if ran is not None:
            self.done += 1
        return ran

    def work_once(self) -> bool:
        """:meth:`run_once` without reading the request back; whether a job was run."""
        beats = self._prepare()
        ran = work_next(self.platform, self.name, self.executor, self.settings, beats=beats)
        if ran:
            self.done += 1
        return ran

    def _prepare(self) -> Heartbeats:
        """Reap lost jobs if due; the worker's heartbeat."""
        now = time.monotonic()
        # Reaping looks at every running job: once a heartbeat period is plenty.
        if now - self._reaped_at >= self.settings.heartbeat_seconds:
            self._reaped_at = now
            reap_lost(self.platform, self.settings)
        if self._beats is None:
            self._beats = Heartbeats(self.platform.db, self.settings)
        return self._beats

    def run(self, *, until_idle: bool = False) -> int:
        """Work until :attr:`stop` is set (or, ``until_idle``, until no job waits at all,
        back-offs included); how many jobs were run."""
        while not self.stop.is_set():
            try:
                ran = self.work_once()  # nobody here reads the request back
            except Exception:  # one bad job must not end the worker
                log.exception("worker %s: a job could not be run", self.name)
                ran = False
            if ran:
                continue
            if until_idle and self._idle():
                break
            self.stop.wait(self.poll_seconds)
        return self.done

    def _idle(self) -> bool:
        with self.platform.db.read() as conn:
            return queue.waiting_count(conn) == 0

    def start(self) -> None:
        """Run in a background thread (the server's own worker)."""
        self._thread = threading.Thread(target=self.run, name=f"worker {self.name}", daemon=True)
        self._thread.start()

    def close(self, timeout: float | None = None) -> None:
        """Stop the background thread after the job in hand."""
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


# --- local processes ------------------------------------------------------------------


@dataclass(frozen=True)
class PoolOptions:
    """What each worker process of :func:`run_pool` is given (picklable)."""

    until_idle: bool = False
    poll_seconds: float = 1.0
    settings: QueueSettings = field(default_factory=QueueSettings)
    ray_address: str | None = None  # set when the parent started a local Ray
    environ: Mapping[str, str] | None = None


def run_pool(processes: int, options: PoolOptions) -> int:
    """Run ``processes`` worker processes until they are idle (``until_idle``) or
    stopped by SIGTERM/SIGINT, which is passed on to them. Returns the exit code
    (0 when every process stopped cleanly)."""
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_process_main, args=(number, options), name=f"worker-{number}")
        for number in range(processes)
    ]
    for child in children:
        child.start()

    def pass_on(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.is_alive() and child.pid is not None:
                child.terminate()  # SIGTERM: each finishes its job in hand, then exits

    previous = {s: signal.signal(s, pass_on) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for child in children:
            child.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return max((abs(child.exitcode or 0) for child in children), default=0) and 1


def _process_main(number: int, options: PoolOptions) -> None:
    stopping = threading.Event()  # set by a signal even while the installation opens

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.basicConfig(level=logging.WARNING)
    platform = Platform.open(Settings.from_env(options.environ), create_identity=False)
    try:
        executor = executor_from_env(options.environ, backends=platform.backends)
        if executor.name == "ray" and options.ray_address:
            connect_ray(options.ray_address)
        worker = Worker(
            platform,
            executor,
            settings=options.settings,
            name=queue.worker_name(f"worker-{number}"),
            poll_seconds=options.poll_seconds,
            stop=stopping,
        )
        worker.run(until_idle=options.until_idle)
    finally:
        platform.close()
