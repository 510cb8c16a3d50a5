"""``greenlight subtitles translate``: a subtitle file into another language, on this machine.

Runs a machine-translation backend (``mt-apertium`` by default, or the
studio's ``mt-http`` vendor) directly on a local file. With ``--production``
the production's glossary (terms kept or translated as given) and its
translation memory (earlier approved lines reused first, close ones offered)
go in with the cues. The translation lands where ``-o`` says, the report
(where each line came from, glossary terms not honoured) beside it as
``<name>.mt.json``. Exits 0 when both are written, 2 when the file cannot be
read, the language pair is not available or an option is wrong.

With ``--request`` (and ``--production``, ``--as``) the file goes through the
production's lifecycle instead (``cli/_localization.py``): the engine fills in
the glossary and memory as the run starts, and the signed translation waits in
review.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from greenlight.backends import backend_for
from greenlight.backends._mt import FORMAT_OF_TYPE
from greenlight.backends.base import BackendInput
from greenlight.cli._common import console, friendly_errors, settings
from greenlight.cli._localization import (
    AsRequest,
    RequestAs,
    refuse_output,
    required_output,
    submit_and_run,
)
from greenlight.cli._opening import opened
from greenlight.core.enums import UseCase
from greenlight.core.errors import InvalidInput
from greenlight.localization import glossary, memory
from greenlight.productions.registry import find_production
from greenlight.timedtext.io import Format, format_of, read_track, write_track

ENGINES = ("mt-apertium", "mt-http")
_TYPE_OF_FORMAT = {kind: media for media, kind in FORMAT_OF_TYPE.items()}


@friendly_errors
def translate(
    source_file: Annotated[
        Path, typer.Argument(dir_okay=False, help="The subtitles to translate: SRT, WebVTT, TTML.")
    ],
    source: Annotated[str, typer.Option("--from", help="The subtitles' language (en).")],
    target: Annotated[str, typer.Option("--to", help="The language to translate into (es).")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", dir_okay=False, help="The translation to write (not with --request)."
        ),
    ] = None,
    production: Annotated[
        str | None,
        typer.Option(
            help="Use this production's glossary and translation memory (code or id); with "
            "--request, the production the request is made on."
        ),
    ] = None,
    engine: Annotated[
        str, typer.Option(help=f"The backend: {' or '.join(ENGINES)}.")
    ] = "mt-apertium",
    request: AsRequest = False,
    as_: RequestAs = None,
) -> None:
    """Translate subtitles, keeping every event's timing and the production's terms."""
    if engine not in ENGINES:
        raise InvalidInput(
            f"{engine!r} is not a translation backend; use {' or '.join(ENGINES)}.",
            code="subtitles.unknown_engine",
        )
    if not source_file.is_file():
        raise InvalidInput(
            f"There is no file {source_file}; give the path of the subtitles to translate.",
            code="subtitles.not_found",
        )
    if request:
        refuse_output(output)
        submit_and_run(
            production=production,
            as_=as_,
            backend=engine,
            use_case=UseCase.SUBTITLES,
            files=[(source_file, "subtitles")],
            parameters={"source": source, "target": target},
        )
        return
    output = required_output(output)
    kind = format_of(source_file)
    parameters: dict[str, object] = {"source": source, "target": target}
    if production is not None:
        track = read_track(source_file, language=source)
        with opened(settings()) as platform, platform.db.read() as conn:
            found = find_production(conn, production)
            terms = glossary.entries_for(conn, found.id, glossary.language_tag(target))
            hits = memory.lookup(conn, found.id, source, target, [c.text for c in track.cues])
        parameters["glossary"] = glossary.as_parameter(terms)
        parameters["memory"] = memory.as_parameter(hits)
    backend = backend_for(engine, settings())
    inputs = [BackendInput(source_file, "subtitles", _TYPE_OF_FORMAT[_read_as(kind)])]
    checked = backend.check(inputs, parameters)
    output.parent.mkdir(parents=True, exist_ok=True)
    report_path = output.with_name(f"{output.stem}.mt.json")
    # Written beside the destination first, then moved in: never half a file at ``output``.
    wanted = _output_format(output, kind)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".translate-") as scratch:
        result = backend.run(inputs, checked, Path(scratch))
        translated, report = result.outputs
        if wanted != kind:  # the backend answers in the input's format; -o may ask another
            converted = Path(scratch) / f"converted.{wanted}"
            write_track(read_track(translated.path, language=target), converted, format=wanted)
            translated = replace(translated, path=converted)
        os.replace(translated.path, output)
        os.replace(report.path, report_path)
    usage = result.usage
    console.print(
        f"{source} → {target} with {result.model} {result.model_version}: "
        f"{escape(str(output))}; report → {escape(str(report_path))}"
        + (f"; usage {usage}" if usage else ""),
        highlight=False,
    )


def _read_as(kind: Format) -> Format:
    """The backends read IMSC as the TTML it is."""
    return "ttml" if kind == "imsc" else kind


def _output_format(output: Path, otherwise: Format) -> Format:
    """The format ``-o``'s name asks for; the input's when the name says none."""
    try:
        return format_of(output)
    except InvalidInput:
        return otherwise
