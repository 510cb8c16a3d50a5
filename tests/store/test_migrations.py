"""The migrations build exactly the schema the code describes, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from greenlight.core.settings import Settings
from greenlight.store.db import Database
from greenlight.store.migrate import downgrade, head_revision, upgrade
from greenlight.store.schema import metadata


def _drift(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))


def test_migrated_database_matches_the_schema(settings: Settings) -> None:
    db = Database.open(settings)
    try:
        assert _drift(db) == []
        with db.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    finally:
        db.close()


def test_domain_migration_downgrades_and_upgrades_cleanly(settings: Settings) -> None:
    db = Database.open(settings)
    try:
        downgrade(db.engine, "0001_ledger")
        tables = set(inspect(db.engine).get_table_names())
        assert "generation_requests" not in tables and "ledger_entries" in tables
        upgrade(db.engine)
        assert _drift(db) == []
    finally:
        db.close()


def test_tools_on_the_old_inpaint_backend_name_move_to_inpaint_opencv(
    settings: Settings,
) -> None:
    db = Database.open(settings)
    try:
        downgrade(db.engine, "0004_registry_generation")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO vendors (id, name, created_at) "
                    "VALUES ('vendor_x', 'In-house', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO tools (id, vendor_id, name, version, hosting, backend, "
                    "use_cases, created_at) VALUES ('tool_x', 'vendor_x', 'OpenCV inpaint', "
                    "'4', 'studio', 'inpaint', '[]', CURRENT_TIMESTAMP)"
                )
            )
        upgrade(db.engine)
        with db.engine.connect() as conn:
            backend = conn.execute(text("SELECT backend FROM tools WHERE id = 'tool_x'"))
            assert backend.scalar_one() == "inpaint-opencv"
    finally:
        db.close()


def test_rebuilding_the_assets_table_keeps_every_row_and_reference(settings: Settings) -> None:
    from greenlight.engine import requests
    from greenlight.engine.platform import Platform
    from tests.world import build_world

    platform = Platform.open(settings)
    try:
        world = build_world(platform)
        plate = world.upload_plate()
        requests.submit(platform, world.access("artist"), world.cleanup(plate))  # names the plate
        count = "SELECT count(*) FROM assets"
        with platform.db.engine.connect() as conn:
            before = conn.execute(text(count)).scalar_one()
        # 0010 rebuilds the table on SQLite, with other tables' keys pointing at it.
        downgrade(platform.db.engine, "0009_post_edits")
        upgrade(platform.db.engine)
        with platform.db.engine.connect() as conn:
            assert conn.execute(text(count)).scalar_one() == before == 1
        assert _drift(platform.db) == []
    finally:
        platform.close()
