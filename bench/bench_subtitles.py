"""Subtitle QC of a 1,500-event episode: milliseconds and events per second.

Run: .venv/bin/python bench/bench_subtitles.py [--events 1500] [--repeat 50]

The episode is generated (23.976 fps, two-line events, a few hundred planted
violations of every timing and text rule) and written as SRT. Measured in the
same run, best of ``--repeat``:

- qc: ``check_track`` (every rule, the English profile, with 300 shot changes);
- parse: pysubs2 parsing the same SRT text, the floor any tool that reads the
  file pays, as a baseline;
- naive: the same rules as a per-rule Python loop over Fraction times (one pass
  per rule, times converted to frames with ``FrameRate.frame_of``), as a
  straightforward implementation would write them;
- read: ``read_track`` on the SRT bytes (decode, pysubs2, checks) for scale.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from fractions import Fraction

import pysubs2

from greenlight.timedtext.io import dump_track, parse_track
from greenlight.timedtext.model import Cue, FrameRate, Track
from greenlight.timedtext.profiles import ENGLISH
from greenlight.timedtext.qc import check_track, visible

FPS = FrameRate(Fraction(24000, 1001))


def episode(events: int) -> tuple[Track, list[int]]:
    """An episode of ``events`` events, one in five breaking some rule, and its shot changes."""
    cues, frame = [], 24
    for n in range(events):
        length, gap = 72, 2
        text = f"Event {n}: where were you\nlast night, Marcus?"
        if n % 17 == 0:
            text = "This line is much too long for the subtitle rules we keep"
        if n % 23 == 0:
            length = 12  # too short
        if n % 29 == 0:
            gap = 7  # a gap to chain
        cues.append(Cue(FPS.ms_of(frame), FPS.ms_of(frame + length), text))
        frame += length + gap
    cuts = [FPS.ms_of(f) for f in range(500, frame, max(1, frame // 300))]
    return Track(tuple(cues), "en", FPS), cuts


def naive_qc(track: Track) -> int:
    """The rules one at a time, each its own loop, Fraction frame arithmetic throughout."""
    rules, found = ENGLISH, 0
    cues = track.cues
    min_frames, max_frames = rules.min_duration_frames(FPS), rules.max_duration_frames(FPS)
    for cue in cues:
        if any(len(visible(line)) > rules.max_chars_per_line for line in cue.lines):
            found += 1
    for cue in cues:
        if len(cue.lines) > rules.max_lines:
            found += 1
    for cue in cues:
        chars = sum(len(visible(line)) for line in cue.lines)
        if chars / (Fraction(cue.duration_ms, 1000) or Fraction(1, 1000)) > rules.max_cps:
            found += 1
    for cue in cues:
        frames = FPS.frame_of(cue.end_ms) - FPS.frame_of(cue.start_ms)
        if frames < min_frames or frames > max_frames:
            found += 1
    for before, after in itertools.pairwise(cues):
        between = FPS.frame_of(after.start_ms) - FPS.frame_of(before.end_ms)
        if between < rules.min_gap_frames or 2 < between <= rules.chaining_gap_frames:
            found += 1
    return found


def best_ms(work: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    track, cuts = episode(args.events)
    raw = dump_track(track, "srt")
    text = raw.decode()
    report = check_track(track, shot_changes_ms=cuts)

    rows = [
        (
            "qc (check_track, all rules + shot changes)",
            lambda: check_track(track, shot_changes_ms=cuts),
        ),
        ("qc, no shot changes", lambda: check_track(track)),
        (
            "baseline: pysubs2 parse of the SRT",
            lambda: pysubs2.SSAFile.from_string(text, format_="srt"),
        ),
        ("baseline: naive per-rule loops (no shot changes)", lambda: naive_qc(track)),
        ("read_track (decode + pysubs2 + checks)", lambda: parse_track(raw, name="episode.srt")),
    ]
    print(
        f"{args.events} events, {len(report.violations)} violations found, "
        f"{len(cuts)} shot changes; best of {args.repeat}"
    )
    print(f"{'step':<52} {'ms':>8} {'events/s':>12}")
    timings = {}
    for label, work in rows:
        ms = best_ms(work, args.repeat)
        timings[label] = ms
        print(f"{label:<52} {ms:8.2f} {args.events / (ms / 1000):12,.0f}")
    qc_ms = timings[rows[0][0]]
    print(f"qc / pysubs2 parse: {qc_ms / timings[rows[2][0]]:.2f}x")
    print(
        f"naive loops / qc (without shot changes): {timings[rows[3][0]] / timings[rows[1][0]]:.2f}x"
    )
    print(f"budget: under 50 ms -> {'met' if qc_ms < 50 else 'MISSED'} ({qc_ms:.2f} ms)")


if __name__ == "__main__":
    main()
