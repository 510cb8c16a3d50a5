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
import wave
from collections.abc import Callable
from pathlib import Path

import av
import c2pa
import numpy as np
from PIL import Image

from greenlight.core import Settings
from greenlight.provenance import (
    CredentialFacts,
    Governance,
    LedgerReference,
    SigningIdentity,
    Tool,
    init_identity,
    prompt_digest,
    sign_asset,
)
from greenlight.provenance._manifest import manifest_definition

RUNS = 15
WARMUP = 2
TARGET = 1.2


def _frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1)
    noise = rng.integers(-12, 12, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def png_1080p(path: Path) -> None:
    Image.fromarray(_frame(1920, 1080)).save(path)


def jpeg_4k(path: Path) -> None:
    Image.fromarray(_frame(3840, 2160)).save(path, quality=92)


def wav_30s(path: Path) -> None:
    rate = 48000
    t = np.arange(rate * 30) / rate
    tone = (np.sin(2 * np.pi * 440 * t) * 12000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(tone[:, None], 2, axis=1).tobytes())


def mp4_10s_1080p(path: Path) -> None:
    picture = _frame(1920, 1080)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = 1920, 1080
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i in range(250):
            moving = np.roll(picture, i * 8, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(moving, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


ASSETS: list[tuple[str, str, str, Callable[[Path], None]]] = [
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
        facts = CredentialFacts(
            kind="generated",
            tool=Tool(name="lumen-diffusion", version="3.2.0"),
            governance=Governance(
                request_id="req_bench",
                production="prod_bench",
                use_case="previs",
                policy_decision_id="dec_bench",
                policy_version="2026.11.1",
                approval_ids=("apr_1",),
                consent_ids=("con_1",),
                prompt_log_id="plog_1",
                prompt_sha256=prompt_digest("a lighthouse in a storm"),
                ledger=LedgerReference(origin="bench/ledger", index=7, leaf_hash="ab" * 32),
            ),
        )
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
