"""The cast of the API tests: one production, its people, tools and a performer.

Everything is seeded through the services, then driven over HTTP with
``TestClient`` against the real app on a real database. Each person gets an
API token; ``studio.client("artist")`` is a client signed in as them. Every
response is checked on the way: the API must never answer 500.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from greenlight.accounts import create_api_token, create_person
from greenlight.api import create_app
from greenlight.core import Settings
from greenlight.core.enums import Role
from greenlight.core.models import ProductionDraft, ToolDraft
from greenlight.engine.platform import Platform
from greenlight.productions import create_production
from greenlight.rights import allow_tool, create_tool, create_vendor, register_talent
from tests.api.studio import PASSWORD, Studio
from tests.world import attest, hire

# Who works on Northern Lights, and as what. The vendor works for Lumen VFX.
ROLES: dict[str, Role | None] = {
    "showrunner": Role.SHOWRUNNER,
    "vfx_supervisor": Role.VFX_SUPERVISOR,
    "artist": Role.ARTIST,
    "vendor": Role.VENDOR,
    "auditor": Role.AUDITOR,
    "legal": Role.LEGAL,
    "producer": Role.PRODUCER,
    "outsider": None,  # has an account, no role on the production
}
SIGNS_IN = frozenset({"showrunner", "artist"})  # with a password, in a browser


def seed(platform: Platform, *, run_inline: bool = True, vetted: bool = True) -> Studio:
    """Northern Lights: an admin, one person per role, two inpainting tools, a performer.

    ``vetted``: the vendors attested and every tool on the allow-list (see tests.world).
    """
    with platform.db.transaction() as conn:
        production = create_production(
            conn, ProductionDraft(code="NL", title="Northern Lights", kind="series")
        )
        studio_tools = create_vendor(conn, "Studio Tools")
        lumen = create_vendor(conn, "Lumen VFX")
        inpaint = ToolDraft(
            name="OpenCV inpaint",
            version="4",
            hosting="studio",
            backend="inpaint-opencv",
            use_cases=["vfx_cleanup"],
        )
        studio_tool = create_tool(conn, studio_tools.id, inpaint)
        lumen_tool = create_tool(
            conn, lumen.id, inpaint.model_copy(update={"name": "Lumen Cleanplate"})
        )
        # Lumen delivers this one's work itself: nothing runs it here.
        delivered_tool = create_tool(
            conn,
            lumen.id,
            ToolDraft(
                name="Lumen Roto Service",
                version="2026.1",
                hosting="vendor_enclosed",
                use_cases=["vfx_cleanup"],
            ),
        )
        performer = register_talent(conn, "Ingrid Halvorsen", "SAG-AFTRA")
        people: dict[str, str] = {}
        tokens: dict[str, str] = {}
        admin = create_person(
            conn, email="ada@studio.example", name="Ada Admin", password=None, is_admin=True
        )
        people["admin"] = admin.id
        for name, role in ROLES.items():
            person = hire(
                conn,
                production.id,
                f"{name}@studio.example",
                name.title(),
                role,
                # Hashing costs ~20 ms a person: only those the tests sign in get a password.
                password=PASSWORD if name in SIGNS_IN else None,
                vendor_id=lumen.id,
            )
            people[name] = person.id
        for name, person_id in people.items():
            tokens[name], _ = create_api_token(conn, person_id, f"{name} laptop")
        for vendor_id in (studio_tools.id, lumen.id) if vetted else ():
            attest(conn, vendor_id, people["legal"])
        for tool in (studio_tool, lumen_tool, delivered_tool) if vetted else ():
            allow_tool(conn, production.id, tool.id, by=people["producer"])
    return Studio(
        platform=platform,
        app=create_app(platform, run_inline=run_inline, secure_cookies=False),
        production_id=production.id,
        studio_tool_id=studio_tool.id,
        lumen_tool_id=lumen_tool.id,
        delivered_tool_id=delivered_tool.id,
        lumen_vendor_id=lumen.id,
        talent_id=performer.id,
        people=people,
        tokens=tokens,
    )


@pytest.fixture
def studio(settings: Settings) -> Iterator[Studio]:
    """Northern Lights on SQLite and on PostgreSQL."""
    platform = Platform.open(settings)
    try:
        yield seed(platform)
    finally:
        platform.close()


@pytest.fixture
def sqlite_studio(sqlite_settings: Settings) -> Iterator[Studio]:
    """Northern Lights on SQLite only (for tests of the HTTP layer itself)."""
    platform = Platform.open(sqlite_settings)
    try:
        yield seed(platform)
    finally:
        platform.close()
