"""Web sessions and API tokens, on SQLite and on a throwaway PostgreSQL server."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from greenlight.accounts import (
    API_TOKEN_PREFIX,
    create_api_token,
    create_person,
    end_all_sessions,
    end_session,
    list_api_tokens,
    resolve_api_token,
    resolve_session,
    revoke_api_token,
    start_session,
    wants_secure_cookie,
)
from greenlight.core.clock import utcnow
from greenlight.core.errors import InvalidInput, NotFound, Unauthenticated
from greenlight.core.models import Person
from greenlight.store import Database
from greenlight.store.schema import api_tokens, people, sessions
from tests.expect import refused


@pytest.fixture
def ava(db: Database) -> Person:
    with db.transaction() as conn:
        return create_person(conn, email="ava@studio.example", name="Ava", password=None)


@pytest.fixture
def max_(db: Database) -> Person:
    with db.transaction() as conn:
        return create_person(conn, email="max@vendor.example", name="Max", password=None)


def session_count(db: Database) -> int:
    with db.read() as conn:
        return len(conn.execute(select(sessions.c.token_hash)).all())


# --- web sessions -------------------------------------------------------------


def test_session_cookie_resolves_to_its_person(db: Database, ava: Person) -> None:
    with db.transaction() as conn:
        cookie, session = start_session(conn, ava.id)
    assert session.person_id == ava.id
    assert len(cookie) >= 43 and not cookie.startswith(API_TOKEN_PREFIX)
    assert len(session.csrf_token) >= 43 and session.csrf_token != cookie
    assert timedelta(hours=11, minutes=59) < session.expires_at - utcnow() <= timedelta(hours=12)
    with db.read() as conn:
        assert resolve_session(conn, cookie) == (ava, session)
    # Signing in on a second device gets a session of its own.
    with db.transaction() as conn:
        other, second = start_session(conn, ava.id)
    assert other != cookie and second.csrf_token != session.csrf_token
    assert session_count(db) == 2


def test_expired_session_asks_to_sign_in_again(db: Database, ava: Person) -> None:
    with db.transaction() as conn:
        cookie, _ = start_session(conn, ava.id, lifetime=timedelta(minutes=30))
        conn.execute(update(sessions).values(expires_at=utcnow() - timedelta(seconds=1)))
    with db.read() as conn, refused("auth.session_expired", Unauthenticated):
        resolve_session(conn, cookie)


def test_unknown_session_asks_to_sign_in_again(sqlite_db: Database) -> None:
    with sqlite_db.read() as conn:
        for cookie in ("", "made-up-cookie", "x" * 5000):
            with refused("auth.session_expired", Unauthenticated):
                resolve_session(conn, cookie)


def test_signed_out_session_is_refused(db: Database, ava: Person) -> None:
    with db.transaction() as conn:
        cookie, _ = start_session(conn, ava.id)
        end_session(conn, cookie)
        end_session(conn, cookie)  # signing out twice is harmless
    with db.read() as conn, refused("auth.session_expired", Unauthenticated):
        resolve_session(conn, cookie)


def test_signing_out_everywhere_ends_only_that_persons_sessions(
    db: Database, ava: Person, max_: Person
) -> None:
    with db.transaction() as conn:
        laptop, _ = start_session(conn, ava.id)
        phone, _ = start_session(conn, ava.id)
        other, _ = start_session(conn, max_.id)
        assert end_all_sessions(conn, ava.id) == 2
    with db.read() as conn:
        for cookie in (laptop, phone):
            with refused("auth.session_expired", Unauthenticated):
                resolve_session(conn, cookie)
        assert resolve_session(conn, other)[0] == max_


def test_signing_in_clears_that_persons_expired_sessions(
    db: Database, ava: Person, max_: Person
) -> None:
    with db.transaction() as conn:
        start_session(conn, ava.id)
        start_session(conn, max_.id)
        conn.execute(update(sessions).values(expires_at=utcnow() - timedelta(days=1)))
        start_session(conn, ava.id)
    # Ava's stale session is gone; Max's waits for Max's next sign-in.
    assert session_count(db) == 2


def test_session_needs_a_person_and_a_positive_lifetime(sqlite_db: Database) -> None:
    with sqlite_db.transaction() as conn:
        ava = create_person(conn, email="ava@studio.example", name="Ava", password=None)
        with refused("person.not_found", NotFound):
            start_session(conn, "per_01JD3Q8Z5W8M6T4V9K2X7N1R0P")
        with refused("session.bad_lifetime", InvalidInput):
            start_session(conn, ava.id, lifetime=timedelta(0))


@pytest.mark.parametrize(
    ("scheme", "host", "configured", "secure"),
    [
        ("http", "127.0.0.1", None, False),
        ("http", "::1", None, False),
        ("http", "localhost", None, False),
        ("http", "app.localhost", None, False),
        ("https", "localhost", None, True),
        ("http", "greenlight.studio.example", None, True),  # behind a TLS proxy
        ("http", "10.0.0.5", None, True),
        ("http", None, None, True),
        ("http", "127.0.0.1", True, True),
        ("https", "greenlight.studio.example", False, False),
    ],
)
def test_session_cookie_is_secure_except_over_http_on_loopback_unless_configured(
    scheme: str, host: str | None, configured: bool | None, secure: bool
) -> None:
    assert wants_secure_cookie(scheme, host, configured) is secure


# --- API tokens ---------------------------------------------------------------


def test_api_token_is_recognisable_and_names_its_holder(db: Database, ava: Person) -> None:
    with db.transaction() as conn:
        raw, token = create_api_token(conn, ava.id, "  render farm  ")
    assert raw.startswith("glt_") and len(raw) >= 4 + 43
    assert token.name == "render farm" and token.person_id == ava.id
    assert token.last_used_at is None and token.revoked_at is None
    with db.transaction() as conn:
        assert resolve_api_token(conn, raw) == ava


def test_raw_token_never_stored(db: Database, ava: Person) -> None:
    with db.transaction() as conn:
        raw_token, _ = create_api_token(conn, ava.id, "ci")
        cookie, session = start_session(conn, ava.id)
    with db.read() as conn:
        token_rows = [dict(r._mapping) for r in conn.execute(select(api_tokens))]
        session_rows = [dict(r._mapping) for r in conn.execute(select(sessions))]
    stored = " ".join(str(v) for row in token_rows + session_rows for v in row.values())
    assert raw_token not in stored and raw_token[4:] not in stored
    assert cookie not in stored
    assert token_rows[0]["token_hash"] == hashlib.sha256(raw_token.encode()).hexdigest()
    assert session_rows[0]["token_hash"] == hashlib.sha256(cookie.encode()).hexdigest()
    assert session_rows[0]["csrf_token"] == session.csrf_token


def test_revoked_token_is_refused(db: Database, ava: Person) -> None:
    with db.transaction() as conn:
        raw, token = create_api_token(conn, ava.id, "ci")
        revoked = revoke_api_token(conn, ava.id, token.id)
        again = revoke_api_token(conn, ava.id, token.id)
    assert revoked.revoked_at is not None
    assert again.revoked_at == revoked.revoked_at  # the first revocation stands
    with db.transaction() as conn, refused("auth.bad_token", Unauthenticated):
        resolve_api_token(conn, raw)


def test_unknown_token_is_refused(sqlite_db: Database) -> None:
    with sqlite_db.transaction() as conn:
        ava = create_person(conn, email="ava@studio.example", name="Ava", password=None)
        real, _ = create_api_token(conn, ava.id, "ci")
    with sqlite_db.read() as conn:
        for raw in ("", "glt_made-up", real[4:], "ghp_not-ours", "glt_" + "x" * 5000):
            with refused("auth.bad_token", Unauthenticated):
                resolve_api_token(conn, raw)


def test_someone_elses_token_cannot_be_revoked(db: Database, ava: Person, max_: Person) -> None:
    with db.transaction() as conn:
        raw, token = create_api_token(conn, ava.id, "ci")
    with db.transaction() as conn, refused("token.not_found", NotFound):
        revoke_api_token(conn, max_.id, token.id)
    with db.read() as conn:
        assert resolve_api_token(conn, raw) == ava


def test_tokens_are_listed_for_their_owner_revoked_ones_included(
    db: Database, ava: Person, max_: Person
) -> None:
    with db.transaction() as conn:
        _, ci = create_api_token(conn, ava.id, "ci")
        _, farm = create_api_token(conn, ava.id, "render farm")
        create_api_token(conn, max_.id, "max's laptop")
        revoke_api_token(conn, ava.id, ci.id)
    with db.read() as conn:
        listed = list_api_tokens(conn, ava.id)
    assert [(t.id, t.name, t.revoked_at is not None) for t in listed] == [
        (ci.id, "ci", True),
        (farm.id, "render farm", False),
    ]


def test_token_needs_a_name_and_an_owner(sqlite_db: Database) -> None:
    with sqlite_db.transaction() as conn:
        ava = create_person(conn, email="ava@studio.example", name="Ava", password=None)
        with refused("token.bad_name", InvalidInput):
            create_api_token(conn, ava.id, "   ")
        with refused("person.not_found", NotFound):
            create_api_token(conn, "per_01JD3Q8Z5W8M6T4V9K2X7N1R0P", "ci")


def test_last_use_is_recorded_at_most_once_a_minute(db: Database, ava: Person) -> None:
    with db.transaction() as conn:
        raw, _ = create_api_token(conn, ava.id, "ci")
    with db.transaction() as conn:
        resolve_api_token(conn, raw)
    with db.read() as conn:
        (first,) = list_api_tokens(conn, ava.id)
    assert first.last_used_at is not None
    with db.transaction() as conn:
        resolve_api_token(conn, raw)
    with db.read() as conn:
        assert list_api_tokens(conn, ava.id)[0].last_used_at == first.last_used_at
    # Two minutes later the next request records its use again.
    earlier = first.last_used_at - timedelta(minutes=2)
    with db.transaction() as conn:
        conn.execute(update(api_tokens).values(last_used_at=earlier))
    with db.transaction() as conn:
        resolve_api_token(conn, raw)
    with db.read() as conn:
        latest = list_api_tokens(conn, ava.id)[0].last_used_at
    assert latest is not None and latest > first.last_used_at


def test_token_resolves_in_a_read_transaction_too(db: Database, ava: Person) -> None:
    with db.transaction() as conn:
        raw, _ = create_api_token(conn, ava.id, "ci")
    # The API may resolve tokens in a reader; the once-a-minute write still lands.
    with db.read() as conn:
        assert resolve_api_token(conn, raw) == ava
    with db.read() as conn:
        assert list_api_tokens(conn, ava.id)[0].last_used_at is not None


def test_busy_database_does_not_fail_a_token_request(db: Database, ava: Person) -> None:
    with db.transaction() as conn:
        raw, _ = create_api_token(conn, ava.id, "ci")
    with db.read() as conn:
        conn.execute(select(api_tokens.c.id)).all()  # the reader's snapshot starts here
        with db.transaction() as writer:  # and someone else commits after it
            writer.execute(update(people).values(name="Ava Reyes"))
        # SQLite cannot write from a stale snapshot; the request goes on regardless.
        assert resolve_api_token(conn, raw).id == ava.id
        assert len(list_api_tokens(conn, ava.id)) == 1  # the transaction is still usable
