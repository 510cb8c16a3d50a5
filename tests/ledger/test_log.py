"""The ledger in a real database: appends, integration, checkpoints and proofs.

Every test here runs on SQLite and on a throwaway PostgreSQL server.
"""

from __future__ import annotations

import stat
import threading
import time

import pytest
from sqlalchemy import text

from greenlight.core import Settings
from greenlight.core.errors import Conflict, InvalidInput, NotFound
from greenlight.ledger import Event, Integrator, Ledger, merkle, verify_log
from greenlight.ledger.checkpoint import open_signed
from greenlight.ledger.keys import signer_path
from tests.expect import refused


def submitted(n: int, production: str = "prod_nightfall") -> Event:
    return Event(
        type="request.submitted",
        actor="person_ava",
        production=production,
        subjects={"request": f"req_{n}"},
        payload={"use_case": "vfx_cleanup", "n": n},
    )


@pytest.fixture
def ledger(settings: Settings) -> Ledger:
    return Ledger.open(settings)


def test_an_event_commits_with_the_state_change_it_records(ledger: Ledger) -> None:
    with ledger.db.transaction() as conn:
        conn.execute(text("CREATE TABLE scratch_shots (code TEXT)"))
    with ledger.db.transaction() as conn:
        conn.execute(text("INSERT INTO scratch_shots VALUES ('NF_010_0040')"))
        appended = ledger.append(conn, submitted(1))
    assert appended.index == 0
    assert ledger.entry(0).leaf_hash == appended.leaf_hash
    assert ledger.entry(0).event()["subjects"] == {"request": "req_1"}


def test_a_rolled_back_change_leaves_no_entry_and_no_gap(ledger: Ledger) -> None:
    ledger.record(submitted(1))
    with pytest.raises(RuntimeError), ledger.db.transaction() as conn:
        ledger.append(conn, submitted(2))
        raise RuntimeError("the state change failed")
    assert ledger.size() == 1
    assert ledger.record(submitted(3))[0].index == 1  # dense: index 1 is not lost
    with pytest.raises(NotFound):
        ledger.entry(2)


def test_bad_events_are_refused_before_anything_is_written(ledger: Ledger) -> None:
    bad_events = [
        Event(type="NotDotted", actor="a"),
        Event(type="request.submitted", actor=""),
        Event(type="request.submitted", actor="a", payload={"blob": "x" * 70_000}),
        Event(type="request.submitted", actor="a", payload={"when": object()}),
    ]
    for bad in bad_events:
        with pytest.raises(InvalidInput):
            ledger.record(submitted(1), bad)
    assert ledger.size() == 0


def test_integration_signs_a_checkpoint_the_public_key_verifies(ledger: Ledger) -> None:
    assert ledger.integrate() is None  # nothing to do
    ledger.record(*[submitted(i) for i in range(300)])
    cp = ledger.integrate()
    assert cp is not None and cp.size == 300
    opened = open_signed(cp.note_text, ledger.verifier_key, ledger.origin)
    leaves = [e.leaf_hash for e in ledger.entries(0, 1000)]
    assert opened.root_hash == merkle.root(leaves)
    assert cp.note_text.startswith(f"{ledger.origin}\n300\n")


def test_inclusion_proofs_by_index_and_by_leaf_hash(ledger: Ledger) -> None:
    appended = ledger.record(*[submitted(i) for i in range(777)])
    ledger.integrate()
    for index in [0, 1, 255, 256, 500, 776]:
        proof = ledger.inclusion_proof(index)
        proof.verify(ledger.verifier_key)
        assert proof.leaf_hash == appended[index].leaf_hash
    assert ledger.index_of(appended[300].leaf_hash) == 300
    with pytest.raises(NotFound):
        ledger.index_of(b"\x00" * 32)
    with pytest.raises(NotFound):
        ledger.inclusion_proof(777)


def test_consistency_proofs_between_any_two_checkpoints(ledger: Ledger) -> None:
    sizes = []
    for batch in [1, 7, 256, 3, 300]:
        ledger.record(*[submitted(i) for i in range(batch)])
        cp = ledger.integrate()
        assert cp is not None
        sizes.append(cp.size)
    for a in sizes:
        for b in sizes:
            if a <= b:
                ledger.consistency_proof(a, b).verify(ledger.verifier_key)
    with pytest.raises(InvalidInput):
        ledger.consistency_proof(10, 5)


def test_an_entry_not_yet_integrated_says_to_wait(ledger: Ledger) -> None:
    ledger.record(submitted(1))
    ledger.integrate()
    ledger.record(submitted(2))
    with refused("ledger.not_integrated", Conflict):
        ledger.inclusion_proof(1)


def test_concurrent_writers_get_dense_distinct_indexes(ledger: Ledger) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        for i in range(25):
            got = ledger.record(submitted(w * 100 + i))[0].index
            with lock:
                results.append(got)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(100))
    ledger.integrate()
    assert verify_log(ledger).ok


def test_the_integrator_signs_within_a_second_while_entries_arrive(ledger: Ledger) -> None:
    integrator = Integrator(ledger, interval=0.2)
    integrator.start()
    try:
        for i in range(5):
            ledger.record(submitted(i))
            time.sleep(0.1)
        deadline = time.monotonic() + 1.0
        while ledger.tree_size() < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ledger.tree_size() == 5
    finally:
        integrator.stop()
    assert integrator.last_error is None
    assert len(ledger.checkpoints()) >= 2


def test_the_signing_key_is_private_and_stable(settings: Settings) -> None:
    first = Ledger.open(settings)
    mode = stat.S_IMODE(signer_path(settings.keys_dir).stat().st_mode)
    assert mode == 0o600
    assert Ledger.open(settings).verifier_key == first.verifier_key


def test_a_changed_origin_is_refused(settings: Settings) -> None:
    Ledger.open(settings)
    moved = Settings(settings.data_dir, settings.database_url, ledger_origin="other.example/log")
    with refused("ledger.origin_mismatch", Conflict):
        Ledger.open(moved)


def test_entries_can_be_listed_by_production(ledger: Ledger) -> None:
    ledger.record(submitted(1, "prod_a"), submitted(2, "prod_b"), submitted(3, "prod_a"))
    assert [e.index for e in ledger.entries(production="prod_a")] == [0, 2]


def test_a_reference_is_confirmed_only_when_it_matches_a_signed_entry(ledger: Ledger) -> None:
    from greenlight.core.errors import VerificationFailed

    appended = ledger.record(submitted(1), submitted(2))
    entry, proof = ledger.confirm(ledger.origin, 1, appended[1].leaf_hash)
    assert entry.event()["subjects"] == {"request": "req_2"} and proof.index == 1
    for origin, index, leaf, code in [
        ("other.example/log", 1, appended[1].leaf_hash, "ledger.wrong_log"),
        (ledger.origin, 7, appended[1].leaf_hash, "ledger.reference_missing"),
        (ledger.origin, 0, appended[1].leaf_hash, "ledger.reference_mismatch"),
    ]:
        with pytest.raises(VerificationFailed) as err:
            ledger.confirm(origin, index, leaf)
        assert err.value.code == code
