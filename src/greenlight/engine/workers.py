"""Workers: processes (or a thread in the server) that take jobs from the queue and run them.

A :class:`Worker` loops: now and then it reaps jobs whose worker died
(:func:`~greenlight.engine.runs.reap_lost`), then claims the next job and runs
it through the lifecycle (:func:`~greenlight.engine.runs.run_next`), or sleeps
``poll_seconds`` when nothing waits. While it goes on working, it claims its
next job in the transaction that records the last one's success
(:func:`~greenlight.engine.runs.execute_then`): one commit per job.
:func:`run_pool` runs N of them as local processes (``greenlight worker
--processes N``); each process opens the installation itself and stops cleanly
on SIGTERM or Ctrl+C: it finishes the job in hand, then exits. ``greenlight
serve`` runs one worker in a thread.
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
from greenlight.engine.runs import (
    Started,
    Successor,
    execute_then,
    read_detail,
    reap_lost,
    start_next,
)

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
    # The job claimed as the last one's success was recorded: this worker's to run next.
    _claimed: Started | None = field(default=None, repr=False)

    def run_once(self, *, claim_next: bool = False) -> RequestDetail | None:
        """Reap lost jobs if due, then run the next job; ``None`` if none waits.

        The next job is the one claimed ahead for this worker, if any, else the
        next in line. With ``claim_next`` the job after it is claimed in the
        transaction that records this one's success: the caller promises to call
        again (a claimed job held by nobody waits out its lease, then is retried).
        """
        ran = self._work(claim_next)
        if ran is None:
            return None
        self.done += 1
        started, detail = ran
        return detail or read_detail(self.platform, started.request_id)

    def work_once(self, *, claim_next: bool = False) -> bool:
        """:meth:`run_once` without reading the request back; whether a job was run."""
        ran = self._work(claim_next)
        if ran is not None:
            self.done += 1
        return ran is not None

    @property
    def holding(self) -> bool:
        """Whether a job was claimed ahead for this worker and awaits its run."""
        return self._claimed is not None

    def _work(self, claim_next: bool) -> tuple[Started, RequestDetail | None] | None:
        """Run the next job; the job and, after a failure or stop, the request as it ended."""
        beats = self._prepare()
        started, self._claimed = self._claimed, None
        if started is None:
            started = start_next(self.platform, self.name, self.settings)
            if started is None:
                return None
        successor = Successor(
            self.name,
            self.settings,
            # Asked again inside the finishing transaction: a worker told to stop meanwhile
            # claims nothing more.
            wanted=lambda: claim_next and not self.stop.is_set(),
        )
        ran = execute_then(
            self.platform, started, self.executor, self.settings, successor, beats=beats
        )
        self._claimed = ran.claimed
        return started, ran.detail

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
        back-offs included); how many jobs were run. A job already claimed for this
        worker when it is told to stop is the job in hand: it runs first."""
        while not self.stop.is_set() or self.holding:
            try:
                # Nobody here reads the request back; each job claims the next as it ends.
                ran = self.work_once(claim_next=True)
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
