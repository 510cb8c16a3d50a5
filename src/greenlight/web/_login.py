"""Signing in and out."""

# No ``from __future__ import annotations``: FastAPI must see the dependencies
# (closures over the platform) in the handlers' annotations at definition time.

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response

from greenlight.accounts import SESSION_COOKIE, authenticate, end_session, start_session
from greenlight.core.errors import Unauthenticated
from greenlight.engine.platform import Platform
from greenlight.web._render import render, see_other
from greenlight.web._route import PageRoute
from greenlight.web._session import (
    LOGIN_CSRF_COOKIE,
    Viewer,
    clear_login_csrf,
    clear_session_cookie,
    find_viewer,
    form_from_viewer,
    require_csrf,
    safe_next,
    set_login_csrf,
    set_session_cookie,
)

# Longer than any password people set (accounts caps them well below this);
# refusing here spares the hasher an attacker's megabyte.
_MAX_PASSWORD = 1024
_MAX_EMAIL = 320


def login_router(platform: Platform) -> APIRouter:
    """``GET``/``POST /login`` and ``POST /logout``."""
    router = APIRouter(route_class=PageRoute)
    checked_form = form_from_viewer(platform)

    def login_form(
        request: Request, *, next_path: str, email: str = "", error: str = "", status: int = 200
    ) -> Response:
        token = secrets.token_urlsafe(32)
        response = render(
            request,
            "login.html",
            status=status,
            viewer=None,
            next_path=next_path,
            email=email,
            error=error,
            csrf_token=token,
        )
        set_login_csrf(response, request, token)
        return response

    @router.get("/login", include_in_schema=False)
    def login_page(
        request: Request, next_path: Annotated[str, Query(alias="next")] = "/"
    ) -> Response:
        target = safe_next(next_path)
        if find_viewer(platform, request) is not None:
            return see_other(target)
        return login_form(request, next_path=target)

    @router.post("/login", include_in_schema=False)
    def log_in(
        request: Request,
        email: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        next_path: Annotated[str, Form(alias="next")] = "/",
        csrf_token: Annotated[str, Form()] = "",
    ) -> Response:
        require_csrf(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE))
        target = safe_next(next_path)
        try:
            if len(email) > _MAX_EMAIL or len(password) > _MAX_PASSWORD:
                raise Unauthenticated("Email or password is wrong; check both and try again.")
            with platform.db.transaction() as conn:
                person = authenticate(conn, email, password)
                previous = request.cookies.get(SESSION_COOKIE)
                if previous:  # whoever signed in on this browser before is signed out
                    end_session(conn, previous)
                raw, session = start_session(conn, person.id)
        except Unauthenticated as refused:
            return login_form(
                request, next_path=target, email=email, error=refused.message, status=401
            )
        response = see_other(target)
        set_session_cookie(response, request, raw, session.expires_at)
        clear_login_csrf(response, request)
        return response

    @router.post("/logout", include_in_schema=False)
    def log_out(request: Request, viewer: Annotated[Viewer, Depends(checked_form)]) -> Response:
        with platform.db.transaction() as conn:
            end_session(conn, viewer.token)
        response = see_other("/login")
        clear_session_cookie(response, request)
        return response

    return router
