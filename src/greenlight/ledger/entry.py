"""Ledger events: what one entry says, in canonical JSON (RFC 8785).

The canonical bytes are what the log stores and what the leaf hash covers, so
anyone can re-derive the leaf from the entry with any RFC 8785 encoder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from greenlight.core.canonical import CanonicalizationError, canonical_json
from greenlight.core.clock import rfc3339, utcnow
from greenlight.core.errors import InvalidInput
from greenlight.ledger.merkle import leaf_hash
from greenlight.ledger.tiles import MAX_ENTRY_SIZE

ENTRY_VERSION = 1
_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_FIELDS = sorted(("v", "type", "time", "actor", "production", "subjects", "payload"))
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Event:
    """One governance event: something that changed, who did it, and to what.

    ``type`` is dotted lower case (``request.submitted``, ``consent.revoked``);
    ``subjects`` names the ids the event is about (``{"request": "req_..."}``);
    ``payload`` holds the facts worth proving later.
    """

    type: str
    actor: str
    production: str | None = None
    subjects: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    time: datetime = field(default_factory=utcnow)

    def as_json(self) -> dict[str, Any]:
        """The entry as a JSON object (the form that gets canonicalized)."""
        return {
            "v": ENTRY_VERSION,
            "type": self.type,
            "time": rfc3339(self.time),
            "actor": self.actor,
            "production": self.production,
            "subjects": dict(self.subjects),
            "payload": self.payload,
        }

    def canonical(self) -> bytes:
        """RFC 8785 bytes of the entry; raises InvalidInput when it cannot be logged."""
        if not _TYPE.match(self.type):
            raise InvalidInput(
                f"Event type {self.type!r} must be dotted lower case, like 'request.submitted'.",
                code="ledger.bad_event_type",
            )
        if not self.actor:
            raise InvalidInput("Every ledger event needs an actor.", code="ledger.no_actor")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.subjects.items()):
            raise InvalidInput(
                "Event subjects map names to ids, both strings.", code="ledger.bad_subjects"
            )
        try:
            data = canonical_json(self.as_json())
        except CanonicalizationError as exc:
            raise InvalidInput(
                f"The event payload cannot be written as canonical JSON: {exc}. Use strings, "
                "integers, booleans, null, lists and objects with string keys.",
                code="ledger.bad_payload",
            ) from exc
        if len(data) > MAX_ENTRY_SIZE:
            raise InvalidInput(
                f"The event is {len(data)} bytes; a ledger entry holds at most {MAX_ENTRY_SIZE}. "
                "Store large facts as a blob and log its SHA-256.",
                code="ledger.entry_too_large",
            )
        return data


@dataclass(frozen=True)
class Entry:
    """A stored log entry: its index, leaf hash and canonical body."""

    index: int
    leaf_hash: bytes
    body: bytes

    def event(self) -> dict[str, Any]:
        """The entry's JSON object."""
        value: dict[str, Any] = json.loads(self.body)
        return value

    def check(self) -> str | None:
        """What is wrong with this entry, or None: its hash and its shape."""
        if leaf_hash(self.body) != self.leaf_hash:
            return "its body does not hash to its stored leaf hash"
        return check_body(self.body)


def check_body(body: bytes) -> str | None:
    """What is wrong with a stored body as a ledger event, or None."""
    try:
        text = body.decode("utf-8")
        obj, end = _DECODER.raw_decode(text)  # 2x faster than json.loads(bytes)
    except ValueError:
        return "its body is not JSON"
    if end != len(text):
        return "its body has bytes after the JSON object"
    if not isinstance(obj, dict) or sorted(obj) != _FIELDS:
        return "its body is not a ledger event"
    return None
