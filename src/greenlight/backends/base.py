"""What every generation backend takes, gives back and promises.

A backend is one task (inpaint, upscale, voice...) done by one model. It sees only
files and parameters: policy, consent, the ledger and the database belong to the
lifecycle that calls it, so a backend can be tested, and swapped, on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol


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
    duration_ms: int
    cost_usd: Decimal | None
    kind: Literal["generated", "edited"]


class Backend(Protocol):
    """A generation backend: check a request up front, then run it."""

    name: str
    """The name requests use to pick this backend (``"inpaint"``)."""

    def check(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Validate ``inputs`` and ``parameters`` before any work is queued.

        Returns the normalized parameters that :meth:`run` will use. Raises
        ``InvalidInput`` with a stable code for anything the backend cannot do.
        """
        ...

    def run(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any], out_dir: Path
    ) -> BackendResult:
        """Do the work, writing every output inside ``out_dir``, and report it."""
        ...
