"""Subtitle translation with Debian's Apertium (rule-based MT, runs on the worker).

The language pairs are the installed modes (``apertium -l``: ``eng-spa``,
``es-fr``, ``fr-es``, ``es-pt``...), named here by their BCP 47 languages. A
pair with no mode of its own goes through Spanish when both halves exist
(English to French is ``eng-spa`` then ``es-fr``); any other pair is refused
with the list of those that work.

All of a track's segments go through one Apertium pipeline per hop, in its HTML
format: each segment is a ``<p data-n="k">`` block (blocks are never merged, and
the number proves the order), ``<i>`` italics are tags Apertium carries along
with their words, and glossary placeholders are unknown words it leaves alone.
Unknown-word marks are switched off (``-u``) and its other marks (``#``, ``@``)
taken out. Timing, line breaking, the glossary and the memory are
``backends._mt``'s.

The model is ``apertium <mode>[+<mode>]``; its version the Debian package
versions of Apertium and of each language pair used, so a run records exactly
which rules translated it.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from greenlight.backends import _mt
from greenlight.backends.base import (
    BackendInput,
    BackendOutput,
    BackendResult,
    CheckedBackend,
    Task,
)
from greenlight.core.errors import InvalidInput, Unavailable
from greenlight.core.settings import Settings

NAME = "mt-apertium"
PIVOT = "es"
MODES_DIR = Path("/usr/share/apertium/modes")
SECONDS_PER_SEGMENT = 0.05  # the time limit grows with the batch; Apertium does ~1,000/s
MIN_TIME_LIMIT = 60.0

# Apertium names languages by ISO 639-3 or 639-1 codes; requests use BCP 47.
_ISO_639_1 = {
    "eng": "en", "spa": "es", "cat": "ca", "fra": "fr", "por": "pt", "glg": "gl",
    "ita": "it", "oci": "oc", "deu": "de", "nld": "nl", "ron": "ro", "eus": "eu",
    "arg": "an", "epo": "eo", "swe": "sv", "dan": "da", "nob": "nb", "nno": "nn",
}  # fmt: skip
_MODE = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})(?:_([A-Z]{2}))?$")
_BLOCK = re.compile(r'<p data-n="(\d+)">(.*?)</p>', re.DOTALL)
_MARKS = re.compile(r"(?<![\w#@])[#@](?=\w)")


def _bcp47(code: str) -> str:
    return _ISO_639_1.get(code, code)


@lru_cache(maxsize=1)
def installed_pairs() -> dict[tuple[str, str], str]:
    """``(source, target) -> mode`` for every plain pair Apertium has here.

    Regional variants (``es-pt_BR``) count as their own target (``pt-BR``);
    variants that are not regions (``eng-cat_valencia``) and chained modes are
    left out.
    """
    program = shutil.which("apertium")
    if program is None:
        return {}
    try:
        listed = subprocess.run(
            [program, "-l"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return {}
    pairs = {}
    for mode in listed:
        found = _MODE.match(mode)
        if found is None:
            continue
        source, target, region = found.groups()
        target = _bcp47(target) + (f"-{region}" if region else "")
        pairs[(_bcp47(source), target)] = mode
    return pairs


def route(source: str, target: str) -> list[str]:
    """The modes that take ``source`` to ``target`` (one, or two through Spanish).

    A regional tag with no mode of its own falls back to its language
    (``en-GB`` reads as ``en``). Refuses a pair there is no way through.
    """
    pairs = installed_pairs()
    if not pairs:
        raise Unavailable(
            "Apertium is not installed on this worker; install the Debian packages "
            "apertium and apertium-eng-spa (see the Makefile's APT_PACKAGES).",
            code=f"backend.{NAME}.not_installed",
        )
    for src in dict.fromkeys((source, source.split("-")[0])):
        for tgt in dict.fromkeys((target, target.split("-")[0])):
            if (src, tgt) in pairs:
                return [pairs[(src, tgt)]]
            if _base(src) != _base(tgt) and (src, PIVOT) in pairs and (PIVOT, tgt) in pairs:
                return [pairs[(src, PIVOT)], pairs[(PIVOT, tgt)]]
    supported = sorted(supported_pairs())
    raise InvalidInput(
        f"Apertium here cannot translate {source} to {target}; it can do "
        f"{', '.join(f'{s}>{t}' for s, t in supported)}.",
        code=f"backend.{NAME}.unsupported_pair",
        source=source,
        target=target,
        supported=[f"{s}>{t}" for s, t in supported],
    )


def supported_pairs() -> set[tuple[str, str]]:
    """Every ``(source, target)`` Apertium can do here, directly or through Spanish."""
    pairs = set(installed_pairs())
    into = {s for s, t in pairs if t == PIVOT}
    out = {t for s, t in pairs if s == PIVOT}
    pairs |= {(s, t) for s in into for t in out if _base(s) != _base(t)}
    return pairs


def _base(tag: str) -> str:
    return tag.split("-")[0]


@lru_cache(maxsize=32)
def _version(mode: str) -> str:
    """The Debian package version of the language data a mode uses."""
    try:
        text = (MODES_DIR / f"{mode}.mode").read_text()
    except OSError:
        return "unknown"
    found = re.search(r"/usr/share/apertium/(apertium-[\w-]+)/", text)
    if found is None:
        return "unknown"
    return _package_version(found.group(1))


@lru_cache(maxsize=32)
def _package_version(package: str) -> str:
    try:
        answer = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return answer.stdout.strip() or "unknown"


def _html_batch(segments: Sequence[str]) -> str:
    blocks = []
    for k, segment in enumerate(segments):
        escaped = html.escape(segment, quote=False)
        escaped = escaped.replace("&lt;i&gt;", "<i>").replace("&lt;/i&gt;", "</i>")
        blocks.append(f'<p data-n="{k}">{escaped}</p>')
    return "\n".join(blocks) + "\n"


def translate_segments(modes: Sequence[str], segments: list[str]) -> list[str]:
    """``segments`` through each Apertium mode in turn: one process per mode for all."""
    text = _html_batch(segments)
    limit = max(MIN_TIME_LIMIT, SECONDS_PER_SEGMENT * len(segments))
    for mode in modes:
        try:
            done = subprocess.run(
                ["apertium", "-u", "-f", "html-noent", mode],
                input=text,
                capture_output=True,
                text=True,
                timeout=limit,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise Unavailable(
                f"Apertium ({mode}) did not finish {len(segments)} segments within "
                f"{limit:g} s; the worker may be overloaded, try again later.",
                code=f"backend.{NAME}.timed_out",
            ) from None
        if done.returncode != 0:
            raise Unavailable(
                f"Apertium ({mode}) failed ({done.stderr.strip()[:200] or done.returncode}); "
                "check its language data on this worker.",
                code=f"backend.{NAME}.failed",
            )
        text = done.stdout
    found = {int(k): body for k, body in _BLOCK.findall(text)}
    if sorted(found) != list(range(len(segments))):
        raise Unavailable(
            f"Apertium gave back {len(found)} of {len(segments)} segments; nothing was kept. "
            "Check its language data on this worker.",
            code=f"backend.{NAME}.misaligned",
        )
    return [" ".join(_MARKS.sub("", html.unescape(found[k])).split()) for k in range(len(found))]


class ApertiumBackend(CheckedBackend):
    """Subtitle translation with Apertium, pivoting through Spanish."""

    name = NAME

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings
        self.capabilities = _mt.capabilities(remote=False)

    def check(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Refuse an unknown pair, a bad glossary or memory, or unreadable subtitles."""
        return _mt.check_task(NAME, self.capabilities, inputs, parameters, pair=route)

    def work(self, task: Task) -> BackendResult:
        """Translate the subtitles; write ``<stem>.<target>.srt`` and its report."""
        inputs, effective, out_dir, _, progress = task
        request = _mt.read_request(NAME, effective)
        modes = route(request.source, request.target)
        item = inputs[0]
        track = _mt.read_subtitles(NAME, item, request.source)
        progress(0.1, f"translating {len(track.cues)} cues with apertium {'+'.join(modes)}")
        result = _mt.translate_track(
            track, request, lambda segments: translate_segments(modes, segments)
        )
        progress(0.9, "writing the translated subtitles")
        media_type = item.media_type
        subtitles, report = _mt.write_outputs(out_dir, item, result)
        progress(1.0, f"{len(track.cues)} cues translated")
        versions = [f"apertium {_package_version('apertium')}"]
        versions += [f"{mode} {_version(mode)}" for mode in modes]
        return BackendResult(
            outputs=(
                BackendOutput(subtitles, media_type, (0,)),
                BackendOutput(report, _mt.REPORT, (0,)),
            ),
            model=f"apertium {'+'.join(modes)}",
            model_version="; ".join(versions),
            parameters=effective,
            seed=None,
            usage={
                "cues": len(track.cues),
                "segments_translated": result.segments_sent,
                "from_memory": result.from_memory,
                "glossary_issues": result.glossary_issues,
                "route": list(modes),
                "pivot": PIVOT if len(modes) > 1 else None,
            },
            cost_usd=None,
            kind="edited",
        )
