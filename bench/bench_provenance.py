"""Greenlight's signing vs a bare c2pa ``Builder.sign`` of the same file, same run.

Greenlight's side is ``sign_asset``: manifest built from facts, ingredients none,
sign into a temporary file next to the destination, rename (the atomic write).
The baseline is c2pa-python alone: the same manifest, the same signer and
context settings (thumbnails off, offline), writing straight into the
destination file. Runs alternate so drift hits both sides alike.

Two more columns compare the durable variants: ``sign_asset(durable=True)``
(fsync before the rename) against the bare sign plus temp file, fsync and
rename, what any crash-safe writer pays.

Run: ``.venv/bin/python bench/bench_provenance.py``. Target: "vs bare" <= 1.2.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import c2pa

from greenlight.core import Settings
from greenlight.provenance import (
    SigningIdentity,
    init_identity,
    sign_asset,
)
from greenlight.provenance._manifest import manifest_definition

# The bench shares the test suite's media makers; run from anywhere in the repo.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.media import generated_facts, make_image, make_video, make_wav

RUNS = 15
WARMUP = 2
TARGET = 1.2


def png_1080p(path: Path) -> Path:
    return make_image(path, (1920, 1080))


def jpeg_4k(path: Path) -> Path:
    return make_image(path, (3840, 2160), quality=92)


def wav_30s(path: Path) -> Path:
    return make_wav(path, seconds=30, rate=48000, channels=2)


def mp4_10s_1080p(path: Path) -> Path:
    return make_video(path, frames=250, size=(1920, 1080), rate=25)


ASSETS: list[tuple[str, str, str, Callable[[Path], Path]]] = [
    ("1080p PNG", ".png", "image/png", png_1080p),
    ("4K JPEG", ".jpg", "image/jpeg", jpeg_4k),
    ("30 s WAV", ".wav", "audio/wav", wav_30s),
    ("10 s 1080p MP4", ".mp4", "video/mp4", mp4_10s_1080p),
]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="greenlight-bench-") as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root / "data", database_url="sqlite://")
        init_identity(settings, organization="Bench Studio")
        identity = SigningIdentity.load(settings)
        facts = generated_facts()
        # The baseline gets the same settings and signer Greenlight uses, built by hand.
        bare_context = c2pa.Context.from_dict(
            {
                "builder": {"thumbnail": {"enabled": False}},
                "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
            }
        )
        signer = identity.sdk_signer()

        print(f"median of {RUNS} runs after {WARMUP} warm-up runs; c2pa {c2pa.sdk_version()}")
        header = (
            f"{'asset':<16}{'size MB':>8}{'bare ms':>9}{'greenlight':>11}{'ratio':>7}"
            f"{'bare+fsync':>12}{'gl durable':>11}{'ratio':>7}"
        )
        print(header)
        print("-" * len(header))
        worst = 0.0
        for name, suffix, mime, make in ASSETS:
            src = root / f"source{suffix}"
            make(src)
            bare_dst = root / f"bare{suffix}"
            durable_dst = root / f"durable{suffix}"
            ours_dst = root / f"greenlight{suffix}"

            def bare(src: Path = src, mime: str = mime, dst: Path = bare_dst) -> None:
                manifest = manifest_definition(
                    facts, title=dst.name, label=f"urn:c2pa:{uuid.uuid4()}"
                )
                with (
                    c2pa.Builder(manifest, bare_context) as builder,
                    src.open("rb") as source,
                    dst.open("w+b") as out,
                ):
                    builder.sign(signer, mime, source, out)

            def durable(src: Path = src, mime: str = mime, dst: Path = durable_dst) -> None:
                # What any crash-safe writer pays: temp file, fsync, rename.
                manifest = manifest_definition(
                    facts, title=dst.name, label=f"urn:c2pa:{uuid.uuid4()}"
                )
                tmp = dst.with_name(dst.name + ".partial")
                with (
                    c2pa.Builder(manifest, bare_context) as builder,
                    src.open("rb") as source,
                    tmp.open("w+b") as out,
                ):
                    builder.sign(signer, mime, source, out)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, dst)

            def ours(src: Path = src, dst: Path = ours_dst) -> None:
                sign_asset(src, dst, facts, identity)

            def ours_durable(src: Path = src, dst: Path = ours_dst) -> None:
                sign_asset(src, dst, facts, identity, durable=True)

            sides = {"bare": bare, "ours": ours, "durable": durable, "ours_durable": ours_durable}
            times: dict[str, list[float]] = {side: [] for side in sides}
            for run in range(WARMUP + RUNS):
                for side, work in sides.items():
                    # Each run signs a new output, as the lifecycle does; deleting the
                    # previous one is not part of signing.
                    for old in (bare_dst, durable_dst, ours_dst):
                        old.unlink(missing_ok=True)
                    # Start every run with no dirty pages: an fsync on ext4 also writes
                    # out other files' pending data, so without this one side's unsynced
                    # output would be paid for by the next side's fsync.
                    os.sync()
                    started = time.perf_counter()
                    work()
                    elapsed = (time.perf_counter() - started) * 1000
                    if run >= WARMUP:
                        times[side].append(elapsed)
            bare_ms, ours_ms, durable_ms, ours_durable_ms = (
                statistics.median(times[s]) for s in sides
            )
            ratio = ours_ms / bare_ms
            worst = max(worst, ratio)
            size = src.stat().st_size / 1e6
            print(
                f"{name:<16}{size:>8.1f}{bare_ms:>9.1f}{ours_ms:>11.1f}{ratio:>7.2f}"
                f"{durable_ms:>12.1f}{ours_durable_ms:>11.1f}{ours_durable_ms / durable_ms:>7.2f}"
            )
        verdict = "within" if worst <= TARGET else "OVER"
        print(f"worst ratio vs bare {worst:.2f}: {verdict} the {TARGET}x target")
        return 0


if __name__ == "__main__":
    sys.exit(main())
