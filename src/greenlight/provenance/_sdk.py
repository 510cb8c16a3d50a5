"""The few places Greenlight talks to c2pa-python: contexts, and its errors in ours.

Contexts are built once per process (a c2pa native handle does not survive a
fork) and reused: building settings for every file costs time for nothing.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import c2pa

from greenlight.core.errors import ProvenanceError

# No network, ever: no remote manifests, no OCSP. Timestamps (ta_url) are off
# in the signer for the same reason.
_OFFLINE = {"remote_manifest_fetch": False, "ocsp_fetch": False}

# Thumbnails off: they cost more than the signature on large frames, and the
# credential is about provenance, not previews.
_SIGNING_SETTINGS: dict[str, Any] = {
    "builder": {"thumbnail": {"enabled": False}},
    "verify": dict(_OFFLINE),
}

_lock = threading.Lock()
_pid = -1
_signing: c2pa.Context | None = None
_reading: dict[str, c2pa.Context] = {}


def _this_process() -> None:
    global _pid, _signing
    if _pid != os.getpid():
        _pid = os.getpid()
        _signing = None
        _reading.clear()


def signing_context() -> c2pa.Context:
    """The shared context every Greenlight signature is made in."""
    global _signing
    with _lock:
        _this_process()
        if _signing is None:
            _signing = c2pa.Context.from_dict(_SIGNING_SETTINGS)
        return _signing


def reading_context(anchors_pem: str) -> c2pa.Context:
    """A validation context trusting exactly ``anchors_pem`` (empty: trust nothing)."""
    with _lock:
        _this_process()
        found = _reading.get(anchors_pem)
        if found is None:
            settings: dict[str, Any] = {"verify": dict(_OFFLINE)}
            if anchors_pem:
                settings["trust"] = {"user_anchors": anchors_pem}
            found = c2pa.Context.from_dict(settings)
            _reading[anchors_pem] = found
        return found


def provenance_error(exc: c2pa.C2paError, *, path: str, doing: str) -> ProvenanceError:
    """Our error for an SDK error met while ``doing`` something to ``path``."""
    text = str(exc)
    if isinstance(exc, c2pa.C2paError.ManifestNotFound):
        return ProvenanceError(
            f"{path} carries no content credentials. Sign it with Greenlight first, or ask "
            "whoever delivered it for the signed version.",
            code="provenance.no_credentials",
            path=path,
        )
    if isinstance(exc, c2pa.C2paError.NotSupported):
        return ProvenanceError(
            f"{path}: the C2PA SDK cannot {doing} this type of file ({text}).",
            code="provenance.unsupported_type",
            path=path,
        )
    if "could not be parsed" in text or isinstance(exc, c2pa.C2paError.Io):
        return ProvenanceError(
            f"{path} is corrupt or truncated: the C2PA SDK could not parse it ({text}). "
            "Re-export it from its source and try again.",
            code="provenance.corrupt_file",
            path=path,
        )
    if doing == "read":
        # The asset parsed and carries a manifest store the SDK cannot validate: its
        # bytes changed (or were never a credential). Either way, nothing holds.
        return ProvenanceError(
            f"The content credentials of {path} are damaged and cannot be validated "
            f"({text}). Treat the file as tampered; fetch the delivered original.",
            code="provenance.tampered",
            path=path,
        )
    if isinstance(exc, c2pa.C2paError.Signature):
        return ProvenanceError(
            f"The signing certificate was rejected while trying to {doing} {path} ({text}). "
            "C2PA needs an end-entity certificate with digitalSignature key usage, an "
            "allowed extended key usage (emailProtection), AKI/SKI, an EC P-256/384/521, "
            "Ed25519 or RSA-PSS key, and a chain to a CA.",
            code="provenance.certificate_rejected",
            path=path,
        )
    return ProvenanceError(
        f"Could not {doing} {path}: {text}", code="provenance.sdk_error", path=path
    )
