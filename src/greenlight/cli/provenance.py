"""``greenlight keys`` and ``greenlight provenance``: signing identity and content credentials."""

from __future__ import annotations

import typer

keys_app = typer.Typer(help="The studio's C2PA signing identity.", no_args_is_help=True)
app = typer.Typer(help="Content credentials (C2PA) on AI outputs.", no_args_is_help=True)
