"""Registry rows read from memory stay exactly as fresh as the database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from greenlight.accounts import create_api_token, create_person
from greenlight.core.models import ToolDraft
from greenlight.core.settings import Settings
from greenlight.rights import create_tool, create_vendor, get_tool
from greenlight.store import Database
from greenlight.store.registry import RecordCache, RegistryCache
from greenlight.store.schema import api_tokens, registry_state, tools


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database.open(settings)
    yield database
    database.close()


def _generation(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(registry_state.c.generation)).scalar_one())


def _tool(db: Database) -> str:
    with db.transaction() as conn:
        vendor = create_vendor(conn, "Lumen Post")
        draft = ToolDraft(name="Cleanup", version="1", hosting="studio", use_cases=["vfx_cleanup"])
        return create_tool(conn, vendor.id, draft).id


def test_any_registry_change_moves_the_generation(db: Database) -> None:
    before = _generation(db)
    tool_id = _tool(db)
    after_insert = _generation(db)
    assert after_insert > before
    with db.transaction() as conn:
        conn.execute(update(tools).where(tools.c.id == tool_id).values(version="2"))
    assert _generation(db) > after_insert


def test_token_use_does_not_move_the_generation(db: Database) -> None:
    with db.transaction() as conn:
        person = create_person(conn, email="ana@nl.test", name="Ana", password="long enough pw")
        _, token = create_api_token(conn, person.id, "script")
    before = _generation(db)
    with db.transaction() as conn:
        conn.execute(update(api_tokens).values(last_used_at=token.created_at))
    assert _generation(db) == before
    with db.transaction() as conn:
        conn.execute(update(api_tokens).values(revoked_at=token.created_at))
    assert _generation(db) > before


def test_a_cached_tool_is_reread_after_another_writer_changes_it(db: Database) -> None:
    cache = RegistryCache()
    tool_id = _tool(db)
    loads = []

    def read() -> str:
        with db.read() as conn:
            view = cache.at(conn)

            def load() -> str:
                loads.append(1)
                return get_tool(conn, tool_id).version

            return view.get(("tool", tool_id), load)

    assert read() == "1"
    assert read() == "1"
    assert len(loads) == 1  # the second read came from memory
    # Another process (here: another engine on the same database) changes the row.
    other = Database(db.engine)
    with other.transaction() as conn:
        conn.execute(update(tools).where(tools.c.id == tool_id).values(version="2"))
    assert read() == "2"
    assert len(loads) == 2


def test_a_reader_behind_the_cache_reads_the_database_and_keeps_nothing(db: Database) -> None:
    cache = RegistryCache()
    with db.read() as conn:
        old = cache.at(conn)
    _tool(db)
    with db.read() as conn:
        new = cache.at(conn)
        assert new.get("key", lambda: "current") == "current"
    assert old.generation < new.generation
    assert old.get("key", lambda: "stale") == "stale"  # not served the newer value...
    assert new.get("key", lambda: "reloaded") == "current"  # ...and did not overwrite it


def test_records_that_never_change_are_loaded_once_and_bounded() -> None:
    cache = RecordCache(max_entries=2)
    loads: list[str] = []

    def load(key: str) -> str:
        loads.append(key)
        return key.upper()

    assert cache.get("a", lambda: load("a")) == "A"
    assert cache.get("a", lambda: load("a")) == "A"
    assert loads == ["a"]
    cache.get("b", lambda: load("b"))
    cache.get("c", lambda: load("c"))  # the oldest, "a", goes
    assert cache.get("a", lambda: load("a")) == "A"
    assert loads == ["a", "b", "c", "a"]
