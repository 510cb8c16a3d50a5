"""Where Greenlight keeps its data, read from the environment.

``Settings.from_env`` is a pure function of the mapping it is given, so tests
build settings without touching ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = "greenlight-data"
DEFAULT_LEDGER_ORIGIN = "greenlight.local/ledger"


@dataclass(frozen=True)
class Settings:
    """Paths and URLs for one Greenlight installation."""

    data_dir: Path
    database_url: str
    ledger_origin: str = DEFAULT_LEDGER_ORIGIN

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``GREENLIGHT_DATA_DIR``, ``GREENLIGHT_DATABASE_URL`` and
        ``GREENLIGHT_LEDGER_ORIGIN``; defaults give an embedded SQLite setup
        under ``./greenlight-data``."""
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("GREENLIGHT_DATA_DIR", DEFAULT_DATA_DIR)).absolute()
        url = env.get("GREENLIGHT_DATABASE_URL") or f"sqlite:///{data_dir / 'greenlight.db'}"
        origin = env.get("GREENLIGHT_LEDGER_ORIGIN", DEFAULT_LEDGER_ORIGIN)
        return cls(data_dir=data_dir, database_url=url, ledger_origin=origin)

    @property
    def keys_dir(self) -> Path:
        """Private keys (mode 0600) and the public trust anchors."""
        return self.data_dir / "keys"
