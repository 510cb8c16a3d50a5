"""Where a claimed job's backend call runs: in the worker itself, or on Ray.

The worker always claims, heart-beats and records outcomes against the
database (``engine/runs.py``); an executor only turns inputs + parameters into
a :class:`~greenlight.backends.BackendResult` with its files in ``out_dir``.

``GREENLIGHT_EXECUTOR=local`` (the default) calls the backend in the worker's
own process. ``GREENLIGHT_EXECUTOR=ray`` sends the call to a Ray cluster
(``RAY_ADDRESS``; without it a local Ray starts) as a task asking for one CPU
and, when the backend's capabilities say ``needs_gpu``, one GPU. Inputs go to
the task as bytes and outputs come back as bytes, so a Ray node needs the
greenlight package but no database, blob store or keys.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from greenlight.backends import Backend, BackendInput, BackendOutput, BackendResult, backend_for
from greenlight.backends.base import Progress
from greenlight.core.errors import InvalidInput
from greenlight.engine.queue import Watch

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """Runs one backend call for a worker."""

    name: str

    def run(
        self,
        backend: str,
        inputs: Sequence[BackendInput],
        parameters: Mapping[str, Any],
        out_dir: Path,
        *,
        seed: int | None,
        progress: Progress,
        watch: Watch,
    ) -> BackendResult:
        """Run ``backend`` on ``inputs``, its outputs written inside ``out_dir``.

        Stops early (raising :class:`~greenlight.engine.queue.Stopped`) when
        ``watch`` is halted, as far as the executor can interrupt the work.
        """
        ...


@dataclass
class LocalExecutor:
    """The backend runs in the worker's own process (it stops at its next progress report)."""

    backends: Callable[[str], Backend] = backend_for
    name: str = "local"

    def run(
        self,
        backend: str,
        inputs: Sequence[BackendInput],
        parameters: Mapping[str, Any],
        out_dir: Path,
        *,
        seed: int | None,
        progress: Progress,
        watch: Watch,
    ) -> BackendResult:
        """Call the backend here and now."""
        return self.backends(backend).run(inputs, parameters, out_dir, seed=seed, progress=progress)


# --- Ray -----------------------------------------------------------------------------

# One shipped input: its file name, part, media type and bytes.
_Shipped = tuple[str, str, str, bytes]


def run_shipped(
    backend: str, shipped: Sequence[_Shipped], parameters: Mapping[str, Any], seed: int | None
) -> dict[str, Any]:
    """The body of a Ray task: write the inputs, run the backend, return outputs as bytes.

    Runs on a Ray node, which needs nothing from the installation but the package.
    """
    with tempfile.TemporaryDirectory(prefix="greenlight-ray-") as scratch:
        root = Path(scratch)
        inputs = []
        for position, (name, part, media_type, data) in enumerate(shipped):
            path = root / "in" / str(position) / name
            path.parent.mkdir(parents=True)
            path.write_bytes(data)
            inputs.append(BackendInput(path=path, part=part, media_type=media_type))
        out_dir = root / "out"
        out_dir.mkdir()
        result = backend_for(backend).run(inputs, parameters, out_dir, seed=seed)
        outputs = [
            (str(o.path.relative_to(out_dir)), o.media_type, o.parents, o.path.read_bytes())
            for o in result.outputs
        ]
        fields = {k: getattr(result, k) for k in _RESULT_FIELDS}
        return {"outputs": outputs, **fields}


_RESULT_FIELDS = (
    "model",
    "model_version",
    "parameters",
    "seed",
    "usage",
    "duration_ms",
    "cost_usd",
    "kind",
)


def connect_ray(address: str | None = None, **start: Any) -> str:
    """Join the Ray cluster at ``address`` (or start a local Ray); its address.

    Does nothing if this process is already connected. ``start`` goes to
    ``ray.init`` when a local Ray is started (``num_cpus=2``...).
    """
    import ray

    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            options["address"] = address
        else:
            options.update(start)
        ray.init(**options)
    return str(ray.get_runtime_context().gcs_address)


@dataclass
class RayExecutor:
    """The backend runs as a Ray task with resource requests (CPU, and GPU if needed)."""

    address: str | None = None
    poll_seconds: float = 0.05
    name: str = "ray"
    _task: Any = field(default=None, init=False, repr=False)

    def run(
        self,
        backend: str,
        inputs: Sequence[BackendInput],
        parameters: Mapping[str, Any],
        out_dir: Path,
        *,
        seed: int | None,
        progress: Progress,
        watch: Watch,
    ) -> BackendResult:
        """Ship the inputs to a Ray task, wait (watching for a stop), write the outputs."""
        import ray
        from ray.exceptions import RayTaskError, TaskCancelledError

        task = self._remote()
        needs_gpu = backend_for(backend).capabilities.needs_gpu
        shipped = [(i.path.name, i.part, i.media_type, i.path.read_bytes()) for i in inputs]
        ref = task.options(num_cpus=1, num_gpus=1 if needs_gpu else 0).remote(
            backend, shipped, dict(parameters), seed
        )
        progress(0.0, "running on Ray")
        while not ray.wait([ref], timeout=self.poll_seconds)[0]:
            if watch.stopped:
                ray.cancel(ref, force=True)
                watch.check()
        try:
            payload = ray.get(ref)
        except RayTaskError as exc:
            # The backend's own error (InvalidInput...), so the run records its code.
            cause = exc.cause
            raise (cause if isinstance(cause, Exception) else exc) from None
        except TaskCancelledError:
            watch.check()
            raise
        outputs = []
        for name, media_type, parents, data in payload.pop("outputs"):
            path = out_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            outputs.append(BackendOutput(path=path, media_type=media_type, parents=tuple(parents)))
        progress(1.0, "outputs back from Ray")
        return BackendResult(outputs=tuple(outputs), **payload)

    def _remote(self) -> Any:
        if self._task is None:
            import ray

            connect_ray(self.address)
            self._task = ray.remote(run_shipped)
        return self._task


def executor_from_env(
    environ: Mapping[str, str] | None = None, *, backends: Callable[[str], Backend] = backend_for
) -> Executor:
    """The executor ``GREENLIGHT_EXECUTOR`` names (``local`` by default, or ``ray``
    with ``RAY_ADDRESS``)."""
    env = os.environ if environ is None else environ
    chosen = env.get("GREENLIGHT_EXECUTOR", "local").strip().lower() or "local"
    if chosen == "local":
        return LocalExecutor(backends)
    if chosen == "ray":
        return RayExecutor(address=env.get("RAY_ADDRESS") or None)
    raise InvalidInput(
        f"GREENLIGHT_EXECUTOR={chosen!r} is not an executor; use one of {', '.join(EXECUTORS)}.",
        code="config.bad_executor",
    )
