"""A small seeded production for tests that drive the governed flow.

Everything is made through the services themselves, so a test that uses the
world also exercises the registries it stands on.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import cv2
import numpy as np
from sqlalchemy import Connection, Row, select

from greenlight.accounts import Access, create_person, grant_role, load_access
from greenlight.core.clock import utcnow
from greenlight.core.enums import Role
from greenlight.core.models import (
    Asset,
    Attestation,
    AttestationDraft,
    InputRef,
    Person,
    Production,
    ProductionDraft,
    RequestDetail,
    RequestDraft,
    Talent,
    Tool,
    ToolDraft,
)
from greenlight.core.settings import Settings
from greenlight.engine import assets, requests
from greenlight.engine.platform import Platform
from greenlight.productions import create_production
from greenlight.rights import (
    ConsentDraft,
    allow_tool,
    create_tool,
    create_vendor,
    record_attestation,
    record_consent,
    register_talent,
)
from greenlight.store.schema import jobs

# Whoever holds which role on the test production.
CAST = {
    "showrunner": Role.SHOWRUNNER,
    "director": Role.DIRECTOR,
    "producer": Role.PRODUCER,
    "vfx": Role.VFX_SUPERVISOR,
    "artist": Role.ARTIST,
    "legal": Role.LEGAL,
    "vendor": Role.VENDOR,
    "auditor": Role.AUDITOR,
}
WIRE_ROW = 30


def plate_png(width: int = 96, height: int = 64) -> bytes:
    """A smooth gradient plate with a bright horizontal 'rig wire' across row 30."""
    ramp = np.linspace(60, 180, width, dtype=np.float32)
    image = np.repeat(ramp[None, :, None], height, axis=0).repeat(3, axis=2).astype(np.uint8)
    image[WIRE_ROW : WIRE_ROW + 3, :, :] = 255
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def hire(
    conn: Connection,
    production_id: str,
    email: str,
    name: str,
    role: Role | None,
    *,
    password: str | None = None,
    vendor_id: str | None = None,
) -> Person:
    """A new person holding ``role`` on the production (no role: just an account).

    A vendor role works for ``vendor_id``; other roles name no vendor.
    """
    person = create_person(conn, email=email, name=name, password=password)
    if role is not None:
        grant_role(
            conn,
            production_id=production_id,
            person_id=person.id,
            role=role,
            vendor_id=vendor_id if role is Role.VENDOR else None,
        )
    return person


@dataclass
class World:
    """One production, its people (by cast name), two tools, two performers."""

    platform: Platform
    production: Production
    people: dict[str, Person]
    studio_tool: Tool  # the studio's own inpainting
    vendor_tool: Tool  # the vendor's, same backend
    consented: Talent  # has a de_aging consent on the production
    unconsented: Talent

    def access(self, who: str) -> Access:
        """What ``who`` may do, freshly loaded."""
        with self.platform.db.read() as conn:
            return load_access(conn, self.people[who])

    def detail(self, request_id: str) -> RequestDetail:
        """The request as it stands now, freshly loaded."""
        with self.platform.db.read() as conn:
            return requests.load_detail(conn, request_id)

    def job(self, request_id: str) -> Row[Any]:
        """The request's job row as it stands now."""
        with self.platform.db.read() as conn:
            return conn.execute(select(jobs).where(jobs.c.request_id == request_id)).one()

    def add_tool(
        self,
        name: str,
        *,
        hosting: str,
        use_cases: list[str],
        backend: str | None = None,
        version: str = "1",
        vendor_id: str | None = None,
    ) -> Tool:
        """Register a tool (the vendor's unless ``vendor_id`` says otherwise), allow-listed
        on the production by the producer. No ``backend``: its vendor delivers the work."""
        with self.platform.db.transaction() as conn:
            tool = create_tool(
                conn,
                vendor_id or self.vendor_tool.vendor_id,
                ToolDraft.model_validate(
                    {
                        "name": name,
                        "version": version,
                        "hosting": hosting,
                        "backend": backend,
                        "use_cases": use_cases,
                    }
                ),
            )
            allow_tool(conn, self.production.id, tool.id, by=self.people["producer"].id)
        return tool

    def upload_plate(self, who: str = "artist", data: bytes | None = None) -> Asset:
        """Upload a plate as ``who``."""
        asset, _ = assets.upload(
            self.platform,
            self.access(who),
            self.production.id,
            "plate.png",
            io.BytesIO(data or plate_png()),
            "image/png",
        )
        return asset

    def cleanup(self, plate: Asset, **changes: object) -> RequestDraft:
        """A wire-removal request on ``plate``; ``changes`` override any field."""
        fields: dict[str, object] = {
            "production_id": self.production.id,
            "use_case": "vfx_cleanup",
            "tool_id": self.studio_tool.id,
            "intent": "temporary",
            "prompt": "paint out the rig wire",
            "parameters": {"regions": [[0, WIRE_ROW, 96, 3]]},
            "inputs": [InputRef(asset_id=plate.id, part="plate")],
        }
        fields.update(changes)
        return RequestDraft.model_validate(fields)


@contextmanager
def opened_platform(settings: Settings) -> Iterator[Platform]:
    """The platform at ``settings``, closed afterwards (for fixtures)."""
    platform = Platform.open(settings)
    try:
        yield platform
    finally:
        platform.close()


def attest(conn: Connection, vendor_id: str, by: str, **changes: object) -> Attestation:
    """A clean vendor-wide attestation for a year: no training on inputs, nothing kept,
    an enclosed environment, TPN Gold; ``changes`` override any field."""
    fields: dict[str, object] = {
        "training_data": [{"source": "Licensed stock library", "licence": "commercial"}],
        "trains_on_inputs": False,
        "retains_data_days": 0,
        "enclosed_environment": True,
        "security_certification": "TPN Gold",
        "expires_at": utcnow() + timedelta(days=365),
        **changes,
    }
    return record_attestation(conn, vendor_id, AttestationDraft.model_validate(fields), by=by)


def build_world(platform: Platform, *, vetted: bool = True) -> World:
    """Seed the test production through the services.

    ``vetted``: both vendors attested and both tools on the production's
    allow-list, as a production would be before anyone asks for work; tests of
    the vetting itself start from an unvetted world.
    """
    with platform.db.transaction() as conn:
        production = create_production(
            conn, ProductionDraft(code="NL", title="Northern Lights", kind="series")
        )
        studio = create_vendor(conn, "Studio Pipeline")
        lumen = create_vendor(conn, "Lumen Post")
        people = {
            name: hire(
                conn, production.id, f"{name}@nl.test", name.title(), role, vendor_id=lumen.id
            )
            for name, role in CAST.items()
        }
        people["outsider"] = hire(conn, production.id, "outsider@nl.test", "Outsider", None)
        studio_tool = create_tool(
            conn,
            studio.id,
            ToolDraft(
                name="OpenCV inpaint",
                version="4.14",
                hosting="studio",
                backend="inpaint-opencv",
                use_cases=["vfx_cleanup", "de_aging"],
            ),
        )
        vendor_tool = create_tool(
            conn,
            lumen.id,
            ToolDraft(
                name="Lumen Cleanup",
                version="2.1",
                hosting="vendor_enclosed",
                backend="inpaint-opencv",
                use_cases=["vfx_cleanup"],
            ),
        )
        for vendor_id in (studio.id, lumen.id) if vetted else ():
            attest(conn, vendor_id, people["legal"].id)
        for tool in (studio_tool, vendor_tool) if vetted else ():
            allow_tool(conn, production.id, tool.id, by=people["producer"].id)
        consented = register_talent(conn, "Maya Okafor", "SAG-AFTRA")
        unconsented = register_talent(conn, "Theo Brandt", "SAG-AFTRA")
        record_consent(
            conn,
            ConsentDraft(
                talent_id=consented.id,
                production_id=production.id,
                use_cases=["de_aging"],
                kind="digital_alteration",
                intended_use="De-age Maya Okafor in the flashback scenes of Northern Lights",
            ),
        )
    return World(platform, production, people, studio_tool, vendor_tool, consented, unconsented)
