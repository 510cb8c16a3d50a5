"""People with accounts (platform admins only)."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from greenlight.accounts import create_person, list_people
from greenlight.api.auth import AdminAccess, PlatformDep
from greenlight.core.models import Person

router = APIRouter(prefix="/people", tags=["people"])


class PersonDraft(BaseModel):
    """A new account. Without a password the person can use API tokens only."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=254)
    name: str = Field(min_length=1, max_length=200)
    password: str | None = Field(default=None, max_length=1024)
    is_admin: bool = False


@router.post("", response_model=Person, status_code=status.HTTP_201_CREATED)
def add_person(body: PersonDraft, access: AdminAccess, platform: PlatformDep) -> Person:
    """Create an account (admins only).

    Refuses a malformed email (``person.bad_email``), one already in use
    (``person.email_taken``, 409) and a password under ten characters
    (``person.weak_password``). Give the person roles with
    POST /api/v1/productions/{id}/members.
    """
    with platform.db.transaction() as conn:
        return create_person(
            conn,
            email=body.email,
            name=body.name,
            password=body.password,
            is_admin=body.is_admin,
        )


@router.get("", response_model=list[Person])
def all_people(access: AdminAccess, platform: PlatformDep) -> list[Person]:
    """Everyone with an account, by email (admins only)."""
    with platform.db.read() as conn:
        return list_people(conn)
