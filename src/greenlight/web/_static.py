"""The pages' static files (one stylesheet today), served by the page router itself."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from greenlight.core.errors import NotFound
from greenlight.web._route import PageRoute

STATIC_DIR = Path(__file__).parent / "static"

_MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# Plain names only: no folders, no dot-files, so no path can leave STATIC_DIR.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(css|js|svg|png|ico)$")


def static_router() -> APIRouter:
    """``GET /static/{name}``: a file from the package's ``web/static`` folder."""
    router = APIRouter(route_class=PageRoute)

    @router.get("/static/{name}", include_in_schema=False)
    def static_file(name: str) -> FileResponse:
        path = STATIC_DIR / name
        if not _NAME.match(name) or not path.is_file():
            raise NotFound(f"There is no static file {name!r}.", code="web.static_not_found")
        return FileResponse(
            path,
            media_type=_MEDIA_TYPES[path.suffix],
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    return router
