"""Time, in one format: UTC, RFC 3339 with microseconds."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """``2026-11-21T05:23:00.123456Z`` for an aware datetime."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"
