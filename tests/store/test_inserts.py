"""Many rows inserted in few driver calls are stored exactly as SQLAlchemy stores them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError

from greenlight.core.settings import Settings
from greenlight.store import Database
from greenlight.store.inserts import MAX_VARIABLES, bound_insert, insert_rows
from greenlight.store.schema import ledger_entries


def _open(path: Path) -> Database:
    return Database.open(Settings(data_dir=path, database_url=f"sqlite:///{path / 'g.db'}"))


@pytest.fixture
def twins(tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    ours, plain = _open(tmp_path / "ours"), _open(tmp_path / "plain")
    yield ours, plain
    ours.close()
    plain.close()


def _entries(start: int, count: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for idx in range(start, start + count):
        body = f'{{"i":{idx},"type":"request.submitted","note":"ünïcode"}}'.encode()
        rows.append(
            {
                "idx": idx,
                "leaf_hash": hashlib.sha256(b"\x00" + body).digest(),
                "body": body,
                "event_type": "request.submitted",
                "production_id": None if idx % 3 else f"prod_{idx}",
            }
        )
    return rows


def _stored(db: Database) -> list[tuple[object, ...]]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(select(ledger_entries).order_by("idx")).all()]


def test_a_large_batch_of_ledger_rows_is_stored_byte_for_byte_as_sqlalchemy_stores_it(
    twins: tuple[Database, Database],
) -> None:
    ours, plain = twins
    rows = _entries(0, 2 * MAX_VARIABLES // 5 + 50)  # more than two statements' worth
    bound = bound_insert(ledger_entries, rows, ours.engine.dialect)
    assert bound is not None and len(bound.statements) == 3
    with ours.transaction() as conn:
        insert_rows(conn, ledger_entries, rows)
    with plain.transaction() as conn:
        conn.execute(ledger_entries.insert(), rows)
    assert _stored(ours) == _stored(plain)
    assert len(_stored(ours)) == len(rows)


def test_rows_of_mixed_shapes_are_left_to_sqlalchemy_which_refuses_them_as_ever(
    twins: tuple[Database, Database],
) -> None:
    ours, plain = twins
    rows = _entries(0, 4)
    del rows[2]["production_id"]  # one row leaves a column out
    assert bound_insert(ledger_entries, rows, ours.engine.dialect) is None
    refusals = []
    for db, insert in (
        (ours, lambda conn: insert_rows(conn, ledger_entries, rows)),
        (plain, lambda conn: conn.execute(ledger_entries.insert(), rows)),
    ):
        with pytest.raises(StatementError) as refused, db.transaction() as conn:
            insert(conn)
        refusals.append((type(refused.value), str(refused.value.orig)))
    assert refusals[0] == refusals[1]
    assert _stored(ours) == _stored(plain) == []


def test_a_duplicate_row_fails_the_whole_insert_with_sqlalchemys_error(
    twins: tuple[Database, Database],
) -> None:
    ours, _ = twins
    rows = _entries(0, 5) + _entries(2, 1)  # index 2 twice
    with pytest.raises(IntegrityError), ours.transaction() as conn:
        insert_rows(conn, ledger_entries, rows)
    assert _stored(ours) == []  # nothing of it was kept
