"""Who is looking at a page: the session cookie, the CSRF check, where to go after sign-in.

A browser holds one cookie, ``greenlight_session``: the raw session token from
``accounts.start_session`` (the database keeps only its hash). Every form a
signed-in page shows carries the session's CSRF token in a hidden field, and
every POST compares it before doing anything. The sign-in form has no session
yet, so it uses a double-submit token instead: a random value in a short-lived
cookie scoped to ``/login`` and the same value in the form.
"""

# No ``from __future__ import annotations``: FastAPI must see the dependency
# inside ``form_from_viewer``'s closure at definition time.

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request, Response

from greenlight.accounts import (
    SESSION_COOKIE,
    Access,
    Session,
    load_access,
    resolve_session,
    wants_secure_cookie,
)
from greenlight.core.clock import utcnow
from greenlight.core.errors import Forbidden, Unauthenticated
from greenlight.core.models import Person
from greenlight.engine.platform import Platform

LOGIN_CSRF_COOKIE = "greenlight_login_csrf"
LOGIN_PATH = "/login"
CSRF_FIELD = "csrf_token"
# Long enough to type a password after a coffee; the cookie is scoped to /login.
_LOGIN_CSRF_SECONDS = 3600


@dataclass(frozen=True)
class Viewer:
    """The signed-in person behind a page request, their session and their roles."""

    person: Person
    session: Session
    access: Access
    token: str  # the raw cookie value, kept only to end this session on sign-out

    @property
    def csrf_token(self) -> str:
        """The value every form of this session must send back."""
        return self.session.csrf_token


class LoginRequired(Exception):
    """No live session: the browser is sent to sign in, then back to ``next_path``."""

    def __init__(self, next_path: str | None, *, stale_cookie: bool) -> None:
        super().__init__("sign-in required")
        self.next_path = next_path
        self.stale_cookie = stale_cookie


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``/``.

    Only a relative path starting with a single ``/`` passes: ``//evil.example``,
    ``/\\evil.example``, ``https://...`` and anything with control characters
    would let a crafted sign-in link send people elsewhere.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def login_url(next_path: str | None) -> str:
    """The sign-in page, remembering where to go afterwards."""
    target = safe_next(next_path)
    if target == "/":
        return LOGIN_PATH
    return f"{LOGIN_PATH}?next={quote(target, safe='')}"


def here(request: Request) -> str:
    """The path and query of ``request``, as a ``next`` target."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def find_viewer(platform: Platform, request: Request) -> Viewer | None:
    """The viewer whose session cookie came with ``request``, or None if none is live."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        with platform.db.read() as conn:
            person, session = resolve_session(conn, raw)
            access = load_access(conn, person)
    except Unauthenticated:
        return None
    viewer = Viewer(person=person, session=session, access=access, token=raw)
    request.state.viewer = viewer  # for error pages raised later in the same request
    return viewer


def signed_in(platform: Platform) -> Callable[[Request], Viewer]:
    """A dependency giving the signed-in viewer, or sending the browser to sign in.

    A GET comes back to the same page after sign-in; a form post whose session
    has ended goes home instead (its target only accepts posts).
    """

    def viewer(request: Request) -> Viewer:
        found = find_viewer(platform, request)
        if found is None:
            back = here(request) if request.method in ("GET", "HEAD") else None
            raise LoginRequired(back, stale_cookie=SESSION_COOKIE in request.cookies)
        return found

    return viewer


def form_from_viewer(platform: Platform) -> Callable[[Request, Viewer], Awaitable[Viewer]]:
    """A dependency for form posts: the signed-in viewer, once the CSRF token checks out."""
    viewer_dependency = signed_in(platform)

    async def checked(
        request: Request, viewer: Annotated[Viewer, Depends(viewer_dependency)]
    ) -> Viewer:
        form = await request.form()
        require_csrf(form.get(CSRF_FIELD), viewer.csrf_token)
        return viewer

    return checked


def require_csrf(sent: object, expected: str | None) -> None:
    """Refuse (403 ``web.csrf_failed``) unless the form sent the expected token."""
    if (
        not isinstance(sent, str)
        or not expected
        or not secrets.compare_digest(sent.encode(), expected.encode())
    ):
        raise Forbidden(
            "This form did not carry the token Greenlight gave it, so it was not sent. "
            "Reload the page and submit the form again.",
            code="web.csrf_failed",
            reason="csrf",
        )


def _secure(request: Request) -> bool:
    """Whether cookies get the Secure flag, by the API's rule (``wants_secure_cookie``).

    The app's ``state.secure_cookies`` (``create_app(secure_cookies=...)``)
    decides when set to a bool; an app without it leaves it to the address.
    """
    configured = getattr(request.app.state, "secure_cookies", None)
    return wants_secure_cookie(
        request.url.scheme,
        request.url.hostname,
        configured if isinstance(configured, bool) else None,
    )


def set_session_cookie(
    response: Response, request: Request, raw: str, expires_at: datetime
) -> None:
    """Hand the browser its session cookie: HttpOnly, SameSite=Lax, for the whole site."""
    seconds = max(0, int((expires_at - utcnow()).total_seconds()))
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        max_age=seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    """Tell the browser to forget its session cookie."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request)
    )


def set_login_csrf(response: Response, request: Request, token: str) -> None:
    """Set the ``/login``-scoped cookie the sign-in form's hidden token must match."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=_LOGIN_CSRF_SECONDS,
        path=LOGIN_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def clear_login_csrf(response: Response, request: Request) -> None:
    """Drop the sign-in form's cookie once it has served."""
    response.delete_cookie(
        LOGIN_CSRF_COOKIE, path=LOGIN_PATH, httponly=True, samesite="lax", secure=_secure(request)
    )
