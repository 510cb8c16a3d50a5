"""``greenlight likeness``: enroll performers' faces and voices, scan a file for them."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from greenlight.cli._common import console, friendly_errors, settings
from greenlight.cli._opening import ActAs, acting_as, find_performer, opened, plain_table
from greenlight.likeness import EnrolledTalentScanner, ScanContext, enroll, list_templates
from greenlight.likeness.scan import Hit, face_hits, media_kind, voice_hits
from greenlight.productions import find_production
from greenlight.rights import list_talent

app = typer.Typer(
    help="Performers' face and voice templates, and scanning files for them.",
    no_args_is_help=True,
)

_VOICE_SUFFIXES = frozenset({".wav", ".mp3", ".m4a"})


@app.command("enroll")
@friendly_errors
def enroll_command(
    performer: Annotated[str, typer.Argument(help="The performer's name or id.")],
    files: Annotated[
        list[Path],
        typer.Argument(
            exists=True, dir_okay=False, help="Reference photos (one face each) or voice samples."
        ),
    ],
    as_: ActAs,
    kept_under: Annotated[
        str | None,
        typer.Option(help="The consent under which the studio keeps the templates."),
    ] = None,
) -> None:
    """Add reference photos (and voice samples: .wav, .mp3, .m4a) of a performer and
    make their likeness templates (legal or admin). A photo with no face, or with
    several, is refused and nothing is stored."""
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        with platform.db.read() as conn:
            found = find_performer(conn, performer)
        voices = [f for f in files if f.suffix.lower() in _VOICE_SUFFIXES]
        pictures = [f for f in files if f not in voices]
        made = enroll(
            platform.db,
            platform.blobs,
            platform.settings.keys_dir,
            access,
            found.id,
            photos=[(f.name, f.read_bytes()) for f in pictures],
            voice_samples=[(f.name, f.read_bytes()) for f in voices],
            kept_under=kept_under,
        )
    console.print(
        f"[green]enrolled[/] {escape(found.name)}: {len(made)} new template(s) "
        + ", ".join(f"{t.modality} {t.id} ({t.vectors} vectors, {t.model})" for t in made),
        highlight=False,
    )


@app.command("templates")
@friendly_errors
def templates_command(
    performer: Annotated[str, typer.Argument(help="The performer's name or id.")],
    as_: ActAs,
) -> None:
    """List a performer's templates (legal only; the vectors themselves are never shown)."""
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        with platform.db.read() as conn:
            found = find_performer(conn, performer)
            templates = list_templates(conn, access, found.id)
    table = plain_table("template", "modality", "model", "vectors", "reference", "kept under")
    for t in templates:
        table.add_row(
            t.id, t.modality, t.model, str(t.vectors), t.reference_id, t.kept_under or "-"
        )
    console.print(table)


@app.command("scan")
@friendly_errors
def scan_command(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Image, video or audio.")
    ],
    production: Annotated[str, typer.Option(help="The production's code or id.")],
    as_: ActAs,
    studio: Annotated[
        bool, typer.Option("--studio", help="Look for every enrolled performer of the studio.")
    ] = False,
    every: Annotated[float, typer.Option(help="Seconds between sampled video frames.")] = 1.0,
    processes: Annotated[
        int,
        typer.Option(min=1, max=64, help="Processes for a long video, scanned in stretches."),
    ] = os.cpu_count() or 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Look for enrolled performers in a file (legal or admin on the production): every
    sighting with the performer, confidence, frame, time and face box."""
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        with platform.db.read() as conn:
            prod = find_production(conn, production)
            names = {t.id: t.name for t in list_talent(conn)}
        access.require_rights(prod.id, code="likeness.scan_not_allowed")
        scanner = EnrolledTalentScanner(
            platform.db,
            platform.blobs,
            platform.settings.keys_dir,
            scope="studio" if studio else "production",
            every_seconds=every,
        )
        audio = media_kind(file) == "audio"
        faces_gallery, voice_gallery = scanner.galleries(
            ScanContext(production_id=prod.id), voices=audio
        )
        found = (
            voice_hits(file, voice_gallery)
            if audio and voice_gallery is not None
            else face_hits(file, faces_gallery, every_seconds=every, skim=True, processes=processes)
        )
        # Sightings only: the frames they were seen in are not kept for a listing.
        hits: list[Hit] = [replace(h, image=None) for h in found]
    rows: list[dict[str, Any]] = [
        {
            "talent": h.talent_id,
            "name": names.get(h.talent_id, ""),
            "modality": h.modality,
            "confidence": round(h.confidence, 4),
            "frame": h.frame,
            "time": None if h.time is None else round(h.time, 3),
            "end": None if h.end is None else round(h.end, 3),
            "box": h.box.as_list() if h.box else None,
        }
        for h in hits
    ]
    if as_json:
        typer.echo(json.dumps({"file": str(file), "scanner": scanner.name, "matches": rows}))
        return
    if not rows:
        console.print(f"No enrolled performer found in {escape(file.name)} ({scanner.name}).")
        return
    table = plain_table("performer", "confidence", "frame", "time", "box", whole=("performer",))
    for r in rows:
        when = "" if r["time"] is None else f"{r['time']:.2f}s"
        box = "" if r["box"] is None else "x".join(str(v) for v in r["box"])
        table.add_row(
            f"{r['name']} ({r['talent']})", f"{r['confidence']:.3f}", str(r["frame"]), when, box
        )
    console.print(table)
