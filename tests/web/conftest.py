"""A seeded production and a browser on the pages, over real SQLite.

Northern Lights is the engine tests' world (``tests.world``), made through the
services, plus four people who sign in with a password.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from greenlight.core import Settings
from greenlight.core.enums import Role
from greenlight.core.models import RequestDetail
from greenlight.engine import requests, runs
from greenlight.engine.platform import Platform
from greenlight.web import pages
from tests.world import World, build_world, hire

PASSWORD = "correct horse battery staple"
# Who is who on Northern Lights, for the pages.
CAST = {
    "ada": ("Ada Artist", Role.ARTIST),
    "sam": ("Sam Supervisor", Role.VFX_SUPERVISOR),
    "rita": ("Rita Showrunner", Role.SHOWRUNNER),
    "vic": ("Vic Vendor", Role.VENDOR),
}


@dataclass
class Studio(World):
    """Northern Lights, with the people who sign in by first name among its people."""

    def email(self, who: str) -> str:
        return self.people[who].email

    def submit(
        self, *, intent: str = "temporary", prompt: str = "paint out the rig wire", who: str = "ada"
    ) -> RequestDetail:
        """A wire-removal request on a fresh plate, as judged by policy."""
        draft = self.cleanup(self.upload_plate(who), intent=intent, prompt=prompt)
        return requests.submit(self.platform, self.access(who), draft)

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
    world = build_world(platform)
    lumen = world.vendor_tool.vendor_id  # Vic works for Lumen Post, like the world's vendor
    with platform.db.transaction() as conn:
        for key, (name, role) in CAST.items():
            world.people[key] = hire(
                conn,
                world.production.id,
                f"{key}@nl.test",
                name,
                role,
                password=PASSWORD,
                vendor_id=lumen,
            )
    yield Studio(**vars(world))
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
