"""Uploads: stored once by hash, refused cleanly, and never leave orphan bytes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from greenlight.core.errors import Forbidden, InvalidInput, TooLarge
from greenlight.core.settings import Settings
from greenlight.engine import assets
from greenlight.engine.platform import Platform
from greenlight.store.schema import assets as asset_rows
from tests.expect import refused
from tests.world import World, build_world, plate_png


@pytest.fixture
def world(sqlite_settings: Settings) -> Iterator[World]:
    platform = Platform.open(sqlite_settings)
    yield build_world(platform)
    platform.close()


def _blobs(world: World) -> list[Path]:
    return [p for p in (world.platform.blobs.root / "sha256").rglob("*") if p.is_file()]


def _rows(world: World) -> int:
    with world.platform.db.read() as conn:
        return conn.execute(select(func.count()).select_from(asset_rows)).scalar_one()


def _upload(world: World, data: bytes, name: str = "plate.png", kind: str = "image/png") -> object:
    return assets.upload(
        world.platform, world.access("artist"), world.production.id, name, io.BytesIO(data), kind
    )


def _bomb() -> bytes:
    """A small PNG that would decode to 100 megapixels."""
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, "PNG")
    return out.getvalue()


def test_the_same_plate_uploaded_twice_is_one_asset(world: World) -> None:
    first, created = _upload(world, plate_png())  # type: ignore[misc]
    again, created_again = _upload(world, plate_png())  # type: ignore[misc]
    assert created and not created_again
    assert again.id == first.id
    assert _rows(world) == 1 and len(_blobs(world)) == 1
    assert world.platform.blobs.read_bytes(first.sha256) == plate_png()


def test_refused_uploads_leave_no_row_and_no_bytes(world: World) -> None:
    with refused("upload.bad_filename", InvalidInput):
        _upload(world, plate_png(), name="../../etc/passwd")
    with refused("upload.decompression_bomb", InvalidInput):
        _upload(world, _bomb())
    with refused("upload.corrupt", InvalidInput):
        _upload(world, plate_png()[:200])
    with refused("upload.type_mismatch", InvalidInput):
        _upload(world, plate_png(), kind="image/jpeg")
    with refused("upload.unsupported_type", InvalidInput):
        _upload(world, b"MZ\x90\x00 not a media file", name="tool.exe", kind="")
    world.platform.max_upload = 1000
    with refused("blob.too_large", TooLarge):
        _upload(world, plate_png() + bytes(2000))
    assert _rows(world) == 0
    assert _blobs(world) == []


def test_only_people_who_can_ask_for_work_upload(world: World) -> None:
    for who, code in (("auditor", "access.read_only"), ("outsider", "access.no_role")):
        with refused(code, Forbidden):
            assets.upload(
                world.platform,
                world.access(who),
                world.production.id,
                "plate.png",
                io.BytesIO(plate_png()),
                "image/png",
            )
    assert _blobs(world) == []
