"""Subtitle files in and out: formats, frame-accurate round trips, encodings, refusals."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from greenlight.core.errors import InvalidInput
from greenlight.timedtext.io import FORMATS, dump_track, parse_track, read_track, write_track
from greenlight.timedtext.model import Cue, FrameRate, Track
from greenlight.timedtext.timecode import parse_frame_rate, parse_timecode, timecode

FPS_23976 = FrameRate(Fraction(24000, 1001))
FPS_2997_DF = FrameRate(Fraction(30000, 1001), drop_frame=True)

SRT = """1
00:00:01,001 --> 00:00:03,003
{\\an8}<i>Where were you</i>
last night?

2
00:00:03,754 --> 00:00:05,505
Café, crème brûlée… “naïve” – €5.

"""


def on_frames(frame_rate: FrameRate, spans: list[tuple[int, int]], texts: list[str]) -> Track:
    """A track whose events start and end exactly on frames of ``frame_rate``."""
    cues = tuple(
        Cue(frame_rate.ms_of(a), frame_rate.ms_of(b), text, "top" if i == 0 else None)
        for i, ((a, b), text) in enumerate(zip(spans, texts, strict=True))
    )
    return Track(cues=cues, language="en", frame_rate=frame_rate)


FRAME_SPANS = [(24, 72), (75, 120), (1799, 1830), (17982, 18010), (86290, 86400)]
TEXTS = ["<i>Top and italic</i>\nsecond line", "Plain", "Two\nlines", "<i>x</i> y", "Ünïcødé ✓"]


@pytest.mark.parametrize("frame_rate", [FPS_23976, FPS_2997_DF], ids=["23.976", "29.97df"])
@pytest.mark.parametrize("first", FORMATS)
@pytest.mark.parametrize("second", FORMATS)
def test_round_trips_across_formats_keep_every_event_on_its_frame(
    frame_rate: FrameRate, first: str, second: str
) -> None:
    track = on_frames(frame_rate, FRAME_SPANS, TEXTS)
    once = parse_track(dump_track(track, first), name=f"a.{first}", frame_rate=frame_rate)  # type: ignore[arg-type]
    twice = parse_track(dump_track(once, second), name=f"b.{second}", frame_rate=frame_rate)  # type: ignore[arg-type]
    frames = [(frame_rate.frame_of(c.start_ms), frame_rate.frame_of(c.end_ms)) for c in twice.cues]
    assert frames == FRAME_SPANS
    assert [c.text for c in twice.cues] == TEXTS
    assert [c.position for c in twice.cues] == ["top", None, None, None, None]


def test_ttml_written_at_23976_says_its_frame_rate_and_counts_frames() -> None:
    xml = dump_track(on_frames(FPS_23976, FRAME_SPANS, TEXTS), "ttml").decode()
    assert 'ttp:frameRate="24"' in xml and 'ttp:frameRateMultiplier="1000 1001"' in xml
    assert 'begin="24f" end="72f"' in xml
    assert "contentProfiles" not in xml
    imsc = dump_track(on_frames(FPS_23976, FRAME_SPANS, TEXTS), "imsc").decode()
    assert 'ttp:contentProfiles="http://www.w3.org/ns/ttml/profile/imsc1.1/text"' in imsc


def test_ttml_with_smpte_drop_frame_times_reads_at_the_right_frames() -> None:
    ttml = """<?xml version="1.0" encoding="UTF-8"?>
<tt xmlns="http://www.w3.org/ns/ttml" xmlns:ttp="http://www.w3.org/ns/ttml#parameter"
    xmlns:tts="http://www.w3.org/ns/ttml#styling" xml:lang="en" ttp:timeBase="smpte"
    ttp:frameRate="30" ttp:frameRateMultiplier="1000 1001" ttp:dropMode="dropNTSC">
 <head><styling><style xml:id="it" tts:fontStyle="italic"/></styling>
  <layout><region xml:id="up" tts:origin="10% 5%" tts:extent="80% 20%"
    tts:displayAlign="before"/></layout></head>
 <body><div>
  <p begin="00:01:00:02" end="00:01:02:00" region="up">Top <span style="it">italic</span>
     words<br/>second   line</p>
  <p begin="00:10:00:00" end="00:10:01:15" style="it">All italic</p>
 </div></body></tt>"""
    track = parse_track(ttml.encode("utf-8"), name="ep.ttml")
    assert track.frame_rate == FPS_2997_DF and track.language == "en"
    first, second = track.cues
    assert [timecode(c.start_ms, FPS_2997_DF) for c in track.cues] == ["00:01:00;02", "00:10:00;00"]
    assert FPS_2997_DF.frame_of(first.start_ms) == 1800  # 00:01:00;00 and ;01 do not exist
    assert first.text == "Top <i>italic</i> words\nsecond line" and first.position == "top"
    assert second.text == "<i>All italic</i>" and second.position is None


def test_drop_frame_time_codes_skip_two_labels_a_minute_except_every_tenth() -> None:
    assert timecode(FPS_2997_DF.ms_of(1799), FPS_2997_DF) == "00:00:59;29"
    assert timecode(FPS_2997_DF.ms_of(1800), FPS_2997_DF) == "00:01:00;02"
    assert timecode(FPS_2997_DF.ms_of(17982), FPS_2997_DF) == "00:10:00;00"
    for frame in range(0, 120_000, 37):
        label = timecode(FPS_2997_DF.ms_of(frame), FPS_2997_DF)
        assert FPS_2997_DF.frame_of(parse_timecode(label, FPS_2997_DF)) == frame
    with pytest.raises(InvalidInput) as refused:
        parse_timecode("00:01:00;00", FPS_2997_DF)
    assert refused.value.code == "subtitles.bad_timecode"


def test_every_frame_survives_milliseconds_at_common_rates() -> None:
    for rate in ("23.976", "24", "25", "29.97", "59.94"):
        fps = parse_frame_rate(rate)
        assert all(fps.frame_of(fps.ms_of(n)) == n for n in range(0, 200_000, 7)), rate


@pytest.mark.parametrize(
    ("encoding", "label"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-bom"),
        ("utf-16", "utf-16-bom"),
        ("utf-16-be", None),
        ("cp1252", "cp1252"),
    ],
)
def test_encodings_are_detected_and_never_turn_into_mojibake(
    encoding: str, label: str | None
) -> None:
    raw = SRT.encode(encoding)
    if encoding == "utf-16-be":
        raw = b"\xfe\xff" + raw  # big-endian with its byte-order mark
        label = "utf-16-bom"
    track = parse_track(raw, name="a.srt")
    assert track.cues[1].text == "Café, crème brûlée… “naïve” – €5."
    assert track.cues[0].text == "<i>Where were you</i>\nlast night?"
    assert track.cues[0].position == "top"
    assert track.metadata["encoding"] == label


def test_a_file_mixing_utf8_and_windows_1252_is_refused_as_unreadable() -> None:
    mixed = "1\n00:00:01,000 --> 00:00:02,000\nCafé\n\n".encode() + (
        "2\n00:00:03,000 --> 00:00:04,000\nCrème\n\n".encode("cp1252")
    )
    with pytest.raises(InvalidInput) as refused:
        parse_track(mixed, name="mixed.srt")
    assert refused.value.code == "subtitles.unreadable"
    assert "mixes encodings" in str(refused.value)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "subtitles.empty"),
        (b"  \n\n", "subtitles.empty"),
        (b"WEBVTT\n\n", "subtitles.empty"),
        (b"1\n00:00:05,000 --> 00:00:04,000\nBackwards\n\n", "subtitles.end_before_start"),
        (b"1\n-00:00:01,000 --> 00:00:02,000\nBefore zero\n\n", "subtitles.negative_time"),
        (
            b"1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:0x,000 --> 00:00:04,000\nbad\n\n",
            "subtitles.unreadable",
        ),
        (b"\x00\x01\x02binary", "subtitles.unreadable"),
        (b"\xff\xfe\x00\xd8", "subtitles.unreadable"),  # UTF-16 mark, lone surrogate
    ],
    ids=[
        "empty",
        "blank",
        "vtt-header-only",
        "end-before-start",
        "negative",
        "bad-time",
        "binary",
        "broken-utf16",
    ],
)
def test_broken_files_are_refused_with_a_clear_code(raw: bytes, code: str) -> None:
    name = "a.vtt" if raw.startswith(b"WEBVTT") else "a.srt"
    with pytest.raises(InvalidInput) as refused:
        parse_track(raw, name=name)
    assert refused.value.code == code


@pytest.mark.parametrize(
    "ttml_root",
    [
        '<tt xmlns="http://www.w3.org/ns/ttml" xmlns:ttp="http://www.w3.org/ns/ttml#parameter" '
        'ttp:frameRate="0">',
        '<tt xmlns="http://www.w3.org/ns/ttml" xmlns:ttp="http://www.w3.org/ns/ttml#parameter" '
        'ttp:frameRate="2397">',
        '<tt xmlns="http://www.w3.org/ns/ttml" xmlns:ttp="http://www.w3.org/ns/ttml#parameter" '
        'ttp:frameRate="30" ttp:frameRateMultiplier="1000 0">',
    ],
)
def test_ttml_with_an_absurd_frame_rate_is_refused(ttml_root: str) -> None:
    ttml = ttml_root + '<body><div><p begin="1f" end="40f">Hi</p></div></body></tt>'
    with pytest.raises(InvalidInput) as refused:
        parse_track(ttml.encode(), name="a.ttml")
    assert refused.value.code == "subtitles.bad_frame_rate"


@pytest.mark.parametrize("given", ["0", "-25", "1000", "abc", "25df", "23.976df", ""])
def test_absurd_frame_rates_on_the_command_line_are_refused(given: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_frame_rate(given)
    assert refused.value.code == "subtitles.bad_frame_rate"


def test_ttml_time_that_ttconv_cannot_parse_refuses_the_file_instead_of_dropping_it() -> None:
    ttml = (
        '<tt xmlns="http://www.w3.org/ns/ttml"><body><div>'
        '<p begin="00:00:01;02" end="00:00:02:00">semicolon is not TTML</p></div></body></tt>'
    )
    with pytest.raises(InvalidInput) as refused:
        parse_track(ttml.encode(), name="a.ttml")
    assert refused.value.code == "subtitles.unreadable"


def test_webvtt_line_setting_marks_a_raised_subtitle() -> None:
    vtt = (
        b"WEBVTT\n\n00:01.000 --> 00:02.000 line:0 align:center\n<i>up</i> here\n\n"
        b"00:00:03.000 --> 00:00:04.000\ndown\n"
    )
    track = parse_track(vtt, name="a.vtt")
    assert [(c.text, c.position) for c in track.cues] == [("<i>up</i> here", "top"), ("down", None)]


def test_writing_is_whole_or_nothing_and_reads_back(tmp_path: Path) -> None:
    track = on_frames(FPS_23976, FRAME_SPANS, TEXTS)
    out = tmp_path / "deliver" / "ep101.ttml"
    assert write_track(track, out) == "ttml"
    assert read_track(out).cues[0].text == TEXTS[0]
    assert [p.name for p in out.parent.iterdir()] == ["ep101.ttml"]  # no temporary left
