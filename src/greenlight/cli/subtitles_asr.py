"""``greenlight subtitles transcribe``: English dialogue to a subtitle file, on this machine.

Runs the ``asr-whisper`` backend directly on a local file (no database, no
request): the subtitle file lands where ``-o`` says, the word timings next to
it as ``<name>.words.json``. Exits 0 when the file is written (an empty track
for silent or non-speech audio comes with a warning on stderr), 2 when the
audio cannot be read or an option is wrong.

With ``--request --production P --as EMAIL`` the audio goes through the
production's lifecycle instead (``cli/_localization.py``): uploaded, judged,
run, signed, and left in review.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from greenlight.backends import backend_for
from greenlight.backends.asr_whisper import DEFAULT_BEAM_SIZE, MAX_BEAM_SIZE, SUBTITLE_TYPES
from greenlight.backends.base import BackendInput
from greenlight.cli._common import console, err_console, friendly_errors, settings
from greenlight.cli._localization import (
    AsRequest,
    RequestAs,
    refuse_output,
    required_output,
    submit_and_run,
)
from greenlight.core.enums import UseCase
from greenlight.core.errors import InvalidInput
from greenlight.timedtext.io import format_of

_MEDIA_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
}


@friendly_errors
def transcribe(
    audio: Annotated[
        Path,
        typer.Argument(
            dir_okay=False, help="English dialogue: WAV, MP3, M4A, or a video with sound."
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            dir_okay=False,
            help="The subtitle file to write (not with --request).",
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=f"{', '.join(SUBTITLE_TYPES)} (default: by the output's extension, else srt).",
        ),
    ] = None,
    beam_size: Annotated[
        int,
        typer.Option(
            "--beam-size",
            min=1,
            max=MAX_BEAM_SIZE,
            help="Hypotheses the decoder keeps; 1 is fastest.",
        ),
    ] = DEFAULT_BEAM_SIZE,
    vad: Annotated[
        bool, typer.Option("--vad/--no-vad", help="Skip stretches without speech first.")
    ] = True,
    request: AsRequest = False,
    production: Annotated[
        str | None, typer.Option(help="With --request: the production (code or id).")
    ] = None,
    as_: RequestAs = None,
) -> None:
    """Transcribe English dialogue into subtitles that follow the English QC profile."""
    if request:
        refuse_output(output)
    else:
        output = required_output(output)
    kind = format.lower() if format else _format_by_extension(output)
    if kind not in SUBTITLE_TYPES:
        raise InvalidInput(
            f"{format!r} is not a subtitle format transcribe writes; use one of "
            f"{', '.join(SUBTITLE_TYPES)}.",
            code="subtitles.unknown_format",
        )
    if not audio.is_file():
        raise InvalidInput(
            f"There is no file {audio}; give the path of the dialogue audio.",
            code="subtitles.audio_not_found",
        )
    if request:
        submit_and_run(
            production=production,
            as_=as_,
            backend="asr-whisper",
            use_case=UseCase.SUBTITLES,
            files=[(audio, "audio")],
            parameters={"format": kind, "beam_size": beam_size, "vad": vad},
        )
        return
    assert output is not None  # required above for a local run
    backend = backend_for("asr-whisper", settings())
    inputs = [
        BackendInput(
            audio, "audio", _MEDIA_TYPES.get(audio.suffix.lower(), "application/octet-stream")
        )
    ]
    parameters = backend.check(inputs, {"format": kind, "beam_size": beam_size, "vad": vad})
    output.parent.mkdir(parents=True, exist_ok=True)
    words_path = output.with_name(f"{output.stem}.words.json")
    # Written beside the destination first, then moved in: never half a file at ``output``.
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".transcribe-") as scratch:
        with err_console.status("Transcribing…") as status:
            result = backend.run(
                inputs,
                parameters,
                Path(scratch),
                progress=lambda fraction, stage: status.update(f"{stage} {fraction:.0%}"),
            )
        subtitles, timings = result.outputs
        os.replace(subtitles.path, output)
        os.replace(timings.path, words_path)
    usage = result.usage
    for warning in usage["warnings"]:
        err_console.print(f"[yellow]warning[/] {escape(warning)}", highlight=False)
    console.print(
        f"{usage['events']} events ({usage['words']} words, {usage['audio_seconds']:.1f} s of "
        f"audio, real-time factor {usage['real_time_factor']}) → {escape(str(output))}; "
        f"word timings → {escape(str(words_path))}",
        highlight=False,
    )


def _format_by_extension(output: Path | None) -> str:
    if output is None:
        return "srt"
    try:
        return format_of(output)
    except InvalidInput:
        return "srt"
