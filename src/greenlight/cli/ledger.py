"""``greenlight ledger``: verify, prove, export and sign the governance log."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from greenlight.cli._common import console, err_console, friendly_errors, settings
from greenlight.core.errors import InvalidInput
from greenlight.ledger import (
    AuditReport,
    Integrator,
    Ledger,
    export_tiles,
    verify_log,
    verify_tiles,
)

app = typer.Typer(help="The tamper-evident governance log.", no_args_is_help=True)


def _ledger() -> Ledger:
    return Ledger.open(settings())


def _print_report(report: AuditReport, as_json: bool) -> None:
    first = report.first_problem
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "ok": report.ok,
                    "entries": report.entries,
                    "tree_size": report.tree_size,
                    "checkpoints": report.checkpoints,
                    "root_hash": report.root_hash.hex(),
                    "first_bad_index": first.index if first else None,
                    "problems": [{"index": p.index, "what": p.what} for p in report.problems],
                }
            )
        )
    elif report.ok:
        console.print(
            f"[green]ok[/] {report.entries} entries, tree of {report.tree_size}, "
            f"{report.checkpoints} signed checkpoints, root {report.root_hash.hex()}",
            highlight=False,
        )
    else:
        assert first is not None
        where = f"first bad index {first.index}" if first.index is not None else "the log"
        err_console.print(f"[bold red]TAMPERED[/] {where}: {escape(first.what)}", highlight=False)
        for problem in report.problems:
            if problem is not first:
                err_console.print(
                    f"  also: index {problem.index}: {escape(problem.what)}", highlight=False
                )
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
@friendly_errors
def verify(
    tiles: Annotated[
        Path | None, typer.Option(help="Verify an exported tile directory instead of the database.")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="The log's verifier key (needed with --tiles).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Replay every entry, rebuild the tree, check every checkpoint. Exit 1 on tampering."""
    if tiles is not None:
        if key is None:
            raise InvalidInput(
                "--tiles needs --key: the verifier key from `greenlight ledger public-key`.",
                code="cli.missing_key",
            )
        report = verify_tiles(tiles, key)
    else:
        ledger = _ledger()
        ledger.integrate()
        report = verify_log(ledger)
    _print_report(report, as_json)


@app.command("export-tiles")
@friendly_errors
def export_tiles_command(
    directory: Annotated[Path, typer.Argument(help="Where to write the tiles (created).")],
) -> None:
    """Write the log as C2SP tlog-tiles for static hosting."""
    ledger = _ledger()
    ledger.integrate()
    cp = export_tiles(ledger, directory)
    console.print(f"exported {cp.size} entries of {cp.origin} to {directory}", highlight=False)


@app.command("public-key")
@friendly_errors
def public_key() -> None:
    """Print the verifier key auditors use to check checkpoints."""
    typer.echo(_ledger().verifier_key)


@app.command()
@friendly_errors
def integrate(
    follow: Annotated[bool, typer.Option(help="Keep integrating until interrupted.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between runs with --follow.")] = 0.5,
) -> None:
    """Fold new entries into the tree and sign a checkpoint."""
    ledger = _ledger()
    if not follow:
        cp = ledger.integrate()
        console.print(
            f"checkpoint at size {cp.size}" if cp else "nothing new to integrate", highlight=False
        )
        return
    integrator = Integrator(ledger, interval)
    integrator.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        integrator.stop()


@app.command()
@friendly_errors
def checkpoint() -> None:
    """Print the latest signed checkpoint note."""
    ledger = _ledger()
    ledger.integrate()
    cp = ledger.checkpoint()
    if cp is None:
        console.print("the ledger is empty: no checkpoint yet")
        return
    typer.echo(cp.note_text, nl=False)


@app.command()
@friendly_errors
def show(index: Annotated[int, typer.Argument(help="Entry index.")]) -> None:
    """Print one entry as JSON, with its leaf hash."""
    entry = _ledger().entry(index)
    console.print_json(
        json.dumps(
            {"index": entry.index, "leaf_hash": entry.leaf_hash.hex(), "event": entry.event()}
        )
    )


@app.command()
@friendly_errors
def prove(
    index: Annotated[int | None, typer.Argument(help="Entry index to prove.")] = None,
    leaf: Annotated[
        str | None, typer.Option(help="Prove the entry with this leaf hash (hex).")
    ] = None,
    size: Annotated[
        int | None, typer.Option(help="Tree size (default: latest checkpoint).")
    ] = None,
) -> None:
    """Print an inclusion proof (and the checkpoint that signs its root) as JSON."""
    ledger = _ledger()
    ledger.integrate()
    if leaf is not None:
        try:
            index = ledger.index_of(bytes.fromhex(leaf))
        except ValueError:
            raise InvalidInput("--leaf must be a hex SHA-256.", code="cli.bad_leaf") from None
    if index is None:
        raise InvalidInput("Give an entry index or --leaf.", code="cli.missing_index")
    console.print_json(json.dumps(ledger.inclusion_proof(index, size).to_json()))


@app.command()
@friendly_errors
def consistency(
    size1: Annotated[int, typer.Argument(help="The older tree size.")],
    size2: Annotated[int | None, typer.Argument(help="The newer size (default: latest).")] = None,
) -> None:
    """Print a consistency proof between two tree sizes as JSON."""
    ledger = _ledger()
    ledger.integrate()
    console.print_json(json.dumps(ledger.consistency_proof(size1, size2).to_json()))
