"""`greenlight keys` and `greenlight provenance`, as an operator and an auditor use them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from greenlight.cli import app
from greenlight.core import Settings
from greenlight.core.clock import utcnow
from greenlight.provenance import CredentialFacts, SigningIdentity, _certs, sign_asset
from tests.media import make_image, make_srt

runner = CliRunner()


@pytest.fixture
def env(studio: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("GREENLIGHT_DATA_DIR", str(studio.data_dir))
    return studio


def _signed(tmp_path: Path, env: Settings, facts: CredentialFacts, name: str = "frame.png") -> Path:
    dst = tmp_path / name
    maker = make_srt if name.endswith(".srt") else make_image
    sign_asset(maker(tmp_path / f"raw-{name}"), dst, facts, SigningIdentity.load(env))
    return dst


def test_keys_init_makes_the_identity_and_names_the_trust_anchor(env: Settings) -> None:
    result = runner.invoke(app, ["keys", "init", "--organization", "Lighthouse Pictures"])

    assert result.exit_code == 0, result.output
    assert "Lighthouse Pictures Content Credentials" in result.output
    assert str(env.keys_dir / "trust-anchor.pem") in result.output
    again = runner.invoke(app, ["keys", "init"])
    assert again.exit_code == 2
    assert "provenance.identity_exists" in again.output


def test_verify_prints_state_history_and_governance_of_a_trusted_file(
    tmp_path: Path, env: Settings, generated: CredentialFacts
) -> None:
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    signed = _signed(tmp_path, env, generated)

    result = runner.invoke(app, ["provenance", "verify", str(signed)])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Trusted")
    assert "c2pa.created trainedAlgorithmicMedia by lumen-diffusion 3.2.0" in result.output
    assert "req_01J9Z8" in result.output
    assert "dec_7781" in result.output
    assert "cawg.ai_training=notAllowed" in result.output


def test_verify_fails_a_tampered_file_with_the_reason(
    tmp_path: Path, env: Settings, generated: CredentialFacts
) -> None:
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    signed = _signed(tmp_path, env, generated, "subs.srt")
    signed.write_text(signed.read_text() + "\n3\n00:00:06,000 --> 00:00:07,000\nAdded.\n")

    result = runner.invoke(app, ["provenance", "verify", str(signed)])

    assert result.exit_code == 1
    assert result.output.startswith("Invalid")
    assert "assertion.dataHash.mismatch" in result.output
    assert "provenance.tampered" in result.output


def test_verify_without_the_anchor_is_valid_but_not_trusted(
    tmp_path: Path, env: Settings, generated: CredentialFacts
) -> None:
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    signed = _signed(tmp_path, env, generated)
    stranger_root = _certs.issue_root("Someone Else", now=utcnow()).certificate
    other = tmp_path / "other-anchor.pem"
    other.write_bytes(_certs.pem(stranger_root))

    result = runner.invoke(app, ["provenance", "verify", str(signed), "--trust", str(other)])

    assert result.exit_code == 1
    assert result.output.startswith("Valid")
    assert "provenance.untrusted" in result.output
    anchor = env.keys_dir / "trust-anchor.pem"
    trusted = runner.invoke(app, ["provenance", "verify", str(signed), "--trust", str(anchor)])
    assert trusted.exit_code == 0


def test_show_json_is_for_machines(
    tmp_path: Path, env: Settings, generated: CredentialFacts
) -> None:
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    signed = _signed(tmp_path, env, generated)

    result = runner.invoke(app, ["provenance", "show", str(signed), "--json"])

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["state"] == "Trusted" and body["trusted"] is True and body["error"] is None
    assert body["manifest"]["governance"]["ledger"]["index"] == 41
    assert body["manifest_store"]["active_manifest"] == body["manifest"]["label"]


def test_unreadable_input_exits_2_with_a_stable_code(tmp_path: Path, env: Settings) -> None:
    odd = tmp_path / "notes.docx"
    odd.write_bytes(b"PK\x03\x04")
    broken = tmp_path / "frame.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n-- cut off")
    plain = make_image(tmp_path / "plain.jpg")

    for path, code in [
        (odd, "provenance.unsupported_type"),
        (broken, "provenance.corrupt_file"),
        (plain, "provenance.no_credentials"),
    ]:
        result = runner.invoke(app, ["provenance", "verify", str(path)])
        assert result.exit_code == 2, result.output
        assert code in result.output


def test_keys_rotate_then_show_lists_both_roots_and_old_work_still_verifies(
    tmp_path: Path, env: Settings, generated: CredentialFacts
) -> None:
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    old = _signed(tmp_path, env, generated)

    rotated = runner.invoke(app, ["keys", "rotate", "--renew", "root"])
    shown = runner.invoke(app, ["keys", "show"])

    assert rotated.exit_code == 0, rotated.output
    assert "2 root(s)" in shown.output
    assert "Root CA G1" in shown.output and "Root CA G2" in shown.output
    assert runner.invoke(app, ["provenance", "verify", str(old)]).exit_code == 0


def test_keys_import_takes_a_vendor_chain(
    tmp_path: Path, env: Settings, generated: CredentialFacts
) -> None:
    now = utcnow()
    root = _certs.issue_root("Harbour VFX", now=now)
    intermediate = _certs.issue_intermediate(root, "Harbour VFX", now=now)
    leaf = _certs.issue_leaf(intermediate, "Harbour VFX", now=now)
    (tmp_path / "chain.pem").write_bytes(_certs.pem(leaf.certificate, intermediate.certificate))
    (tmp_path / "leaf.key").write_bytes(_certs.private_pem(leaf.key))
    (tmp_path / "root.pem").write_bytes(_certs.pem(root.certificate))

    args = ["keys", "import", "--chain", str(tmp_path / "chain.pem")]
    args += ["--key", str(tmp_path / "leaf.key"), "--anchor", str(tmp_path / "root.pem")]
    result = runner.invoke(app, args)

    assert result.exit_code == 0, result.output
    assert "Harbour VFX Content Credentials" in result.output
    signed = _signed(tmp_path, env, generated)
    assert runner.invoke(app, ["provenance", "verify", str(signed)]).exit_code == 0


def _facts_pointing_at(
    facts: CredentialFacts, origin: str, index: int, leaf_hash: str
) -> CredentialFacts:
    from greenlight.provenance import LedgerReference

    ledger_ref = LedgerReference(origin=origin, index=index, leaf_hash=leaf_hash)
    governance = facts.governance.model_copy(update={"ledger": ledger_ref})
    return facts.model_copy(update={"governance": governance})


def test_verify_with_ledger_confirms_the_referenced_entry(
    tmp_path: Path, env: Settings, generated: CredentialFacts
) -> None:
    from greenlight.ledger import Event, Ledger

    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    ledger = Ledger.open(Settings.from_env())
    ours, other = ledger.record(
        Event(type="run.completed", actor="worker", subjects={"request": "req_01J9Z8"}),
        Event(type="run.completed", actor="worker", subjects={"request": "req_other"}),
    )
    good = _facts_pointing_at(generated, ledger.origin, ours.index, ours.leaf_hash.hex())
    result = runner.invoke(
        app, ["provenance", "verify", "--ledger", str(_signed(tmp_path, env, good, "ok.png"))]
    )
    assert result.exit_code == 0, result.output
    assert f"entry {ours.index} of {ledger.origin} matches" in result.output

    forged_leaf = _facts_pointing_at(generated, ledger.origin, ours.index, "ab" * 32)
    result = runner.invoke(
        app, ["provenance", "verify", "--ledger", str(_signed(tmp_path, env, forged_leaf, "f.png"))]
    )
    assert result.exit_code == 2 and "ledger.reference_mismatch" in result.output

    borrowed = _facts_pointing_at(generated, ledger.origin, other.index, other.leaf_hash.hex())
    result = runner.invoke(
        app, ["provenance", "verify", "--ledger", str(_signed(tmp_path, env, borrowed, "b.png"))]
    )
    assert result.exit_code == 2 and "another request's entry" in result.output

    missing = _facts_pointing_at(generated, ledger.origin, 99, ours.leaf_hash.hex())
    result = runner.invoke(
        app, ["provenance", "verify", "--ledger", str(_signed(tmp_path, env, missing, "m.png"))]
    )
    assert result.exit_code == 2 and "ledger.reference_missing" in result.output
