"""The ``greenlight`` command. Thin: parse, call a service, print.

Each command group lives in its own module (``ledger``, ``provenance``,
``platform``...) and is mounted here, so groups grow without touching each other.
"""

from __future__ import annotations

import typer

from greenlight.cli import (
    delivery,
    dub,
    ledger,
    likeness,
    platform,
    policy,
    provenance,
    rights,
    runs,
    subtitles,
    worker,
)

app = typer.Typer(
    name="greenlight",
    help="Governed generative AI for film and TV production.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(platform.init)
app.command()(platform.serve)
app.command()(platform.demo)
app.command()(worker.worker)
app.command()(dub.dub)
platform.requests_app.command("cancel")(worker.requests_cancel)
platform.requests_app.command("watch")(worker.requests_watch)
platform.productions_app.command("priority")(worker.productions_priority)
platform.requests_app.command("deliver-vendor")(runs.deliver_vendor)
rights.tools_app.command("rate-card")(runs.rate_card)
app.add_typer(platform.users_app, name="users")
app.add_typer(platform.productions_app, name="productions")
app.add_typer(platform.requests_app, name="requests")
app.add_typer(platform.assets_app, name="assets")
app.add_typer(delivery.app, name="delivery")
app.add_typer(ledger.app, name="ledger")
app.add_typer(provenance.keys_app, name="keys")
app.add_typer(provenance.app, name="provenance")
app.add_typer(rights.app, name="rights")
app.add_typer(policy.app, name="policy")
app.add_typer(runs.app, name="runs")
app.add_typer(subtitles.app, name="subtitles")
app.add_typer(likeness.app, name="likeness")


def main() -> None:
    """Entry point of the ``greenlight`` script."""
    app()
