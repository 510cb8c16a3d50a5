"""Signing in and out, who am I, and personal API tokens."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from greenlight.accounts import (
    SESSION_COOKIE,
    ApiToken,
    authenticate,
    create_api_token,
    end_session,
    list_api_tokens,
    list_memberships,
    resolve_session,
    revoke_api_token,
    start_session,
    wants_secure_cookie,
)
from greenlight.api.auth import CurrentAccess, PlatformDep, require_csrf
from greenlight.core.clock import utcnow
from greenlight.core.errors import GreenlightError
from greenlight.core.models import Membership, Person

router = APIRouter(prefix="/auth", tags=["auth"])


class Login(BaseModel):
    """An email and password (kept exactly as typed: no trimming)."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class SignedIn(BaseModel):
    """The person now signed in, and the CSRF token their browser must echo."""

    person: Person
    csrf_token: str
    expires_at: datetime


class Me(BaseModel):
    """The caller, their roles, and (for a browser session) its CSRF token."""

    person: Person
    memberships: list[Membership]
    csrf_token: str | None = None


class TokenRequest(BaseModel):
    """A name for a new API token, to tell it apart later."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)


class NewToken(BaseModel):
    """A new API token: ``token`` is shown this once and never again."""

    token: str
    record: ApiToken


def _secure(request: Request) -> bool:
    """Whether the session cookie gets the Secure flag: see ``wants_secure_cookie``.

    ``create_app(secure_cookies=...)`` decides when set.
    """
    configured: bool | None = request.app.state.secure_cookies
    return wants_secure_cookie(request.url.scheme, request.url.hostname, configured)


@router.post("/login", response_model=SignedIn)
def login(body: Login, request: Request, response: Response, platform: PlatformDep) -> SignedIn:
    """Sign in with email and password.

    Sets the HttpOnly, SameSite=Lax ``greenlight_session`` cookie and returns the
    person with the session's ``csrf_token``: send it as ``X-CSRF-Token`` on every
    POST, PUT, PATCH or DELETE made with the cookie. A wrong email or password is
    401 ``auth.bad_credentials`` (the same for both, so accounts cannot be probed).
    """
    with platform.db.transaction() as conn:
        person = authenticate(conn, body.email, body.password)
        raw, session = start_session(conn, person.id)
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        max_age=int((session.expires_at - utcnow()).total_seconds()),
        path="/",
        secure=_secure(request),
        httponly=True,
        samesite="lax",
    )
    return SignedIn(person=person, csrf_token=session.csrf_token, expires_at=session.expires_at)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, platform: PlatformDep) -> Response:
    """Sign out the browser session and clear its cookie.

    A live session needs its ``X-CSRF-Token`` (so another site cannot sign you
    out); an expired or unknown cookie is simply cleared.
    """
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        try:
            with platform.db.read() as conn:
                _, session = resolve_session(conn, raw)
        except GreenlightError:
            session = None
        if session is not None:
            require_csrf(request, session)
            with platform.db.transaction() as conn:
                end_session(conn, raw)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=_secure(request), httponly=True, samesite="lax"
    )
    return response


@router.get("/me", response_model=Me)
def me(access: CurrentAccess, request: Request, platform: PlatformDep) -> Me:
    """The signed-in person and every role they hold, by production.

    With a browser session this also returns its ``csrf_token``, so a page that
    was reloaded can pick it up again.
    """
    with platform.db.read() as conn:
        held = list_memberships(conn, person_id=access.person.id)
    session = getattr(request.state, "session", None)
    return Me(
        person=access.person,
        memberships=held,
        csrf_token=session.csrf_token if session is not None else None,
    )


@router.post("/tokens", response_model=NewToken, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenRequest, access: CurrentAccess, platform: PlatformDep) -> NewToken:
    """Create a personal API token for scripts and tools.

    The raw token (``glt_...``) is in this response only; the platform keeps just
    its hash. Send it as ``Authorization: Bearer <token>``. Tokens act with all of
    their owner's roles until revoked.
    """
    with platform.db.transaction() as conn:
        raw, record = create_api_token(conn, access.person.id, body.name)
    return NewToken(token=raw, record=record)


@router.get("/tokens", response_model=list[ApiToken])
def list_tokens(access: CurrentAccess, platform: PlatformDep) -> list[ApiToken]:
    """The caller's API tokens (revoked ones included), oldest first; never the secrets."""
    with platform.db.read() as conn:
        return list_api_tokens(conn, access.person.id)


@router.delete("/tokens/{token_id}", response_model=ApiToken)
def revoke_token(token_id: str, access: CurrentAccess, platform: PlatformDep) -> ApiToken:
    """Revoke one of the caller's API tokens; it stops working at once.

    Revoking twice keeps the first time. Someone else's token is 404
    ``token.not_found``.
    """
    with platform.db.transaction() as conn:
        return revoke_api_token(conn, access.person.id, token_id)
