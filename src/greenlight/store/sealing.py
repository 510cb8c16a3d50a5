"""Sealing data at rest: AES-256-GCM under a key file kept in the data directory's ``keys/``.

What the database must not reveal on its own (a backup, a replica, a leaked
dump) is sealed: prompt texts (``engine/prompt_key.py``) and performers' face
and voice templates (``likeness/templates.py``), each under its own key file.
A key is 32 random bytes (mode 0600), made on first use; its id (the first 8
bytes of its SHA-256, hex) is stored beside every sealed value, so a value
sealed under another key says so instead of decrypting to garbage. Each value
is bound to where it belongs (associated data), so a sealed value moved to
another row fails to open.

Layout of a sealed value: version byte ``0x01``, 12-byte nonce, ciphertext and tag.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_NONCE = 12
_TAG = 16


class Unsealable(Exception):
    """A sealed value that does not open: ``reason`` is ``other_key``, ``damaged`` or
    ``altered``. Callers turn it into their own user-facing error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadKeyFile(Exception):
    """A key file that is not 32 bytes."""


@dataclass(frozen=True)
class SealingKey:
    """An AES-256-GCM key and its short id."""

    key_id: str
    _aead: AESGCM

    def seal(self, data: bytes, *, bound_to: bytes) -> bytes:
        """``data`` encrypted and bound to ``bound_to`` (where it will be stored)."""
        nonce = secrets.token_bytes(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, data, bound_to)

    def open(self, sealed: bytes, *, key_id: str, bound_to: bytes) -> bytes:
        """The data sealed for ``bound_to``; :class:`Unsealable` if it was sealed under
        another key, is damaged, or was altered or moved."""
        if key_id != self.key_id:
            raise Unsealable("other_key")
        if len(sealed) < 1 + _NONCE + _TAG or sealed[:1] != _VERSION:
            raise Unsealable("damaged")
        nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, body, bound_to)
        except InvalidTag:
            raise Unsealable("altered") from None


def sealing_key(keys_dir: Path, name: str) -> SealingKey:
    """The key in ``keys_dir/name``, made (0600) on first use; :class:`BadKeyFile`
    when the file is there but is not a key."""
    return _load(str(keys_dir.resolve()), name)


@functools.lru_cache(maxsize=32)
def _load(keys_dir: str, name: str) -> SealingKey:
    # Cached per file: it never changes once made, and reading it for every value
    # sealed would cost a file open on hot paths.
    path = Path(keys_dir) / name
    if not path.exists():
        _create(path)
    raw = path.read_bytes()
    if len(raw) != 32:
        raise BadKeyFile(str(path))
    return SealingKey(key_id=hashlib.sha256(raw).hexdigest()[:16], _aead=AESGCM(raw))


def _create(path: Path) -> None:
    """Write a new key without ever exposing a partial file, and without replacing a
    key another process wrote first (link() refuses an existing name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
            out.flush()
            os.fsync(out.fileno())
        # Another process may have made it first: then theirs is the key.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
