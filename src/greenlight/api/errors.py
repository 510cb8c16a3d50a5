"""How the API answers when something goes wrong: always JSON, never a traceback.

Every error body has one shape, ``{"error": {"code", "message", "details"?}}``:
``code`` is stable (for scripts and support tickets), ``message`` is a sentence
that says what to do. A user's mistake is a 4xx with its own code; only our own
bugs are ``500 internal``, logged here with an incident id the user can quote.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from greenlight.core.errors import GreenlightError

log = logging.getLogger("greenlight.api")

# Codes for Starlette's own refusals (routing, body parsing, size limits).
_HTTP_CODES = {
    400: "input.malformed",
    404: "not_found",
    405: "method_not_allowed",
    413: "input.too_large",
}
_HTTP_MESSAGES = {
    400: "The request body could not be read; check its Content-Type and encoding.",
    404: "There is nothing at this address; the API lives under /api/v1 "
    "(see /api/v1/docs for every route).",
    405: "This address does not accept that method; see /api/v1/docs for what it does accept.",
    413: "The request body is too large.",
}


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, a sentence for the user, and optional facts."""

    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response in the API's one error shape."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = jsonable_encoder(details)
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _greenlight_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GreenlightError)
    headers = {}
    if exc.status == 401 and exc.code == "auth.bad_token":
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    body = exc.to_dict()
    return error_response(exc.status, body["code"], body["message"], body.get("details"), headers)


def _field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # loc and msg only: the rejected input is not echoed (it may be a password).
    return [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        where = next(e for e in errors if e.get("type") == "json_invalid")
        position = where.get("loc", ("body", "?"))[-1]
        reason = where.get("ctx", {}).get("error", "JSON decode error")
        return error_response(
            400,
            "input.malformed_json",
            f"The body is not valid JSON; {reason} at character {position}. "
            "Send a JSON object with Content-Type: application/json.",
        )
    fields = _field_errors(errors)
    first = fields[0] if fields else {"loc": [], "msg": "invalid"}
    where = ".".join(str(p) for p in first["loc"]) or "the request"
    more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
    return error_response(
        422,
        "input.invalid",
        f"The request does not match what this endpoint expects: {where}: {first['msg']}{more}. "
        "Fix the fields listed in details and send it again.",
        {"errors": fields},
    )


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http.{exc.status_code}")
    detail = str(exc.detail or "")
    # Starlette's bare refusals carry only the status phrase: say more than that.
    if not detail or detail == HTTPStatus(exc.status_code).phrase:
        message = _HTTP_MESSAGES.get(exc.status_code, detail or "The request was refused.")
    else:
        message = detail
    return error_response(exc.status_code, code, message, headers=dict(exc.headers or {}))


class BodyTooLarge(StarletteHTTPException):
    """A request body ran past its limit while it was being read."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)


class CatchUnexpected:
    """ASGI middleware: any exception no handler knew becomes ``500 internal``.

    The traceback goes to the log with an incident id; the caller gets the id
    and nothing else. If the response had already started (a download broke
    off), the exception is re-raised so the server drops the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; answer 500 for an unexpected exception before the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if started:
                raise
            incident = secrets.token_hex(6)
            log.exception(
                "unexpected error %s on %s %s", incident, scope.get("method"), scope.get("path")
            )
            response = error_response(
                500,
                "internal",
                f"Something went wrong on our side (incident {incident}); it has been logged. "
                "Try again, and quote the incident id if it keeps happening.",
                {"incident": incident},
            )
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every refusal into the API's error shape."""
    app.add_exception_handler(GreenlightError, _greenlight_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(CatchUnexpected)
