"""An accounts database, on SQLite and on a throwaway PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from greenlight.core import Settings
from greenlight.store import Database


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database.open(settings)
    yield database
    database.close()


@pytest.fixture
def sqlite_db(sqlite_settings: Settings) -> Iterator[Database]:
    """For refusals decided before any SQL that differs between databases."""
    database = Database.open(sqlite_settings)
    yield database
    database.close()
