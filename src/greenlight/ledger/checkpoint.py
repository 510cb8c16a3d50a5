"""C2SP ``tlog-checkpoint`` bodies: origin, tree size and root hash."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from greenlight.core.errors import VerificationFailed
from greenlight.ledger import note
from greenlight.ledger.merkle import HASH_SIZE


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of the log's size and root at one moment."""

    origin: str
    size: int
    root_hash: bytes
    note_text: str = ""

    def body(self) -> str:
        """The checkpoint text that gets signed."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root_hash).decode()}\n"

    def signed(self, signer: note.Signer) -> Checkpoint:
        """This checkpoint with its signed note attached."""
        return Checkpoint(self.origin, self.size, self.root_hash, note.sign(self.body(), signer))


def parse(text: str) -> Checkpoint:
    """Parse an (unsigned) checkpoint body; extension lines are allowed and ignored."""
    lines = text.split("\n")
    bad = VerificationFailed(
        "The checkpoint is malformed: expected origin, tree size and base64 root hash lines.",
        code="checkpoint.malformed",
    )
    if len(lines) < 4 or lines[-1] != "" or not lines[0]:
        raise bad
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not size_text.isdigit() or (size_text.startswith("0") and size_text != "0"):
        raise bad
    try:
        root_hash = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise bad from None
    if len(root_hash) != HASH_SIZE:
        raise bad
    return Checkpoint(origin=origin, size=int(size_text), root_hash=root_hash, note_text=text)


def open_signed(
    note_text: str, verifier_key: str | note.Verifier, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint note and parse it.

    When ``origin`` is given, a checkpoint from another log is refused.
    """
    opened = note.verify(note_text, verifier_key)
    checkpoint = parse(opened.text)
    if origin is not None and checkpoint.origin != origin:
        raise VerificationFailed(
            f"The checkpoint is for log {checkpoint.origin!r}, not {origin!r}.",
            code="checkpoint.wrong_origin",
        )
    return Checkpoint(checkpoint.origin, checkpoint.size, checkpoint.root_hash, note_text)
