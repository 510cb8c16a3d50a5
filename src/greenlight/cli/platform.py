"""The platform commands: ``init``, ``serve``, ``demo``, ``users``, ``productions``,
``requests`` and ``assets``.

These are operator tools, run on the server machine against its data directory.
Commands that set the platform up (``init``, ``users``, ``productions create``)
act as that operator. Commands that do production work (submit, approve,
review, deliver) act as the person named by ``--as`` (or ``GREENLIGHT_USER``),
with exactly that person's roles, and the ledger names that person as the
actor. Reads without ``--as`` see everything, as the operator.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import tempfile
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from greenlight.accounts import (
    create_api_token,
    create_person,
    get_person,
    grant_role,
    list_memberships,
    list_people,
)
from greenlight.cli._common import console, err_console, friendly_errors, settings
from greenlight.cli._opening import (
    ActAs,
    ReadAs,
    acting_as,
    find_performer,
    find_tool,
    find_vendor,
    opened,
    person_signing_in_as,
    plain_table,
    reading_as,
    uploaded_inputs,
    validated,
)
from greenlight.cli._serving import APP_FACTORY, run_workers, settle_for_serving
from greenlight.core.enums import (
    CREATIVE_LEADS,
    REVIEWERS,
    Intent,
    ProductionKind,
    RequestState,
    Role,
    UseCase,
    Verdict,
)
from greenlight.core.errors import Conflict, InvalidInput, NotFound, ProvenanceError
from greenlight.core.models import (
    Disclosure,
    Episode,
    Person,
    Production,
    ProductionDraft,
    RequestDetail,
    RequestDraft,
    Shot,
    Tool,
    Vendor,
)
from greenlight.core.settings import Settings
from greenlight.engine import assets as asset_store
from greenlight.engine import requests as flow
from greenlight.engine.executors import executor_from_env
from greenlight.engine.platform import Platform
from greenlight.engine.queue import worker_name
from greenlight.engine.runs import run_request
from greenlight.engine.workers import Worker
from greenlight.ledger import Integrator, verify_log
from greenlight.productions import create_production, find_production, list_productions
from greenlight.productions import list_shots as production_shots
from greenlight.provenance import SigningIdentity, TrustAnchors, read_credentials
from greenlight.rights import get_tool, get_vendor
from greenlight.workflows import CAST, SCENARIO_STEPS, DemoRow, reset_demo_data, run_scenario, seed

users_app = typer.Typer(
    help="People who sign in, their roles and API tokens.", no_args_is_help=True
)
productions_app = typer.Typer(
    help="Productions: list them (no subcommand) or create one.", invoke_without_command=True
)
requests_app = typer.Typer(
    help="Generation requests: submit, approve, review, deliver, run, list, show.\n\n"
    "These act locally as the person named by --as (or GREENLIGHT_USER), with that "
    "person's roles: an operator tool on the server machine, not a remote client.",
    no_args_is_help=True,
)
assets_app = typer.Typer(help="Uploaded and generated files.", no_args_is_help=True)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8321
_PART = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_DECISION_STYLE = {"allow": "green", "needs_approval": "yellow", "deny": "red"}


Port = Annotated[int, typer.Option(min=1, max=65535, help="TCP port to listen on.")]


# --- opening the installation ---------------------------------------------------


def _show_database(config: Settings) -> str:
    return make_url(config.database_url).render_as_string(hide_password=True)


# --- init -------------------------------------------------------------------------


@friendly_errors
def init(
    admin_email: Annotated[
        str | None, typer.Option(help="Email of the first platform admin (prompted if missing).")
    ] = None,
    admin_name: Annotated[
        str | None, typer.Option(help="Name of the first platform admin (prompted if missing).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the admin's password from standard input, not a prompt.")
    ] = False,
) -> None:
    """Set up an installation: data directory, database, signing keys and the first admin.

    Safe to run again: what exists is kept, and it says so. The data directory is
    GREENLIGHT_DATA_DIR (default ./greenlight-data).
    """
    config = settings()
    try:
        SigningIdentity.load(config)
        identity_was = "kept"
    except NotFound:
        identity_was = "created"
    with opened(config, setup=True) as platform:
        console.print(f"data directory    {escape(str(config.data_dir))}", highlight=False)
        console.print(
            f"database          {escape(_show_database(config))} (schema up to date)",
            highlight=False,
        )
        console.print(
            f"signing identity  {identity_was}, certificate {platform.identity.fingerprint[:16]}",
            highlight=False,
        )
        console.print(f"ledger key        {platform.ledger.verifier_key}", highlight=False)
        with platform.db.read() as conn:
            admins = [p.email for p in list_people(conn) if p.is_admin]
        if admins:
            console.print(
                f"[green]Already initialised[/]: platform admin {', '.join(admins)}. "
                "Add people with `greenlight users create`.",
                highlight=False,
            )
            return
        email = admin_email or str(typer.prompt("Admin email"))
        name = admin_name or str(typer.prompt("Admin name"))
        password = _new_password(password_stdin)
        with platform.db.transaction() as conn:
            admin = create_person(conn, email=email, name=name, password=password, is_admin=True)
        console.print(
            f"[green]Initialised[/]: {escape(admin.name)} <{admin.email}> is the platform "
            "admin. Next: `greenlight productions create`, `greenlight users create`, "
            "`greenlight serve`.",
            highlight=False,
        )


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInput(
                "--password-stdin read an empty line; pipe the password in, e.g. "
                "`printf '%s\\n' \"$PASSWORD\" | greenlight ...`.",
                code="cli.empty_password",
            )
        return password
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


# --- serve ------------------------------------------------------------------------


@friendly_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = DEFAULT_HOST,
    port: Port = DEFAULT_PORT,
    workers: Annotated[
        int,
        typer.Option(min=1, max=64, help="Worker processes sharing the port (about one per core)."),
    ] = 1,
    run_jobs: Annotated[
        bool,
        typer.Option(
            "--run-jobs/--no-run-jobs",
            help="Run queued jobs in this process too; turn off when `greenlight worker` "
            "processes run them.",
        ),
    ] = True,
) -> None:
    """Serve the API and web pages; sign checkpoints and run queued jobs in the background.

    --no-run-jobs leaves queued jobs to `greenlight worker` processes.
    """
    with opened(settings()) as platform:
        _serve(platform, host, port, workers=workers, run_jobs=run_jobs)


def _serve(
    platform: Platform,
    host: str,
    port: int,
    *,
    hint: str = "",
    workers: int = 1,
    run_jobs: bool = True,
) -> None:
    # Imported here: the CLI must load even when the web side is broken or absent.
    import uvicorn

    from greenlight.api import create_app
    from greenlight.web import pages

    _require_free_port(host, port)
    app = create_app(platform, pages=pages(platform))
    integrator = Integrator(platform.ledger)
    integrator.start()
    jobs = None
    if run_jobs:  # one worker thread, so the server alone completes queued work
        jobs = Worker(
            platform,
            executor_from_env(backends=platform.backends),
            name=worker_name("serve"),
            poll_seconds=0.25,
        )
        jobs.start()
    try:
        where = f"[{host}]" if ":" in host else host
        console.print(
            f"Serving Greenlight on http://{where}:{port} (API under /api/v1). Ctrl+C stops.",
            highlight=False,
        )
        if hint:
            console.print(hint, highlight=False)
        if workers == 1:
            settle_for_serving()
            uvicorn.run(app, host=host, port=port, log_level="warning")
        else:
            run_workers(APP_FACTORY, host, port, workers)
    finally:
        if jobs is not None:
            jobs.close(timeout=60)  # after the job in hand; a longer one is reclaimed later
        integrator.stop()  # a last checkpoint, so nothing appended stays unsigned


def _require_free_port(host: str, port: int) -> None:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            probe.bind(address)
    except OSError as exc:
        raise Conflict(
            f"Cannot listen on {host}:{port} ({exc.strerror or exc}); stop whatever uses it "
            "or choose another --port.",
            code="serve.address_unavailable",
        ) from None


# --- demo -------------------------------------------------------------------------


@friendly_errors
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the result afterwards.")
    ] = True,
    port: Port = DEFAULT_PORT,
) -> None:
    """Run the sample production end to end, verify the ledger, then serve it.

    Creates "Northern Lights" in GREENLIGHT_DATA_DIR (default ./greenlight-data) and
    sends five requests through policy, approval, the inpainting backend, C2PA
    signing, review and delivery: one allowed and delivered, one waiting for the
    showrunner, one denied for lack of consent, one approved by legal. Running it
    again wipes the earlier demo's data; a directory holding anything else is refused.
    """
    config = settings()
    if serve_after:  # before the work, not after it
        _require_free_port(DEFAULT_HOST, port)
    console.print(reset_demo_data(config), highlight=False)
    with opened(config, setup=True) as platform:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("Seeding Northern Lights", total=SCENARIO_STEPS + 2)
            cast = seed(platform)
            progress.console.print(
                f"  Seeded {cast.production.title} ({cast.production.code}): "
                f"{len(cast.production.episodes)} episodes, {len(cast.shots)} shots, "
                f"{len(cast.people)} people, 2 tools, 2 performers, 1 consent",
                highlight=False,
            )

            def step(text: str) -> None:
                progress.update(task, description=text, advance=1)
                progress.console.print(f"  {escape(text)}", highlight=False)

            rows = run_scenario(platform, cast, step)
            progress.update(task, description="Signing a ledger checkpoint", advance=1)
            platform.ledger.integrate()
            progress.update(task, description="Done", advance=1)
        console.print()
        console.print(_summary(rows, console.width))
        console.print()
        report = verify_log(platform.ledger)
        if not report.ok:
            first = report.first_problem
            assert first is not None
            err_console.print(
                f"[bold red]Ledger NOT verified[/]: index {first.index}: {escape(first.what)}",
                highlight=False,
            )
            raise typer.Exit(code=1)
        console.print(
            f"[green]Ledger verified[/]: {report.entries} entries checked, tree size "
            f"{report.tree_size}, {report.checkpoints} signed checkpoint(s), root "
            f"{report.root_hash.hex()}",
            highlight=False,
        )
        console.print()
        console.print(_logins(cast.password))
        console.print()
        waiting = rows[1].request_id
        showrunner = cast.people["showrunner"].email
        console.print(
            f"Try: greenlight requests show {waiting}\n"
            f"     greenlight requests approve {waiting} --as {showrunner}\n"
            "     greenlight ledger verify",
            highlight=False,
        )
        if not serve_after:
            console.print("     greenlight serve   (the web pages and the API)", highlight=False)
            return
        _serve(
            platform,
            DEFAULT_HOST,
            port,
            hint=f"Open http://{DEFAULT_HOST}:{port}/login — sign in as {showrunner} / "
            f"{cast.password}",
        )


def _summary(rows: list[DemoRow], width: int) -> RenderableType:
    title = "[bold]Northern Lights: five requests[/]"
    if width < 120:  # ids are 30 characters: two lines per request on a narrow terminal
        lines = [title]
        for row in rows:
            outputs = f"{row.outputs} output" + ("" if row.outputs == 1 else "s")
            lines.append(
                f"{row.request_id}  {_decision(row.outcome)} -> {row.state}, {outputs}, "
                f"ledger #{row.ledger_index}\n  [dim]{escape(row.label)}[/]"
            )
        return Group(*lines)
    columns = ("request", "what it shows", "decision", "state", "out", "ledger")
    table = plain_table(*columns, title=title, right=("out", "ledger"))
    for row in rows:
        table.add_row(
            row.request_id,
            escape(row.label),
            _decision(row.outcome),
            row.state,
            str(row.outputs),
            f"#{row.ledger_index}",
        )
    return table


def _logins(password: str) -> Table:
    table = plain_table(
        "role", "name", "email", title=f"[bold]People[/] (every password is {password})"
    )
    for member in CAST:
        role = member.role.value if member.role else "platform admin"
        table.add_row(role + (" (Lumen Post)" if member.vendor else ""), member.name, member.email)
    return table


# --- users ------------------------------------------------------------------------


@users_app.command("create")
@friendly_errors
def users_create(
    email: Annotated[str, typer.Option(help="What they sign in with.")],
    name: Annotated[str, typer.Option(help="Their name as others see it.")],
    admin: Annotated[bool, typer.Option(help="Make them a platform admin.")] = False,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input, not a prompt.")
    ] = False,
    no_password: Annotated[
        bool, typer.Option(help="No password: the account signs in only with API tokens.")
    ] = False,
) -> None:
    """Add a person who can sign in (password prompted twice unless --password-stdin)."""
    with opened(settings()) as platform:
        password = None if no_password else _new_password(password_stdin)
        with platform.db.transaction() as conn:
            person = create_person(conn, email=email, name=name, password=password, is_admin=admin)
    what = "platform admin" if person.is_admin else "person"
    console.print(
        f"[green]created[/] {what} {escape(person.name)} <{person.email}> ({person.id}). "
        "Give them a role with `greenlight users grant`.",
        highlight=False,
    )


@users_app.command("grant")
@friendly_errors
def users_grant(
    email: Annotated[str, typer.Option(help="The person's email.")],
    production: Annotated[str, typer.Option(help="Production code (or id).")],
    role: Annotated[Role, typer.Option(help="The role to give on that production.")],
    vendor: Annotated[
        str | None, typer.Option(help="The vendor they work for (name or id); vendor role only.")
    ] = None,
) -> None:
    """Give a person a role on a production (granting it again changes nothing)."""
    if role is Role.VENDOR and not vendor:
        raise InvalidInput(
            "The vendor role names the vendor the person works for; add --vendor NAME.",
            code="membership.vendor_required",
        )
    with opened(settings()) as platform, platform.db.transaction() as conn:
        person = person_signing_in_as(conn, email)
        found = find_production(conn, production)
        vendor_id = find_vendor(conn, vendor).id if vendor else None
        grant_role(
            conn, production_id=found.id, person_id=person.id, role=role, vendor_id=vendor_id
        )
    console.print(
        f"[green]granted[/] {role.value} on {found.code} to {person.email}"
        + (f" for {escape(vendor)}" if vendor else ""),
        highlight=False,
    )


@users_app.command("token")
@friendly_errors
def users_token(
    email: Annotated[str, typer.Option(help="Whose token it is; it acts with their roles.")],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'nuke-plugin'.")],
) -> None:
    """Create an API token and print it once (it is stored only as a hash)."""
    with opened(settings()) as platform, platform.db.transaction() as conn:
        person = person_signing_in_as(conn, email)
        raw, token = create_api_token(conn, person.id, name)
    err_console.print(
        f"API token {token.id} '{escape(token.name)}' for {person.email}. It is shown only "
        "now; send it as 'Authorization: Bearer <token>'.",
        highlight=False,
    )
    typer.echo(raw)


@users_app.command("list")
@friendly_errors
def users_list() -> None:
    """Everyone with an account and their roles."""
    with opened(settings()) as platform, platform.db.read() as conn:
        people = list_people(conn)
        codes = {p.id: p.code for p in list_productions(conn)}
        roles: dict[str, list[str]] = defaultdict(list)
        for membership in list_memberships(conn):
            roles[membership.person_id].append(
                f"{membership.role.value}@{codes.get(membership.production_id, '?')}"
            )
    table = plain_table("email", "name", "roles")
    for person in people:
        held = ([] if not person.is_admin else ["platform admin"]) + roles[person.id]
        table.add_row(person.email, escape(person.name), ", ".join(held) or "-")
    console.print(table)


# --- productions ------------------------------------------------------------------


@productions_app.callback()
@friendly_errors
def productions(ctx: typer.Context) -> None:
    """List productions with their episodes and requests by state."""
    if ctx.invoked_subcommand is not None:
        return
    with opened(settings()) as platform, platform.db.read() as conn:
        found = list_productions(conn)
        counts = flow.count_requests(conn)
    if not found:
        console.print("No productions yet; create one with `greenlight productions create`.")
        return
    table = plain_table("code", "title", "kind", "episodes", "requests")
    for production in found:
        episodes = [e.number for e in production.episodes]
        span = f"{len(episodes)} ({min(episodes)}-{max(episodes)})" if episodes else "-"
        by_state = counts.get(production.id, {})
        table.add_row(
            production.code,
            escape(production.title),
            production.kind.value,
            span,
            ", ".join(f"{n} {state}" for state, n in sorted(by_state.items())) or "none",
        )
    console.print(table)


@productions_app.command("create")
@friendly_errors
def productions_create(
    code: Annotated[str, typer.Option(help="Short code people type, e.g. NL.")],
    title: Annotated[str, typer.Option(help="The production's title.")],
    kind: Annotated[ProductionKind, typer.Option(help="A series or a film.")],
    episode: Annotated[
        list[str] | None,
        typer.Option(help="An episode as NUMBER:TITLE, e.g. '101:Pilot' (repeatable)."),
    ] = None,
) -> None:
    """Create a production (and its episodes)."""
    episodes = []
    for spec in episode or []:
        number, _, name = spec.partition(":")
        if not number.strip().isdigit() or not name.strip():
            raise InvalidInput(
                f"--episode {spec!r}: write NUMBER:TITLE, e.g. '101:Pilot'.",
                code="cli.bad_episode",
            )
        episodes.append(Episode(number=int(number), title=name.strip()))
    draft = validated(
        ProductionDraft, {"code": code, "title": title, "kind": kind, "episodes": episodes}
    )
    with opened(settings()) as platform, platform.db.transaction() as conn:
        made = create_production(conn, draft)
    console.print(
        f"[green]created[/] {made.kind.value} {escape(made.title)} ({made.code}, {made.id}) "
        f"with {len(made.episodes)} episode(s). Add people with `greenlight users grant`.",
        highlight=False,
    )


# --- requests: reading ----------------------------------------------------------


@dataclass(frozen=True)
class _Names:
    """What a request's ids stand for, to print names rather than ids."""

    production: Production
    shot: Shot | None
    tool: Tool
    vendor: Vendor
    people: dict[str, Person]
    holders: dict[Role, list[str]]  # who (email) holds each role there, the requester aside


def _names(conn: Connection, detail: RequestDetail) -> _Names:
    request = detail.request
    production = find_production(conn, request.production_id)
    shot = next((s for s in production_shots(conn, production.id) if s.id == request.shot_id), None)
    tool = get_tool(conn, request.tool_id)
    ids = {request.requested_by}
    ids |= {a.person_id for a in detail.approvals} | {r.reviewer_id for r in detail.reviews}
    if detail.delivery is not None:
        ids.add(detail.delivery.delivered_by)
    holders: dict[Role, list[str]] = defaultdict(list)
    for membership in list_memberships(conn, production_id=production.id):
        if membership.person_id != request.requested_by:
            holders[membership.role].append(get_person(conn, membership.person_id).email)
    return _Names(
        production=production,
        shot=shot,
        tool=tool,
        vendor=get_vendor(conn, tool.vendor_id),
        people={i: get_person(conn, i) for i in ids},
        holders=holders,
    )


def _print_detail(platform: Platform, detail: RequestDetail) -> None:
    with platform.db.read() as conn:
        names = _names(conn, detail)
    request = detail.request
    shown = console.print

    def who(person_id: str) -> str:
        person = names.people.get(person_id)
        return f"{escape(person.name)} <{person.email}>" if person else person_id

    def line(label: str, text: str) -> None:
        shown(f"  {label:<10} {text}", highlight=False)

    shown(f"[bold]Request {request.id}[/]  {_state(request.state.value)}", highlight=False)
    where = f"{escape(names.production.title)} ({names.production.code})"
    if names.shot is not None:
        where += f", shot {names.shot.code}"
    line(
        "for",
        f"{where}: {request.use_case.value}, {request.intent.value}, iteration {request.iteration}",
    )
    line(
        "tool",
        f"{escape(names.tool.name)} {escape(names.tool.version)} by "
        f"{escape(names.vendor.name)} ({names.tool.hosting.value})",
    )
    line("asked by", who(request.requested_by))
    if request.prompt:
        line("prompt", escape(request.prompt))
    decision = detail.decision
    if decision is not None:
        line(
            "decision",
            f"{_decision(decision.outcome.value)} under {decision.policy_version}: "
            f"{', '.join(decision.rules)}",
        )
        for reason in decision.reasons:
            line("", f"[dim]{escape(reason)}[/]")
        if request.state is RequestState.AWAITING_APPROVAL:
            for requirement in flow.outstanding(decision, detail.approvals):
                line("waits for", " or ".join(r.value for r in requirement.roles))
    for approval in detail.approvals:
        verb = "approved" if approval.approved else "refused"
        note = f': "{escape(approval.note)}"' if approval.note else ""
        line("approval", f"{verb} by {who(approval.person_id)} as {approval.role.value}{note}")
    if detail.job is not None:
        for run in detail.job.runs:
            took = f", {run.duration_ms} ms" if run.duration_ms is not None else ""
            cost = f", ${run.cost_usd.normalize():f}" if run.cost_usd is not None else ""
            failed = f" [red]{escape(run.error)}[/]" if run.error else ""
            line("run", f"{run.model} {run.model_version}{took}{cost}{failed}")
    for output in detail.outputs:
        line(
            "output",
            f"{output.id} {escape(output.filename)} ({output.media_type}, {_size(output.size)}) "
            f"sha256 {output.sha256[:16]}…",
        )
    for review in detail.reviews:
        note = f': "{escape(review.note)}"' if review.note else ""
        line(
            "review",
            f"{review.verdict.value} by {who(review.reviewer_id)} as {review.role.value}{note}",
        )
    if detail.delivery is not None:
        delivery = detail.delivery
        line("delivered", f"to {escape(delivery.destination)} by {who(delivery.delivered_by)}")
    if detail.events:
        line("ledger", ", ".join(f"#{e.index} {e.event_type}" for e in detail.events))
    hint = _next_step(detail, names)
    if hint:
        shown(f"next: {hint}", highlight=False)


def _next_step(detail: RequestDetail, names: _Names) -> str:
    request = detail.request
    state = request.state
    if state is RequestState.AWAITING_APPROVAL and detail.decision is not None:
        wanted = {
            r for req in flow.outstanding(detail.decision, detail.approvals) for r in req.roles
        }
        return _as_someone(f"greenlight requests approve {request.id}", "", names, wanted)
    if state is RequestState.IN_REVIEW:
        final = request.intent is Intent.FINAL_DELIVERABLE
        reviewers = CREATIVE_LEADS if final else REVIEWERS
        command = f"greenlight requests review {request.id}"
        return _as_someone(command, " --verdict accept", names, reviewers)
    if state is RequestState.ACCEPTED:
        command = f"greenlight requests deliver {request.id}"
        return _as_someone(command, " --to editorial", names, REVIEWERS)
    if state is RequestState.QUEUED:
        return f"greenlight requests run {request.id}"
    if state is RequestState.DELIVERED and detail.outputs:
        return f"greenlight assets get {detail.outputs[0].id}"
    return ""


def _as_someone(command: str, rest: str, names: _Names, roles: Collection[Role]) -> str:
    """``command --as <someone holding one of roles> rest``, naming a few others who could."""
    emails = sorted({e for role in roles for e in names.holders.get(role, [])})
    if not emails:
        held = " or ".join(sorted(roles))
        return f"{command} --as EMAIL{rest}  (nobody holds {held} here yet)"
    others = f"  (or as {', '.join(emails[1:4])}{', ...' if emails[4:] else ''})"
    return f"{command} --as {emails[0]}{rest}" + (others if emails[1:] else "")


def _size(size: int) -> str:
    value, unit = float(size), "bytes"
    for bigger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def _decision(outcome: str) -> str:
    style = _DECISION_STYLE.get(outcome)
    return f"[{style}]{outcome}[/]" if style else outcome


def _state(state: str) -> str:
    colour = {"denied": "red", "failed": "red", "quarantined": "red", "delivered": "green"}
    style = colour.get(state, "cyan")
    return f"[{style}]{state}[/]"


@requests_app.command("show")
@friendly_errors
def requests_show(
    request_id: Annotated[str, typer.Argument(help="The request's id.")],
    as_: ReadAs = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full record as JSON.")] = False,
) -> None:
    """A request with its decision, approvals, runs, outputs, reviews and ledger entries."""
    with opened(settings()) as platform:
        access = reading_as(platform, as_)
        with platform.db.read() as conn:
            detail = flow.get_request(conn, access, request_id)
        if as_json:
            typer.echo(detail.model_dump_json(indent=2))
        else:
            _print_detail(platform, detail)


@requests_app.command("list")
@friendly_errors
def requests_list(
    production: Annotated[str | None, typer.Option(help="Only this production (code).")] = None,
    state: Annotated[RequestState | None, typer.Option(help="Only requests in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=flow.MAX_PAGE, help="At most this many.")] = 20,
    as_: ReadAs = None,
) -> None:
    """Requests, newest first."""
    with opened(settings()) as platform:
        access = reading_as(platform, as_)
        with platform.db.read() as conn:
            production_id = find_production(conn, production).id if production else None
            found, more = flow.list_requests(
                conn, access, production_id=production_id, state=state, limit=limit
            )
            codes = {p.id: p.code for p in list_productions(conn)}
            emails = {p.id: p.email for p in list_people(conn)}
    if not found:
        console.print("No requests match.")
        return
    wide = console.width >= 120  # else: the id, what and the state, in 80 columns
    table = (
        plain_table("request", "prod", "use case", "intent", "state", "asked by")
        if wide
        else plain_table("request", "what", "state")
    )
    for request in found:
        what = [request.use_case.value, request.intent.value]
        if wide:
            table.add_row(
                request.id,
                codes.get(request.production_id, "?"),
                *what,
                _state(request.state.value),
                emails.get(request.requested_by, request.requested_by),
            )
        else:
            table.add_row(request.id, ", ".join(what), _state(request.state.value))
    console.print(table)
    if more:
        console.print(f"[dim]More requests exist; raise --limit (up to {flow.MAX_PAGE}).[/]")


# --- requests: acting -------------------------------------------------------------


@requests_app.command("submit")
@friendly_errors
def requests_submit(
    as_: ActAs,
    production: Annotated[str, typer.Option(help="Production code (or id).")],
    use_case: Annotated[UseCase, typer.Option(help="What kind of work.")],
    tool: Annotated[str, typer.Option(help="The tool, by name or id.")],
    intent: Annotated[Intent, typer.Option(help="What the output is for.")],
    prompt: Annotated[str, typer.Option(help="What to do, in words.")] = "",
    param: Annotated[
        list[str] | None,
        typer.Option(
            help="A backend parameter as key=value; the value is JSON if it parses, e.g. "
            "radius=5 or 'regions=[[0,30,96,3]]' (repeatable)."
        ),
    ] = None,
    input_: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            help="A file to upload as FILE:PART, e.g. plate.png:plate or mask.png:mask "
            "(PART defaults to plate; repeatable).",
        ),
    ] = None,
    talent: Annotated[
        list[str] | None,
        typer.Option(help="A registered performer referenced, by name or id (repeatable)."),
    ] = None,
    shot: Annotated[str | None, typer.Option(help="The shot, by code or id.")] = None,
    declare: Annotated[
        list[str] | None,
        typer.Option(
            help="Something the guidance asks about, as NAME (yes) or NAME=VALUE, e.g. "
            "key_creative_element, story_relevant, alteration_purpose=cosmetic, "
            "medium=trailer (repeatable; every name in README's disclosure table)."
        ),
    ] = None,
    third_party: Annotated[
        list[str] | None,
        typer.Option(help="Third-party material the work uses, by name (repeatable)."),
    ] = None,
) -> None:
    """Upload the inputs, submit the request, and run it at once if policy queues it.

    Prints the request as it then stands: denied (and why), waiting for whose
    approval, or run and waiting for review. Exits 1 if the run failed.
    """
    files = [_input_spec(spec) for spec in input_ or []]
    parameters = _parameters(param or [])
    disclosure = validated(Disclosure, _declared(declare or []))
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        with platform.db.read() as conn:
            found = find_production(conn, production)
            tool_id = find_tool(conn, tool).id
            shot_id = _shot(conn, found.id, shot).id if shot else None
            talent_ids = [find_performer(conn, key).id for key in talent or []]
        inputs = uploaded_inputs(platform, access, found.id, files)
        draft = validated(
            RequestDraft,
            {
                "production_id": found.id,
                "shot_id": shot_id,
                "use_case": use_case,
                "tool_id": tool_id,
                "intent": intent,
                "prompt": prompt,
                "parameters": parameters,
                "inputs": inputs,
                "talent_ids": talent_ids,
                "third_party_ip": third_party or [],
                "disclosure": disclosure,
            },
        )
        detail = flow.submit(platform, access, draft)
        _run_if_queued(platform, detail)


def _declared(specs: list[str]) -> dict[str, Any]:
    """``--declare`` answers as Disclosure fields: a bare NAME is yes, NAME=VALUE a value."""
    answers: dict[str, Any] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        answers[name.strip()] = value.strip() if sep else True
    return answers


def _run_if_queued(platform: Platform, detail: RequestDetail) -> None:
    """Run queued work here, unless the tool's vendor delivers it (then it waits for them)."""
    if detail.request.state is RequestState.QUEUED:
        with platform.db.read() as conn:
            runs_here = get_tool(conn, detail.request.tool_id).backend is not None
        if runs_here:
            detail = _run(platform, detail.request.id)
    _show_run(platform, detail)


def _run(platform: Platform, request_id: str) -> RequestDetail:
    with console.status(f"Running request {request_id}…"):
        return run_request(platform, request_id)


def _show_run(platform: Platform, detail: RequestDetail) -> None:
    _print_detail(platform, detail)
    if detail.request.state is RequestState.FAILED:
        raise typer.Exit(code=1)


def _input_spec(spec: str) -> tuple[Path, str]:
    name, sep, part = spec.rpartition(":")
    path, role = (Path(name), part) if sep and _PART.match(part) else (Path(spec), "plate")
    if not path.is_file():
        raise InvalidInput(f"--input {spec!r}: there is no file {path}.", code="cli.no_such_file")
    return path, role


def _parameters(items: list[str]) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(
                f"--param {item!r}: write key=value, e.g. radius=5 or 'regions=[[0,30,96,3]]'.",
                code="cli.bad_param",
            )
        try:
            parameters[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            parameters[key.strip()] = raw  # a plain word: method=telea
    return parameters


def _shot(conn: Connection, production_id: str, key: str) -> Shot:
    shots = production_shots(conn, production_id)
    for shot in shots:
        if key in (shot.id, shot.code):
            return shot
    known = ", ".join(s.code for s in shots) or "none yet"
    raise NotFound(
        f"No shot {key!r} on this production; its shots: {known}.", code="shot.not_found"
    )


@requests_app.command("approve")
@friendly_errors
def requests_approve(
    request_id: Annotated[str, typer.Argument(help="The request waiting for approval.")],
    as_: ActAs,
    refuse: Annotated[
        bool, typer.Option(help="Refuse instead of approving (needs --note).")
    ] = False,
    note: Annotated[str, typer.Option(help="Why; required when refusing.")] = "",
    role: Annotated[
        Role | None, typer.Option(help="The role you approve in, if you hold several.")
    ] = None,
) -> None:
    """Approve (or refuse) a request in one of your roles; it runs once fully approved."""
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        detail = flow.approve(
            platform, access, request_id, approved=not refuse, note=note, role=role
        )
        _run_if_queued(platform, detail)


@requests_app.command("review")
@friendly_errors
def requests_review(
    request_id: Annotated[str, typer.Argument(help="The request in review.")],
    as_: ActAs,
    verdict: Annotated[Verdict, typer.Option(help="Your verdict on its outputs.")],
    note: Annotated[
        str, typer.Option(help="What is wrong or what to change (required unless accepting).")
    ] = "",
) -> None:
    """Accept, reject or ask for changes on a request's outputs."""
    with opened(settings()) as platform:
        detail = flow.review(platform, acting_as(platform, as_), request_id, verdict, note)
        _print_detail(platform, detail)


@requests_app.command("clear")
@friendly_errors
def requests_clear(
    request_id: Annotated[str, typer.Argument(help="The quarantined request.")],
    as_: ActAs,
    note: Annotated[str, typer.Option(help="Why its outputs may go on to review.")],
) -> None:
    """Release a quarantined request's outputs to review (the production's legal team)."""
    with opened(settings()) as platform:
        detail = flow.clear(platform, acting_as(platform, as_), request_id, note)
        _print_detail(platform, detail)


@requests_app.command("deliver")
@friendly_errors
def requests_deliver(
    request_id: Annotated[str, typer.Argument(help="The accepted request.")],
    as_: ActAs,
    to: Annotated[str, typer.Option("--to", help="Where the outputs go, e.g. editorial.")],
    note: Annotated[str, typer.Option(help="Anything the recipient should know.")] = "",
) -> None:
    """Deliver an accepted request's outputs (recorded in the ledger)."""
    with opened(settings()) as platform:
        detail = flow.deliver(platform, acting_as(platform, as_), request_id, to, note)
        _print_detail(platform, detail)


@requests_app.command("run")
@friendly_errors
def requests_run(
    request_id: Annotated[str, typer.Argument(help="The queued request.")],
) -> None:
    """Run a queued request now, as the platform's worker would (exits 1 if it fails)."""
    with opened(settings()) as platform:
        _show_run(platform, _run(platform, request_id))


# --- assets -----------------------------------------------------------------------


@assets_app.command("get")
@friendly_errors
def assets_get(
    asset_id: Annotated[str, typer.Argument(help="The asset's id.")],
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", help="File or directory to write (default: its name, here)."
        ),
    ] = None,
    as_: ReadAs = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write an asset's verified bytes (and its .c2pa sidecar) and check its credentials.

    Exits 1 when a generated output's content credentials do not verify as Trusted.
    """
    config = settings()
    with opened(config) as platform:
        access = reading_as(platform, as_)
        with platform.db.read() as conn:
            asset = asset_store.get_asset(conn, access, asset_id)
        target = Path(output or asset.filename)
        if target.is_dir() or (output or "").endswith(("/", os.sep)):
            target = target / asset.filename
        sidecar = Path(f"{target}.c2pa")
        for path in (target, sidecar) if asset.manifest_sha256 else (target,):
            if path.exists() and not force:
                raise Conflict(
                    f"{path} already exists; pass --force to overwrite or -o elsewhere.",
                    code="cli.file_exists",
                )
        _write_verified(platform, asset.sha256, target)
        if asset.manifest_sha256:
            _write_verified(platform, asset.manifest_sha256, sidecar)
    console.print(
        f"wrote {escape(str(target))} ({asset.size} bytes, {asset.media_type})"
        + (f" and {escape(sidecar.name)}" if asset.manifest_sha256 else ""),
        highlight=False,
    )
    console.print(f"sha256 {asset.sha256} (verified)", highlight=False)
    try:
        report = read_credentials(target, trust=TrustAnchors.studio(config))
    except ProvenanceError as exc:
        console.print(f"credentials: none ({exc.code})", highlight=False)
        if asset.origin == "output":
            raise typer.Exit(code=1) from None
        return
    governance = report.manifest.governance
    console.print(
        f"credentials: {report.state}, signed by {escape(report.manifest.signed_by or '?')}"
        + (f", request {governance.request_id}" if governance else "")
        + (
            f", ledger entry #{governance.ledger.index}" if governance and governance.ledger else ""
        ),
        highlight=False,
    )
    problem = report.problem()
    if problem is not None:
        err_console.print(f"[bold red]error[/] {escape(problem.diagnostics())}", highlight=False)
        raise typer.Exit(code=1)


def _write_verified(platform: Platform, sha256: str, target: Path) -> None:
    """Copy a blob to ``target`` through the hash-checking reader, atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, platform.blobs.open(sha256) as blob:
            for chunk in blob.chunks():
                out.write(chunk)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


__all__ = [
    "assets_app",
    "demo",
    "init",
    "productions_app",
    "requests_app",
    "serve",
    "users_app",
]
