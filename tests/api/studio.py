"""The API tests' vocabulary: the seeded studio, clients, media and request helpers."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from greenlight.engine.platform import Platform

API = "/api/v1"
PASSWORD = "northern-lights-over-the-fjord"


def _no_server_errors(response: httpx.Response) -> None:
    if response.status_code >= 500:
        response.read()
        raise AssertionError(f"{response.request.method} {response.request.url}: {response.text}")


@dataclass
class Studio:
    """The seeded installation and the app serving it."""

    platform: Platform
    app: Any
    production_id: str
    studio_tool_id: str  # the studio's own OpenCV inpainting
    lumen_tool_id: str  # the vendor Lumen VFX's inpainting tool
    delivered_tool_id: str  # a Lumen service with no backend here: its work stays queued
    lumen_vendor_id: str
    talent_id: str
    people: dict[str, str] = field(default_factory=dict)  # name -> person id
    tokens: dict[str, str] = field(default_factory=dict)  # name -> raw API token

    def client(self, name: str | None = None, **options: Any) -> TestClient:
        """A client signed in as ``name`` with their API token (anonymous without)."""
        client = TestClient(self.app, **options)
        client.event_hooks["response"] = [_no_server_errors]
        if name is not None:
            client.headers["Authorization"] = f"Bearer {self.tokens[name]}"
        return client

    @property
    def blobs_dir(self) -> Path:
        """Where the blob store keeps its files."""
        return self.platform.blobs.root / "sha256"


# --- media ------------------------------------------------------------------------


def plate_png(width: int = 96, height: int = 64, seed: int = 0) -> bytes:
    """A grey plate with a bright wire across it (row 30 to 32) to paint out."""
    rng = np.random.default_rng(seed)
    pixels = np.full((height, width, 3), 120, np.uint8)
    pixels += rng.integers(0, 8, size=pixels.shape, dtype=np.uint8)
    pixels[30:33, :, :] = 255
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def upload(
    client: TestClient,
    production_id: str,
    data: bytes,
    filename: str = "plate.png",
    media_type: str = "image/png",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a file to the production's assets."""
    return client.post(
        f"{API}/productions/{production_id}/assets",
        files={"file": (filename, data, media_type)},
        headers=headers or {},
    )


def cleanup_draft(studio: Studio, asset_id: str, **overrides: Any) -> dict[str, Any]:
    """A request to paint the wire out of a plate with the studio's inpainting tool."""
    draft: dict[str, Any] = {
        "production_id": studio.production_id,
        "use_case": "vfx_cleanup",
        "tool_id": studio.studio_tool_id,
        "intent": "temporary",
        "prompt": "remove the safety wire",
        "parameters": {"regions": [[0, 30, 96, 3]]},
        "inputs": [{"asset_id": asset_id, "part": "plate"}],
    }
    draft.update(overrides)
    return draft


def error_code(response: httpx.Response) -> str:
    """The stable code of an error response (and a check that it has a message)."""
    error = response.json()["error"]
    assert error["message"]
    code: str = error["code"]
    return code


def blob_files(studio: Studio) -> list[Path]:
    """Every file in the blob store (temporary files included)."""
    root = studio.platform.blobs.root
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
