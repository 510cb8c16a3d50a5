"""The key that seals prompts at rest: AES-256-GCM, kept in the data directory's ``keys/``.

Prompts can name unreleased plot points, performers and brands, so the prompt
log stores them sealed; the database alone (a backup, a replica, a leaked dump)
does not reveal them. The key is 32 random bytes in ``keys/prompt-log.key``
(mode 0600), made on first use; its id (the first 8 bytes of its SHA-256, hex)
is stored with every sealed text, so a text sealed under another key says so
instead of decrypting to garbage. Each text is bound to its run and field
(associated data), so a sealed prompt moved to another run's row fails to open.

Layout of a sealed text: version byte ``0x01``, 12-byte nonce, ciphertext and tag.
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

from greenlight.core.errors import ProvenanceError

KEY_FILE = "prompt-log.key"
_VERSION = b"\x01"
_NONCE = 12


@dataclass(frozen=True)
class PromptKey:
    """An AES-256-GCM key for prompt texts and its short id."""

    key_id: str
    _aead: AESGCM

    def seal(self, text: str, *, run_id: str, field: str) -> bytes:
        """``text`` encrypted and bound to ``run_id`` and ``field`` (``prompt``...)."""
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._aead.encrypt(nonce, text.encode("utf-8"), _bound_to(run_id, field))
        return _VERSION + nonce + sealed

    def open(self, sealed: bytes, *, key_id: str, run_id: str, field: str) -> str:
        """The text sealed for ``run_id``/``field``; ``prompt_log.unreadable`` if it was
        sealed under another key, altered, or moved from another run."""
        if key_id != self.key_id:
            raise _unreadable(
                f"The prompt of run {run_id} was sealed under key {key_id}, and this "
                f"installation holds key {self.key_id}; restore that key file to keys/.",
                run_id,
            )
        if len(sealed) < 1 + _NONCE + 16 or sealed[:1] != _VERSION:
            raise _unreadable(f"The sealed prompt of run {run_id} is damaged.", run_id)
        nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, body, _bound_to(run_id, field)).decode("utf-8")
        except InvalidTag:
            raise _unreadable(
                f"The sealed prompt of run {run_id} does not open: it was altered or "
                "belongs to another run.",
                run_id,
            ) from None


def prompt_key(keys_dir: Path) -> PromptKey:
    """The installation's prompt key in ``keys_dir``, made (0600) on first use."""
    return _load(str(keys_dir.resolve()))


@functools.lru_cache(maxsize=16)
def _load(keys_dir: str) -> PromptKey:
    # Cached per directory: the file never changes once made, and reading it on
    # every run would cost a file open on the engine's hot path.
    path = Path(keys_dir) / KEY_FILE
    if not path.exists():
        _create(path)
    raw = path.read_bytes()
    if len(raw) != 32:
        raise ProvenanceError(
            f"{path} is not a 32-byte key; restore it from backup (prompts sealed under "
            "it cannot be read without it).",
            code="prompt_log.bad_key",
        )
    return PromptKey(key_id=hashlib.sha256(raw).hexdigest()[:16], _aead=AESGCM(raw))


def _create(path: Path) -> None:
    """Write a new key without ever exposing a partial file, and without replacing a
    key another process wrote first (link() refuses an existing name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
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


def _bound_to(run_id: str, field: str) -> bytes:
    return f"greenlight prompt-log v1\n{run_id}\n{field}".encode()


def _unreadable(message: str, run_id: str) -> ProvenanceError:
    return ProvenanceError(message, code="prompt_log.unreadable", run_id=run_id)
