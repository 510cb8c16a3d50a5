"""`greenlight rights ...` as legal, a producer, a vendor and an auditor run it."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from greenlight.accounts import Access, find_person, load_access
from greenlight.cli import app
from greenlight.core import Settings
from greenlight.core.models import InputRef, RequestDraft
from greenlight.engine import requests as flow
from greenlight.engine.platform import Platform
from greenlight.rights import consents_for, record_disclosure
from greenlight.workflows import seed
from greenlight.workflows.demo import DemoCast
from tests.world import plate_png

runner = CliRunner()
LEGAL, PRODUCER, ARTIST = "lena@studio.example", "priya@studio.example", "ari@studio.example"
VENDOR, AUDITOR, ADMIN = "vera@lumenpost.example", "omar@audit.example", "admin@studio.example"


@pytest.fixture
def cast(env: Settings) -> Iterator[DemoCast]:
    platform = Platform.open(env)
    try:
        yield seed(platform)
    finally:
        platform.close()


def _ok(command: str) -> str:
    result = runner.invoke(app, ["rights", *shlex.split(command)])
    assert result.exit_code == 0, result.output
    return result.output


def _refused(command: str, code: str) -> None:
    result = runner.invoke(app, ["rights", *shlex.split(command)])
    assert result.exit_code == 2, result.output
    assert f"[{code}]" in result.output


def test_legal_records_lists_revokes_and_reads_the_impact_of_a_consent(
    cast: DemoCast, env: Settings
) -> None:
    record = (
        "consents record --production NL --talent 'Theo Brandt' --kind voice "
        "--use-case dubbing --intended-use 'Dub Theo into German for the series release' "
        "--medium series --territory DE --compensation 'Rider 12'"
    )
    _refused(f"{record} --as {ARTIST}", "consent.not_allowed")
    _refused(f"{record} --as {AUDITOR}", "access.read_only")
    _refused(
        "consents record --production NL --talent 'Theo Brandt' --kind voice --use-case "
        f"dubbing --intended-use 'dubbing' --as {LEGAL}",
        "consent.vague_use",
    )
    assert "recorded voice consent" in _ok(f"{record} --as {LEGAL}")
    listed = _ok("consents list --production NL --talent 'Theo Brandt'")
    assert "Dub Theo into German" in listed and "territories: de" in listed

    platform = Platform.open(env)
    try:
        with platform.db.read() as conn:
            (consent,) = consents_for(conn, cast.production.id, [cast.unconsented.id])
    finally:
        platform.close()
    _refused(
        f"consents revoke {consent.id} --reason 'He asked' --as {ARTIST}", "consent.not_allowed"
    )
    assert "0 request(s) not yet delivered" in _ok(
        f"consents revoke {consent.id} --reason 'Performer withdrew' --as {LEGAL}"
    )
    _refused(
        f"consents revoke {consent.id} --reason 'Again, twice' --as {LEGAL}",
        "consent.already_revoked",
    )
    impact = json.loads(_ok(f"consents impact {consent.id} --json --as {AUDITOR}"))
    assert impact["consent"]["revocation_reason"] == "Performer withdrew"
    assert impact["delivered"] == [] and impact["not_delivered"] == []
    _refused(f"consents impact {consent.id} --as {ARTIST}", "rights.read_not_allowed")


def test_revoking_lists_the_requests_it_denied(cast: DemoCast, env: Settings) -> None:
    platform = Platform.open(env)
    try:
        de_age = RequestDraft.model_validate(
            {
                **_cleanup(cast).model_dump(),
                "use_case": "de_aging",
                "talent_ids": [cast.consented.id],
            }
        )
        waiting = flow.submit(platform, _access(platform, ARTIST), de_age)
        assert waiting.request.state == "awaiting_approval"
        with platform.db.read() as conn:
            (consent,) = consents_for(conn, cast.production.id, [cast.consented.id])
    finally:
        platform.close()
    said = _ok(f"consents revoke {consent.id} --reason 'Maya withdrew it' --as {LEGAL}")
    assert "1 request(s) not yet delivered" in said and "1 denied before it ran" in said
    assert f"{waiting.request.id}  awaiting_approval -> denied" in said
    platform = Platform.open(env)
    try:
        with platform.db.read() as conn:
            assert flow.load_request(conn, waiting.request.id).state == "denied"
    finally:
        platform.close()


def test_vendor_governance_from_the_command_line(cast: DemoCast) -> None:
    _refused(f"tools allow 'Lumen Cleanup' --production NL --as {ARTIST}", "allowlist.not_allowed")
    _ok(f"tools allow 'Lumen Cleanup' --production NL --as {PRODUCER}")
    assert "Lumen Cleanup" in _ok("tools list --production NL")
    standing = json.loads(_ok("tools standing 'Lumen Cleanup' --production NL --json"))
    assert standing["allowed_on_production"] and not standing["suspended"]
    assert standing["attestation_from"] == "vendor"  # the demo attests Lumen Post

    attest = (
        "attestations record --vendor 'Lumen Post' --source 'Lumen plate library=licensed' "
        "--retains-days 0 --enclosed --certification 'TPN Gold' --valid-from 2025-01-01 "
        "--expires 2026-01-01"
    )
    _refused(f"{attest} --as {AUDITOR}", "access.read_only")
    _refused(f"{attest} --as {PRODUCER}", "vendor.oversight_only")
    _ok(f"{attest} --as {LEGAL}")
    held = _ok("tools standing 'Lumen Cleanup' --production NL")
    assert "Suspended" not in held  # the lapsed one is history; the current one holds
    _ok(
        "attestations record --vendor 'Studio Pipeline' --source 'Own plates=owned' "
        f"--retains-days 0 --enclosed --expires 2099-01-01 --as {LEGAL}"
    )
    mine = _ok(f"attestations list --as {VENDOR}")
    assert mine.count("all tools") == 2  # Lumen's two, not the studio's
    _refused(f"attestations list --vendor 'Studio Pipeline' --as {VENDOR}", "access.other_vendor")

    scheduled = _ok(
        f"audits schedule --vendor 'Lumen Post' --date 2026-12-01 --auditor Northgate --as {LEGAL}"
    )
    audit_id = scheduled.split("audit ")[1].split()[0]
    found = _ok(
        f"audits finding {audit_id} --severity critical --description 'Inputs kept for training' "
        f"--remediation 'Purge and prove it' --as {LEGAL}"
    )
    finding_id = found.split("finding ")[1].split()[0]
    assert "Suspended" in _ok("tools standing 'Lumen Cleanup' --production NL")
    assert finding_id in _ok(f"audits list --as {VENDOR}")
    _ok(f"audits remediate {finding_id} --note 'Purged, logs checked' --as {LEGAL}")
    assert "completed" in _ok(f"audits complete {audit_id} --as {LEGAL}")
    _ok(f"tools disallow 'Lumen Cleanup' --production NL --as {PRODUCER}")
    assert "Lumen Cleanup" not in _ok("tools list --production NL")


def test_watchlist_talent_and_digest_from_the_command_line(
    cast: DemoCast, env: Settings, tmp_path: Path
) -> None:
    _refused(
        f"watchlist add --production NL --term 'Polar Knight' --category brand --as {ARTIST}",
        "watchlist.not_allowed",
    )
    added = _ok(
        "watchlist add --production NL --term 'Polar Knight' --category protected_character "
        f"--alias 'Cpt Polar' --note 'Polar Comics' --as {LEGAL}"
    )
    entry = added.split("(")[1].split(")")[0]
    assert "Cpt Polar" in _ok(f"watchlist list --production NL --as {VENDOR}")
    _ok(f"watchlist remove {entry} --as {LEGAL}")
    assert "Cpt Polar" not in _ok("watchlist list --production NL")

    _refused(
        f"talent add --name 'Greta Lind' --deceased --as {LEGAL}", "talent.representative_required"
    )
    assert "authorized representative" in _ok(
        f"talent add --name 'Greta Lind' --deceased --representative 'Lind Estate' --as {LEGAL}"
    )
    photo = tmp_path / "greta.png"
    photo.write_bytes(plate_png())
    _ok(f"talent reference 'Greta Lind' {photo} --kind photo --as {LEGAL}")
    assert "greta.png" in _ok(f"talent show 'Greta Lind' --as {AUDITOR}")
    assert "greta.png" not in _ok(f"talent show 'Greta Lind' --as {ARTIST}")
    assert "withdrew 1" in _ok(f"talent withdraw-references 'Greta Lind' --as {LEGAL}")

    _ok(f"disclosures contact --production NL ai-desk@studio.example --as {PRODUCER}")
    platform = Platform.open(env)
    try:
        artist = _access(platform, ARTIST)
        detail = flow.submit(platform, artist, _cleanup(cast))
        with platform.db.transaction() as conn:
            record_disclosure(conn, detail.request)
    finally:
        platform.close()
    digest = json.loads(_ok(f"disclosures digest --production NL --json --as {PRODUCER}"))
    assert digest["studio_contact"] == "ai-desk@studio.example"
    assert [i["request_id"] for i in digest["items"]] == [detail.request.id]
    assert "1 request(s)" in _ok("disclosures digest --production NL")
    _refused(f"disclosures digest --production NL --as {ARTIST}", "rights.read_not_allowed")
    _refused("disclosures digest --production NL --date 2026-13-01", "cli.bad_date")


def _access(platform: Platform, email: str) -> Access:
    with platform.db.read() as conn:
        person = find_person(conn, email)
        assert person is not None
        return load_access(conn, person)


def _cleanup(cast: DemoCast) -> RequestDraft:
    return RequestDraft(
        production_id=cast.production.id,
        use_case="vfx_cleanup",
        tool_id=cast.studio_tool.id,
        intent="temporary",
        prompt="paint out the rig wire",
        parameters={"regions": [[400, 200, 160, 120]]},
        inputs=[InputRef(asset_id=cast.plate.id, part="plate")],
    )
