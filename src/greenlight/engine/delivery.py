"""Delivery bundles: outputs leave with their credentials and the ledger's proofs.

A bundle is a zip anyone can check offline with the studio's ledger key:

    outputs/<name>            the signed output (C2PA embedded)
    outputs/<name>.c2pa       its sidecar manifest, for types that cannot embed one
    ledger/entries/<i>.json   the request's ledger entries, canonical JSON as logged
    ledger/proofs.json        an inclusion proof for each entry, at one checkpoint
    ledger/checkpoint         that checkpoint, a signed note
    request.json              the request, decision, approvals, runs and reviews
    README.txt                how to check it

:func:`verify_bundle` is that check, a pure function of the zip's bytes and
the key: each entry hashes to its leaf, each proof leads to the checkpoint's
root, the checkpoint is signed by the key, and each output's SHA-256 is the
one the ``run.succeeded`` entry recorded.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import IO, Any

from greenlight.accounts import Access
from greenlight.core.errors import Conflict, VerificationFailed
from greenlight.engine.platform import Platform
from greenlight.engine.requests import get_request
from greenlight.ledger import merkle
from greenlight.ledger.checkpoint import open_signed
from greenlight.ledger.merkle import leaf_hash

_README = """\
Greenlight delivery bundle for request {request}.

Check it offline with the studio's ledger public key (greenlight ledger public-key):

    greenlight delivery verify <this zip> --key '<public key>'

It confirms every ledger entry in ledger/entries is in the log the signed
ledger/checkpoint describes, and that every file in outputs/ is byte for byte
the one the ledger recorded. Check the content credentials of each output with

    greenlight provenance verify outputs/<name> --trust <the studio's trust anchor>
"""


def write_bundle(platform: Platform, access: Access, request_id: str, out: IO[bytes]) -> int:
    """Write the delivery bundle of a delivered (or accepted) request to ``out``.

    Returns the number of ledger entries it proves.
    """
    with platform.db.read() as conn:
        detail = get_request(conn, access, request_id)
    state = detail.request.state.value
    if state not in ("accepted", "delivered"):
        raise Conflict(
            f"Request {request_id} is {state}; only accepted or delivered work has a bundle.",
            code="delivery.not_accepted",
        )
    platform.ledger.integrate()  # make sure a checkpoint covers every entry
    checkpoint = platform.ledger.checkpoint()
    assert checkpoint is not None  # integrate() just signed one
    proofs = [platform.ledger.inclusion_proof(e.index, checkpoint.size) for e in detail.events]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for asset in detail.outputs:
            with platform.blobs.open(asset.sha256) as reader:
                bundle.writestr(f"outputs/{asset.filename}", b"".join(reader.chunks()))
            if asset.manifest_sha256 is not None:
                sidecar = platform.blobs.read_bytes(asset.manifest_sha256)
                bundle.writestr(f"outputs/{asset.filename}.c2pa", sidecar)
        for mark in detail.events:
            bundle.writestr(
                f"ledger/entries/{mark.index}.json", platform.ledger.entry(mark.index).body
            )
        bundle.writestr(
            "ledger/proofs.json",
            json.dumps(
                {
                    "origin": platform.ledger.origin,
                    "tree_size": checkpoint.size,
                    "proofs": [
                        {
                            "index": p.index,
                            "leaf_hash": p.leaf_hash.hex(),
                            "hashes": [h.hex() for h in p.hashes],
                        }
                        for p in proofs
                    ],
                },
                indent=2,
            ),
        )
        bundle.writestr("ledger/checkpoint", checkpoint.note_text)
        bundle.writestr("request.json", detail.model_dump_json(indent=2))
        bundle.writestr("README.txt", _README.format(request=request_id))
    return len(proofs)


@dataclass
class BundleReport:
    """What a bundle check found."""

    request_id: str
    tree_size: int
    entries: int
    outputs: dict[str, str] = field(default_factory=dict)  # file name -> sha256


def verify_bundle(data: bytes, verifier_key: str) -> BundleReport:
    """Check a delivery bundle offline; raise ``VerificationFailed`` on the first problem."""
    try:
        bundle = zipfile.ZipFile(io.BytesIO(data))
        names = set(bundle.namelist())
        checkpoint = open_signed(bundle.read("ledger/checkpoint").decode(), verifier_key)
        proofs: dict[str, Any] = json.loads(bundle.read("ledger/proofs.json"))
        request: dict[str, Any] = json.loads(bundle.read("request.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise _bad(f"it is not a complete delivery bundle ({exc})") from exc
    if proofs.get("tree_size") != checkpoint.size:
        raise _bad("its proofs are for another tree size than its checkpoint")
    recorded: dict[str, str] = {}
    entries = 0
    for proof in proofs["proofs"]:
        index = int(proof["index"])
        body = bundle.read(f"ledger/entries/{index}.json")
        leaf = leaf_hash(body)
        if leaf.hex() != proof["leaf_hash"]:
            raise _bad(f"entry {index} does not hash to its leaf")
        merkle.verify_inclusion(
            leaf,
            index,
            checkpoint.size,
            [bytes.fromhex(h) for h in proof["hashes"]],
            checkpoint.root_hash,
        )
        event = json.loads(body)
        if event["subjects"].get("request") != request["request"]["id"]:
            raise _bad(f"entry {index} is about another request")
        if event["type"] == "run.succeeded":
            for output in event["payload"]["outputs"]:
                recorded[output["asset"]] = output["sha256"]
        entries += 1
    report = BundleReport(request["request"]["id"], checkpoint.size, entries)
    for asset in request["outputs"]:
        name = f"outputs/{asset['filename']}"
        if name not in names:
            raise _bad(f"output {asset['filename']} is missing")
        digest = hashlib.sha256(bundle.read(name)).hexdigest()
        if recorded.get(asset["id"]) != digest:
            raise _bad(f"output {asset['filename']} is not the file the ledger recorded")
        report.outputs[asset["filename"]] = digest
    return report


def _bad(why: str) -> VerificationFailed:
    return VerificationFailed(
        f"The delivery bundle does not check out: {why}. Ask the studio for a fresh bundle.",
        code="delivery.bundle_invalid",
    )
