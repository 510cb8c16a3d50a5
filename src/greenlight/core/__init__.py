"""Greenlight's vocabulary: errors, settings and clock. No I/O lives here."""

from greenlight.core.errors import (
    Conflict,
    Forbidden,
    GreenlightError,
    InvalidInput,
    NotFound,
    ProofError,
    ProvenanceError,
    TooLarge,
    Unauthenticated,
    VerificationFailed,
)
from greenlight.core.settings import Settings

__all__ = [
    "Conflict",
    "Forbidden",
    "GreenlightError",
    "InvalidInput",
    "NotFound",
    "ProofError",
    "ProvenanceError",
    "Settings",
    "TooLarge",
    "Unauthenticated",
    "VerificationFailed",
]
