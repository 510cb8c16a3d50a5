"""Accounts: people and passwords, web sessions, API tokens, and who may do what.

Every function takes a SQLAlchemy ``Connection``; the caller owns the
transaction, so an account change commits with whatever else the request did.
"""

from greenlight.accounts.access import (
    MANAGERS,
    SUBMITTERS,
    Access,
    grant_role,
    list_memberships,
    load_access,
    revoke_role,
)
from greenlight.accounts.people import (
    MIN_PASSWORD_LENGTH,
    authenticate,
    create_person,
    find_person,
    get_person,
    list_people,
    set_password,
)
from greenlight.accounts.sessions import (
    API_TOKEN_PREFIX,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    ApiToken,
    Session,
    api_token_access,
    create_api_token,
    end_all_sessions,
    end_session,
    list_api_tokens,
    resolve_api_token,
    resolve_session,
    revoke_api_token,
    start_session,
    wants_secure_cookie,
)

__all__ = [
    "API_TOKEN_PREFIX",
    "MANAGERS",
    "MIN_PASSWORD_LENGTH",
    "SESSION_COOKIE",
    "SESSION_LIFETIME",
    "SUBMITTERS",
    "Access",
    "ApiToken",
    "Session",
    "api_token_access",
    "authenticate",
    "create_api_token",
    "create_person",
    "end_all_sessions",
    "end_session",
    "find_person",
    "get_person",
    "grant_role",
    "list_api_tokens",
    "list_memberships",
    "list_people",
    "load_access",
    "resolve_api_token",
    "resolve_session",
    "revoke_api_token",
    "revoke_role",
    "set_password",
    "start_session",
    "wants_secure_cookie",
]
