"""The log's signing key: created on first use, kept 0600 in the data directory."""

from __future__ import annotations

import os
from pathlib import Path

from greenlight.core.errors import Conflict, InvalidInput
from greenlight.ledger import note

SIGNER_FILE = "ledger-signer.key"


def signer_path(keys_dir: Path) -> Path:
    """Where the log's signer key lives."""
    return keys_dir / SIGNER_FILE


def load_or_create_signer(keys_dir: Path, origin: str) -> note.Signer:
    """The log's note signer, made on first use.

    Creation uses ``O_EXCL`` so two processes starting at once agree on one
    key; the key's name is the log's origin, so a checkpoint names its log.
    """
    path = signer_path(keys_dir)
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(keys_dir, 0o700)
        skey, _ = note.generate_key(origin)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race; use its key
        else:
            with os.fdopen(fd, "w") as out:
                out.write(skey + "\n")
                out.flush()
                os.fsync(out.fileno())
    if path.stat().st_mode & 0o077:
        raise InvalidInput(
            f"The ledger signing key {path} is readable by others; run `chmod 600 {path}`.",
            code="ledger.key_permissions",
        )
    signer = note.Signer.parse(path.read_text())
    if signer.name != origin:
        raise Conflict(
            f"This ledger was created with origin {signer.name!r} but GREENLIGHT_LEDGER_ORIGIN "
            f"says {origin!r}; a log keeps its origin for life. Unset the variable or set it "
            f"to {signer.name!r}.",
            code="ledger.origin_mismatch",
        )
    return signer
