"""`greenlight init`, `demo`, `serve`, `users`, `productions`, `requests` and `assets`,
as an operator runs them on the server machine."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from greenlight.accounts import (
    Access,
    authenticate,
    find_person,
    list_memberships,
    resolve_api_token,
)
from greenlight.cli import app
from greenlight.core import Settings
from greenlight.core.enums import RequestState, Role
from greenlight.engine import requests as flow
from greenlight.engine.platform import Platform
from greenlight.ledger import verify_log
from greenlight.productions import list_productions
from greenlight.workflows import MARKER, PASSWORD, seed

runner = CliRunner()
WIRE_ROW = 30


@pytest.fixture
def seeded(env: Settings) -> Iterator[Platform]:
    """Northern Lights seeded through the services, no requests yet."""
    platform = Platform.open(env)
    seed(platform)
    yield platform
    platform.close()


@pytest.fixture
def plate(tmp_path: Path) -> Path:
    """A 96x64 PNG plate: a grey ramp with a bright wire across rows 30 to 32."""
    ramp = np.linspace(60, 180, 96, dtype=np.float32)
    image = np.repeat(ramp[None, :, None], 64, axis=0).repeat(3, axis=2).astype(np.uint8)
    image[WIRE_ROW : WIRE_ROW + 3] = 255
    path = tmp_path / "plate.png"
    assert cv2.imwrite(str(path), image)
    return path


def _ok(command: str, stdin: str | None = None) -> str:
    """Run ``greenlight <command>`` (shell words) and expect success."""
    result = runner.invoke(app, shlex.split(command), input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def _refused(code: str, command: str, stdin: str | None = None) -> str:
    """Run ``greenlight <command>`` and expect the one-line diagnostic ``code``, exit 2."""
    result = runner.invoke(app, shlex.split(command), input=stdin)
    assert result.exit_code == 2, result.output
    assert f"[{code}]" in result.output
    return result.output


def _request_id(output: str) -> str:
    found = re.search(r"Request (req_\w+)", output)
    assert found, output
    return found.group(1)


def _admin(platform: Platform) -> Access:
    with platform.db.read() as conn:
        person = find_person(conn, "admin@studio.example")
        assert person is not None
        return Access(person=person)


def _cleanup(intent: str, plate: Path, who: str = "ari@studio.example") -> str:
    """``requests submit`` for a wire removal on NL_101_010 with the studio's inpainting."""
    return (
        f"requests submit --as {who} --production NL --use-case vfx_cleanup "
        f"--tool 'OpenCV inpaint' --intent {intent} --shot NL_101_010 "
        f"--param 'regions=[[0,{WIRE_ROW},96,3]]' --input {shlex.quote(str(plate))}:plate"
    )


# --- demo -----------------------------------------------------------------------


def test_demo_no_serve_prints_summary_and_verified_ledger(env: Settings) -> None:
    started = time.perf_counter()
    output = _ok("demo --no-serve")
    took = time.perf_counter() - started

    assert f"Creating the demo data in {env.data_dir}." in output
    for decision in ("allow", "needs_approval", "deny"):
        assert f" {decision} " in output
    assert "Ledger verified: 20 entries checked, tree size 20" in output
    assert "sofia@studio.example" in output and "victor@studio.example" in output
    assert PASSWORD in output
    assert took < 15, f"the demo took {took:.1f} s"

    platform = Platform.open(env, create_identity=False)
    try:
        with platform.db.read() as conn:
            found, _ = flow.list_requests(conn, _admin(platform))
            states = sorted(r.state for r in found)
            delivered = [r for r in found if r.state is RequestState.DELIVERED]
            detail = flow.load_detail(conn, delivered[0].id)
        assert states == sorted(
            ["delivered", "awaiting_approval", "denied", "in_review", "awaiting_approval"]
        )
        assert [r.reviewer_id for r in detail.reviews] and detail.reviews[0].verdict == "accept"
        assert detail.delivery is not None and detail.delivery.destination == "editorial"
        assert verify_log(platform.ledger).ok
    finally:
        platform.close()


def test_demo_twice_resets_with_message(env: Settings) -> None:
    _ok("demo --no-serve")
    output = _ok("demo --no-serve")

    assert (
        f"Resetting the demo data in {env.data_dir} (left by an earlier `greenlight demo`)."
        in output
    )
    assert "Ledger verified: 20 entries checked" in output
    assert (env.data_dir / MARKER).is_file()
    platform = Platform.open(env, create_identity=False)
    try:
        with platform.db.read() as conn:
            assert [p.code for p in list_productions(conn)] == ["NL"]
    finally:
        platform.close()


def test_demo_refuses_foreign_data_dir(env: Settings) -> None:
    (env.data_dir / "blobs").mkdir(parents=True)
    (env.data_dir / "greenlight.db").write_bytes(b"a studio's real data")
    (env.data_dir / "blobs" / "plate.exr").write_bytes(b"pixels")
    before = sorted((p.relative_to(env.data_dir), p.stat().st_mtime_ns) for p in _tree(env))

    output = _refused("demo.data_dir_in_use", "demo --no-serve")

    assert "GREENLIGHT_DATA_DIR" in output
    assert sorted((p.relative_to(env.data_dir), p.stat().st_mtime_ns) for p in _tree(env)) == (
        before
    )
    assert (env.data_dir / "greenlight.db").read_bytes() == b"a studio's real data"


def _tree(env: Settings) -> list[Path]:
    return list(env.data_dir.rglob("*"))


# --- init, users, productions ---------------------------------------------------


def test_init_creates_admin_and_is_idempotent(env: Settings) -> None:
    output = _ok(
        "init --admin-email Rita@Studio.example --admin-name 'Rita Root' --password-stdin",
        stdin="a long enough secret\n",
    )

    assert "signing identity  created" in output
    assert "Initialised: Rita Root <rita@studio.example> is the platform admin" in output
    again = _ok("init")  # no prompt: there is an admin already
    assert "signing identity  kept" in again
    assert "Already initialised: platform admin rita@studio.example" in again

    platform = Platform.open(env, create_identity=False)
    try:
        with platform.db.transaction() as conn:
            admin = authenticate(conn, "rita@studio.example", "a long enough secret")
        assert admin.is_admin
    finally:
        platform.close()


def test_users_create_and_grant(env: Settings) -> None:
    _ok(
        "init --admin-email rita@studio.example --admin-name Rita --password-stdin",
        stdin="a long enough secret\n",
    )
    _ok("productions create --code NL --title 'Northern Lights' --kind series --episode 101:Pilot")

    created = _ok(
        "users create --email ari@studio.example --name 'Ari Kim'",
        stdin="paint it out cleanly\npaint it out cleanly\n",
    )
    assert "created person Ari Kim <ari@studio.example>" in created
    _ok("users grant --email ari@studio.example --production NL --role artist")
    _refused(
        "membership.vendor_required",
        "users grant --email ari@studio.example --production NL --role vendor",
    )
    _refused(
        "person.not_found",
        "users grant --email nobody@studio.example --production NL --role artist",
    )
    listing = _ok("users list")
    assert "artist@NL" in listing and "platform admin" in listing
    assert "1 (101-101)" in _ok("productions")
    token = runner.invoke(app, shlex.split("users token --email ari@studio.example --name nuke"))
    assert token.exit_code == 0 and "shown only now" in token.stderr
    raw = token.stdout.strip()  # stdout is the token alone, for scripts

    platform = Platform.open(env, create_identity=False)
    try:
        with platform.db.transaction() as conn:
            ari = authenticate(conn, "ari@studio.example", "paint it out cleanly")
            assert resolve_api_token(conn, raw).id == ari.id
            roles = [m.role for m in list_memberships(conn, person_id=ari.id)]
        assert roles == [Role.ARTIST]
    finally:
        platform.close()


def test_commands_need_an_initialised_data_dir(env: Settings) -> None:
    _refused("cli.not_initialised", "requests list")
    assert not env.data_dir.exists()


# --- requests and assets --------------------------------------------------------


def test_requests_submit_runs_inpaint_and_show(seeded: Platform, plate: Path) -> None:
    output = _ok(_cleanup("temporary", plate))

    request_id = _request_id(output)
    assert "in_review" in output
    assert "decision   allow under" in output
    assert "run.succeeded" in output and "plate_clean.png" in output
    detail = json.loads(_ok(f"requests show {request_id} --json"))
    assert detail["request"]["state"] == "in_review"
    assert detail["request"]["parameters"]["regions"] == [[0, WIRE_ROW, 96, 3]]
    assert [i["part"] for i in detail["request"]["inputs"]] == ["plate"]
    assert len(detail["outputs"]) == 1
    assert request_id in _ok("requests list --state in_review")
    assert "1 in_review" in _ok("productions")
    # The auditor reads it too, but may not ask for work.
    assert request_id in _ok(f"requests show {request_id} --as omar@audit.example")
    _refused("access.read_only", _cleanup("temporary", plate, who="omar@audit.example"))


def test_requests_approve_wrong_role_exits_2_with_code(seeded: Platform, plate: Path) -> None:
    output = _ok(_cleanup("final_deliverable", plate))
    request_id = _request_id(output)
    assert "awaiting_approval" in output
    assert f"greenlight requests approve {request_id} --as daniel@studio.example" in output

    refused = _refused(
        "approval.wrong_role", f"requests approve {request_id} --as victor@studio.example"
    )
    assert "showrunner" in refused
    approved = _ok(
        f"requests approve {request_id} --as sofia@studio.example --note 'Good for the online.'"
    )
    assert "in_review" in approved and "approved by Sofia Reyes" in approved
    _refused(
        "review.needs_creative_lead",
        f"requests review {request_id} --as victor@studio.example --verdict accept",
    )
    reviewed = _ok(f"requests review {request_id} --as sofia@studio.example --verdict accept")
    assert "accepted" in reviewed
    delivered = _ok(f"requests deliver {request_id} --as priya@studio.example --to online")
    assert "delivered  to online by Priya Nair" in delivered


def test_assets_get_writes_verified_file_with_credentials(
    seeded: Platform, plate: Path, tmp_path: Path
) -> None:
    output = _ok(_cleanup("temporary", plate))
    detail = json.loads(_ok(f"requests show {_request_id(output)} --json"))
    asset = detail["outputs"][0]
    out_dir = tmp_path / "fetched"

    fetched = _ok(f"assets get {asset['id']} -o {out_dir}/")

    written = out_dir / asset["filename"]
    assert hashlib.sha256(written.read_bytes()).hexdigest() == asset["sha256"]
    assert f"sha256 {asset['sha256']} (verified)" in fetched
    assert "credentials: Trusted" in fetched
    assert f"request {detail['request']['id']}" in fetched
    _refused("cli.file_exists", f"assets get {asset['id']} -o {written}")
    # A vendor sees only work done with their own tools; this was the studio's tool.
    _refused(
        "access.other_vendor",
        f"assets get {asset['id']} -o {tmp_path / 'v.png'} --as vera@lumenpost.example",
    )


# --- serve ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_refuses_a_port_in_use(seeded: Platform) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        _refused("serve.address_unavailable", f"serve --port {port}")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_the_login_page_and_stops_on_ctrl_c(seeded: Platform, workers: int) -> None:
    port = _free_port()
    command = [sys.executable, "-c", "from greenlight.cli import main; main()"]
    server = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--workers", str(workers)],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status = None
        deadline = time.monotonic() + 30
        while status is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as page:
                    status = page.status
            except OSError:
                time.sleep(0.1)
        assert status == 200
        # One keep-alive connection, many answers, whichever worker took it.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for _ in range(5):
            connection.request("GET", "/api/v1/openapi.json")
            response = connection.getresponse()
            assert response.status == 200 and response.read()
        connection.close()
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert server.returncode == 0, out
    assert f"Serving Greenlight on http://127.0.0.1:{port}" in out


def test_requests_submit_declares_what_the_guidance_asks(seeded: Platform, plate: Path) -> None:
    declared = _cleanup("temporary", plate) + (
        " --declare could_be_mistaken_for_real_events --declare medium=trailer"
        " --third-party 'Archive newsreel 1969'"
    )
    output = _ok(declared)
    request_id = _request_id(output)
    assert "awaiting_approval" in output
    detail = json.loads(_ok(f"requests show {request_id} --json"))
    assert detail["request"]["disclosure"]["could_be_mistaken_for_real_events"] is True
    assert detail["request"]["disclosure"]["medium"] == "trailer"
    assert detail["request"]["third_party_ip"] == ["Archive newsreel 1969"]
    assert "third-party-ip-needs-legal" in detail["decision"]["rules"]
    refused = _refused("cli.invalid", _cleanup("temporary", plate) + " --declare time_travel")
    assert "time_travel" in refused
