"""The `greenlight ledger` commands, as an operator and an auditor use them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from greenlight.cli import app
from greenlight.core import Settings
from greenlight.ledger import Event, Ledger
from greenlight.store.schema import ledger_entries


@pytest.fixture
def env(sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("GREENLIGHT_DATA_DIR", str(sqlite_settings.data_dir))
    monkeypatch.setenv("GREENLIGHT_DATABASE_URL", sqlite_settings.database_url)
    ledger = Ledger.open(sqlite_settings)
    ledger.record(
        *[
            Event(type="consent.granted", actor="legal_kim", subjects={"consent": f"c{i}"})
            for i in range(40)
        ]
    )
    return sqlite_settings


runner = CliRunner()


def test_verify_reports_a_healthy_log(env: Settings) -> None:
    result = runner.invoke(app, ["ledger", "verify", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] and report["entries"] == 40 and report["first_bad_index"] is None


def test_verify_names_the_first_bad_index_and_exits_non_zero(env: Settings) -> None:
    ledger = Ledger.open(env)
    with ledger.db.transaction() as conn:
        conn.execute(update(ledger_entries).where(ledger_entries.c.idx == 17).values(body=b"{}"))
    result = runner.invoke(app, ["ledger", "verify"])
    assert result.exit_code == 1
    assert "first bad index 17" in result.output


def test_an_auditor_verifies_exported_tiles_with_the_public_key(
    env: Settings, tmp_path: Path
) -> None:
    key = runner.invoke(app, ["ledger", "public-key"]).output.strip()
    assert key.startswith("greenlight.local/ledger+")
    out = tmp_path / "tiles"
    assert runner.invoke(app, ["ledger", "export-tiles", str(out)]).exit_code == 0
    result = runner.invoke(app, ["ledger", "verify", "--tiles", str(out), "--key", key])
    assert result.exit_code == 0, result.output
    assert "40 entries" in result.output


def test_verify_tiles_without_a_key_is_a_clear_error(env: Settings, tmp_path: Path) -> None:
    result = runner.invoke(app, ["ledger", "verify", "--tiles", str(tmp_path)])
    assert result.exit_code == 2
    assert "cli.missing_key" in result.output


def test_prove_prints_a_proof_that_verifies(env: Settings) -> None:
    from greenlight.ledger.merkle import verify_inclusion

    result = runner.invoke(app, ["ledger", "prove", "5"])
    assert result.exit_code == 0, result.output
    proof = json.loads(result.output)
    verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        5,
        proof["tree_size"],
        [bytes.fromhex(h) for h in proof["proof"]],
        bytes.fromhex(proof["root_hash"]),
    )
    by_leaf = runner.invoke(app, ["ledger", "prove", "--leaf", proof["leaf_hash"]])
    assert json.loads(by_leaf.output)["index"] == 5


def test_bad_arguments_get_codes_not_tracebacks(env: Settings) -> None:
    result = runner.invoke(app, ["ledger", "prove", "999"])
    assert result.exit_code == 2 and "ledger.index_out_of_range" in result.output
    result = runner.invoke(app, ["ledger", "prove", "--leaf", "zz"])
    assert result.exit_code == 2 and "cli.bad_leaf" in result.output
    result = runner.invoke(app, ["ledger", "consistency", "30", "10"])
    assert result.exit_code == 2 and "ledger.size_out_of_range" in result.output


def test_checkpoint_and_show(env: Settings) -> None:
    result = runner.invoke(app, ["ledger", "checkpoint"])
    assert result.output.startswith("greenlight.local/ledger\n40\n")
    shown = json.loads(runner.invoke(app, ["ledger", "show", "3"]).output)
    assert shown["event"]["subjects"] == {"consent": "c3"}
