"""The sample production, "Northern Lights", and the story ``greenlight demo`` tells.

Three functions, each one step of the demo, none printing:

- :func:`reset_demo_data` makes the data directory ready: created when missing
  or empty, wiped when an earlier demo left it (it carries the ``.demo``
  marker), refused when it holds anything else;
- :func:`seed` fills it with a production, its people, vendors, tools,
  performers, a consent and a plate with a rig wire to paint out;
- :func:`run_scenario` drives five requests through the engine, each step done
  by the person whose job it is, so the policy's three answers (allow,
  needs approval, deny) and a full delivery all land in the ledger.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from greenlight.accounts import Access, create_person, grant_role, load_access
from greenlight.core.clock import utcnow
from greenlight.core.enums import (
    ConsentKind,
    Hosting,
    Intent,
    ProductionKind,
    Role,
    UseCase,
    Verdict,
)
from greenlight.core.errors import Conflict
from greenlight.core.models import (
    Asset,
    AttestationDraft,
    Episode,
    InputRef,
    Person,
    Production,
    ProductionDraft,
    RequestDetail,
    RequestDraft,
    Shot,
    ShotDraft,
    Talent,
    Tool,
    ToolDraft,
    TrainingSource,
    Vendor,
    WatchlistDraft,
)
from greenlight.core.settings import Settings
from greenlight.engine import assets
from greenlight.engine import requests as flow
from greenlight.engine.platform import Platform
from greenlight.engine.runs import run_request
from greenlight.productions import create_production, create_shot
from greenlight.rights import (
    ConsentDraft,
    add_watch,
    allow_tool,
    create_tool,
    create_vendor,
    record_attestation,
    record_consent,
    register_talent,
    set_studio_contact,
)

MARKER = ".demo"
"""The file that marks a data directory as the demo's own, safe to wipe."""

PASSWORD = "northern-lights"
"""Every demo person's password (a demo on loopback, not a secret)."""

PLATE_SIZE = (960, 540)
"""Width and height of the generated plate."""


@dataclass(frozen=True)
class CastMember:
    """Someone in the demo: their key in :attr:`DemoCast.people`, name, email and role."""

    key: str
    name: str
    email: str
    role: Role | None  # None: the platform admin, who holds no production role
    vendor: bool = False  # works for Lumen Post


CAST: tuple[CastMember, ...] = (
    CastMember("showrunner", "Sofia Reyes", "sofia@studio.example", Role.SHOWRUNNER),
    CastMember("director", "Daniel Okoye", "daniel@studio.example", Role.DIRECTOR),
    CastMember("producer", "Priya Nair", "priya@studio.example", Role.PRODUCER),
    CastMember("vfx_supervisor", "Victor Lindqvist", "victor@studio.example", Role.VFX_SUPERVISOR),
    CastMember("artist", "Ari Kim", "ari@studio.example", Role.ARTIST),
    CastMember("legal", "Lena Hoffmann", "lena@studio.example", Role.LEGAL),
    CastMember(
        "localization_manager", "Luc Moreau", "luc@studio.example", Role.LOCALIZATION_MANAGER
    ),
    CastMember("vendor_artist", "Vera Novak", "vera@lumenpost.example", Role.VENDOR, vendor=True),
    CastMember("auditor", "Omar Haddad", "omar@audit.example", Role.AUDITOR),
    CastMember("admin", "Studio Admin", "admin@studio.example", None),
)
"""Who is who in Northern Lights; everyone signs in with :data:`PASSWORD`."""


@dataclass(frozen=True)
class DemoCast:
    """Everything :func:`seed` made, for the scenario and for printing logins."""

    production: Production
    shots: dict[str, Shot]  # by shot code
    people: dict[str, Person]  # by CastMember.key
    password: str
    vendor: Vendor
    vendor_tool: Tool  # Lumen Cleanup
    studio_tool: Tool  # OpenCV inpaint
    consented: Talent  # Maya Okafor: de-aging consent on file
    unconsented: Talent  # Theo Brandt: no consent
    plate: Asset
    mask: Asset


def _vet(
    conn: Connection,
    production_id: str,
    people: dict[str, Person],
    vendors: tuple[Vendor, ...],
    tools: tuple[Tool, ...],
) -> None:
    """What legal and the producer set up before anyone asks for work: each vendor's
    attestation, the production's tool allow-list, its studio contact and watchlist."""
    legal, producer = people["legal"].id, people["producer"].id
    for vendor in vendors:
        record_attestation(
            conn,
            vendor.id,
            AttestationDraft(
                training_data=[
                    TrainingSource(source="Licensed plate library", licence="commercial")
                ],
                trains_on_inputs=False,
                retains_data_days=0,
                enclosed_environment=True,
                security_certification="TPN Gold",
                expires_at=utcnow() + timedelta(days=365),
            ),
            by=legal,
        )
    for tool in tools:
        allow_tool(conn, production_id, tool.id, by=producer)
    set_studio_contact(conn, production_id, "ai-disclosures@studio.example")
    add_watch(
        conn,
        production_id,
        WatchlistDraft(
            term="Captain Aurora",
            category="protected_character",
            aliases=["Aurora Comics"],
            note="Another studio's franchise character: never reference it in prompts.",
        ),
        by=legal,
    )


@dataclass(frozen=True)
class DemoRow:
    """One request of the scenario as it ended up."""

    request_id: str
    label: str  # what this request shows
    use_case: UseCase
    intent: Intent
    outcome: str  # the policy decision: allow, needs_approval or deny
    state: str
    outputs: int
    ledger_index: int  # the request's last ledger entry


# --- the data directory -------------------------------------------------------


def reset_demo_data(settings: Settings) -> str:
    """Make ``settings.data_dir`` ready for a fresh demo and say what was done.

    A missing or empty directory is created and marked; one carrying the
    :data:`MARKER` (an earlier demo's) is emptied; anything else is refused
    with ``demo.data_dir_in_use``, and so is a database outside the directory
    (``demo.external_database``): the demo never deletes what it did not make.
    """
    data_dir = settings.data_dir
    _require_own_database(settings)
    marker = data_dir / MARKER
    if data_dir.is_dir() and marker.is_file():
        # The marker goes last, so an interrupted reset can be run again.
        for child in data_dir.iterdir():
            if child.name == MARKER:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        message = f"Resetting the demo data in {data_dir} (left by an earlier `greenlight demo`)."
    elif not data_dir.exists() or (data_dir.is_dir() and not any(data_dir.iterdir())):
        data_dir.mkdir(parents=True, exist_ok=True)
        message = f"Creating the demo data in {data_dir}."
    else:
        raise Conflict(
            f"{data_dir} holds data the demo did not make (it has no {MARKER} marker), so "
            "the demo will not touch it. Set GREENLIGHT_DATA_DIR to another directory, e.g. "
            "`GREENLIGHT_DATA_DIR=./greenlight-demo greenlight demo`, or remove "
            f"{data_dir} yourself.",
            code="demo.data_dir_in_use",
            data_dir=str(data_dir),
        )
    # Written before anything else goes in: a demo that fails half way stays resettable.
    marker.write_text(
        "Made by `greenlight demo`. The next `greenlight demo` deletes everything here.\n"
    )
    return message


def _require_own_database(settings: Settings) -> None:
    url = make_url(settings.database_url)
    path = url.database
    inside = (
        url.get_backend_name() == "sqlite"
        and bool(path)
        and path != ":memory:"
        and Path(str(path)).resolve().is_relative_to(settings.data_dir.resolve())
    )
    if not inside:
        raise Conflict(
            "The demo keeps its own SQLite database inside its data directory and never "
            "touches another database; unset GREENLIGHT_DATABASE_URL to run it.",
            code="demo.external_database",
        )


# --- seeding --------------------------------------------------------------------


def plate_images(size: tuple[int, int] = PLATE_SIZE) -> tuple[bytes, bytes]:
    """A sky plate with a rig wire and a tracking marker, and the mask covering both (PNGs).

    The sky is a smooth dusk gradient with a little film grain; the wire is a
    thin bright line sagging across the frame; the marker a small green cross.
    The mask is white where either is, a few pixels wider, black elsewhere.
    """
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = y / (height - 1)  # 0 at the top, 1 at the horizon
    top = np.array([120, 40, 20], np.float32)  # BGR: deep blue
    horizon = np.array([150, 170, 235], np.float32)  # BGR: warm glow
    sky = top + (horizon - top) * (t**1.5)[..., None]
    sky += (x / (width - 1) * 12.0)[..., None]  # a touch brighter towards the sun
    grain = np.random.default_rng(2026).normal(0.0, 1.5, sky.shape)
    plate = np.clip(sky + grain, 0, 255).astype(np.uint8)

    wire = _wire_points(width, height)
    marker = (int(width * 0.74), int(height * 0.68))
    cv2.polylines(plate, [wire], False, (235, 238, 240), 2, cv2.LINE_AA)
    _cross(plate, marker, 9, (60, 220, 70), 2)

    mask = np.zeros((height, width), np.uint8)
    cv2.polylines(mask, [wire], False, 255, 8, cv2.LINE_8)
    _cross(mask, marker, 13, 255, 8)
    return _png(plate), _png(mask)


def _wire_points(width: int, height: int) -> Any:
    xs = np.linspace(0, width - 1, 48)
    sag = height * 0.08 * np.sin(np.pi * xs / (width - 1))  # hangs lowest mid-frame
    ys = height * 0.22 + xs * 0.06 + sag
    return np.stack([xs, ys], axis=1).round().astype(np.int32)


def _cross(image: Any, centre: tuple[int, int], arm: int, colour: Any, thickness: int) -> None:
    cx, cy = centre
    cv2.line(image, (cx - arm, cy), (cx + arm, cy), colour, thickness, cv2.LINE_8)
    cv2.line(image, (cx, cy - arm), (cx, cy + arm), colour, thickness, cv2.LINE_8)


def _png(image: Any) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - PNG takes any 8-bit image
        raise RuntimeError("OpenCV could not encode the demo plate")
    return bytes(encoded.tobytes())


def seed(platform: Platform) -> DemoCast:
    """Create Northern Lights: episodes, shots, people, vendors, tools, talent and a plate."""
    with platform.db.transaction() as conn:
        production = create_production(
            conn,
            ProductionDraft(
                code="NL",
                title="Northern Lights",
                kind=ProductionKind.SERIES,
                episodes=[
                    Episode(number=101, title="Pilot"),
                    Episode(number=102, title="Polar Night"),
                    Episode(number=103, title="Aurora"),
                ],
            ),
        )
        shots = {
            draft.code: create_shot(conn, production.id, draft)
            for draft in (
                ShotDraft(code="NL_101_010", episode=101, frame_in=1001, frame_out=1096),
                ShotDraft(code="NL_101_020", episode=101, frame_in=1001, frame_out=1048),
            )
        }
        studio = create_vendor(conn, "Studio Pipeline")
        lumen = create_vendor(conn, "Lumen Post")
        vendor_tool = create_tool(
            conn,
            lumen.id,
            ToolDraft(
                name="Lumen Cleanup",
                version="2.3.0",
                hosting=Hosting.VENDOR_ENCLOSED,
                backend="inpaint-opencv",
                use_cases=[UseCase.VFX_CLEANUP],
            ),
        )
        studio_tool = create_tool(
            conn,
            studio.id,
            ToolDraft(
                name="OpenCV inpaint",
                version=cv2.__version__,
                hosting=Hosting.STUDIO,
                backend="inpaint-opencv",
                use_cases=[UseCase.VFX_CLEANUP, UseCase.DE_AGING],
            ),
        )
        people = {}
        for member in CAST:
            person = create_person(
                conn,
                email=member.email,
                name=member.name,
                password=PASSWORD,
                is_admin=member.role is None,
            )
            if member.role is not None:
                grant_role(
                    conn,
                    production_id=production.id,
                    person_id=person.id,
                    role=member.role,
                    vendor_id=lumen.id if member.vendor else None,
                )
            people[member.key] = person
        _vet(conn, production.id, people, (studio, lumen), (studio_tool, vendor_tool))
        maya = register_talent(conn, "Maya Okafor", "SAG-AFTRA")
        theo = register_talent(conn, "Theo Brandt", "SAG-AFTRA")
        record_consent(
            conn,
            ConsentDraft(
                talent_id=maya.id,
                production_id=production.id,
                use_cases=[UseCase.DE_AGING],
                kind=ConsentKind.DIGITAL_ALTERATION,
                intended_use="De-age Maya Okafor to her 1990s self in the flashback scenes "
                "of season one",
                note="Digital alteration rider for flashback scenes, signed with her contract.",
            ),
        )
    artist = _access(platform, people["artist"])
    plate_png, mask_png = plate_images()
    plate, _ = assets.upload(
        platform, artist, production.id, "NL_101_010_plate.png", io.BytesIO(plate_png), "image/png"
    )
    mask, _ = assets.upload(
        platform, artist, production.id, "NL_101_010_mask.png", io.BytesIO(mask_png), "image/png"
    )
    return DemoCast(
        production=production,
        shots=shots,
        people=people,
        password=PASSWORD,
        vendor=lumen,
        vendor_tool=vendor_tool,
        studio_tool=studio_tool,
        consented=maya,
        unconsented=theo,
        plate=plate,
        mask=mask,
    )


def _access(platform: Platform, person: Person) -> Access:
    with platform.db.read() as conn:
        return load_access(conn, person)


# --- the scenario -----------------------------------------------------------------

SCENARIO_STEPS = 10
"""How many times :func:`run_scenario` reports a step (for a progress bar)."""


def run_scenario(
    platform: Platform, cast: DemoCast, on_step: Callable[[str], None] | None = None
) -> list[DemoRow]:
    """Drive the five demo requests through the engine, each step as the right person.

    1. A temp wire removal is allowed, runs, is accepted and delivered to editorial.
    2. The final cleanup of the same shot waits for the showrunner or director.
    3. De-aging a performer with no consent is denied (``alteration-needs-consent``).
    4. De-aging a consented performer waits for legal, who approve; it runs to review.
    5. A prompt naming a character on the watchlist waits for legal.

    ``on_step`` hears a sentence before each of the :data:`SCENARIO_STEPS` steps.
    """
    say = on_step or (lambda _: None)
    artist = _access(platform, cast.people["artist"])
    names = {key: person.name.split()[0] for key, person in cast.people.items()}
    shot = cast.shots["NL_101_010"]
    rows = []

    def cleanup(intent: Intent, tool: Tool, prompt: str) -> RequestDraft:
        return RequestDraft(
            production_id=cast.production.id,
            shot_id=shot.id,
            use_case=UseCase.VFX_CLEANUP,
            tool_id=tool.id,
            intent=intent,
            prompt=prompt,
            inputs=[
                InputRef(asset_id=cast.plate.id, part="plate"),
                InputRef(asset_id=cast.mask.id, part="mask"),
            ],
        )

    def de_age(performer: Talent) -> RequestDraft:
        return RequestDraft(
            production_id=cast.production.id,
            shot_id=cast.shots["NL_101_020"].id,
            use_case=UseCase.DE_AGING,
            tool_id=cast.studio_tool.id,
            intent=Intent.TEMPORARY,
            prompt=f"Take ten years off {performer.name} for the flashback, temp comp.",
            parameters={"regions": [[400, 200, 160, 120]]},
            inputs=[InputRef(asset_id=cast.plate.id, part="plate")],
            talent_ids=[performer.id],
        )

    # 1. allowed, run, accepted, delivered
    say(f"{names['artist']} asks for a temp wire removal on {shot.code}")
    detail = flow.submit(
        platform,
        artist,
        cleanup(Intent.TEMPORARY, cast.studio_tool, "Paint out the rig wire and the marker."),
    )
    say(f"Running {cast.studio_tool.name} on the plate")
    detail = run_request(platform, detail.request.id)
    say(f"{names['vfx_supervisor']} (VFX supervisor) accepts the cleanup")
    detail = flow.review(
        platform,
        _access(platform, cast.people["vfx_supervisor"]),
        detail.request.id,
        Verdict.ACCEPT,
        note="Clean, no trace of the wire.",
    )
    say(f"{names['producer']} (producer) delivers it to editorial")
    detail = flow.deliver(
        platform,
        _access(platform, cast.people["producer"]),
        detail.request.id,
        "editorial",
        note="Temp comp for the producer's cut.",
    )
    rows.append(_row(detail, "Temp cleanup, allowed and delivered"))

    # 2. a final deliverable waits for creative sign-off
    say(f"{names['artist']} asks for the final cleanup with {cast.vendor_tool.name}")
    detail = flow.submit(
        platform,
        artist,
        cleanup(Intent.FINAL_DELIVERABLE, cast.vendor_tool, "Final paint-out for the online."),
    )
    rows.append(_row(detail, "Final cleanup needs a creative lead"))

    # 3. no consent, no likeness work
    say(f"{names['artist']} asks to de-age {cast.unconsented.name} (no consent on file)")
    detail = flow.submit(platform, artist, de_age(cast.unconsented))
    rows.append(_row(detail, f"De-aging {cast.unconsented.name}, no consent"))

    # 4. consent on file: legal confirms, then it runs
    say(f"{names['artist']} asks to de-age {cast.consented.name} (consent on file)")
    detail = flow.submit(platform, artist, de_age(cast.consented))
    say(f"{names['legal']} (legal) confirms the consent covers it")
    detail = flow.approve(
        platform,
        _access(platform, cast.people["legal"]),
        detail.request.id,
        approved=True,
        note="Covered by the flashback rider.",
    )
    say(f"Running {cast.studio_tool.name} for the de-aging pass")
    detail = run_request(platform, detail.request.id)
    rows.append(_row(detail, f"De-aging {cast.consented.name} with consent"))

    # 5. the prompt names a character on the watchlist: legal looks first
    say(f"{names['artist']} asks for a cleanup whose prompt names a watched character")
    detail = flow.submit(
        platform,
        artist,
        cleanup(
            Intent.TEMPORARY,
            cast.studio_tool,
            "Paint out the rig wire; keep the captain-aurora poster on the wall sharp.",
        ),
    )
    rows.append(_row(detail, "Prompt names Captain Aurora: legal looks first"))
    return rows


def _row(detail: RequestDetail, label: str) -> DemoRow:
    request = detail.request
    return DemoRow(
        request_id=request.id,
        label=label,
        use_case=request.use_case,
        intent=request.intent,
        outcome=detail.decision.outcome.value if detail.decision else "",
        state=request.state.value,
        outputs=len(detail.outputs),
        ledger_index=detail.events[-1].index if detail.events else -1,
    )
