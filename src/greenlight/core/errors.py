"""Every user-facing error in Greenlight, in one place.

Each error carries a stable ``code`` (for machines and support tickets), an
HTTP ``status`` (so the API never answers a user's mistake with a 500) and a
``message`` that says what went wrong and what to do about it.
"""

from __future__ import annotations

from typing import Any, ClassVar


class GreenlightError(Exception):
    """Base of all errors a user can see.

    Subclasses fix ``status`` and a default ``code``; call sites may give a more
    specific ``code`` (``"ledger.index_out_of_range"``) and extra ``details``.
    """

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "greenlight.error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details

    def diagnostics(self) -> str:
        """A human sentence for the CLI: the code and what to do."""
        return f"[{self.code}] {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the API returns for this error."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(GreenlightError):
    """The caller sent something malformed or out of range."""

    status = 422
    default_code = "input.invalid"


class NotFound(GreenlightError):
    """The named thing does not exist (or the caller may not know it does)."""

    status = 404
    default_code = "not_found"


class Conflict(GreenlightError):
    """The request clashes with the current state (a replayed key, a wrong transition)."""

    status = 409
    default_code = "conflict"


class Forbidden(GreenlightError):
    """The caller is known but not allowed to do this."""

    status = 403
    default_code = "forbidden"


class TooLarge(GreenlightError):
    """An upload or payload is over the size the platform accepts."""

    status = 413
    default_code = "input.too_large"


class Unauthenticated(GreenlightError):
    """No valid session or token: the caller must log in first."""

    status = 401
    default_code = "auth.required"


class Unavailable(GreenlightError):
    """A service we depend on is down, overloaded, limiting us or too slow: try later."""

    status = 503
    default_code = "service.unavailable"


class ProofError(GreenlightError):
    """A Merkle inclusion or consistency proof did not verify."""

    status = 422
    default_code = "ledger.proof_invalid"


class VerificationFailed(GreenlightError):
    """Stored or exported evidence (ledger, tiles, notes) does not check out."""

    status = 422
    default_code = "verify.failed"


class ProvenanceError(GreenlightError):
    """Signing or reading content credentials failed."""

    status = 422
    default_code = "provenance.error"
