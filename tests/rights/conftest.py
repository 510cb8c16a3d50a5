"""Northern Lights (``tests.world``) for the rights registry, on SQLite and PostgreSQL.

The world starts unvetted (no attestations, an empty allow-list): these tests
do the vetting themselves.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from greenlight.core.settings import Settings
from tests.world import World, build_world, opened_platform


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    """The seeded production on both databases."""
    with opened_platform(settings) as platform:
        yield build_world(platform, vetted=False)


@pytest.fixture
def sqlite_world(sqlite_settings: Settings) -> Iterator[World]:
    """The seeded production on SQLite only, for rules that do not depend on the database."""
    with opened_platform(sqlite_settings) as platform:
        yield build_world(platform, vetted=False)


@pytest.fixture
def vetted_world(settings: Settings) -> Iterator[World]:
    """The seeded production with its vendors attested and tools allowed: ready for requests."""
    with opened_platform(settings) as platform:
        yield build_world(platform)
