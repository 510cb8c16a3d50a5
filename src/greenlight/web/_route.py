"""Every page route answers with a page: errors become error pages, not JSON or a 500.

An ``APIRouter`` cannot carry exception handlers (those belong to the app), so
the router's routes use this route class instead; it wraps each handler, and
FastAPI keeps the class when the API app includes the router.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from greenlight.core.errors import GreenlightError, InvalidInput
from greenlight.web._render import error_page, see_other
from greenlight.web._session import LoginRequired, clear_session_cookie, login_url


class PageRoute(APIRoute):
    """A route whose refusals render as pages and whose sign-in gaps redirect to /login."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, wrapped so every failure a user can cause is a page."""
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as gap:
                response: Response = see_other(login_url(gap.next_path))
                if gap.stale_cookie:
                    clear_session_cookie(response, request)
                return response
            except GreenlightError as error:
                return error_page(request, error)
            except RequestValidationError as bad:
                return error_page(request, _invalid(bad))

        return page


def _invalid(bad: RequestValidationError) -> InvalidInput:
    """A form or query FastAPI could not parse, said in one sentence per field."""
    problems = []
    for item in bad.errors():
        where = ".".join(str(part) for part in item.get("loc", ())[1:]) or "the request"
        problems.append(f"{where}: {item.get('msg', 'not valid')}")
    return InvalidInput(
        "The page was sent something it cannot use (" + "; ".join(problems) + "). "
        "Go back, check the form and send it again.",
        code="web.bad_form",
    )
