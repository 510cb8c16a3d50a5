"""The ``greenlight`` command. Thin: parse, call a service, print.

Each command group lives in its own module (``ledger``, ``provenance``...) and
is mounted here, so groups grow without touching each other.
"""

from __future__ import annotations

import typer

from greenlight.cli import ledger, provenance

app = typer.Typer(
    name="greenlight",
    help="Governed generative AI for film and TV production.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(ledger.app, name="ledger")
app.add_typer(provenance.keys_app, name="keys")
app.add_typer(provenance.app, name="provenance")


@app.command()
def demo() -> None:
    """Run the sample production end to end (arrives with the platform core)."""
    typer.echo(
        "The governed-request demo is not built yet (platform-core issue).\n"
        "Meanwhile the ledger works: try `greenlight ledger --help`."
    )


def main() -> None:
    """Entry point of the ``greenlight`` script."""
    app()
