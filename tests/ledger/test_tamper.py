"""Flip any stored byte and verification names the first bad index."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import select, update

from greenlight.core import Settings
from greenlight.core.errors import VerificationFailed
from greenlight.ledger import Event, Ledger, export_tiles, verify_log, verify_tiles
from greenlight.ledger.log import leaf_key
from greenlight.ledger.tiles import TILE_HEIGHT
from greenlight.store.schema import (
    ledger_checkpoints,
    ledger_entries,
    ledger_leaf_index,
    ledger_tiles,
)

N = 600  # three level-0 tiles, so flips land in full and partial tiles


def flip(data: bytes, rng: random.Random) -> tuple[bytes, int]:
    pos = rng.randrange(len(data))
    out = bytearray(data)
    out[pos] ^= 1 << rng.randrange(8)
    return bytes(out), pos


@pytest.fixture
def ledger(sqlite_settings: Settings) -> Ledger:
    led = Ledger.open(sqlite_settings)
    for start in (0, 250, 500):  # several checkpoints
        led.record(
            *[
                Event(type="asset.signed", actor="worker", subjects={"asset": f"a{i}"})
                for i in range(start, min(start + 250, N))
            ]
        )
        led.integrate()
    assert verify_log(led).ok
    return led


def test_a_flipped_byte_in_any_entry_body_names_that_entry(ledger: Ledger) -> None:
    rng = random.Random(1)
    for index in rng.sample(range(N), 25):
        with ledger.db.transaction() as conn:
            body = conn.execute(
                select(ledger_entries.c.body).where(ledger_entries.c.idx == index)
            ).scalar_one()
            bad, _ = flip(bytes(body), rng)
            conn.execute(
                update(ledger_entries).where(ledger_entries.c.idx == index).values(body=bad)
            )
        report = verify_log(ledger)
        assert report.first_problem is not None and report.first_problem.index == index
        with ledger.db.transaction() as conn:
            conn.execute(
                update(ledger_entries).where(ledger_entries.c.idx == index).values(body=body)
            )
    assert verify_log(ledger).ok


def test_a_flipped_byte_in_a_stored_leaf_hash_names_that_entry(ledger: Ledger) -> None:
    rng = random.Random(2)
    index = 321
    with ledger.db.transaction() as conn:
        leaf = conn.execute(
            select(ledger_entries.c.leaf_hash).where(ledger_entries.c.idx == index)
        ).scalar_one()
        conn.execute(
            update(ledger_entries)
            .where(ledger_entries.c.idx == index)
            .values(leaf_hash=flip(bytes(leaf), rng)[0])
        )
    report = verify_log(ledger)
    assert report.first_problem is not None and report.first_problem.index == index


def test_a_flipped_byte_in_any_tile_names_the_first_entry_under_it(ledger: Ledger) -> None:
    rng = random.Random(3)
    with ledger.db.read() as conn:
        tiles = conn.execute(
            select(ledger_tiles.c.level, ledger_tiles.c.tile_index, ledger_tiles.c.hashes)
        ).all()
    for level, index, hashes in rng.sample(tiles, min(len(tiles), 20)):
        bad, pos = flip(bytes(hashes), rng)
        where = ledger_tiles.c.level == level, ledger_tiles.c.tile_index == index
        with ledger.db.transaction() as conn:
            conn.execute(update(ledger_tiles).where(*where).values(hashes=bad))
        report = verify_log(ledger)
        node = (index << TILE_HEIGHT) + pos // 32
        assert report.first_problem is not None
        assert report.first_problem.index == node << level
        with ledger.db.transaction() as conn:
            conn.execute(update(ledger_tiles).where(*where).values(hashes=hashes))


def test_a_tampered_leaf_lookup_is_caught(ledger: Ledger) -> None:
    with ledger.db.transaction() as conn:
        conn.execute(
            update(ledger_leaf_index).where(ledger_leaf_index.c.idx == 42).values(idx=9999)
        )
    report = verify_log(ledger)
    assert report.first_problem is not None and report.first_problem.index == 42


def test_a_flipped_byte_in_a_checkpoint_is_caught(ledger: Ledger) -> None:
    rng = random.Random(4)
    with ledger.db.transaction() as conn:
        size, note = conn.execute(
            select(ledger_checkpoints.c.size, ledger_checkpoints.c.note)
        ).first()  # type: ignore[misc]
        bad, _ = flip(note.encode(), rng)
        conn.execute(
            update(ledger_checkpoints)
            .where(ledger_checkpoints.c.size == size)
            .values(note=bad.decode(errors="replace"))
        )
    report = verify_log(ledger)
    assert not report.ok
    assert any(f"size {size}" in p.what for p in report.problems)


def test_a_consistently_rewritten_history_breaks_the_signed_checkpoints(ledger: Ledger) -> None:
    # An attacker with database access rewrites entry 10 *and* recomputes every
    # hash: only the signed checkpoints can catch it, and they do.
    forged = Event(type="asset.signed", actor="mallory", subjects={"asset": "a10"}).canonical()
    from greenlight.ledger import merkle
    from greenlight.ledger.tree import build_tiles

    with ledger.db.transaction() as conn:
        conn.execute(
            update(ledger_entries)
            .where(ledger_entries.c.idx == 10)
            .values(body=forged, leaf_hash=merkle.leaf_hash(forged))
        )
        conn.execute(
            update(ledger_leaf_index)
            .where(ledger_leaf_index.c.idx == 10)
            .values(leaf_key=leaf_key(merkle.leaf_hash(forged)))
        )
        leaves = [
            bytes(r)
            for r in conn.execute(
                select(ledger_entries.c.leaf_hash).order_by(ledger_entries.c.idx)
            ).scalars()
        ]
        for (level, index), hashes in build_tiles(leaves).items():
            conn.execute(
                update(ledger_tiles)
                .where(ledger_tiles.c.level == level, ledger_tiles.c.tile_index == index)
                .values(hashes=hashes)
            )
    report = verify_log(ledger)
    assert not report.ok
    assert report.first_problem is not None and report.first_problem.index == 0
    assert "rewritten" in report.first_problem.what
    with pytest.raises(VerificationFailed):
        report.raise_for_problems()


def test_exported_tiles_verify_with_the_key_alone(ledger: Ledger, tmp_path: Path) -> None:
    out = tmp_path / "tiles"
    cp = export_tiles(ledger, out)
    assert (out / "checkpoint").read_text() == cp.note_text
    assert (out / "tile/0/000").stat().st_size == 8192
    assert (out / "tile/0/002.p/88").exists()
    assert (out / "tile/1/000.p/2").exists()
    report = verify_tiles(out, ledger.verifier_key)
    assert report.ok and report.entries == N and report.checkpoints == 3


def test_tampered_tiles_name_the_first_bad_index(ledger: Ledger, tmp_path: Path) -> None:
    out = tmp_path / "tiles"
    export_tiles(ledger, out)
    bundle = out / "tile/entries/001"
    original = bundle.read_bytes()
    data = bytearray(original)
    data[2 + 5] ^= 1  # inside the first entry of bundle 1, index 256
    bundle.write_bytes(bytes(data))
    report = verify_tiles(out, ledger.verifier_key)
    assert report.first_problem is not None and report.first_problem.index == 256
    bundle.write_bytes(original)

    tile = out / "tile/0/001"
    hashes = bytearray(tile.read_bytes())
    hashes[32 * 7] ^= 1  # node 256 + 7
    tile.write_bytes(bytes(hashes))
    report = verify_tiles(out, ledger.verifier_key)
    assert report.first_problem is not None and report.first_problem.index == 263


def test_tiles_with_another_logs_key_are_refused(ledger: Ledger, tmp_path: Path) -> None:
    from greenlight.ledger import note

    export_tiles(ledger, tmp_path / "t")
    _, other = note.generate_key(ledger.origin)
    with pytest.raises(VerificationFailed):
        verify_tiles(tmp_path / "t", other)
