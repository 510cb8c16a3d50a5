"""The ledger over HTTP: what an auditor fetches and checks offline (SQLite)."""

from __future__ import annotations

from greenlight.ledger import checkpoint as checkpoints
from greenlight.ledger import merkle
from tests.api.studio import API, Studio, cleanup_draft, error_code, plate_png, upload


def test_an_auditor_proves_a_request_is_in_the_signed_log(sqlite_studio: Studio) -> None:
    auditor = sqlite_studio.client("auditor")
    assert error_code(auditor.get(f"{API}/ledger/checkpoint")) == "ledger.not_integrated"

    artist = sqlite_studio.client("artist")
    plate = upload(artist, sqlite_studio.production_id, plate_png()).json()["id"]
    detail = artist.post(f"{API}/requests", json=cleanup_draft(sqlite_studio, plate)).json()
    submitted = detail["events"][0]
    pending = auditor.get(f"{API}/ledger/entries/{submitted['index']}").json()
    assert pending["inclusion_proof"] is None  # logged, not yet signed
    first = sqlite_studio.platform.ledger.integrate()
    assert first is not None

    key = auditor.get(f"{API}/ledger/public-key").text.strip()
    note = auditor.get(f"{API}/ledger/checkpoint")
    assert note.headers["content-type"].startswith("text/plain")
    signed = checkpoints.open_signed(note.text, key)
    assert signed.size == len(detail["events"])

    entry = auditor.get(f"{API}/ledger/entries/{submitted['index']}").json()
    assert entry["event"]["type"] == "request.submitted"
    assert entry["leaf_hash"] == submitted["leaf_hash"]
    assert merkle.leaf_hash(entry["body"].encode()).hex() == entry["leaf_hash"]
    proof = entry["inclusion_proof"]
    merkle.verify_inclusion(
        bytes.fromhex(entry["leaf_hash"]),
        proof["index"],
        proof["tree_size"],
        [bytes.fromhex(h) for h in proof["proof"]],
        signed.root_hash,
    )

    supervisor = sqlite_studio.client("vfx_supervisor")
    supervisor.post(f"{API}/requests/{detail['request']['id']}/reviews", json={"verdict": "accept"})
    sqlite_studio.platform.ledger.integrate()
    grown = auditor.get(f"{API}/ledger/proofs/consistency", params={"size1": signed.size}).json()
    merkle.verify_consistency(
        grown["size1"],
        grown["size2"],
        [bytes.fromhex(h) for h in grown["proof"]],
        signed.root_hash,
        bytes.fromhex(grown["root2"]),
    )
    assert grown["size2"] == signed.size + 1


def test_the_ledger_refuses_what_it_does_not_hold(sqlite_studio: Studio) -> None:
    auditor = sqlite_studio.client("auditor")
    missing = auditor.get(f"{API}/ledger/entries/99")
    assert missing.status_code == 404
    assert error_code(missing) == "ledger.no_such_entry"
    negative = auditor.get(f"{API}/ledger/entries/-1")
    assert negative.status_code == 422
    assert error_code(negative) == "input.invalid"
    assert sqlite_studio.client().get(f"{API}/ledger/public-key").status_code == 401
