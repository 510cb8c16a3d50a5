"""Small real media and sample credential facts, made on the spot.

Used by the provenance tests and by bench/bench_provenance.py, which asks for
the same kinds of files at production sizes.
"""

from __future__ import annotations

import json
import struct
import wave
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from greenlight.provenance import (
    CredentialFacts,
    Governance,
    LedgerReference,
    Tool,
    prompt_digest,
)

MediaMaker = Callable[[Path], Path]


def frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A gradient with a little noise: compresses like a real frame, not like static."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1)
    noise = rng.integers(-8, 8, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def make_image(
    path: Path, size: tuple[int, int] = (64, 48), seed: int = 0, **save_options: Any
) -> Path:
    """PNG, JPEG, WebP or TIFF by suffix (``quality=`` and friends go to Pillow)."""
    Image.fromarray(frame(*size, seed=seed)).save(path, **save_options)
    return path


def make_wav(path: Path, seconds: float = 0.25, rate: int = 16000, channels: int = 1) -> Path:
    """A 16-bit 440 Hz tone on every channel."""
    t = np.arange(int(rate * seconds)) / rate
    tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(tone[:, None], channels, axis=1).tobytes())
    return path


def make_audio(path: Path, codec: str, seconds: float = 0.5, rate: int = 44100) -> Path:
    """MP3 (libmp3lame) or M4A (AAC) encoded by PyAV's bundled FFmpeg."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        samples_per_frame = 1152
        t0 = 0
        total = int(rate * seconds)
        while t0 < total:
            t = (np.arange(t0, t0 + samples_per_frame) / rate).astype(np.float32)
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = t0
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
            t0 += samples_per_frame
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_video(
    path: Path, frames: int = 6, size: tuple[int, int] = (64, 48), rate: int = 24
) -> Path:
    """H.264 in MP4 or QuickTime, by suffix: one picture panning, so frames differ."""
    picture = frame(*size)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i in range(frames):
            moving = np.roll(picture, i * 8, axis=1)
            video_frame = av.VideoFrame.from_ndarray(moving, format="rgb24")
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_clip(
    path: Path,
    frames: int = 6,
    size: tuple[int, int] = (64, 48),
    rate: int = 24,
    *,
    timecode: str | None = "01:00:00:00",
    audio: bool = True,
    pictures: list[np.ndarray] | None = None,
) -> Path:
    """A camera-like clip: H.264 in MP4 or QuickTime (by suffix) with a start timecode and
    a stereo AAC tone under it. ``pictures`` (RGB) replace the default panning frame."""
    picture = frame(*size)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=rate)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "12"}
        if timecode is not None:
            video.metadata["timecode"] = timecode
        sound = container.add_stream("aac", rate=48000) if audio else None
        if sound is not None:
            sound.layout = "stereo"
        for i in range(frames):
            pixels = pictures[i] if pictures is not None else np.roll(picture, i * 4, axis=1)
            for packet in video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            total, at = 48000 * frames // rate, 0
            while at < total:
                t = np.arange(at, at + 1024, dtype=np.float32) / 48000
                tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
                chunk = av.AudioFrame.from_ndarray(
                    np.stack([tone, tone]), format="fltp", layout="stereo"
                )
                chunk.sample_rate, chunk.pts, chunk.time_base = 48000, at, Fraction(1, 48000)
                for packet in sound.encode(chunk):
                    container.mux(packet)
                at += 1024
            for packet in sound.encode():
                container.mux(packet)
    return path


def make_srt(path: Path) -> Path:
    path.write_text(
        "1\n00:00:01,000 --> 00:00:03,000\nWhere were you on the night of the storm?\n\n"
        "2\n00:00:03,500 --> 00:00:05,000\nAt the lighthouse.\n",
        encoding="utf-8",
    )
    return path


def make_vtt(path: Path) -> Path:
    path.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n¿Dónde estabas la noche de la tormenta?\n",
        encoding="utf-8",
    )
    return path


def make_ttml(path: Path) -> Path:
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<tt xmlns="http://www.w3.org/ns/ttml" xml:lang="fr"><body><div>'
        '<p begin="00:00:01.000" end="00:00:03.000">Où étais-tu la nuit de la tempête ?</p>'
        "</div></body></tt>\n",
        encoding="utf-8",
    )
    return path


def make_json(path: Path) -> Path:
    path.write_text(json.dumps({"shot": "sh010", "cues": [[1.0, 3.0, "hello"]]}), encoding="utf-8")
    return path


def make_exr(path: Path, width: int = 8, height: int = 4) -> Path:
    """A minimal real OpenEXR: scanline, uncompressed, one HALF channel 'Y'."""

    def attribute(name: str, kind: str, value: bytes) -> bytes:
        return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value

    channels = b"Y\0" + struct.pack("<iB3xii", 1, 0, 1, 1) + b"\0"
    window = struct.pack("<iiii", 0, 0, width - 1, height - 1)
    header = (
        b"\x76\x2f\x31\x01"
        + struct.pack("<i", 2)
        + attribute("channels", "chlist", channels)
        + attribute("compression", "compression", b"\0")
        + attribute("dataWindow", "box2i", window)
        + attribute("displayWindow", "box2i", window)
        + attribute("lineOrder", "lineOrder", b"\0")
        + attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0))
        + attribute("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0))
        + attribute("screenWindowWidth", "float", struct.pack("<f", 1.0))
        + b"\0"
    )
    row = np.linspace(0, 1, width, dtype="<f2").tobytes()
    blocks = [struct.pack("<ii", y, len(row)) + row for y in range(height)]
    first = len(header) + 8 * height
    offsets, at = [], first
    for block in blocks:
        offsets.append(at)
        at += len(block)
    path.write_bytes(header + struct.pack(f"<{height}Q", *offsets) + b"".join(blocks))
    return path


MEDIA: dict[str, MediaMaker] = {
    ".png": make_image,
    ".jpg": make_image,
    ".webp": make_image,
    ".tif": make_image,
    ".wav": make_wav,
    ".mp3": lambda p: make_audio(p, "libmp3lame"),
    ".m4a": lambda p: make_audio(p, "aac"),
    ".mp4": make_video,
    ".mov": make_video,
    ".srt": make_srt,
    ".vtt": make_vtt,
    ".ttml": make_ttml,
    ".json": make_json,
    ".exr": make_exr,
}


def sample_governance() -> Governance:
    """Governance facts of one approved request."""
    return Governance(
        request_id="req_01J9Z8",
        production="prod_lighthouse",
        use_case="vfx_cleanup",
        policy_decision_id="dec_7781",
        policy_version="2026.11.1",
        approval_ids=("apr_vfx_sup", "apr_showrunner"),
        consent_ids=("con_perf_014",),
        prompt_log_id="plog_5521",
        prompt_sha256=prompt_digest("remove the boom mic from the top of frame"),
        ledger=LedgerReference(origin="greenlight.local/ledger", index=41, leaf_hash="0f" * 32),
    )


def generated_facts(governance: Governance | None = None) -> CredentialFacts:
    """Facts for an output made from nothing by a model."""
    return CredentialFacts(
        kind="generated",
        tool=Tool(name="lumen-diffusion", version="3.2.0"),
        governance=governance or sample_governance(),
    )
