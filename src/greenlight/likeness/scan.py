"""The scanner interface and the scanner that finds nothing."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Match:
    """A registered performer found in output ``output`` with ``score`` (0..1)."""

    talent_id: str
    output: int
    score: float
    covered: bool  # whether the request's consents cover this performer


@dataclass(frozen=True)
class ScanResult:
    """What a scan found and with which scanner."""

    scanner: str
    matches: tuple[Match, ...] = ()

    @property
    def uncovered(self) -> tuple[Match, ...]:
        """Matches that no consent on the request covers: these quarantine the output."""
        return tuple(m for m in self.matches if not m.covered)


class LikenessScanner(Protocol):
    """Looks for registered performers in outputs."""

    @property
    def name(self) -> str:
        """Which scanner (and version) produced a result."""
        ...

    def scan(self, outputs: Sequence[Path], covered_talent: Collection[str]) -> ScanResult:
        """Scan ``outputs``; ``covered_talent`` are performers the request has consent for."""
        ...


class NoScan:
    """No registered likenesses to look for yet: every output comes back clear."""

    @property
    def name(self) -> str:
        """Recorded on the ledger so nobody mistakes 'not scanned' for 'scanned clean'."""
        return "none"

    def scan(self, outputs: Sequence[Path], covered_talent: Collection[str]) -> ScanResult:
        """Find nothing."""
        return ScanResult(scanner=self.name)
