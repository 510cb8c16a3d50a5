"""People and their passwords.

Passwords are stored only as argon2id hashes. The parameters are OWASP's
minimum for argon2id (19 MiB, 2 passes, 1 lane): a check costs about 20 ms on
a small server, cheap enough for sign-in yet costly for anyone guessing
offline from a stolen database.
"""

from __future__ import annotations

import re
import secrets
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from greenlight.core.clock import utcnow
from greenlight.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from greenlight.core.ids import new_id
from greenlight.core.models import Person
from greenlight.store.schema import people

MIN_PASSWORD_LENGTH = 10
# argon2 pre-hashes any length, but a megabyte "password" is a denial of service, not a secret.
MAX_PASSWORD_LENGTH = 1024

_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)

# A sanity check, not RFC 5322: one @, no spaces, a dot in the domain.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_MAX_EMAIL = 254  # the longest address SMTP can carry (RFC 5321 path limit)
_MAX_NAME = 200

_BAD_CREDENTIALS = "Email or password is wrong; check both and try again."

# Only what a Person shows: the password hash never leaves this module.
PERSON_COLUMNS = (
    people.c.id,
    people.c.email,
    people.c.name,
    people.c.is_admin,
    people.c.created_at,
)


def person_from_row(row: Row[*tuple[Any, ...]]) -> Person:
    """A Person from a row holding at least :data:`PERSON_COLUMNS` (for this package)."""
    return Person(
        id=row.id,
        email=row.email,
        name=row.name,
        is_admin=row.is_admin,
        created_at=row.created_at,
    )


def normalize_email(email: str) -> str:
    """``email`` trimmed and lower-cased, refused unless it looks like an address."""
    cleaned = email.strip().lower()
    if len(cleaned) > _MAX_EMAIL or not _EMAIL.match(cleaned):
        raise InvalidInput(
            f"{email!r} is not an email address; use the form name@studio.example.",
            code="person.bad_email",
        )
    return cleaned


def _hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Passwords need at least {MIN_PASSWORD_LENGTH} characters; "
            "a short sentence is easy to remember and hard to guess.",
            code="person.weak_password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Passwords may have at most {MAX_PASSWORD_LENGTH} characters.",
            code="person.password_too_long",
        )
    return _HASHER.hash(password)


@cache
def _dummy_hash() -> str:
    # Made with the same parameters as real hashes, so checking against it
    # costs the same and an unknown email cannot be told apart by timing.
    return _HASHER.hash(secrets.token_urlsafe(16))


def create_person(
    conn: Connection,
    *,
    email: str,
    name: str,
    password: str | None,
    is_admin: bool = False,
) -> Person:
    """Add a person who can sign in; ``password=None`` makes a token-only account.

    Refuses a malformed email (``person.bad_email``), one already in use
    (``person.email_taken``), an empty name (``person.bad_name``) and a password
    under ten characters (``person.weak_password``).
    """
    address = normalize_email(email)
    display = name.strip()
    if not display or len(display) > _MAX_NAME:
        raise InvalidInput(
            f"A person needs a name of 1 to {_MAX_NAME} characters.", code="person.bad_name"
        )
    password_hash = _hash_password(password) if password is not None else None
    taken = Conflict(
        f"{address} already has an account; sign in, or reset its password.",
        code="person.email_taken",
    )
    if find_person(conn, address) is not None:
        raise taken
    person = Person(
        id=new_id("person"), email=address, name=display, is_admin=is_admin, created_at=utcnow()
    )
    try:
        conn.execute(insert(people).values(**person.model_dump(), password_hash=password_hash))
    except IntegrityError as exc:  # someone took the address between our check and insert
        raise taken from exc
    return person


def get_person(conn: Connection, person_id: str) -> Person:
    """The person with ``person_id``, or NotFound ``person.not_found``."""
    row = conn.execute(select(*PERSON_COLUMNS).where(people.c.id == person_id)).one_or_none()
    if row is None:
        raise NotFound(f"No person {person_id!r}; check the id.", code="person.not_found")
    return person_from_row(row)


def find_person(conn: Connection, email: str) -> Person | None:
    """The person signing in with ``email`` (any case, surrounding spaces ignored), if any."""
    address = email.strip().lower()
    row = conn.execute(select(*PERSON_COLUMNS).where(people.c.email == address)).one_or_none()
    return None if row is None else person_from_row(row)


def list_people(conn: Connection) -> list[Person]:
    """Everyone with an account, by email."""
    rows = conn.execute(select(*PERSON_COLUMNS).order_by(people.c.email))
    return [person_from_row(row) for row in rows]


def set_password(conn: Connection, person_id: str, password: str) -> None:
    """Replace a person's password (same length rules as :func:`create_person`)."""
    password_hash = _hash_password(password)
    done = conn.execute(
        update(people).where(people.c.id == person_id).values(password_hash=password_hash)
    )
    if done.rowcount == 0:
        raise NotFound(f"No person {person_id!r}; check the id.", code="person.not_found")


def authenticate(conn: Connection, email: str, password: str) -> Person:
    """The person whose email and password these are.

    A wrong password, an unknown email and a token-only account all fail the
    same way (``auth.bad_credentials``, same message, about the same time), so
    sign-in does not reveal who has an account. Needs a write transaction: a
    hash made with older parameters is upgraded on success.
    """
    address = email.strip().lower()
    row = conn.execute(
        select(*PERSON_COLUMNS, people.c.password_hash).where(people.c.email == address)
    ).one_or_none()
    stored = row.password_hash if row is not None else None
    try:
        _HASHER.verify(stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError) as exc:
        raise Unauthenticated(_BAD_CREDENTIALS, code="auth.bad_credentials") from exc
    if row is None or stored is None:  # matched the dummy: still not a person
        raise Unauthenticated(_BAD_CREDENTIALS, code="auth.bad_credentials")
    if _HASHER.check_needs_rehash(stored):
        conn.execute(
            update(people).where(people.c.id == row.id).values(password_hash=_HASHER.hash(password))
        )
    return person_from_row(row)
