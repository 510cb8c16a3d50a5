"""What every command group shares: settings and error printing."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from greenlight.core import GreenlightError, Settings

P = ParamSpec("P")
R = TypeVar("R")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def settings() -> Settings:
    """Settings from the environment (``GREENLIGHT_DATA_DIR`` and friends)."""
    return Settings.from_env()


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a GreenlightError as its code and sentence, exit 2; no traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except GreenlightError as exc:
            err_console.print(f"[bold red]error[/] {escape(exc.diagnostics())}", highlight=False)
            sys.stderr.flush()
            raise typer.Exit(code=2) from None

    return wrapper
