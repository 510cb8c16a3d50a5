"""What a credential says, in Greenlight's words: the facts a manifest is built from.

Call sites describe the output (what was done, by which tool, from which
inputs, under which governance); ``_manifest`` turns that into C2PA. Nobody
writes manifest JSON by hand.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

GOVERNANCE_LABEL = "studio.greenlight.governance"

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

TrainingUse = Literal["allowed", "notAllowed", "constrained"]


def prompt_digest(prompt: str) -> str:
    """SHA-256 (lower-case hex) of a prompt's UTF-8 bytes: what a credential carries
    instead of the prompt itself."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LedgerReference(_Frozen):
    """Where an event sits in Greenlight's ledger: log origin, entry index, leaf hash (hex)."""

    origin: str = Field(min_length=1)
    index: int = Field(ge=0)
    leaf_hash: str

    @field_validator("leaf_hash")
    @classmethod
    def _hex_leaf(cls, value: str) -> str:
        if not _SHA256_HEX.match(value):
            raise ValueError("leaf_hash must be 64 lower-case hex characters (a SHA-256)")
        return value

    @property
    def leaf_hash_bytes(self) -> bytes:
        """The leaf hash as raw bytes, as the ledger stores it."""
        return bytes.fromhex(self.leaf_hash)


class Governance(_Frozen):
    """Why this output was allowed to exist: the ``studio.greenlight.governance`` assertion.

    Prompts stay out; ``prompt_sha256`` (see ``prompt_digest``) lets anyone holding
    the prompt log check that it is the prompt used.
    """

    request_id: str = Field(min_length=1)
    production: str = Field(min_length=1)
    use_case: str = Field(min_length=1)
    policy_decision_id: str = Field(min_length=1)
    policy_version: str = Field(min_length=1)
    approval_ids: tuple[str, ...] = ()
    consent_ids: tuple[str, ...] = ()
    prompt_log_id: str | None = None
    prompt_sha256: str | None = None
    ledger: LedgerReference | None = None

    @field_validator("prompt_sha256")
    @classmethod
    def _hex_prompt(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256_HEX.match(value):
            raise ValueError(
                "prompt_sha256 must be 64 lower-case hex characters; "
                "pass prompt_digest(prompt), never the prompt"
            )
        return value


class TrainingMining(_Frozen):
    """The ``cawg.training-mining`` answer: may this output feed AI training or data mining?

    Everything is ``notAllowed`` unless the production says otherwise.
    """

    ai_generative_training: TrainingUse = "notAllowed"
    ai_training: TrainingUse = "notAllowed"
    ai_inference: TrainingUse = "notAllowed"
    data_mining: TrainingUse = "notAllowed"
    constraint_info: str | None = None

    @model_validator(mode="after")
    def _constrained_says_how(self) -> TrainingMining:
        uses = (self.ai_generative_training, self.ai_training, self.ai_inference, self.data_mining)
        if "constrained" in uses and not self.constraint_info:
            raise ValueError("a 'constrained' use needs constraint_info saying what the terms are")
        return self


class Tool(_Frozen):
    """The tool that did the work, as the credential's ``softwareAgent``: name and model version."""

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)


class CredentialFacts(_Frozen):
    """Everything a credential states about one output.

    ``kind`` is what was done:

    - ``"generated"``: made from nothing by a model (text-to-image, TTS, MT output);
      ``c2pa.created`` with digital source type ``trainedAlgorithmicMedia``.
    - ``"edited"``: a real plate or recording altered with AI (cleanup, de-aging,
      dubbing over picture); ``c2pa.opened`` of ``source`` (a ``parentOf`` ingredient
      that keeps its own credentials) then ``c2pa.edited`` with
      ``compositeWithTrainedAlgorithmicMedia``.

    ``inputs`` are references the tool used (style frames, masks, source subtitles),
    recorded as ``inputTo`` ingredients.
    """

    kind: Literal["generated", "edited"]
    tool: Tool
    governance: Governance
    source: Path | None = None
    inputs: tuple[Path, ...] = ()
    title: str | None = None
    training_mining: TrainingMining = TrainingMining()

    @model_validator(mode="after")
    def _source_matches_kind(self) -> CredentialFacts:
        if self.kind == "edited" and self.source is None:
            raise ValueError("an 'edited' output needs the source it was edited from")
        if self.kind == "generated" and self.source is not None:
            raise ValueError(
                "a 'generated' output has no source; list references under inputs, "
                "or use kind='edited' for an AI edit of a real plate"
            )
        return self
