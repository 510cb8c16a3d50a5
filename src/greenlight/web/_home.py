"""The front page (the viewer's productions) and a production's request list."""

# No ``from __future__ import annotations``: FastAPI must see the dependencies
# (closures over the platform) in the handlers' annotations at definition time.

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from greenlight.core.enums import RequestState, Role
from greenlight.core.errors import InvalidInput
from greenlight.core.models import Production, Tool
from greenlight.engine.platform import Platform
from greenlight.engine.requests import list_requests, review_queue
from greenlight.productions import get_production, list_productions
from greenlight.rights import get_tool
from greenlight.web._render import render
from greenlight.web._route import PageRoute
from greenlight.web._session import Viewer, signed_in

PAGE_SIZE = 50


@dataclass(frozen=True)
class ProductionRow:
    """A production on the front page, with the viewer's roles on it."""

    production: Production
    roles: tuple[Role, ...]


def _state(value: str) -> RequestState | None:
    if not value:
        return None
    try:
        return RequestState(value)
    except ValueError:
        names = ", ".join(s.value for s in RequestState)
        raise InvalidInput(
            f"{value!r} is not a request state; filter by one of {names}.",
            code="web.bad_state",
        ) from None


def home_router(platform: Platform) -> APIRouter:
    """``GET /`` and ``GET /productions/{id}/requests``."""
    router = APIRouter(route_class=PageRoute)
    viewer_dependency = signed_in(platform)

    @router.get("/", include_in_schema=False)
    def home(request: Request, viewer: Annotated[Viewer, Depends(viewer_dependency)]) -> Response:
        access = viewer.access
        with platform.db.read() as conn:
            # A platform admin may open every production; others see their own.
            if viewer.person.is_admin:
                productions = list_productions(conn)
            else:
                productions = list_productions(conn, set(access.roles)) if access.roles else []
            waiting = len(review_queue(conn, access))
        rows = [
            ProductionRow(production=p, roles=tuple(sorted(access.roles_in(p.id))))
            for p in productions
        ]
        return render(request, "home.html", productions=rows, waiting=waiting)

    @router.get("/productions/{production_id}/requests", include_in_schema=False)
    def production_requests(
        request: Request,
        production_id: str,
        viewer: Annotated[Viewer, Depends(viewer_dependency)],
        state: Annotated[str, Query()] = "",
        cursor: Annotated[str, Query()] = "",
    ) -> Response:
        wanted = _state(state)
        with platform.db.read() as conn:
            viewer.access.require_read(production_id)
            production = get_production(conn, production_id)
            page, next_cursor = list_requests(
                conn,
                viewer.access,
                production_id=production_id,
                state=wanted,
                limit=PAGE_SIZE,
                cursor=cursor or None,
            )
            tools: dict[str, Tool] = {}
            for item in page:
                if item.tool_id not in tools:
                    tools[item.tool_id] = get_tool(conn, item.tool_id)
        return render(
            request,
            "production_requests.html",
            production=production,
            roles=sorted(viewer.access.roles_in(production_id)),
            requests=page,
            tools=tools,
            state=wanted.value if wanted else "",
            states=list(RequestState),
            cursor=cursor,
            next_cursor=next_cursor,
        )

    return router
