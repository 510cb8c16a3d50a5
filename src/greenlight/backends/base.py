"""What every generation backend takes, gives back and promises.

A backend is one task (inpaint, upscale, voice...) done by one model. It sees only
files and parameters: policy, consent, the ledger and the database belong to the
lifecycle that calls it, so a backend can be tested, and swapped, on its own.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

from greenlight.core.errors import InvalidInput

ParameterType = Literal["int", "float", "str", "bool", "json"]


@dataclass(frozen=True)
class Parameter:
    """One parameter a backend takes, with its type and limits.

    ``choices`` limits a ``str``; ``minimum``/``maximum`` bound an ``int`` or
    ``float`` (inclusive). A ``json`` parameter (a list of rectangles, a
    workflow) is shape-checked by the backend itself. ``default`` is ``None``
    when the parameter may be left out and has no default.
    """

    name: str
    type: ParameterType
    description: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False

    def describe(self) -> dict[str, Any]:
        """JSON for the capability listing (API, CLI, web)."""
        spec: dict[str, Any] = {"name": self.name, "type": self.type}
        spec["description"] = self.description
        for key in ("default", "minimum", "maximum"):
            if getattr(self, key) is not None:
                spec[key] = getattr(self, key)
        if self.choices:
            spec["choices"] = list(self.choices)
        if self.required:
            spec["required"] = True
        return spec


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, declared up front so requests are checked before queueing.

    ``tasks`` are the task kinds (``"inpaint"``, ``"text_to_image"``...);
    ``media_in`` maps each input part (``"plate"``, ``"mask"``) to the media types
    it accepts; ``media_out`` lists what it writes. ``needs_gpu`` asks the
    executor for a GPU (Ray's ``num_gpus``); ``seeded`` says the seed changes
    the output, so the run records it.
    """

    tasks: tuple[str, ...]
    media_in: Mapping[str, tuple[str, ...]]
    media_out: tuple[str, ...]
    parameters: tuple[Parameter, ...] = ()
    needs_gpu: bool = False
    seeded: bool = False
    remote: bool = False  # calls a vendor's service: data leaves the studio
    extra: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """JSON for the capability listing (API, CLI, web)."""
        return {
            "tasks": list(self.tasks),
            "media_in": {part: list(types) for part, types in self.media_in.items()},
            "media_out": list(self.media_out),
            "parameters": [p.describe() for p in self.parameters],
            "needs_gpu": self.needs_gpu,
            "seeded": self.seeded,
            "remote": self.remote,
            **dict(self.extra),
        }


def check_parameters(
    backend: str, capabilities: Capabilities, given: Mapping[str, Any]
) -> dict[str, Any]:
    """``given`` checked against the declared parameters, defaults filled in.

    Refuses unknown names, wrong types, values out of range or not among the
    choices, and missing required ones, with ``backend.<name>.bad_parameter``.
    ``json`` parameters pass through for the backend's own shape check.
    """
    declared = {p.name: p for p in capabilities.parameters}
    unknown = sorted(str(key) for key in given if key not in declared)
    if unknown:
        raise bad_parameter(
            backend,
            f"Unknown parameter {', '.join(unknown)}; {backend} takes "
            f"{', '.join(sorted(declared)) or 'no parameters'}.",
        )
    effective: dict[str, Any] = {}
    for spec in capabilities.parameters:
        if spec.name not in given:
            if spec.required:
                raise bad_parameter(backend, f"'{spec.name}' is required: {spec.description}")
            if spec.default is not None:
                effective[spec.name] = spec.default
            continue
        effective[spec.name] = _checked(backend, spec, given[spec.name])
    return effective


def _checked(backend: str, spec: Parameter, value: Any) -> Any:
    if spec.type == "json":
        return value
    if spec.type == "bool":
        if not isinstance(value, bool):
            raise bad_parameter(backend, f"'{spec.name}' must be true or false, not {value!r}.")
        return value
    if spec.type == "str":
        if not isinstance(value, str) or (spec.choices and value not in spec.choices):
            wanted = (
                "one of " + ", ".join(repr(c) for c in spec.choices) if spec.choices else "text"
            )
            raise bad_parameter(backend, f"'{spec.name}' must be {wanted}, not {value!r}.")
        return value
    # Numbers. bool is an int in Python; True is not a number of steps.
    whole = spec.type == "int"
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (whole and not isinstance(value, int))
        or not math.isfinite(value)
    ):
        kind = "a whole number" if whole else "a number"
        raise bad_parameter(backend, f"'{spec.name}' must be {kind}, not {value!r}.")
    low, high = spec.minimum, spec.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (
            f"from {_num(low)} to {_num(high)}"
            if low is not None and high is not None
            else (f"at least {_num(low)}" if low is not None else f"at most {_num(high)}")
        )
        raise bad_parameter(backend, f"'{spec.name}' must be {bounds}, not {value!r}.")
    return float(value) if spec.type == "float" else value


def _num(value: float | None) -> str:
    return f"{value:g}" if value is not None else ""


def bad_parameter(backend: str, message: str) -> InvalidInput:
    """The refusal for a parameter ``backend`` cannot take."""
    return InvalidInput(message, code=f"backend.{backend}.bad_parameter")


Progress = Callable[[float, str], None]
"""Called by a running backend with the fraction done (0 to 1) and what it is doing."""


def no_progress(fraction: float, stage: str) -> None:
    """The progress callback when nobody is listening."""


@dataclass(frozen=True)
class BackendInput:
    """One input file and its role in the task (``part``: ``"plate"``, ``"mask"``...)."""

    path: Path
    part: str
    media_type: str


@dataclass(frozen=True)
class BackendOutput:
    """One file a backend wrote.

    ``parents`` are the positions, in the inputs the backend was given, of the
    inputs this output was made from: the lineage its content credentials record.
    """

    path: Path
    media_type: str
    parents: tuple[int, ...]


@dataclass(frozen=True)
class BackendResult:
    """Everything one run produced, and what the lifecycle records about it.

    ``parameters`` are the effective parameters (defaults filled in, normalized,
    JSON-serializable), so the record says what was done rather than what was
    asked. ``seed`` is ``None`` for deterministic backends. ``kind`` is
    ``"edited"`` when the outputs alter a real source and ``"generated"`` when a
    model made them from nothing; content credentials declare them differently.
    """

    outputs: tuple[BackendOutput, ...]
    model: str
    model_version: str
    parameters: dict[str, Any]
    seed: int | None
    usage: dict[str, Any]
    cost_usd: Decimal | None
    kind: Literal["generated", "edited"]
    duration_ms: int = 0
    """Wall time of the run; :meth:`CheckedBackend.run` measures it."""


class Backend(Protocol):
    """A generation backend: check a request up front, then run it."""

    name: str
    """The name requests use to pick this backend (``"inpaint-opencv"``)."""

    capabilities: Capabilities
    """Tasks, media in and out, parameters with limits, GPU need."""

    def check(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Validate ``inputs`` and ``parameters`` before any work is queued.

        Returns the normalized parameters that :meth:`run` will use. Raises
        ``InvalidInput`` with a stable code for anything the backend cannot do.
        """
        ...

    def run(
        self,
        inputs: Sequence[BackendInput],
        parameters: Mapping[str, Any],
        out_dir: Path,
        *,
        seed: int | None = None,
        progress: Progress = no_progress,
    ) -> BackendResult:
        """Do the work, writing every output inside ``out_dir``, and report it.

        ``seed`` fixes a seeded backend's randomness (the same inputs,
        parameters and seed give the same outputs); the backend picks and
        reports one when it is ``None``. ``progress`` is called as work goes.
        """
        ...


class Task(NamedTuple):
    """One checked task, as :meth:`CheckedBackend.work` is given it (it unpacks as a tuple).

    ``parameters`` are the effective ones :meth:`Backend.check` returned.
    """

    inputs: Sequence[BackendInput]
    parameters: dict[str, Any]
    out_dir: Path
    seed: int | None
    progress: Progress


class CheckedBackend(ABC):
    """The part of :class:`Backend` every backend here shares: ``run`` checks the
    task again (the worker may not be the process that checked it at submission),
    hands it to :meth:`work` and times it, so each backend writes only its work.
    """

    name: str
    capabilities: Capabilities

    @abstractmethod
    def check(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """As :meth:`Backend.check`."""

    @abstractmethod
    def work(self, task: Task) -> BackendResult:
        """Do the checked task, writing every output inside ``task.out_dir``."""

    def run(
        self,
        inputs: Sequence[BackendInput],
        parameters: Mapping[str, Any],
        out_dir: Path,
        *,
        seed: int | None = None,
        progress: Progress = no_progress,
    ) -> BackendResult:
        """As :meth:`Backend.run`: check, work, and report how long it took."""
        started = time.perf_counter()
        task = Task(inputs, self.check(inputs, parameters), out_dir, seed, progress)
        result = self.work(task)
        return replace(result, duration_ms=round((time.perf_counter() - started) * 1000))


PROMPT = "prompt"
"""The parameter that carries the request's prompt to a backend that declares it."""

SEED = "seed"
"""The parameter a request fixes a seeded backend's randomness with."""

MAX_SEED = 2**63 - 1  # the prompt log and the credentials record it as a signed 64-bit int


def call_parameters(
    backend: str, capabilities: Capabilities, stored: Mapping[str, Any], prompt: str
) -> tuple[dict[str, Any], int | None]:
    """What a backend is called with: ``stored`` parameters, the request's prompt, the seed.

    The prompt lives once, in the request (and sealed in the prompt log), so a
    backend that declares a ``prompt`` parameter gets the request's; sending one
    among the parameters as well is refused. ``seed`` is taken out and handed
    to :meth:`Backend.run` apart: a whole number from 0 to 2**63-1, and only
    for a backend whose output it changes.
    """
    given = dict(stored)
    if PROMPT in given:
        raise InvalidInput(
            "Send the prompt in the request's 'prompt' field, not among the parameters; "
            "it is kept once, with the request, and sealed in the prompt log.",
            code="request.prompt_in_parameters",
        )
    seed = given.pop(SEED, None)
    if seed is not None:
        if not capabilities.seeded:
            raise bad_parameter(
                backend, f"{backend} gives the same output every time; it takes no 'seed'."
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise bad_parameter(
                backend, f"'seed' must be a whole number from 0 to {MAX_SEED}, not {seed!r}."
            )
    if any(p.name == PROMPT for p in capabilities.parameters):
        given[PROMPT] = prompt
    return given, seed


def stored_parameters(checked: Mapping[str, Any], seed: int | None) -> dict[str, Any]:
    """The parameters to keep with a request: the checked ones without the prompt, and the seed."""
    kept = {name: value for name, value in checked.items() if name != PROMPT}
    if seed is not None:
        kept[SEED] = seed
    return kept


class Staged:
    """Outputs written under temporary names, to be renamed into place all together."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.pairs: list[tuple[Path, Path]] = []  # (temporary, final)

    def path(self, name: str) -> Path:
        """Where to write the output that will be called ``name``: a hidden temporary file."""
        final = self.out_dir / name
        temporary = self.out_dir / f".{name}.partial"
        self.pairs.append((temporary, final))
        return temporary


@contextmanager
def all_or_nothing(out_dir: Path) -> Iterator[Staged]:
    """Write a run's outputs through :meth:`Staged.path`; when the block ends they are
    renamed into place together, and if it fails every one of them is removed, so a
    failed run never leaves half its outputs behind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staged = Staged(out_dir)
    try:
        yield staged
        for temporary, final in staged.pairs:
            temporary.replace(final)
    except BaseException:
        for temporary, final in staged.pairs:
            temporary.unlink(missing_ok=True)
            final.unlink(missing_ok=True)
        raise
