"""Signed notes (C2SP ``signed-note``), byte-compatible with Go's
``golang.org/x/mod/sumdb/note`` for Ed25519 keys.

A note is UTF-8 text ending in a newline, a blank line, then one line per
signature: ``— <key name> <base64(4-byte key id || signature)>``. Key strings:

- verifier key: ``<name>+<hex key id>+<base64(0x01 || 32-byte public key)>``
- signer key: ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>``

where key id = the first 4 bytes of ``SHA-256(name || "\\n" || 0x01 || public key)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from greenlight.core.errors import InvalidInput, VerificationFailed

ALG_ED25519 = 0x01
_SIG_PREFIX = "— "
_MAX_SIGNATURES = 100
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")


@dataclass(frozen=True)
class Signature:
    """One signature line of a note."""

    name: str
    key_id: int
    base64: str


@dataclass(frozen=True)
class Note:
    """A note whose signature by the given verifier key checked out."""

    text: str
    signatures: tuple[Signature, ...]
    unverified: tuple[Signature, ...] = field(default=())


def _is_valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, public_key: bytes) -> int:
    """The 32-bit key id of an Ed25519 key called ``name``."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int(struct.unpack(">I", digest[:4])[0])


def _public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def generate_key(name: str) -> tuple[str, str]:
    """A new Ed25519 key pair as (signer key, verifier key) strings."""
    if not _is_valid_name(name):
        raise InvalidInput(
            f"A note key name cannot be empty or contain '+' or spaces: {name!r}.",
            code="note.bad_key_name",
        )
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = _public_bytes(private.public_key())
    kid = key_id(name, public)
    skey = f"PRIVATE+KEY+{name}+{kid:08x}+{base64.b64encode(bytes([ALG_ED25519]) + seed).decode()}"
    return skey, verifier_key(name, public)


def verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key string for an Ed25519 public key."""
    kid = key_id(name, public_key)
    return f"{name}+{kid:08x}+{base64.b64encode(bytes([ALG_ED25519]) + public_key).decode()}"


def _decode_key(text: str, bad: InvalidInput) -> tuple[str, int, bytes]:
    """Split ``name+keyid+base64(0x01 || 32 bytes)`` into name, key id and key bytes.

    Base64 may itself contain '+', so only the first two are separators (as in Go).
    """
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise bad
    name, hex_id, b64 = parts
    try:
        raw = base64.b64decode(b64, validate=True)
        kid = int(hex_id, 16)
    except (binascii.Error, ValueError):
        raise bad from None
    if len(hex_id) != 8 or not _is_valid_name(name) or len(raw) != 33:
        raise bad
    if raw[0] != ALG_ED25519:
        raise InvalidInput(
            f"Unknown key algorithm {raw[0]}; only Ed25519 (1) is supported.",
            code="note.unknown_algorithm",
        )
    return name, kid, raw[1:]


@dataclass(frozen=True)
class Signer:
    """A parsed signer key: name, key id and the Ed25519 private key."""

    name: str
    key_id: int
    private_key: Ed25519PrivateKey

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """Parse ``PRIVATE+KEY+name+keyid+base64``; refuses a mismatching key id."""
        bad = InvalidInput(
            "The signer key is malformed; expected PRIVATE+KEY+<name>+<key id>+<base64>.",
            code="note.bad_signer_key",
        )
        prefix, _, rest = skey.strip().partition("PRIVATE+KEY+")
        if prefix or not rest:
            raise bad
        name, kid, seed = _decode_key(rest, bad)
        private = Ed25519PrivateKey.from_private_bytes(seed)
        if key_id(name, _public_bytes(private.public_key())) != kid:
            raise InvalidInput(
                "The signer key's id does not match its key: the key string was altered.",
                code="note.bad_signer_key",
            )
        return cls(name=name, key_id=kid, private_key=private)

    @property
    def verifier_key(self) -> str:
        """The public verifier key string that checks this signer's notes."""
        return verifier_key(self.name, _public_bytes(self.private_key.public_key()))


@dataclass(frozen=True)
class Verifier:
    """A parsed verifier key."""

    name: str
    key_id: int
    public_key: Ed25519PublicKey

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse ``name+keyid+base64``; refuses a key whose id does not match."""
        bad = InvalidInput(
            "The verifier key is malformed; expected <name>+<8 hex digit key id>+<base64>, "
            "as printed by `greenlight ledger public-key`.",
            code="note.bad_verifier_key",
        )
        name, kid, public = _decode_key(vkey.strip(), bad)
        if key_id(name, public) != kid:
            raise bad
        return cls(name=name, key_id=kid, public_key=Ed25519PublicKey.from_public_bytes(public))


def sign(text: str, signer_key: str | Signer) -> str:
    """Sign ``text`` (which must end in a newline) and return the whole note."""
    signer = signer_key if isinstance(signer_key, Signer) else Signer.parse(signer_key)
    _check_text(text)
    sig = signer.private_key.sign(text.encode())
    blob = base64.b64encode(struct.pack(">I", signer.key_id) + sig).decode()
    return f"{text}\n{_SIG_PREFIX}{signer.name} {blob}\n"


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise InvalidInput("A note's text must end with a newline.", code="note.malformed")
    if "\n\n" in text:
        raise InvalidInput("A note's text cannot contain a blank line.", code="note.malformed")
    if _CONTROL.search(text):
        raise InvalidInput(
            "A note's text cannot contain control characters other than newline.",
            code="note.malformed",
        )


def verify(note_text: str, verifier_key: str | Verifier) -> Note:
    """Parse a signed note and check its signature by ``verifier_key``.

    Signatures by other keys are kept as ``unverified`` (C2SP says verifiers
    must ignore unknown keys). Raises :class:`VerificationFailed` when the
    note is malformed, when the known key's signature is bad, or when the
    known key did not sign it at all.
    """
    verifier = verifier_key if isinstance(verifier_key, Verifier) else Verifier.parse(verifier_key)
    malformed = VerificationFailed(
        "The note is malformed: expected text, a blank line, then '— name signature' lines.",
        code="note.malformed",
    )
    if _CONTROL.search(note_text):
        raise malformed
    split = note_text.rfind("\n\n")
    if split < 0:
        raise malformed
    text, block = note_text[: split + 1], note_text[split + 2 :]
    if not block or not block.endswith("\n"):
        raise malformed
    verified: list[Signature] = []
    others: list[Signature] = []
    lines = block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise malformed
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise malformed
        name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise malformed from None
        if not _is_valid_name(name) or not b64 or len(raw) < 5:
            raise malformed
        kid = int(struct.unpack(">I", raw[:4])[0])
        sig = Signature(name=name, key_id=kid, base64=b64)
        if name != verifier.name or kid != verifier.key_id:
            if sig not in others:
                others.append(sig)
            continue
        if sig in verified:
            continue
        try:
            verifier.public_key.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise VerificationFailed(
                f"The signature by key {name}+{kid:08x} does not match the note's text: "
                "the note was altered after signing.",
                code="note.bad_signature",
            ) from None
        verified.append(sig)
    if not verified:
        raise VerificationFailed(
            f"The note carries no signature by {verifier.name}+{verifier.key_id:08x}; "
            "check that you were given this log's verifier key.",
            code="note.unverified",
        )
    return Note(text=text, signatures=tuple(verified), unverified=tuple(others))
