"""Who is calling: an API token or a browser session, turned into an :class:`Access`.

Scripts send ``Authorization: Bearer glt_...``. Browsers carry the HttpOnly
``greenlight_session`` cookie; because a browser sends that cookie on
cross-site requests too, every cookie-authenticated POST, PUT, PATCH or DELETE
must also echo the session's CSRF token in ``X-CSRF-Token``. Bearer tokens are
never sent automatically, so they need no CSRF token.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from greenlight.accounts import (
    SESSION_COOKIE,
    Access,
    Session,
    api_token_access,
    load_access,
    resolve_session,
)
from greenlight.core.errors import Forbidden, Unauthenticated
from greenlight.engine.platform import Platform

CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="api_token",
    description="A personal API token (`glt_...`), created with POST /api/v1/auth/tokens.",
)
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="The browser session set by POST /api/v1/auth/login. Unsafe methods also "
    f"need the session's CSRF token in the {CSRF_HEADER} header.",
)


async def get_platform(request: Request) -> Platform:
    """The platform the app was created with (async: no worker thread for an attribute)."""
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


async def current_access(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Access:
    """The caller and their roles, from an API token or a session cookie.

    One read transaction resolves the credential and loads the memberships. It
    runs on the event loop, not in a worker thread: an indexed lookup costs less
    than handing it to a thread and back, which every API call would pay.
    Refuses with 401 ``auth.required`` (nothing sent), ``auth.bad_token`` or
    ``auth.session_expired``, and with 403 ``auth.csrf`` for a cookie-authenticated
    unsafe request without the matching ``X-CSRF-Token``.
    """
    platform: Platform = request.app.state.platform
    if bearer is not None:
        with platform.db.read() as conn:
            return api_token_access(conn, bearer.credentials, platform.registry.at(conn))
    if request.headers.get("authorization"):
        raise Unauthenticated(
            "Only bearer tokens are accepted here: send 'Authorization: Bearer glt_...'.",
            code="auth.bad_scheme",
        )
    if cookie is None:
        raise Unauthenticated(
            "Sign in first: send 'Authorization: Bearer <API token>', or sign in with "
            "POST /api/v1/auth/login to get a session cookie.",
            code="auth.required",
        )
    with platform.db.read() as conn:
        person, session = resolve_session(conn, cookie)
        access = load_access(conn, person)
    if request.method not in _SAFE_METHODS:
        require_csrf(request, session)
    request.state.session = session
    return access


def require_csrf(request: Request, session: Session) -> None:
    """Refuse (403 ``auth.csrf``) unless ``X-CSRF-Token`` carries the session's token."""
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise Forbidden(
            f"Requests that change something need the {CSRF_HEADER} header with the "
            "csrf_token you got when signing in (GET /api/v1/auth/me shows it again).",
            code="auth.csrf",
            reason="csrf",
        )


def bearer_token(request: Request) -> str | None:
    """The token of a well-formed ``Authorization: Bearer <token>`` header, else None.

    The same reading as the ``HTTPBearer`` dependency above, for routes that
    authenticate without FastAPI's dependency machinery (see routes/requests.py).
    """
    authorization = request.headers.get("authorization")
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


CurrentAccess = Annotated[Access, Depends(current_access)]


def require_admin(access: CurrentAccess) -> Access:
    """The caller, if they are a platform admin; 403 ``access.admin_only`` otherwise."""
    access.require_admin()
    return access


AdminAccess = Annotated[Access, Depends(require_admin)]
