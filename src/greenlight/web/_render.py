"""Turning templates into responses: one Jinja environment, its filters, the common headers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from greenlight.core.enums import RequestState
from greenlight.core.errors import GreenlightError
from greenlight.core.models import Asset

TEMPLATE_DIR = Path(__file__).parent / "templates"

# Pages load nothing from elsewhere and run no script; saying so makes any
# injected markup inert even if escaping were ever missed.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages carry CSRF tokens and production data: keep them out of shared caches.
    "Cache-Control": "no-store",
}

# The colour family of each state's badge; the badge also says the state in words.
_STATE_TONE = {
    RequestState.REQUESTED: "busy",
    RequestState.QUEUED: "busy",
    RequestState.RUNNING: "busy",
    RequestState.GENERATED: "busy",
    RequestState.AWAITING_APPROVAL: "wait",
    RequestState.CHANGES_REQUESTED: "wait",
    RequestState.QUARANTINED: "bad",
    RequestState.DENIED: "bad",
    RequestState.FAILED: "bad",
    RequestState.CANCELLED: "bad",
    RequestState.REJECTED: "bad",
    RequestState.IN_REVIEW: "review",
    RequestState.ACCEPTED: "good",
    RequestState.DELIVERED: "good",
}
_WORD_TONE = {
    "allow": "good",
    "needs_approval": "wait",
    "deny": "bad",
    "Trusted": "good",
    "Valid": "wait",
    "Invalid": "bad",
    "accept": "good",
    "changes_requested": "wait",
    "reject": "bad",
    "approved": "good",
    "refused": "bad",
}


# What browsers show inline; TIFF and EXR outputs get a download link instead.
_PREVIEWABLE = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})


def previewable(asset: Asset) -> bool:
    """Whether a browser can show ``asset`` inline as an image."""
    return asset.media_type in _PREVIEWABLE


def tone(value: object) -> str:
    """The badge colour family for a state, outcome, verdict or credential state."""
    if isinstance(value, RequestState):
        return _STATE_TONE[value]
    return _WORD_TONE.get(str(value), "busy")


def label(value: object) -> str:
    """``vfx_supervisor`` as ``vfx supervisor``: enum values read as words."""
    return str(value).replace("_", " ")


def when(moment: datetime | None) -> str:
    """A moment as ``2026-11-21 05:23 UTC``."""
    if moment is None:
        return "—"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def pretty_json(value: Any) -> str:
    """Parameters and usage as indented JSON (escaped by the template like any text)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def duration(ms: int | None) -> str:
    """Milliseconds as ``840 ms`` or ``12.5 s``."""
    if ms is None:
        return "—"
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def money(value: Decimal | None) -> str:
    """A cost in US dollars, to the precision it was recorded with."""
    return "—" if value is None else f"US${value}"


def size(count: int) -> str:
    """A byte count as ``880 bytes`` or ``12.3 KB``."""
    if count < 1024:
        return f"{count} bytes"
    amount = count / 1024
    for unit in ("KB", "MB"):
        if amount < 1024:
            return f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GB"


@cache
def environment() -> Environment:
    """The pages' Jinja environment: HTML-escaped, and loud about undefined names."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        tone=tone,
        label=label,
        when=when,
        pretty_json=pretty_json,
        duration=duration,
        money=money,
        size=size,
    )
    env.tests["previewable"] = previewable
    return env


# A page that follows live progress runs our own script files (never inline
# script) and reads the progress stream from this origin.
_SCRIPTED_HEADERS = {
    **_HEADERS,
    "Content-Security-Policy": _HEADERS["Content-Security-Policy"]
    + "; script-src 'self'; connect-src 'self'",
}


def render(
    request: Request, template: str, *, status: int = 200, scripts: bool = False, **context: Any
) -> HTMLResponse:
    """An HTML response from ``template``; the viewer (if signed in) is in every page.

    ``scripts`` lets the page run the site's own script files (live progress).
    """
    context.setdefault("viewer", getattr(request.state, "viewer", None))
    html = environment().get_template(template).render(**context)
    headers = _SCRIPTED_HEADERS if scripts else _HEADERS
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(request: Request, error: GreenlightError) -> HTMLResponse:
    """A page saying what went wrong, with the error's code and HTTP status."""
    titles = {
        401: "Sign-in needed",
        403: "Not allowed",
        404: "Not found",
        409: "Not possible right now",
        413: "Too large",
        422: "Something in the request is not right",
    }
    status = error.status if 400 <= error.status < 500 else 400
    return render(
        request,
        "error.html",
        status=status,
        title=titles.get(status, "Something went wrong"),
        error=error,
    )


def see_other(url: str) -> RedirectResponse:
    """A 303 to ``url``: after a form post the browser GETs the result."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
