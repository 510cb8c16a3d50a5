"""Request body limits, enforced while the bytes arrive.

JSON bodies are small (1 MiB); multipart uploads may be as large as the
platform accepts plus room for the multipart framing. A declared
``Content-Length`` over the limit is refused before any byte is read; a body
that runs past it (chunked, or lying about its length) is refused as soon as
it does, so an oversized upload never reaches the disk in full.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from greenlight.api.errors import BodyTooLarge, error_response

MAX_JSON_BODY = 1024 * 1024
"""The largest non-upload request body accepted, in bytes."""

MULTIPART_OVERHEAD = 1024 * 1024
"""Room for multipart boundaries and part headers on top of the upload limit."""


def _too_large(limit: int, kind: str) -> str:
    return f"The {kind} is larger than the {limit} bytes this API accepts; " + (
        "upload a smaller file."
        if kind == "upload"
        else "send less at once (large files go to the asset upload route)."
    )


class BodyLimit:
    """ASGI middleware refusing request bodies over their limit with ``413 input.too_large``.

    ``max_upload`` is read on every request (a callable), so a change to the
    platform's ``max_upload`` takes effect at once.
    """

    def __init__(self, app: ASGIApp, max_upload: Callable[[], int]) -> None:
        self.app = app
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count the bytes as the app reads them."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if headers.get("content-type", "").lower().startswith("multipart/"):
            limit, kind = self.max_upload() + MULTIPART_OVERHEAD, "upload"
        else:
            limit, kind = MAX_JSON_BODY, "request body"
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = error_response(
                413, "input.too_large", _too_large(limit, kind), {"max_bytes": limit}
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(_too_large(limit, kind))
            return message

        await self.app(scope, counted, send)


def upload_body(**fields: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a multipart upload: a required ``file`` plus ``fields``.

    Upload routes read the stream themselves (to enforce the limits above), so
    FastAPI cannot describe their body; this says what they take.
    """
    return multipart_body({"file": {"type": "string", "format": "binary"}, **fields})


def multipart_body(properties: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a multipart form whose ``properties`` are all required."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": list(properties),
                        "properties": properties,
                    }
                }
            },
        }
    }
