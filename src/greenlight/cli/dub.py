"""``greenlight dub``: a translated subtitle file spoken and muxed with the video as a new track.

With ``--request --production P --as EMAIL`` the subtitles go through the
production's lifecycle instead (``cli/_localization.py``): a dubbing request
for the production's text-to-speech tool, judged by policy (a performer named
with ``--talent`` needs their voice consent), one signed WAV per line left in
review; the video stays out of it and is muxed locally once the lines pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from greenlight.cli._common import console, friendly_errors
from greenlight.cli._localization import AsRequest, RequestAs, refuse_output, submit_and_run
from greenlight.core.enums import UseCase
from greenlight.core.errors import InvalidInput
from greenlight.localization.dubbing import ENGINES, DubReport, Limits, dub_video
from greenlight.timedtext.io import read_track


@friendly_errors
def dub(
    subtitles: Annotated[
        Path, typer.Option("--subtitles", help="The translated subtitles to speak (.srt).")
    ],
    language: Annotated[
        str, typer.Option("--language", help="The subtitles' language, BCP 47 (es, fr-FR).")
    ],
    video: Annotated[
        Path | None,
        typer.Argument(help="The programme's video (MP4, QuickTime, MKV); not with --request."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="The dubbed video to write (not with --request)."),
    ] = None,
    voice: Annotated[
        str | None,
        typer.Option(help="The engine's voice (espeak: es, es+f3; piper: en_US-joe-medium)."),
    ] = None,
    engine: Annotated[
        str, typer.Option(help=f"The text-to-speech engine: {', '.join(ENGINES)}.")
    ] = "espeak",
    stem: Annotated[
        Path | None, typer.Option(help="Also write the dialogue stem as this WAV.")
    ] = None,
    max_tempo: Annotated[
        float, typer.Option(help="Fastest a line may be sped up to fit its event.")
    ] = 1.25,
    min_tempo: Annotated[
        float, typer.Option(help="Slowest a line may be slowed down with --fit fill.")
    ] = 0.8,
    fit: Annotated[
        str, typer.Option(help="natural: only speed long lines up; fill: also slow short ones.")
    ] = "natural",
    replace_audio: Annotated[
        bool, typer.Option(help="Drop the original audio instead of keeping it beside the dub.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    request: AsRequest = False,
    production: Annotated[
        str | None, typer.Option(help="With --request: the production (code or id).")
    ] = None,
    as_: RequestAs = None,
    talent: Annotated[
        list[str] | None,
        typer.Option(
            help="With --request: a performer whose voice the dub imitates, by name or id "
            "(their voice consent is checked; repeatable)."
        ),
    ] = None,
) -> None:
    """Speak translated subtitles with a generic synthetic voice and add them to the video.

    Each line is time-fitted to its event (tempo changed within limits); lines
    that cannot fit are listed with the tempo they would need and their overrun.
    The picture is copied untouched; the dub is a new audio stream tagged with
    the language, beside the original audio unless --replace-audio.
    """
    if not subtitles.is_file():
        raise InvalidInput(
            f"There is no subtitle file at {subtitles}; check the path.", code="dub.no_subtitles"
        )
    if request:
        if video is not None:
            raise InvalidInput(
                "A dubbing request speaks the subtitles (one signed WAV per line, for review); "
                "leave the video out and mux the accepted lines locally with `greenlight dub`.",
                code="dub.video_with_request",
            )
        refuse_output(output)
        if engine not in ENGINES:
            raise InvalidInput(
                f"There is no TTS engine {engine!r}; choose one of {', '.join(ENGINES)}.",
                code="dub.unknown_engine",
            )
        submit_and_run(
            production=production,
            as_=as_,
            backend=f"tts-{engine}",
            use_case=UseCase.DUBBING,
            files=[(subtitles, "subtitles")],
            parameters={"language": language, **({"voice": voice} if voice else {})},
            talent=talent or [],
        )
        return
    if video is None or not video.is_file():
        where = f"There is no video at {video}; check the path." if video else "Give the video."
        raise InvalidInput(where, code="dub.no_video")
    if output is None:
        raise InvalidInput("Name the dubbed video to write with -o.", code="dub.no_output")
    if fit not in ("natural", "fill"):
        raise InvalidInput(f"--fit must be natural or fill, not {fit!r}.", code="dub.bad_fit")
    track = read_track(subtitles, language=language)
    report = dub_video(
        video,
        track,
        output,
        engine=engine,
        voice=voice,
        stem_path=stem,
        limits=Limits(min_tempo, max_tempo, "fill" if fit == "fill" else "natural"),
        keep_original_audio=not replace_audio,
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_report(report)


def _print_report(report: DubReport) -> None:
    fitted = len(report.fits) - len(report.unfit)
    console.print(
        f"Dubbed {escape(str(report.output))}: {len(report.fits)} lines in "
        f"{escape(report.language)} ({report.language_tag}), {report.engine} voice "
        f"{escape(report.voice)} (a generic synthetic voice), "
        f"{report.duration_ms / 1000:.1f} s at {report.sample_rate} Hz, in {report.seconds:.1f} s."
    )
    if report.stem_path is not None:
        console.print(f"Dialogue stem: {escape(str(report.stem_path))}")
    kept = report.kept_original_audio
    console.print(f"Original audio streams kept: {kept}." if kept else "Original audio dropped.")
    console.print(f"{fitted} of {len(report.fits)} lines fit their events.")
    for warning in report.warnings:
        console.print(f"[yellow]warning[/] {escape(warning)}")
    if not report.unfit:
        return
    table = Table(
        "event", "start", "end", "needed tempo", "applied", "overrun ms", "cut ms", "line"
    )
    for line in report.unfit:
        table.add_row(
            str(line.event),
            f"{line.start_ms / 1000:.3f}",
            f"{line.end_ms / 1000:.3f}",
            f"{line.needed_tempo:.2f}x",
            f"{line.tempo:.2f}x",
            str(line.overrun_ms),
            str(line.cut_ms),
            escape(line.text),
        )
    console.print("Lines that could not fit (shorten the translation or widen the event):")
    console.print(table)
