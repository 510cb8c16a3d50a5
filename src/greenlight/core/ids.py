"""Identifiers: a short prefix saying what the thing is, then a sortable ULID.

``req_01JD3Q8Z5W8M6T4V9K2X7N1R0P`` reads as a request, sorts by creation time
and carries 80 random bits, so ids can be made anywhere without a database.
"""

from __future__ import annotations

import os
import re
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ID = re.compile(r"^[a-z]{2,8}_[0-9A-HJKMNP-TV-Z]{26}$")

PREFIXES = {
    "production": "prod",
    "shot": "shot",
    "person": "per",
    "vendor": "ven",
    "tool": "tool",
    "talent": "tal",
    "consent": "con",
    "request": "req",
    "decision": "dec",
    "approval": "apr",
    "job": "job",
    "run": "run",
    "asset": "ast",
    "review": "rev",
    "delivery": "dlv",
    "token": "tok",
    "attestation": "att",
    "audit": "aud",
    "finding": "fnd",
    "watch": "wat",
    "disclosure": "dis",
    "reference": "ref",
    "allowance": "alw",
    "template": "tpl",  # a performer's sealed face or voice template
    "likeness_finding": "lkf",  # a performer found by the likeness scan
}


def _ulid(now_ms: int, randomness: bytes) -> str:
    value = (now_ms << 80) | int.from_bytes(randomness, "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(kind: str) -> str:
    """A new id for a thing of ``kind`` (a key of PREFIXES)."""
    return f"{PREFIXES[kind]}_{_ulid(time.time_ns() // 1_000_000, os.urandom(10))}"


def is_id(value: str, kind: str | None = None) -> bool:
    """True when ``value`` looks like an id (of ``kind``, when given)."""
    if not _ID.match(value):
        return False
    return kind is None or value.startswith(PREFIXES[kind] + "_")
