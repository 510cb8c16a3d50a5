"""Reading and writing subtitle files: SRT, WebVTT, TTML and IMSC 1.1 (text profile).

SRT and WebVTT go through ``pysubs2``, TTML and IMSC through ``ttconv``; both
land in the same :class:`Track`. Bytes are decoded here, once, and a file whose
encoding cannot be told for sure is refused rather than turned into mojibake:
UTF-8 (with or without a byte-order mark) and UTF-16/32 with a byte-order mark
are read as such, anything else must be Windows-1252 all through.

Every refusal is an :class:`InvalidInput` with a ``subtitles.*`` code:
``unreadable`` (encoding, syntax), ``empty``, ``negative_time``,
``end_before_start``, ``bad_frame_rate``, ``unknown_format``.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
import xml.etree.ElementTree as et
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import pysubs2

from greenlight.core.errors import InvalidInput
from greenlight.timedtext.model import Cue, FrameRate, Track
from greenlight.timedtext.timecode import checked_frame_rate

Format = Literal["srt", "vtt", "ttml", "imsc"]
FORMATS: tuple[Format, ...] = ("srt", "vtt", "ttml", "imsc")

_EXTENSIONS: dict[str, Format] = {
    ".srt": "srt",
    ".vtt": "vtt",
    ".webvtt": "vtt",
    ".ttml": "ttml",
    ".dfxp": "ttml",
    ".xml": "ttml",
    ".imsc": "imsc",
}
IMSC11_TEXT_PROFILE = "http://www.w3.org/ns/ttml/profile/imsc1.1/text"
_TTP = "http://www.w3.org/ns/ttml#parameter"

# --------------------------------------------------------------------------- bytes


_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le", "UTF-32"),
    (b"\x00\x00\xfe\xff", "utf-32-be", "UTF-32"),
    (b"\xef\xbb\xbf", "utf-8", "UTF-8"),
    (b"\xff\xfe", "utf-16-le", "UTF-16"),
    (b"\xfe\xff", "utf-16-be", "UTF-16"),
)
# A well-formed multi-byte UTF-8 sequence; Windows-1252 text almost never holds one.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
)
# Control characters no subtitle holds (tab, newlines and form feed are fine).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def decode_subtitles(raw: bytes, name: str = "the file") -> tuple[str, str]:
    """The text of a subtitle file and the encoding it was read in.

    A byte-order mark decides; without one the bytes must be UTF-8 or, failing
    that, Windows-1252 with no UTF-8 sequence anywhere (a file edited in two
    tools that mixes both is refused: no choice reads it right).
    """
    for mark, codec, label in _BOMS:
        if raw.startswith(mark):
            try:
                text = raw[len(mark) :].decode(codec)
            except UnicodeDecodeError as exc:
                raise _unreadable(
                    name,
                    f"it starts with a {label} byte-order mark but byte {exc.start + len(mark)} "
                    f"is not {label}",
                ) from None
            return _no_controls(text, name), f"{label.lower()}-bom"
    try:
        return _no_controls(raw.decode("utf-8"), name), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    if b"\x00" in raw:
        raise _unreadable(
            name, "it holds NUL bytes: UTF-16 without a byte-order mark, or not text at all"
        )
    utf8 = _UTF8_SEQUENCE.search(raw)
    if utf8 is not None:
        raise _unreadable(
            name,
            f"it mixes encodings: UTF-8 at byte {utf8.start()} but not at byte {first_bad}",
        )
    try:
        return _no_controls(raw.decode("cp1252"), name), "cp1252"
    except UnicodeDecodeError as exc:
        raise _unreadable(
            name, f"byte {exc.start} is neither UTF-8 nor Windows-1252 (0x{raw[exc.start]:02x})"
        ) from None


def _no_controls(text: str, name: str) -> str:
    found = _CONTROL.search(text)
    if found is not None:
        line = text.count("\n", 0, found.start()) + 1
        raise _unreadable(name, f"line {line} holds a control character (U+{ord(found[0]):04X})")
    return text


_RESAVE = "Save it as UTF-8 and try again."
_CORRECT = "Correct it in a subtitle editor (or export it again) and try again."


def _unreadable(name: str, why: str, fix: str = _RESAVE) -> InvalidInput:
    return InvalidInput(
        f"{name} cannot be read as subtitles: {why}. {fix}", code="subtitles.unreadable"
    )


# --------------------------------------------------------------------------- formats


def format_of(path: Path | str, text: str | None = None) -> Format:
    """The subtitle format a file name (or, failing that, its text) says it is."""
    suffix = Path(path).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if text is not None:
        head = text.lstrip()
        if head.startswith("WEBVTT"):
            return "vtt"
        if head.startswith("<"):
            return "imsc" if IMSC11_TEXT_PROFILE in text[:4000] else "ttml"
        if "-->" in text:
            return "srt"
    raise InvalidInput(
        f"{path} is not a subtitle format Greenlight reads; name it .srt, .vtt, .ttml or "
        ".imsc (or pass --to/--from).",
        code="subtitles.unknown_format",
    )


def read_track(
    path: Path,
    *,
    format: Format | None = None,
    language: str | None = None,
    frame_rate: FrameRate | None = None,
) -> Track:
    """Read a subtitle file into a :class:`Track`, or refuse it with a ``subtitles.*`` code.

    ``frame_rate`` is the picture's rate when the caller knows it; a TTML file's
    own ``ttp:frameRate`` is used otherwise.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            f"Cannot read {path}: {exc.strerror}.", code="subtitles.unreadable"
        ) from None
    return parse_track(raw, name=str(path), format=format, language=language, frame_rate=frame_rate)


def parse_track(
    raw: bytes,
    *,
    name: str = "the file",
    format: Format | None = None,
    language: str | None = None,
    frame_rate: FrameRate | None = None,
) -> Track:
    """:func:`read_track` for bytes already in hand (``name`` is used in messages)."""
    text, encoding = decode_subtitles(raw, name)
    if not text.strip():
        raise InvalidInput(f"{name} is empty: it holds no subtitle events.", code="subtitles.empty")
    kind = format or format_of(name, text)
    if kind in ("srt", "vtt"):
        cues = _read_srt_vtt(text, kind, name)
        file_rate, file_language = None, None
    else:
        cues, file_rate, file_language = _read_ttml(text, name)
    if not cues:
        raise InvalidInput(f"{name} holds no subtitle events.", code="subtitles.empty")
    _check_times(cues, name)
    return Track(
        cues=tuple(sorted(cues, key=lambda c: (c.start_ms, c.end_ms))),
        language=language or file_language or "und",
        frame_rate=frame_rate or file_rate,
        metadata={"source_format": kind, "encoding": encoding},
    )


def _check_times(cues: list[Cue], name: str) -> None:
    for index, cue in enumerate(cues, 1):
        if cue.start_ms < 0 or cue.end_ms < 0:
            raise InvalidInput(
                f"{name}: event {index} has a negative time ({cue.start_ms} ms → "
                f"{cue.end_ms} ms); times start at 00:00:00.",
                code="subtitles.negative_time",
            )
        if cue.end_ms < cue.start_ms:
            raise InvalidInput(
                f"{name}: event {index} ends ({cue.end_ms} ms) before it starts "
                f"({cue.start_ms} ms); swap or correct its times.",
                code="subtitles.end_before_start",
            )


# --------------------------------------------------------------------------- SRT / WebVTT

_TIMING_LINE = re.compile(r"^[ \t]*(\S+)[ \t]+-->[ \t]+(\S+)(.*)$", re.MULTILINE)
_ASS_TAG = re.compile(r"\{[^}]*\}")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_TOP_ALIGN = re.compile(r"\{\\an[789]\}")
_VTT_LINE_SETTING = re.compile(r"(?:^|\s)line:(-?\d+(?:\.\d+)?)(%?)")


def _read_srt_vtt(text: str, kind: Format, name: str) -> list[Cue]:
    timing_lines = _TIMING_LINE.findall(text)
    for start, end, _settings in timing_lines:
        if start.startswith("-") or end.startswith("-"):
            raise InvalidInput(
                f"{name}: the event timed {start} --> {end} has a negative time; "
                "times start at 00:00:00.",
                code="subtitles.negative_time",
            )
    try:
        parsed = pysubs2.SSAFile.from_string(text, format_=kind)
    except Exception as exc:  # pysubs2 raises many kinds on malformed input
        raise _unreadable(name, f"it is not valid {kind.upper()} ({exc})", _CORRECT) from None
    events = list(parsed)
    if len(events) != len(timing_lines):
        # pysubs2 skips a timing line it cannot parse; losing an event silently is worse
        # than refusing the file.
        raise _unreadable(
            name,
            f"{len(timing_lines)} timing lines but only {len(events)} readable events "
            "(a time like 00:00:01,000 is malformed)",
            _CORRECT,
        )
    tops: list[bool] = [False] * len(events)
    if kind == "vtt":
        tops = [_vtt_is_top(settings) for _start, _end, settings in timing_lines]
    cues = []
    for event, top in zip(events, tops, strict=True):
        raw = event.text
        is_top = top or _TOP_ALIGN.search(raw) is not None
        cues.append(
            Cue(
                start_ms=int(event.start),
                end_ms=int(event.end),
                text=_text_from_ass(raw),
                position="top" if is_top else None,
            )
        )
    return cues


def _vtt_is_top(settings: str) -> bool:
    found = _VTT_LINE_SETTING.search(settings)
    if found is None:
        return False
    value, percent = float(found.group(1)), found.group(2)
    # line:0..3 (line numbers from the top) or a percentage in the upper half.
    return (value < 50) if percent else (0 <= value < 4)


def _text_from_ass(raw: str) -> str:
    """pysubs2's event text (ASS override tags) as display lines with <i> italics."""
    text = raw.replace("{\\i1}", "\x01").replace("{\\i0}", "\x02")
    text = _ASS_TAG.sub("", text).replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
    text = text.replace("<i>", "\x01").replace("</i>", "\x02")
    text = _HTML_TAG.sub("", text)  # <b>, <font>, <v Speaker>, <c.yellow>: not kept
    text = text.replace("\x01", "<i>").replace("\x02", "</i>")
    return balance_italics("\n".join(line.strip() for line in text.strip().split("\n")))


def balance_italics(text: str) -> str:
    """Close ``<i>`` at each line's end and reopen it on the next, so every line stands alone.

    Lines are measured, re-broken and rendered one by one; an italic run that
    crosses a line break would otherwise be cut in half.
    """
    out_lines = []
    italic = False
    for line in text.split("\n"):
        pieces = []
        for part in _italic_runs(line, italic):
            italic = part[1]
            if part[0]:
                pieces.append(f"<i>{part[0]}</i>" if part[1] else part[0])
        out_lines.append("".join(pieces))
    return "\n".join(out_lines).replace("</i><i>", "")


def _italic_runs(line: str, italic: bool) -> Iterator[tuple[str, bool]]:
    """``(text, italic)`` runs of one line, starting in the italic state given."""
    for token in re.split(r"(</?i>)", line):
        if token == "<i>":
            italic = True
            yield "", True
        elif token == "</i>":
            italic = False
            yield "", False
        elif token:
            yield token, italic


def italic_runs(line: str) -> list[tuple[str, bool]]:
    """A display line as ``(text, italic)`` runs, markup removed."""
    return [(text, italic) for text, italic in _italic_runs(line, False) if text]


def _write_srt_vtt(track: Track, kind: Format) -> str:
    subs = pysubs2.SSAFile()
    for cue in sorted(track.cues, key=lambda c: c.start_ms):
        text = cue.text.replace("\n", "\\N")
        if kind == "srt" and cue.position == "top":
            text = "{\\an8}" + text  # the de-facto SRT mark for a raised subtitle
        subs.append(pysubs2.SSAEvent(start=cue.start_ms, end=cue.end_ms, text=text))
    # keep_ssa_tags: our text is already SRT/VTT markup (<i>), and {\an8} must survive.
    out = subs.to_string(kind, keep_ssa_tags=True)
    if kind == "vtt":
        tops = [cue.position == "top" for cue in sorted(track.cues, key=lambda c: c.start_ms)]
        count = iter(tops)

        def settings(found: re.Match[str]) -> str:
            return found.group(0) + (" line:0" if next(count, False) else "")

        out = _TIMING_LINE.sub(settings, out)
    return out


# --------------------------------------------------------------------------- TTML / IMSC


def _read_ttml(text: str, name: str) -> tuple[list[Cue], FrameRate | None, str | None]:
    from ttconv import model
    from ttconv.imsc import reader

    # The text is decoded already; an encoding declaration would contradict it.
    body = re.sub(r"^\s*<\?xml[^>]*\?>", "", text, count=1)
    try:
        root = et.fromstring(body)
    except et.ParseError as exc:
        raise _unreadable(name, f"it is not well-formed XML ({exc})", _CORRECT) from None
    if not root.tag.endswith("}tt") and root.tag != "tt":
        raise _unreadable(name, f"its root element is <{root.tag}>, not TTML's <tt>", _CORRECT)
    rate = _ttml_frame_rate(root, name)
    # ttconv logs a bad time or attribute as an error and carries on without it; a
    # paragraph silently untimed is a wrong file, so its errors refuse the file here.
    complaints = _Complaints()
    logger = logging.getLogger("ttconv")
    logger.addHandler(complaints)
    propagate, logger.propagate = logger.propagate, False
    try:
        doc = reader.to_model(et.ElementTree(root))
    except Exception as exc:  # ttconv raises ValueError, TypeError, KeyError... on bad TTML
        raise _unreadable(name, f"it is not valid TTML ({exc})", _CORRECT) from None
    finally:
        logger.removeHandler(complaints)
        logger.propagate = propagate
    if complaints.errors:
        raise _unreadable(name, "; ".join(complaints.errors[:3]), _CORRECT)
    if doc is None:
        raise _unreadable(name, "it is not valid TTML", _CORRECT)
    cues: list[Cue] = []
    document_body = doc.get_body()
    if document_body is not None:
        _collect_paragraphs(document_body, Fraction(0), None, None, cues, name, model)
    return cues, rate, doc.get_lang() or None


class _Complaints(logging.Handler):
    """Collects what ttconv logs at ERROR while it reads one document."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.errors.append(record.getMessage())


def _ttml_frame_rate(root: et.Element, name: str) -> FrameRate | None:
    given = root.get(f"{{{_TTP}}}frameRate")
    if given is None:
        return None
    if not given.strip().isdigit():
        raise InvalidInput(
            f"{name}: ttp:frameRate {given!r} is not a whole number of frames per second.",
            code="subtitles.bad_frame_rate",
        )
    rate = Fraction(int(given))
    multiplier = root.get(f"{{{_TTP}}}frameRateMultiplier")
    if multiplier:
        parts = multiplier.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[1]) == 0:
            raise InvalidInput(
                f"{name}: ttp:frameRateMultiplier {multiplier!r} is not two whole numbers "
                "like '1000 1001'.",
                code="subtitles.bad_frame_rate",
            )
        rate *= Fraction(int(parts[0]), int(parts[1]))
    drop = root.get(f"{{{_TTP}}}dropMode") == "dropNTSC"
    return checked_frame_rate(rate, drop_frame=drop, given=f"{given} × {multiplier or '1'}")


def _collect_paragraphs(
    element: Any,
    parent_begin: Fraction,
    parent_end: Fraction | None,
    region: Any,
    cues: list[Cue],
    name: str,
    model: Any,
) -> None:
    """Walk body → div → p, resolving times against the parents (TTML's par timing)."""
    begin = parent_begin + (element.get_begin() or 0)
    own_end = element.get_end()
    end = parent_end if own_end is None else parent_begin + own_end
    if parent_end is not None and end is not None:
        end = min(end, parent_end)
    own_region = element.get_region()
    if own_region is not None:  # a Region with no children is falsy
        region = own_region
    if isinstance(element, model.P):
        if end is None:
            raise _unreadable(
                name, f"the paragraph starting at {float(begin):.3f} s has no end", _CORRECT
            )
        text = _paragraph_text(element, model)
        cues.append(
            Cue(
                start_ms=_ms(begin),
                end_ms=_ms(end),
                text=text,
                position="top" if _region_is_top(region) else None,
            )
        )
        return
    for child in element:
        _collect_paragraphs(child, begin, end, region, cues, name, model)


def _ms(seconds: Fraction) -> int:
    return math.floor(seconds * 1000 + Fraction(1, 2))


def _paragraph_text(paragraph: Any, model: Any) -> str:
    import ttconv.style_properties as styles

    pieces: list[str] = []

    def walk(element: Any, italic: bool) -> None:
        style = element.get_style(styles.StyleProperties.FontStyle)
        if style is not None:
            italic = style is not styles.FontStyleType.normal
        if isinstance(element, model.Br):
            pieces.append("\n")
        elif isinstance(element, model.Text):
            words = re.sub(r"\s+", " ", element.get_text())
            pieces.append(f"<i>{words}</i>" if italic and words.strip() else words)
        else:
            for child in element:
                walk(child, italic)

    walk(paragraph, False)
    lines = [re.sub(r" {2,}", " ", line).strip() for line in "".join(pieces).split("\n")]
    return balance_italics("\n".join(lines).replace("</i><i>", "").strip("\n"))


def _region_is_top(region: Any) -> bool:
    """Whether a region puts its text in the upper half of the picture."""
    if region is None:
        return False
    import ttconv.style_properties as styles

    align = region.get_style(styles.StyleProperties.DisplayAlign)
    origin = region.get_style(styles.StyleProperties.Origin)
    extent = region.get_style(styles.StyleProperties.Extent)
    percent = (styles.LengthType.Units.pct, styles.LengthType.Units.rh)
    if origin is None or origin.y.units not in percent:
        return align is styles.DisplayAlignType.before
    top = float(origin.y.value)
    height = float(extent.height.value) if extent and extent.height.units in percent else 100 - top
    anchor = {
        styles.DisplayAlignType.before: top,
        styles.DisplayAlignType.center: top + height / 2,
    }.get(align, top + height)
    return anchor < 50


def _write_ttml(track: Track, kind: Format, frame_rate: FrameRate | None) -> bytes:
    import ttconv.style_properties as styles
    from ttconv import model
    from ttconv.imsc import config, writer

    doc = model.ContentDocument()
    doc.set_lang(track.language if track.language != "und" else "")
    regions = {}
    for region_id, align in (
        ("bottom", styles.DisplayAlignType.after),
        ("top", styles.DisplayAlignType.before),
    ):
        region = model.Region(region_id, doc)
        pct = styles.LengthType.Units.pct
        region.set_style(
            styles.StyleProperties.Origin,
            styles.CoordinateType(x=styles.LengthType(10, pct), y=styles.LengthType(10, pct)),
        )
        region.set_style(
            styles.StyleProperties.Extent,
            styles.ExtentType(height=styles.LengthType(80, pct), width=styles.LengthType(80, pct)),
        )
        region.set_style(styles.StyleProperties.DisplayAlign, align)
        region.set_style(styles.StyleProperties.TextAlign, styles.TextAlignType.center)
        doc.put_region(region)
        regions[region_id] = region
    body = model.Body(doc)
    doc.set_body(body)
    div = model.Div(doc)
    body.push_child(div)
    for cue in sorted(track.cues, key=lambda c: c.start_ms):
        paragraph = model.P(doc)
        paragraph.set_begin(_seconds(cue.start_ms, frame_rate))
        paragraph.set_end(_seconds(cue.end_ms, frame_rate))
        paragraph.set_region(regions["top" if cue.position == "top" else "bottom"])
        for number, line in enumerate(cue.lines):
            if number:
                paragraph.push_child(model.Br(doc))
            for words, italic in italic_runs(line):
                span = model.Span(doc)
                if italic:
                    span.set_style(styles.StyleProperties.FontStyle, styles.FontStyleType.italic)
                span.push_child(model.Text(doc, words))
                paragraph.push_child(span)
        div.push_child(paragraph)
    settings = config.IMSCWriterConfiguration(fps=frame_rate.rate if frame_rate else None)
    root = writer.from_model(doc, settings).getroot()
    if kind == "imsc":
        root.set(f"{{{_TTP}}}contentProfiles", IMSC11_TEXT_PROFILE)
    else:
        root.attrib.pop(f"{{{_TTP}}}contentProfiles", None)
    if frame_rate is not None and frame_rate.drop_frame:
        root.set(f"{{{_TTP}}}dropMode", "dropNTSC")  # recorded so a reader knows the labels
    body_xml = et.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body_xml + "\n").encode("utf-8")


def _seconds(ms: int, frame_rate: FrameRate | None) -> Fraction:
    """A cue time as TTML will write it: on the frame grid when the rate is known."""
    if frame_rate is None:
        return Fraction(ms, 1000)
    return Fraction(frame_rate.frame_of(ms)) / frame_rate.rate


# --------------------------------------------------------------------------- writing


def dump_track(track: Track, format: Format, *, frame_rate: FrameRate | None = None) -> bytes:
    """A track as the bytes of a subtitle file (UTF-8, no byte-order mark).

    TTML and IMSC times are written in frames when a frame rate is known
    (``frame_rate`` or the track's), so frame-accurate timing survives.
    """
    if format in ("srt", "vtt"):
        return _write_srt_vtt(track, format).encode("utf-8")
    if format in ("ttml", "imsc"):
        return _write_ttml(track, format, frame_rate or track.frame_rate)
    raise InvalidInput(
        f"{format!r} is not a subtitle format Greenlight writes; use one of {', '.join(FORMATS)}.",
        code="subtitles.unknown_format",
    )


def write_track(
    track: Track,
    path: Path,
    *,
    format: Format | None = None,
    frame_rate: FrameRate | None = None,
) -> Format:
    """Write a track to ``path`` whole or not at all; return the format written."""
    kind = format or format_of(path)
    data = dump_track(track, kind, frame_rate=frame_rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return kind
