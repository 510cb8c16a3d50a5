"""A delivered request's bundle proves itself offline with the ledger key alone."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import pytest

from greenlight.core.enums import Verdict
from greenlight.core.errors import Conflict, VerificationFailed
from greenlight.core.settings import Settings
from greenlight.engine import requests, runs
from greenlight.engine.delivery import verify_bundle, write_bundle
from greenlight.engine.platform import Platform
from tests.expect import refused
from tests.world import World, build_world


@pytest.fixture
def world(sqlite_settings: Settings) -> Iterator[World]:
    platform = Platform.open(sqlite_settings)
    yield build_world(platform)
    platform.close()


def _delivered(world: World) -> str:
    made = requests.submit(
        world.platform, world.access("artist"), world.cleanup(world.upload_plate())
    )
    runs.run_request(world.platform, made.request.id)
    requests.review(world.platform, world.access("vfx"), made.request.id, Verdict.ACCEPT)
    requests.deliver(world.platform, world.access("producer"), made.request.id, "editorial")
    return made.request.id


def _bundle(world: World, request_id: str) -> bytes:
    out = io.BytesIO()
    write_bundle(world.platform, world.access("auditor"), request_id, out)
    return out.getvalue()


def test_bundle_verifies_with_the_public_key(world: World) -> None:
    request_id = _delivered(world)
    report = verify_bundle(_bundle(world, request_id), world.platform.ledger.verifier_key)
    assert report.request_id == request_id
    assert report.entries == 7
    assert list(report.outputs) == ["plate_clean.png"]


def _rewrite(data: bytes, name: str, new: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.namelist():
            dst.writestr(item, new if item == name else src.read(item))
    return out.getvalue()


def test_a_swapped_output_or_edited_entry_is_caught(world: World) -> None:
    request_id = _delivered(world)
    data = _bundle(world, request_id)
    key = world.platform.ledger.verifier_key
    swapped = _rewrite(data, "outputs/plate_clean.png", b"\x89PNG\r\n\x1a\n not the output")
    with refused("delivery.bundle_invalid", VerificationFailed):
        verify_bundle(swapped, key)
    entry = next(n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if "entries/" in n)
    body = zipfile.ZipFile(io.BytesIO(data)).read(entry).replace(b"editorial", b"elsewhere!")
    with refused("delivery.bundle_invalid", VerificationFailed):
        verify_bundle(_rewrite(data, entry, body + b" "), key)
    with refused("delivery.bundle_invalid", VerificationFailed):
        verify_bundle(b"not a zip", key)


def test_a_bundle_of_unreviewed_work_is_refused(world: World) -> None:
    made = requests.submit(
        world.platform, world.access("artist"), world.cleanup(world.upload_plate())
    )
    with refused("delivery.not_accepted", Conflict):
        _bundle(world, made.request.id)
