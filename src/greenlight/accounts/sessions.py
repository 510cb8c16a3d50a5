"""Web sessions and personal API tokens.

Both are random secrets handed to the caller once; the database keeps only
their SHA-256, so a copy of the database lets no one sign in. A plain hash is
enough here (unlike passwords): 256 random bits cannot be guessed offline.
API tokens start with ``glt_`` so logs and secret scanners can spot a leaked one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import OperationalError

from greenlight.accounts.access import Access, access_from
from greenlight.accounts.people import PERSON_COLUMNS, get_person, person_from_row
from greenlight.core.clock import utcnow
from greenlight.core.errors import InvalidInput, NotFound, Unauthenticated
from greenlight.core.ids import new_id
from greenlight.core.models import Person, Record
from greenlight.store.registry import RegistryView
from greenlight.store.schema import api_tokens, memberships, people, sessions

API_TOKEN_PREFIX = "glt_"
# The browser's cookie for a web session, shared by the API's sign-in and the pages.
SESSION_COOKIE = "greenlight_session"
SESSION_LIFETIME = timedelta(hours=12)
# last_used_at is for people reviewing their tokens, not an audit trail: a
# minute's precision spares the hot path a write on every request.
LAST_USED_PRECISION = timedelta(seconds=60)

# Real tokens are 43 characters (plus the prefix); anything far longer is junk
# and not worth hashing.
_MAX_RAW = 128
_MAX_TOKEN_NAME = 100


class Session(Record):
    """A signed-in browser: whose it is, its CSRF token and when it ends."""

    person_id: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime


class ApiToken(Record):
    """A personal API token, as its owner sees it (the secret itself is never kept)."""

    id: str
    person_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def token_hash(raw: str) -> str:
    """What the database stores for a session or API token: its SHA-256, in hex."""
    return hashlib.sha256(raw.encode()).hexdigest()


def _api_token(row: Row[*tuple[Any, ...]]) -> ApiToken:
    return ApiToken(
        id=row.id,
        person_id=row.person_id,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


# --- web sessions -------------------------------------------------------------


def wants_secure_cookie(scheme: str, host: str | None, configured: bool | None) -> bool:
    """Whether a cookie for a page reached by ``scheme`` at ``host`` gets the Secure flag.

    ``configured`` (the app's ``secure_cookies``) decides when set. Otherwise it
    is Secure unless reached over plain http on a loopback address (a
    developer's machine), where a Secure cookie would never come back; behind a
    TLS proxy the scheme may read ``http``, and the cookie must still never
    travel in the clear.
    """
    if configured is not None:
        return configured
    if scheme == "https":
        return True
    name = host or ""
    if name == "localhost" or name.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(name).is_loopback
    except ValueError:
        return True


def start_session(
    conn: Connection, person_id: str, *, lifetime: timedelta = SESSION_LIFETIME
) -> tuple[str, Session]:
    """Sign ``person_id`` in: the raw cookie value (shown only now) and the session."""
    if lifetime <= timedelta(0):
        raise InvalidInput("A session must last a positive time.", code="session.bad_lifetime")
    get_person(conn, person_id)
    now = utcnow()
    # The person's own expired sessions go now, so the table stays bounded
    # without a sweeper; the person_id index makes this cheap.
    conn.execute(
        delete(sessions).where(sessions.c.person_id == person_id, sessions.c.expires_at <= now)
    )
    raw = secrets.token_urlsafe(32)
    session = Session(
        person_id=person_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + lifetime,
    )
    conn.execute(insert(sessions).values(token_hash=token_hash(raw), **session.model_dump()))
    return raw, session


def resolve_session(conn: Connection, raw: str) -> tuple[Person, Session]:
    """Who holds the session cookie ``raw``; unknown or expired: ``auth.session_expired``."""
    expired = Unauthenticated("Your session has ended; sign in again.", code="auth.session_expired")
    if not raw or len(raw) > _MAX_RAW:
        raise expired
    row = conn.execute(
        select(
            *PERSON_COLUMNS,
            sessions.c.csrf_token,
            sessions.c.created_at.label("session_created_at"),
            sessions.c.expires_at,
        )
        .join_from(sessions, people, sessions.c.person_id == people.c.id)
        .where(sessions.c.token_hash == token_hash(raw))
    ).one_or_none()
    if row is None or row.expires_at <= utcnow():
        raise expired
    session = Session(
        person_id=row.id,
        csrf_token=row.csrf_token,
        created_at=row.session_created_at,
        expires_at=row.expires_at,
    )
    return person_from_row(row), session


def end_session(conn: Connection, raw: str) -> None:
    """Sign out the session cookie ``raw``; an unknown or ended one is already out."""
    conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash(raw)))


def end_all_sessions(conn: Connection, person_id: str) -> int:
    """Sign ``person_id`` out everywhere (after a password change, say); how many ended."""
    return conn.execute(delete(sessions).where(sessions.c.person_id == person_id)).rowcount


# --- API tokens ---------------------------------------------------------------


def create_api_token(conn: Connection, person_id: str, name: str) -> tuple[str, ApiToken]:
    """A new API token for ``person_id``: the raw token (shown only now) and its record."""
    label = name.strip()
    if not label or len(label) > _MAX_TOKEN_NAME:
        raise InvalidInput(
            f"Name the token (1 to {_MAX_TOKEN_NAME} characters) so you can tell it apart later.",
            code="token.bad_name",
        )
    get_person(conn, person_id)
    raw = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        id=new_id("token"),
        person_id=person_id,
        name=label,
        created_at=utcnow(),
        last_used_at=None,
        revoked_at=None,
    )
    conn.execute(insert(api_tokens).values(token_hash=token_hash(raw), **token.model_dump()))
    return raw, token


def list_api_tokens(conn: Connection, person_id: str) -> list[ApiToken]:
    """A person's API tokens, revoked ones included, oldest first."""
    rows = conn.execute(
        select(api_tokens)
        .where(api_tokens.c.person_id == person_id)
        .order_by(api_tokens.c.created_at, api_tokens.c.id)
    )
    return [_api_token(row) for row in rows]


def revoke_api_token(conn: Connection, person_id: str, token_id: str) -> ApiToken:
    """Revoke one of ``person_id``'s tokens; revoking twice keeps the first time.

    Someone else's token is NotFound (``token.not_found``), not Forbidden, so
    token ids reveal nothing about other people.
    """
    row = conn.execute(
        select(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.person_id == person_id)
    ).one_or_none()
    if row is None:
        raise NotFound(
            f"You have no API token {token_id!r}; list your tokens to find its id.",
            code="token.not_found",
        )
    token = _api_token(row)
    if token.revoked_at is None:
        token = token.model_copy(update={"revoked_at": utcnow()})
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == token_id)
            .values(revoked_at=token.revoked_at)
        )
    return token


# The token, its holder and their memberships in one round trip: an API call's
# whole authentication is this one indexed lookup (built once, reused).
_TOKEN_ACCESS = (
    select(
        *PERSON_COLUMNS,
        api_tokens.c.id.label("token_id"),
        api_tokens.c.last_used_at,
        api_tokens.c.revoked_at,
        memberships.c.production_id,
        memberships.c.role,
        memberships.c.vendor_id,
    )
    .select_from(
        api_tokens.join(people, api_tokens.c.person_id == people.c.id).outerjoin(
            memberships, memberships.c.person_id == people.c.id
        )
    )
    .where(api_tokens.c.token_hash == bindparam("token_hash"))
)


def resolve_api_token(conn: Connection, raw: str) -> Person:
    """Who holds the API token ``raw``; unknown or revoked: ``auth.bad_token``."""
    return api_token_access(conn, raw).person


@dataclass
class _Holder:
    """A token's holder as the registry last said, and when its use was last written."""

    access: Access
    token_id: str
    last_used_at: datetime | None  # bookkeeping: updated in place once written


def api_token_access(conn: Connection, raw: str, registry: RegistryView | None = None) -> Access:
    """The holder of API token ``raw`` and their roles; unknown or revoked: ``auth.bad_token``.

    One lookup by the hash's unique index, or none with ``registry`` (the
    registry view of ``conn``'s transaction): a token's holder and roles are
    then kept in memory until the registry generation moves, which revoking a
    token, changing a person or a membership all do. ``last_used_at`` is
    written at most once a minute per token, and that write may fail (a busy
    SQLite reader) without failing the request: it will be tried again on a
    later one.
    """
    bad = Unauthenticated(
        "This API token is unknown or revoked; create a new one in your account settings.",
        code="auth.bad_token",
    )
    if not raw.startswith(API_TOKEN_PREFIX) or len(raw) > _MAX_RAW:
        raise bad
    digest = token_hash(raw)

    def load() -> _Holder | None:
        rows = conn.execute(_TOKEN_ACCESS, {"token_hash": digest}).all()
        if not rows or rows[0].revoked_at is not None:
            return None
        first = rows[0]
        return _Holder(
            access_from(person_from_row(first), rows), first.token_id, first.last_used_at
        )

    holder = load() if registry is None else registry.get(("api-token", digest), load)
    if holder is None:
        raise bad
    now = utcnow()
    stale = now - LAST_USED_PRECISION
    due = holder.last_used_at is None or holder.last_used_at < stale
    if due and _touch(conn, holder.token_id, now, stale):
        holder.last_used_at = now
    return holder.access


def _touch(conn: Connection, token_id: str, now: datetime, stale: datetime) -> bool:
    # In a savepoint so a failed write leaves the caller's transaction usable
    # (PostgreSQL would otherwise abort it). The WHERE repeats the staleness
    # test so concurrent requests with one token write it once.
    try:
        with conn.begin_nested():
            conn.execute(
                update(api_tokens)
                .where(
                    api_tokens.c.id == token_id,
                    or_(api_tokens.c.last_used_at.is_(None), api_tokens.c.last_used_at < stale),
                )
                .values(last_used_at=now)
            )
    except OperationalError:
        return False  # bookkeeping only; tried again on a later request
    return True
