"""The key that seals prompts at rest: AES-256-GCM, kept in the data directory's ``keys/``.

Prompts can name unreleased plot points, performers and brands, so the prompt
log stores them sealed; the database alone (a backup, a replica, a leaked dump)
does not reveal them. The key is 32 random bytes in ``keys/prompt-log.key``
(mode 0600), made on first use; its id (the first 8 bytes of its SHA-256, hex)
is stored with every sealed text, so a text sealed under another key says so
instead of decrypting to garbage. Each text is bound to its run and field
(associated data), so a sealed prompt moved to another run's row fails to open.

The sealing itself (AES-GCM, the key file, the layout of a sealed value) is
``store/sealing.py``, shared with the likeness templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from greenlight.core.errors import ProvenanceError
from greenlight.store.sealing import BadKeyFile, SealingKey, Unsealable, sealing_key

KEY_FILE = "prompt-log.key"


@dataclass(frozen=True)
class PromptKey:
    """An AES-256-GCM key for prompt texts and its short id."""

    _key: SealingKey

    @property
    def key_id(self) -> str:
        """The key's short id, stored with every text it seals."""
        return self._key.key_id

    def seal(self, text: str, *, run_id: str, field: str) -> bytes:
        """``text`` encrypted and bound to ``run_id`` and ``field`` (``prompt``...)."""
        return self._key.seal(text.encode("utf-8"), bound_to=_bound_to(run_id, field))

    def open(self, sealed: bytes, *, key_id: str, run_id: str, field: str) -> str:
        """The text sealed for ``run_id``/``field``; ``prompt_log.unreadable`` if it was
        sealed under another key, altered, or moved from another run."""
        try:
            opened = self._key.open(sealed, key_id=key_id, bound_to=_bound_to(run_id, field))
        except Unsealable as exc:
            if exc.reason == "other_key":
                raise _unreadable(
                    f"The prompt of run {run_id} was sealed under key {key_id}, and this "
                    f"installation holds key {self.key_id}; restore that key file to keys/.",
                    run_id,
                ) from None
            if exc.reason == "damaged":
                raise _unreadable(
                    f"The sealed prompt of run {run_id} is damaged.", run_id
                ) from None
            raise _unreadable(
                f"The sealed prompt of run {run_id} does not open: it was altered or "
                "belongs to another run.",
                run_id,
            ) from None
        return opened.decode("utf-8")


def prompt_key(keys_dir: Path) -> PromptKey:
    """The installation's prompt key in ``keys_dir``, made (0600) on first use."""
    try:
        return PromptKey(sealing_key(keys_dir, KEY_FILE))
    except BadKeyFile as exc:
        raise ProvenanceError(
            f"{exc} is not a 32-byte key; restore it from backup (prompts sealed under "
            "it cannot be read without it).",
            code="prompt_log.bad_key",
        ) from None


def _bound_to(run_id: str, field: str) -> bytes:
    return f"greenlight prompt-log v1\n{run_id}\n{field}".encode()


def _unreadable(message: str, run_id: str) -> ProvenanceError:
    return ProvenanceError(message, code="prompt_log.unreadable", run_id=run_id)
