"""The queue's commands: ``greenlight worker``, ``requests cancel|watch`` and
``productions priority``.

``greenlight worker --processes N`` runs local worker processes that take
queued jobs and run them (``GREENLIGHT_EXECUTOR=ray`` sends the backend calls
to Ray). SIGTERM or Ctrl+C stops them after the job in hand.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from greenlight.cli._common import console, friendly_errors, settings
from greenlight.cli._opening import ActAs, ReadAs, acting_as, opened, reading_as
from greenlight.core.enums import RequestState
from greenlight.engine import queue
from greenlight.engine.executors import connect_ray, executor_from_env
from greenlight.engine.progress import ProgressUpdate, follow
from greenlight.engine.runs import cancel
from greenlight.engine.workers import PoolOptions, run_pool
from greenlight.productions import find_production


@friendly_errors
def worker(
    processes: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (about one per core or GPU).")
    ] = 1,
    until_idle: Annotated[
        bool, typer.Option(help="Exit once no job waits (back-offs included).")
    ] = False,
    poll: Annotated[
        float, typer.Option(min=0.01, max=60, help="Seconds between looks at an empty queue.")
    ] = 1.0,
) -> None:
    """Run local worker processes that take queued jobs and run them.

    Each claims one job at a time (highest production priority first, then the
    oldest), renews its lease while the backend runs and records the outcome.
    GREENLIGHT_EXECUTOR=ray runs the backend calls on Ray (RAY_ADDRESS, or a
    local Ray started here). SIGTERM or Ctrl+C stops them after the job in hand.
    """
    config = settings()
    with opened(config):  # refuses an uninitialised data directory; migrates it
        pass
    executor = executor_from_env()
    address = None
    if executor.name == "ray" and not os.environ.get("RAY_ADDRESS"):
        address = connect_ray(None)  # one local Ray for all the processes
    console.print(
        f"Running {processes} worker process(es) with the {executor.name} executor"
        + (" until the queue is empty" if until_idle else "; Ctrl+C stops them")
        + ".",
        highlight=False,
    )
    code = run_pool(
        processes, PoolOptions(until_idle=until_idle, poll_seconds=poll, ray_address=address)
    )
    raise typer.Exit(code=code)


@friendly_errors
def requests_cancel(
    request_id: Annotated[str, typer.Argument(help="The queued or running request.")],
    as_: ActAs,
) -> None:
    """Cancel queued or running work (its requester, a producer or an admin).

    Queued work is cancelled at once; running work stops at its worker's next
    heartbeat (follow it with `greenlight requests watch`).
    """
    with opened(settings()) as platform:
        detail = cancel(platform, acting_as(platform, as_), request_id)
    state = detail.request.state
    if state is RequestState.CANCELLED:
        console.print(f"[green]cancelled[/] {request_id}", highlight=False)
    else:
        console.print(
            f"asked {request_id} to stop; it is {state.value} until its worker's next "
            f"heartbeat. Follow it: greenlight requests watch {request_id}",
            highlight=False,
        )


@friendly_errors
def requests_watch(
    request_id: Annotated[str, typer.Argument(help="The request to follow.")],
    as_: ReadAs = None,
    every: Annotated[float, typer.Option(min=0.05, max=60, help="Seconds between looks.")] = 0.5,
) -> None:
    """Follow a request's progress with a progress bar until it leaves queued/running.

    Exits 1 if it ends failed or cancelled.
    """
    last: ProgressUpdate | None = None
    with opened(settings()) as platform:
        access = reading_as(platform, as_)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(request_id, total=1.0)
            for update in follow(platform, access, request_id, every=every):
                last = update
                bar.update(task, completed=update.progress or 0.0, description=_said(update))
    assert last is not None
    console.print(f"{request_id} is {last.state}", highlight=False)
    if last.state in (RequestState.FAILED.value, RequestState.CANCELLED.value):
        raise typer.Exit(code=1)


def _said(update: ProgressUpdate) -> str:
    words = update.state
    if update.moving and update.stage:
        words += f": {update.stage}"
    if update.attempt > 1:
        words += f" (attempt {update.attempt})"
    if update.cancel_requested and update.moving:
        words += ", stopping"
    return words


@friendly_errors
def productions_priority(
    production: Annotated[str, typer.Argument(help="Production code (or id).")],
    as_: ActAs,
    priority: Annotated[
        int | None,
        typer.Argument(
            min=queue.MIN_PRIORITY,
            max=queue.MAX_PRIORITY,
            help="Higher runs first; 0 is the default. Leave out to show it.",
        ),
    ] = None,
) -> None:
    """Show or set a production's place in the shared job queue (producers, admins)."""
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        if priority is None:
            with platform.db.read() as conn:
                found = find_production(conn, production)
                access.require_read(found.id)
                now = queue.get_priority(conn, found.id)
        else:
            with platform.db.transaction() as conn:
                found = find_production(conn, production)
                queue.set_priority(conn, access, found.id, priority)
                now = priority
    console.print(f"{found.code} queue priority: {now}", highlight=False)
