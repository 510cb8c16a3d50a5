"""``greenlight delivery``: write a delivered request's bundle, and check one offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from greenlight.cli._common import console, friendly_errors, settings
from greenlight.cli._opening import ReadAs, opened, reading_as
from greenlight.core.errors import InvalidInput
from greenlight.engine.delivery import verify_bundle, write_bundle

app = typer.Typer(
    help="Delivery bundles: outputs with their credentials and the ledger's proofs.",
    no_args_is_help=True,
)


@app.command("bundle")
@friendly_errors
def bundle(
    request_id: Annotated[str, typer.Argument(help="The accepted or delivered request.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the zip.")],
    read_as: ReadAs = None,
) -> None:
    """Write the bundle of an accepted or delivered request: outputs, sidecar manifests,
    its ledger entries with inclusion proofs, and the signed checkpoint they lead to."""
    if output.exists():
        raise InvalidInput(
            f"{output} already exists; name a new file.", code="delivery.output_exists"
        )
    with opened(settings()) as platform:
        access = reading_as(platform, read_as)
        partial = output.with_name(output.name + ".partial")
        try:
            with partial.open("wb") as out:
                entries = write_bundle(platform, access, request_id, out)
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)
        key = platform.ledger.verifier_key
    console.print(f"Wrote {output} ({entries} ledger entries proved).")
    console.print(f"Check it anywhere with: greenlight delivery verify {output} --key '{key}'")


@app.command("verify")
@friendly_errors
def verify(
    path: Annotated[Path, typer.Argument(help="A bundle from `greenlight delivery bundle`.")],
    key: Annotated[
        str, typer.Option(help="The studio's ledger key (greenlight ledger public-key).")
    ],
) -> None:
    """Check a bundle offline: every entry is in the signed log, every output is the
    file the ledger recorded. Needs no database, only the key."""
    if not path.is_file():
        raise InvalidInput(f"There is no file {path}.", code="delivery.no_such_file")
    report = verify_bundle(path.read_bytes(), key)
    console.print(
        f"Verified: request {report.request_id}, {report.entries} ledger entries in the "
        f"signed tree of size {report.tree_size}."
    )
    for name, sha in report.outputs.items():
        console.print(f"  {name}  sha256 {sha}")
