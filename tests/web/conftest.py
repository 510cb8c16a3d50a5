"""A seeded production and a browser on the pages, over real SQLite.

Everything is made through the services, as the smoke script does: people with
passwords, a production, a vendor's inpainting tool, requests run to review.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from greenlight.accounts import Access, create_person, grant_role, load_access
from greenlight.core import Settings
from greenlight.core.enums import Role
from greenlight.core.models import (
    InputRef,
    Person,
    Production,
    ProductionDraft,
    RequestDetail,
    RequestDraft,
    Tool,
    ToolDraft,
)
from greenlight.engine import assets, requests, runs
from greenlight.engine.platform import Platform
from greenlight.productions import create_production
from greenlight.rights import create_tool, create_vendor
from greenlight.web import pages

PASSWORD = "correct horse battery staple"
WIRE_ROW = 30
# Who is who on Northern Lights.
CAST = {
    "ada": ("Ada Artist", Role.ARTIST),
    "sam": ("Sam Supervisor", Role.VFX_SUPERVISOR),
    "rita": ("Rita Showrunner", Role.SHOWRUNNER),
    "vic": ("Vic Vendor", Role.VENDOR),
}


def plate_png() -> bytes:
    """A grey plate with a bright 'rig wire' across it, for the inpainting tool to remove."""
    image = np.full((64, 96, 3), 120, np.uint8)
    image[WIRE_ROW : WIRE_ROW + 3, :, :] = 255
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


@dataclass
class Studio:
    """Northern Lights, its people (by first name), and the studio's inpainting tool."""

    platform: Platform
    production: Production
    people: dict[str, Person]
    tool: Tool

    def email(self, who: str) -> str:
        return self.people[who].email

    def access(self, who: str) -> Access:
        with self.platform.db.read() as conn:
            return load_access(conn, self.people[who])

    def submit(
        self, *, intent: str = "temporary", prompt: str = "paint out the rig wire", who: str = "ada"
    ) -> RequestDetail:
        """A wire-removal request on a fresh plate, as judged by policy."""
        access = self.access(who)
        plate, _ = assets.upload(
            self.platform,
            access,
            self.production.id,
            "plate.png",
            io.BytesIO(plate_png()),
            "image/png",
        )
        draft = RequestDraft(
            production_id=self.production.id,
            use_case="vfx_cleanup",
            tool_id=self.tool.id,
            intent=intent,
            prompt=prompt,
            parameters={"regions": [[0, WIRE_ROW, 96, 3]]},
            inputs=[InputRef(asset_id=plate.id, part="plate")],
        )
        return requests.submit(self.platform, access, draft)

    def in_review(self, **fields: str) -> RequestDetail:
        """A temporary request, allowed by policy and run: its outputs wait for review."""
        detail = runs.run_request(self.platform, self.submit(**fields).request.id)
        assert detail.request.state == "in_review"
        return detail

    def detail(self, request_id: str) -> RequestDetail:
        with self.platform.db.read() as conn:
            return requests.load_detail(conn, request_id)


@pytest.fixture
def studio(sqlite_settings: Settings) -> Iterator[Studio]:
    platform = Platform.open(sqlite_settings)
    with platform.db.transaction() as conn:
        production = create_production(
            conn, ProductionDraft(code="NL", title="Northern Lights", kind="series")
        )
        pipeline = create_vendor(conn, "Studio Pipeline")
        lumen = create_vendor(conn, "Lumen Post")
        people = {}
        for key, (name, role) in CAST.items():
            person = create_person(conn, email=f"{key}@nl.test", name=name, password=PASSWORD)
            grant_role(
                conn,
                production_id=production.id,
                person_id=person.id,
                role=role,
                vendor_id=lumen.id if role is Role.VENDOR else None,
            )
            people[key] = person
        tool = create_tool(
            conn,
            pipeline.id,
            ToolDraft(
                name="OpenCV inpaint",
                version="4",
                hosting="studio",
                backend="inpaint",
                use_cases=["vfx_cleanup"],
            ),
        )
    yield Studio(platform=platform, production=production, people=people, tool=tool)
    platform.close()


@pytest.fixture
def browser(studio: Studio) -> Iterator[TestClient]:
    """A browser on an app holding only the pages, as the API app would include them."""
    app = FastAPI()
    app.include_router(pages(studio.platform))
    # On a loopback address over plain http, as on a developer's machine: the
    # session cookie is not Secure there, so the test client sends it back.
    with TestClient(app, base_url="http://localhost", follow_redirects=False) as client:
        yield client


def csrf(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(browser: TestClient, email: str, next_path: str = "/") -> str:
    """Sign in through the form (as a fresh browser); returns where it was sent."""
    browser.cookies.clear()
    form = browser.get("/login")
    assert form.status_code == 200
    reply = browser.post(
        "/login",
        data={
            "email": email,
            "password": PASSWORD,
            "next": next_path,
            "csrf_token": csrf(form.text),
        },
    )
    assert reply.status_code == 303, reply.text
    return reply.headers["location"]
