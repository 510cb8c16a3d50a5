"""The HTTP API: FastAPI under /api/v1, one router per resource.

``create_app(platform)`` builds the app; ``greenlight serve`` runs it (and the
ledger integrator) under uvicorn. The OpenAPI document is served at
/api/v1/openapi.json and browsable at /api/v1/docs.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

import greenlight
from greenlight.api.errors import ErrorBody, install_error_handlers
from greenlight.api.limits import BodyLimit
from greenlight.api.routes import ROUTERS
from greenlight.engine.platform import Platform

PREFIX = "/api/v1"

_DESCRIPTION = """\
Governed generative AI for film and TV production.

Sign in with `POST /api/v1/auth/login` (browser: session cookie plus an
`X-CSRF-Token` header on changes) or send a personal API token as
`Authorization: Bearer glt_...`. Every error is JSON,
`{"error": {"code", "message", "details"?}}`, with a stable code. POSTs that
create work accept an `Idempotency-Key` header so a retry never does the work twice.
"""

_ERRORS: dict[int | str, dict[str, object]] = {
    "4XX": {"model": ErrorBody, "description": "Refused: see error.code and error.message"},
}


def create_app(
    platform: Platform,
    *,
    pages: APIRouter | None = None,
    run_inline: bool = False,
    secure_cookies: bool | None = None,
) -> FastAPI:
    """The Greenlight web app for ``platform``.

    ``pages`` (the web UI) is mounted at the root when given. With ``run_inline``
    queued work runs before the response (tests, the CLI); otherwise it runs as a
    background task after the response. ``secure_cookies`` forces the session
    cookie's Secure flag on or off; by default it is on unless the app is reached
    over plain http on a loopback address. Starts nothing: the ``serve`` command
    runs the ledger integrator.
    """
    app = FastAPI(
        title="Greenlight",
        version=greenlight.__version__,
        description=_DESCRIPTION,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    app.state.platform = platform
    app.state.run_inline = run_inline
    app.state.secure_cookies = secure_cookies
    for router in ROUTERS:
        app.include_router(router, prefix=PREFIX, responses=_ERRORS)
    if pages is not None:
        app.include_router(pages)
    app.add_middleware(BodyLimit, max_upload=lambda: platform.max_upload)
    install_error_handlers(app)  # its middleware must be the outermost: keep it last
    return app


__all__ = ["create_app"]
