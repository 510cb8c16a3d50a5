"""The lifecycle side of ``greenlight subtitles transcribe|translate`` and ``greenlight dub``.

With ``--request`` these commands stop being local tools: the input is uploaded
to the production, a request is submitted with the production's allow-listed
tool for the backend, judged by policy, run here when queued, and its outputs
signed (sidecar manifests for subtitle and JSON files) and left in review. The
command prints the request's id and state; the outputs are fetched with
``greenlight assets get`` once accepted.

No tool is made on the fly: the production must already allow one registered
for the backend and use case, so the vendor vetting and the allow-list stay the
producer's decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from sqlalchemy import Connection

from greenlight.cli._common import console, settings
from greenlight.cli._opening import acting_as, find_performer, opened, uploaded_inputs
from greenlight.core.enums import Intent, RequestState, UseCase
from greenlight.core.errors import InvalidInput, NotFound
from greenlight.core.models import RequestDetail, RequestDraft, Tool
from greenlight.engine import requests as flow
from greenlight.engine.runs import run_request
from greenlight.productions import find_production
from greenlight.rights import allowed_tools, get_tool

AsRequest = Annotated[
    bool,
    typer.Option(
        "--request",
        help="Submit the work to --production's lifecycle as --as (policy, signing, review) "
        "instead of running it on local files.",
    ),
]
RequestAs = Annotated[
    str | None,
    typer.Option(
        "--as",
        envvar="GREENLIGHT_USER",
        show_envvar=True,
        help="With --request: the email of the person asking; their roles decide.",
    ),
]


def requested_tool(conn: Connection, production_id: str, backend: str, use_case: UseCase) -> Tool:
    """The tool the production allows for ``backend`` and ``use_case`` (the latest allowed).

    Refuses (``localization.no_tool``) when there is none, naming what to register.
    """
    candidates = []
    for allowed in allowed_tools(conn, production_id):
        tool = get_tool(conn, allowed.tool_id)
        if tool.backend == backend and use_case in tool.use_cases:
            candidates.append(tool)
    if not candidates:
        raise NotFound(
            f"The production allows no tool that runs {backend} for {use_case.value}; register "
            f"one (a tool with backend {backend} and use case {use_case.value}) and have the "
            "producer allow it on the production, then try again.",
            code="localization.no_tool",
            backend=backend,
            use_case=use_case.value,
        )
    return candidates[-1]


def submit_and_run(
    *,
    production: str | None,
    as_: str | None,
    backend: str,
    use_case: UseCase,
    files: Sequence[tuple[Path, str]],
    parameters: Mapping[str, Any],
    talent: Sequence[str] = (),
) -> RequestDetail:
    """Upload ``files`` (path, part), submit the request, run it if queued, print how it stands.

    Exits 1 when the policy denied it or the run failed; a request waiting for
    approval is printed with who must approve.
    """
    if production is None or as_ is None:
        raise InvalidInput(
            "--request submits the work to a production's lifecycle: name the production with "
            "--production and who asks with --as (or GREENLIGHT_USER).",
            code="localization.request_needs_production",
        )
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        with platform.db.read() as conn:
            found = find_production(conn, production)
            tool = requested_tool(conn, found.id, backend, use_case)
            talent_ids = [find_performer(conn, key).id for key in talent]
        inputs = uploaded_inputs(platform, access, found.id, files)
        draft = RequestDraft(
            production_id=found.id,
            use_case=use_case,
            tool_id=tool.id,
            intent=Intent.TEMPORARY,
            parameters=dict(parameters),
            inputs=inputs,
            talent_ids=list(talent_ids),
        )
        detail = flow.submit(platform, access, draft)
        if detail.request.state is RequestState.QUEUED:
            with console.status(f"Running request {detail.request.id} with {tool.name}…"):
                detail = run_request(platform, detail.request.id)
    _print(detail, tool)
    if detail.request.state in (RequestState.DENIED, RequestState.FAILED):
        raise typer.Exit(code=1)
    return detail


def _print(detail: RequestDetail, tool: Tool) -> None:
    request = detail.request
    console.print(
        f"Request {request.id} {request.state.value} ({request.use_case.value} with "
        f"{escape(tool.name)} {escape(tool.version)}, {tool.backend})",
        highlight=False,
    )
    decision = detail.decision
    if decision is not None and request.state in (
        RequestState.DENIED,
        RequestState.AWAITING_APPROVAL,
    ):
        for reason in decision.reasons:
            console.print(f"  {escape(reason)}", highlight=False)
    if detail.job is not None:
        for run in detail.job.runs:
            if run.error:
                console.print(f"  run failed: {escape(run.error)}", highlight=False)
    for output in detail.outputs:
        signed = "sidecar manifest" if output.manifest_sha256 else "embedded manifest"
        console.print(
            f"  output {output.id} {escape(output.filename)} ({output.media_type}), "
            f"signed: {signed}",
            highlight=False,
        )
    console.print(f"See it all with `greenlight requests show {request.id}`.", highlight=False)


def required_output(output: Path | None) -> Path:
    """``-o`` for a local run, which writes there; refused when missing."""
    if output is None:
        raise InvalidInput(
            "Name the file to write with -o (or add --request to submit the work to the "
            "production's lifecycle instead).",
            code="cli.no_output",
        )
    return output


def refuse_output(output: Path | None) -> None:
    """With ``--request`` the outputs stay with the request, in review: ``-o`` is refused."""
    if output is not None:
        raise InvalidInput(
            "With --request the outputs are signed and kept with the request for review; "
            "leave out -o and fetch them with `greenlight assets get` once accepted.",
            code="cli.output_with_request",
        )
