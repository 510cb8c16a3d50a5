"""``greenlight subtitles``: QC, fix and convert subtitle files (SRT, WebVTT, TTML, IMSC 1.1).

No database: a subtitle file, a QC profile and the picture's frame rate are all
these commands need. ``subtitles qc`` exits 0 when the file is clean, 1 when it
breaks rules and 2 when it cannot be read (or an option is wrong); ``--json``
prints a list of ``{event, rule, start, timecode, message, suggestion}``.

Other steps of localization add their commands to :data:`app` (``transcribe``,
``translate``): ``app.command()(function)`` here or in ``cli/__init__.py``, and
:data:`FrameRateOption`, :data:`ProfileOption` and :func:`frame_rate_of` keep
their options the same as these.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from greenlight.cli._common import console, friendly_errors
from greenlight.core.errors import InvalidInput
from greenlight.timedtext.fix import fix_track
from greenlight.timedtext.io import FORMATS, Format, read_track, write_track
from greenlight.timedtext.model import FrameRate
from greenlight.timedtext.profiles import PROFILES, qc_profile
from greenlight.timedtext.qc import QCReport, check_track
from greenlight.timedtext.timecode import parse_frame_rate, parse_timecode

app = typer.Typer(
    help="Subtitles: QC against a streamer's timed-text rules, safe fixes, format conversion.",
    no_args_is_help=True,
)

FrameRateOption = Annotated[
    str | None,
    typer.Option(
        "--frame-rate",
        help="The picture's frame rate: 23.976, 24, 25, 29.97df, 30000/1001... "
        "(default: the file's own, else 23.976).",
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", help=f"QC profile: {', '.join(PROFILES)} (default: en)."),
]
ShotChangesOption = Annotated[
    Path | None,
    typer.Option(
        "--shot-changes",
        dir_okay=False,
        help="A text file of shot changes, one a line: HH:MM:SS:FF or seconds.",
    ),
]
SubtitleFile = Annotated[Path, typer.Argument(dir_okay=False, help="The subtitle file.")]


def frame_rate_of(given: str | None) -> FrameRate | None:
    """The ``--frame-rate`` option as a FrameRate (None when not given)."""
    return parse_frame_rate(given) if given is not None else None


@app.command()
@friendly_errors
def qc(
    file: SubtitleFile,
    profile: ProfileOption = None,
    frame_rate: FrameRateOption = None,
    shot_changes: ShotChangesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the violations as JSON.")] = False,
) -> None:
    """Check a subtitle file against a QC profile.

    Exit 0 clean, 1 violations, 2 unreadable file or bad option.
    """
    rules = qc_profile(profile)
    fps = frame_rate_of(frame_rate)
    track = read_track(file, frame_rate=fps)
    cuts = read_shot_changes(shot_changes, fps or track.frame_rate)
    report = check_track(track, rules, frame_rate=fps, shot_changes_ms=cuts)
    if as_json:
        typer.echo(json.dumps([v.to_json() for v in report.violations], indent=2))
    else:
        print_report(report, file)
    raise typer.Exit(code=0 if report.clean else 1)


@app.command()
@friendly_errors
def fix(
    file: SubtitleFile,
    output: Annotated[
        Path, typer.Option("--output", "-o", dir_okay=False, help="Where to write the fixed file.")
    ],
    profile: ProfileOption = None,
    frame_rate: FrameRateOption = None,
    shot_changes: ShotChangesOption = None,
    to: Annotated[
        str | None, typer.Option("--to", help=f"Output format: {', '.join(FORMATS)}.")
    ] = None,
) -> None:
    """Apply the safe fixes (gaps, durations, line breaks) and write the result.

    Words are never changed. Prints what changed and what QC still finds; exit 0
    when the result is clean, 1 when violations remain, 2 when unreadable.
    """
    rules = qc_profile(profile)
    fps = frame_rate_of(frame_rate)
    track = read_track(file, frame_rate=fps)
    cuts = read_shot_changes(shot_changes, fps or track.frame_rate)
    fixed = fix_track(track, rules, frame_rate=fps, shot_changes_ms=cuts)
    write_track(fixed.track, output, format=format_named(to), frame_rate=fps)
    for change in fixed.changes:
        console.print(f"  {escape(change)}", highlight=False)
    after = check_track(fixed.track, rules, frame_rate=fps, shot_changes_ms=cuts)
    console.print(
        f"{len(fixed.changes)} fixes written to {escape(str(output))}; "
        f"{len(after.violations)} violations left for a person",
        highlight=False,
    )
    raise typer.Exit(code=0 if after.clean else 1)


@app.command()
@friendly_errors
def convert(
    source: Annotated[Path, typer.Argument(dir_okay=False, help="The file to read.")],
    output: Annotated[Path, typer.Argument(dir_okay=False, help="The file to write.")],
    to: Annotated[
        str | None,
        typer.Option("--to", help=f"Output format: {', '.join(FORMATS)} (default: by extension)."),
    ] = None,
    frame_rate: FrameRateOption = None,
    language: Annotated[
        str | None, typer.Option("--language", help="BCP 47 language, when the file has none.")
    ] = None,
) -> None:
    """Convert between SRT, WebVTT, TTML and IMSC 1.1 (TTML in frames given a rate)."""
    fps = frame_rate_of(frame_rate)
    track = read_track(source, frame_rate=fps, language=language)
    written = write_track(track, output, format=format_named(to), frame_rate=fps)
    console.print(
        f"{len(track.cues)} events, {track.metadata['source_format']} "
        f"({track.metadata['encoding']}) → {written}: {escape(str(output))}",
        highlight=False,
    )


def format_named(name: str | None) -> Format | None:
    """The ``--to`` option as a format, or a refusal listing the formats."""
    if name is None:
        return None
    for known in FORMATS:
        if name.lower() == known:
            return known
    raise InvalidInput(
        f"{name!r} is not a subtitle format Greenlight writes; use one of {', '.join(FORMATS)}.",
        code="subtitles.unknown_format",
    )


def read_shot_changes(path: Path | None, frame_rate: FrameRate | None) -> list[int]:
    """Shot changes from a file of time codes or seconds, one a line, in milliseconds."""
    if path is None:
        return []
    fps = frame_rate or parse_frame_rate("23.976")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"Cannot read the shot changes {path}: {exc}.", code="subtitles.shot_changes_unreadable"
        ) from None
    cuts = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            cuts.append(round(float(text) * 1000))
        except ValueError:
            try:
                cuts.append(parse_timecode(text, fps))
            except InvalidInput:
                raise InvalidInput(
                    f"{path} line {number}: {text!r} is neither HH:MM:SS:FF nor seconds.",
                    code="subtitles.shot_changes_unreadable",
                ) from None
    return cuts


def print_report(report: QCReport, file: Path) -> None:
    """The QC report for a person: a summary line, then a table of violations."""
    rules = report.profile
    summary = (
        f"{escape(str(file))}: {report.events:,} events, profile {rules.name} v{rules.version}, "
        f"{float(report.frame_rate.rate):.3f} fps"
    )
    if report.clean:
        console.print(f"{summary}: [green]clean[/]", highlight=False)
        return
    console.print(f"{summary}: [yellow]{len(report.violations):,} violations[/]", highlight=False)
    table = Table()
    for column in ("event", "time code", "rule", "problem", "suggested fix"):
        table.add_column(column)
    for v in report.violations:
        table.add_row(str(v.event), v.timecode, v.rule, escape(v.message), escape(v.suggestion))
    console.print(table)


# Commands other steps of localization add to the group (each lives in its own module).
from greenlight.cli.subtitles_asr import transcribe  # noqa: E402  (after app exists)

app.command()(transcribe)
from greenlight.cli.subtitles_mt import translate  # noqa: E402

app.command()(translate)
