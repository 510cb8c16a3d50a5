"""``greenlight runs``: prompt logs and their OTLP export; vendor deliveries; rate cards.

``runs export`` writes a production's (or every visible production's) prompt
logs as OTLP/JSON traces for an OpenTelemetry collector or any tool reading
OTLP files. ``requests deliver-vendor`` and ``rights tools rate-card`` are
mounted on their own groups (see ``cli/__init__.py``) but live here, with the
rest of what concerns runs.
"""

from __future__ import annotations

import mimetypes
import os
from contextlib import ExitStack
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

import greenlight
from greenlight.cli._common import console, friendly_errors, settings
from greenlight.cli._opening import ActAs, ReadAs, acting_as, find_tool, opened, reading_as
from greenlight.core.errors import InvalidInput
from greenlight.engine import otlp
from greenlight.engine.prompt_log import production_prompt_log
from greenlight.engine.rate_cards import RateCard, RateCardDraft, get_rate_card, set_rate_card
from greenlight.engine.vendor_delivery import DeliveredFile, deliver, parse_log
from greenlight.productions import find_production

app = typer.Typer(help="Runs: prompt logs and their OTLP export.", no_args_is_help=True)


def _since(value: str | None) -> datetime | None:
    """An ISO 8601 moment with its offset (``2026-11-01T09:00:00+01:00``, ``...Z``) or a
    date (midnight UTC)."""
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput(
            f"--since {value!r} is not a date or a time with its offset; give e.g. "
            "2026-11-01 or 2026-11-01T09:00:00Z.",
            code="cli.bad_since",
        )
    return moment


@app.command("export")
@friendly_errors
def export(
    otlp_file: Annotated[
        Path, typer.Option("--otlp", help="Write OTLP/JSON traces (one span per run) here.")
    ],
    production: Annotated[
        str | None, typer.Option(help="Only this production (code or id); default: all.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only runs started at or after this date or time (ISO 8601)."),
    ] = None,
    prompts: Annotated[
        bool,
        typer.Option(
            "--prompts/--no-prompts",
            help="Include the prompt texts (for runs the reader may see); by default only "
            "their SHA-256 leave the platform.",
        ),
    ] = False,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    as_: ReadAs = None,
) -> None:
    """Export finished runs' prompt logs as OTLP/JSON traces: each request a trace, each
    run a span with GenAI attribute names (model, seed, usage) and greenlight.* for the
    rest (hashes, queue wait, GPU-seconds, cost and its source, worker host)."""
    if otlp_file.exists() and not force:
        raise InvalidInput(
            f"{otlp_file} already exists; name a new file or pass --force.",
            code="cli.output_exists",
        )
    moment = _since(since)
    with opened(settings()) as platform:
        access = reading_as(platform, as_)
        with platform.db.read() as conn:
            production_id = find_production(conn, production).id if production else None
            entries = production_prompt_log(
                conn,
                platform,
                access,
                production_id=production_id,
                since=moment,
                with_prompts=prompts,
            )
    text = otlp.traces_json(entries, service_version=greenlight.__version__)
    partial = otlp_file.with_name(otlp_file.name + ".partial")
    partial.write_text(text + "\n", encoding="utf-8")
    os.replace(partial, otlp_file)
    console.print(
        f"Wrote {len(entries)} run{'' if len(entries) == 1 else 's'} to "
        f"{escape(str(otlp_file))} (OTLP/JSON, {'with' if prompts else 'without'} prompts).",
        highlight=False,
    )


@friendly_errors
def deliver_vendor(
    request_id: Annotated[str, typer.Argument(help="The queued request the work is for.")],
    as_: ActAs,
    output: Annotated[list[Path], typer.Option("--output", help="An output file (repeatable).")],
    log: Annotated[Path, typer.Option("--log", help="The vendor's prompt log, a JSON file.")],
) -> None:
    """Deliver a vendor's outputs and prompt log for a queued request whose tool the
    vendor runs itself; they are signed, stored and scanned, and the request goes to
    review. The log names the tool, model and version, prompt, parameters, seed,
    started_at and finished_at, and the vendor's cost_usd."""
    try:
        raw = log.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            f"Cannot read {log}: {exc.strerror}.", code="vendor_delivery.bad_log"
        ) from None
    parsed = parse_log(raw)
    with opened(settings()) as platform, ExitStack() as files:
        access = acting_as(platform, as_)
        delivered = []
        for path in output:
            try:
                stream = files.enter_context(path.open("rb"))
            except OSError as exc:
                raise InvalidInput(
                    f"Cannot read {path}: {exc.strerror}.", code="cli.unreadable_file"
                ) from None
            kind = mimetypes.guess_type(path.name)[0]
            delivered.append(DeliveredFile(filename=path.name, content_type=kind, stream=stream))
        detail = deliver(platform, access, request_id, delivered, parsed)
    console.print(
        f"Request {detail.request.id} is [bold]{detail.request.state.value}[/]: "
        f"{len(detail.outputs)} output{'' if len(detail.outputs) == 1 else 's'} signed and "
        "stored.",
        highlight=False,
    )
    for asset in detail.outputs:
        console.print(f"  {asset.id}  {asset.sha256}  {escape(asset.filename)}", highlight=False)


def _price(value: str | None, option: str) -> Decimal | None:
    if value is None or value.strip().lower() in ("", "none"):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise InvalidInput(
            f"{option} {value!r} is not a price in USD, e.g. 0.25.", code="cli.bad_price"
        ) from None


@friendly_errors
def rate_card(
    tool: Annotated[str, typer.Argument(help="The tool's name or id.")],
    per_run: Annotated[str | None, typer.Option(help="USD per run ('none' to clear).")] = None,
    per_output: Annotated[
        str | None, typer.Option(help="USD per output ('none' to clear).")
    ] = None,
    per_gpu_second: Annotated[
        str | None, typer.Option(help="USD per GPU-second ('none' to clear).")
    ] = None,
    as_: ReadAs = None,
) -> None:
    """Show a tool's rate card, or set it with --per-run, --per-output, --per-gpu-second
    (legal or an admin; runs finishing afterwards are priced with it)."""
    changing = any(v is not None for v in (per_run, per_output, per_gpu_second))
    with opened(settings()) as platform:
        access = reading_as(platform, as_)
        with platform.db.transaction() as conn:
            found = find_tool(conn, tool)
            card = get_rate_card(conn, found.id)
            if changing:
                current = card.model_dump() if card else {}
                draft = RateCardDraft.model_validate(
                    {
                        "per_run_usd": _keep(per_run, "--per-run", current.get("per_run_usd")),
                        "per_output_usd": _keep(
                            per_output, "--per-output", current.get("per_output_usd")
                        ),
                        "per_gpu_second_usd": _keep(
                            per_gpu_second, "--per-gpu-second", current.get("per_gpu_second_usd")
                        ),
                    }
                )
                card = set_rate_card(conn, access, found.id, draft)
    if card is None:
        console.print(f"{escape(found.name)} {escape(found.version)} has no rate card.")
        return
    console.print(_describe(found.name, found.version, card), highlight=False)


def _keep(value: str | None, option: str, current: Decimal | None) -> Decimal | None:
    """The new price when the option was given, else the current one."""
    return current if value is None else _price(value, option)


def _describe(name: str, version: str, card: RateCard) -> str:
    def usd(value: Decimal | None) -> str:
        return "-" if value is None else f"${value.normalize():f}"

    return (
        f"{escape(name)} {escape(version)}: {usd(card.per_run_usd)} per run, "
        f"{usd(card.per_output_usd)} per output, {usd(card.per_gpu_second_usd)} per GPU-second"
    )
