"""Safe retries: the ``Idempotency-Key`` header on POSTs that create work.

A client that lost a response (timeout, dropped connection) sends the same
request again with the same key and gets the first answer back instead of a
second request, approval or upload. Keys belong to the caller (person, key)
and remember a fingerprint of what was sent, the SHA-256 of method, path and
body, so a key cannot be reused for something else by mistake.

The flow, each step its own transaction:

1. claim the key with a pending row (``status_code`` 0). If it is taken:
   same fingerprint and finished: replay the stored answer
   (``Idempotent-Replayed: true``); same fingerprint, still pending: 409
   ``idempotency.in_progress``; another fingerprint: 422 ``idempotency.key_reused``;
2. do the work (its own transactions, in the services);
3. store the answer. If the work failed, the claim is dropped, so a corrected
   retry may use the same key.

A crash between 2 and 3 leaves the key pending for good: retrying then says
``in_progress`` rather than risk doing the work twice; use a new key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from greenlight.core.clock import utcnow
from greenlight.core.errors import Conflict, InvalidInput
from greenlight.engine.platform import Platform
from greenlight.store.schema import idempotency_keys

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x20-\x7e]{1,200}$")
_PENDING = 0

Work = Callable[[], tuple[int, BaseModel]]
"""The work behind a POST: returns its status code and the response body."""


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's key for one POST and the fingerprint of what it sent."""

    key: str
    fingerprint: str


def read_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header, checked; None when the client sent none."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY.match(key):
        raise InvalidInput(
            f"The {HEADER} header must be 1 to 200 printable ASCII characters; "
            "a UUID is a good choice.",
            code="idempotency.bad_key",
        )
    return key


def model_response(body: BaseModel, status: int) -> Response:
    """A JSON response serialized by pydantic itself (several times faster than via dicts)."""
    return Response(body.model_dump_json(), status_code=status, media_type="application/json")


def fingerprint(method: str, path: str, body_digest: str) -> str:
    """SHA-256 of method, path and the body's SHA-256: what a key is bound to."""
    return hashlib.sha256(f"{method}\n{path}\n{body_digest}".encode()).hexdigest()


async def idempotency_key(request: Request) -> IdempotencyKey | None:
    """FastAPI dependency for JSON POSTs: the key and a fingerprint of the raw body."""
    key = read_key(request)
    if key is None:
        return None
    body = await request.body()  # already read (and cached) by FastAPI for the model
    digest = hashlib.sha256(body).hexdigest()
    return IdempotencyKey(key, fingerprint(request.method, request.url.path, digest))


OptionalKey = Annotated[IdempotencyKey | None, Depends(idempotency_key)]


def once(platform: Platform, person_id: str, key: IdempotencyKey | None, work: Work) -> Response:
    """Do ``work`` once per key: the first time for real, later by replaying its answer."""
    if key is None:
        status, body = work()
        return model_response(body, status)
    replay = _claim(platform, person_id, key)
    if replay is not None:
        status, content = replay
        return JSONResponse(content, status_code=status, headers={REPLAYED_HEADER: "true"})
    try:
        status, body = work()
    except Exception:
        # A refusal writes nothing (services check before they write), so the key
        # is free again for a corrected request. An unexpected error frees it too,
        # so a bug never locks a client's key for good.
        _release(platform, person_id, key.key)
        raise
    content = body.model_dump(mode="json")
    with platform.db.transaction() as conn:
        conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.person_id == person_id, idempotency_keys.c.key == key.key)
            .values(status_code=status, response=content)
        )
    return JSONResponse(content, status_code=status)


def _claim(platform: Platform, person_id: str, key: IdempotencyKey) -> tuple[int, Any] | None:
    """Take the key for this request, or return the stored answer to replay."""
    for _ in range(3):  # the holder may release the key between our insert and our read
        try:
            with platform.db.transaction() as conn:
                conn.execute(
                    insert(idempotency_keys).values(
                        person_id=person_id,
                        key=key.key,
                        fingerprint=key.fingerprint,
                        status_code=_PENDING,
                        response={},
                        created_at=utcnow(),
                    )
                )
            return None
        except IntegrityError:
            pass
        with platform.db.read() as conn:
            row = conn.execute(
                select(
                    idempotency_keys.c.fingerprint,
                    idempotency_keys.c.status_code,
                    idempotency_keys.c.response,
                ).where(
                    idempotency_keys.c.person_id == person_id, idempotency_keys.c.key == key.key
                )
            ).first()
        if row is None:
            continue
        if row.fingerprint != key.fingerprint:
            raise InvalidInput(
                f"This {HEADER} was already used for a different request; use a new key "
                "for new work.",
                code="idempotency.key_reused",
            )
        if row.status_code == _PENDING:
            raise Conflict(
                f"A request with this {HEADER} is still being processed; wait for it and "
                "retry to get its answer.",
                code="idempotency.in_progress",
            )
        return int(row.status_code), row.response
    raise Conflict(
        f"This {HEADER} is being claimed and released by concurrent requests; retry shortly.",
        code="idempotency.in_progress",
    )


def _release(platform: Platform, person_id: str, key: str) -> None:
    with platform.db.transaction() as conn:
        conn.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.person_id == person_id,
                idempotency_keys.c.key == key,
                idempotency_keys.c.status_code == _PENDING,
            )
        )
