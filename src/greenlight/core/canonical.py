"""Canonical JSON (RFC 8785, JCS) for hashing and signing.

For the JSON Greenlight logs (strings, safe integers, booleans, null, lists,
objects), RFC 8785 output is exactly what the standard library writes with
sorted keys, no spaces and no ASCII escaping, so that fast path is used; the
``rfc8785`` package handles everything else (floats, non-BMP keys, whose
ordering differs under UTF-16) and raises for what JSON cannot hold. A
property test checks the two agree.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

_MAX_SAFE_INT = 2**53 - 1
_encode = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


class CanonicalizationError(ValueError):
    """The value cannot be written as canonical JSON."""


def _plain(value: Any) -> bool:
    """True when ``value`` is in the subset where the stdlib encoding is canonical."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_MAX_SAFE_INT <= value <= _MAX_SAFE_INT)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or max(key) <= "\uffff"):
                return False
            if not _plain(item):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_plain(item) for item in value)
    return False  # floats, subclasses and anything else: let rfc8785 decide


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of ``value``; raises CanonicalizationError when impossible."""
    try:
        if _plain(value):
            return _encode(value).encode("utf-8")
        out: bytes = rfc8785.dumps(value)
        return out
    except (rfc8785.CanonicalizationError, UnicodeEncodeError, TypeError, ValueError) as exc:
        raise CanonicalizationError(str(exc)) from exc
