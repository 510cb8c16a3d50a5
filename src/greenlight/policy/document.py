"""The policy check document: a request and every fact its decision depends on.

A document is self-contained, so a decision can be re-evaluated years later, or
against a candidate policy set, without a database: the tool and its vendor
attestation, the referenced talent and all their consents on record, the
production's settings and the moment of judging (``now``). The registries
build one per request; ``greenlight policy check`` reads one from a file.

Unknown facts are ``null`` and the policy treats them as unknown (a principle
that cannot be shown to hold escalates), never as the harmless answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from greenlight.core.enums import ConsentKind, Hosting, Intent, Outcome, UseCase
from greenlight.core.models import ConsentGiver, Disclosure, Requirement, WatchCategory


class _Part(BaseModel):
    """Immutable and strict: a misspelt field is an error, not a silent default."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class ScreeningHit(_Part):
    """A watchlist entry found in the request's prompt or declared references."""

    entry_id: str = Field(description="The watchlist entry that matched.")
    term: str = Field(description="The entry's term, as the watchlist spells it.")
    category: WatchCategory = Field(description="What kind of thing the entry protects.")
    found_in: Literal["prompt", "reference"] = Field(
        description="Where it was found: the prompt or a declared reference name."
    )
    matched: str = Field(description="The text as the requester wrote it.")


class DocumentRequest(_Part):
    """What is asked for, as the requester declared it."""

    id: str | None = Field(default=None, description="The request's id, when it has one.")
    production_id: str = Field(description="The production the work is for.")
    use_case: UseCase = Field(description="The kind of generative work.")
    intent: Intent = Field(description="ideation, temporary or final_deliverable.")
    tool_id: str = Field(description="The tool asked for; must equal tool.id.")
    talent_ids: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Performers whose likeness, voice or performance the work uses.",
    )
    third_party_ip: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Declared third-party material (titles, characters, brands).",
    )
    disclosure: Disclosure = Field(
        default_factory=Disclosure,
        description="The requester's declaration of what the use involves.",
    )
    screening_hits: list[ScreeningHit] = Field(
        default_factory=list,
        max_length=256,
        description="Watchlist entries found in the prompt or references.",
    )


class Attestation(_Part):
    """What the vendor attests about a tool; ``null`` means the vendor did not say."""

    trains_on_inputs: bool | None = Field(
        default=None, description="Whether the tool trains on production inputs or outputs."
    )
    retains_data_days: int | None = Field(
        default=None, ge=0, description="How many days the tool keeps inputs and outputs."
    )
    enclosed_environment: bool | None = Field(
        default=None, description="Whether the tool runs in a secured, enclosed environment."
    )
    training_data_sources: list[str] = Field(
        default_factory=list, description="Where the model's training data came from."
    )
    licences: list[str] = Field(
        default_factory=list, description="Licences covering that training data."
    )
    certification: str | None = Field(
        default=None, description='A content-security certification, e.g. "TPN Gold".'
    )
    valid_from: AwareDatetime = Field(description="When the attestation takes effect.")
    expires_at: AwareDatetime = Field(description="When it lapses; an expired one suspends.")

    @model_validator(mode="after")
    def _ordered(self) -> Attestation:
        if self.expires_at <= self.valid_from:
            raise ValueError("attestation expires_at must be after valid_from")
        return self


class DocumentTool(_Part):
    """The tool asked for, its vendor, where it runs and what is attested about it."""

    id: str = Field(description="The tool's id.")
    name: str = Field(description="The tool's name.")
    version: str = Field(description="The tool's version.")
    vendor_id: str = Field(description="The vendor's id.")
    vendor: str = Field(description="The vendor's name.")
    hosting: Hosting = Field(description="studio, vendor_enclosed or public_api.")
    use_cases: list[UseCase] = Field(description="The use cases the tool is vetted for.")
    allowed_on_production: bool = Field(
        description="Whether the production's allow-list includes this tool."
    )
    suspended: bool = Field(
        default=False,
        description="Whether the tool is suspended (open critical audit finding, lapsed "
        "attestation).",
    )
    suspension_reason: str | None = Field(
        default=None, description="Why it is suspended, in words."
    )
    attestation: Attestation | None = Field(
        default=None, description="The vendor's attestation, or null when there is none."
    )


class DocumentTalent(_Part):
    """A referenced performer."""

    id: str = Field(description="The performer's id.")
    name: str = Field(description="The performer's name.")
    union_member: bool = Field(default=False, description="Whether they are a union member.")
    deceased: bool = Field(default=False, description="Whether the performer has died.")
    authorized_representative: str | None = Field(
        default=None,
        description="Who gives consent for a deceased performer (their estate); null when "
        "none can be found, and then the union gives it.",
    )


class DocumentConsent(_Part):
    """One consent on record for a referenced performer, in force or not.

    Every consent on record is listed, revoked and expired ones too: the policy
    decides which count at ``now``.
    """

    id: str = Field(description="The consent's id.")
    talent_id: str = Field(description="The performer who consented.")
    kind: ConsentKind = Field(description="What was consented to.")
    intended_use: str = Field(
        min_length=1, description="The reasonably specific description of the use, in words."
    )
    production_ids: list[str] = Field(
        min_length=1, description="The productions it covers; another production needs new consent."
    )
    use_cases: list[UseCase] = Field(min_length=1, description="The use cases it covers.")
    media: list[str] = Field(
        default_factory=list, description="The media it covers (e.g. series, trailer); empty: any."
    )
    territories: list[str] = Field(
        default_factory=list,
        description="The territories it covers (e.g. US, worldwide); empty: any.",
    )
    granted_at: AwareDatetime = Field(description="When it takes effect.")
    expires_at: AwareDatetime | None = Field(
        default=None, description="When it lapses; null: no end date."
    )
    revoked_at: AwareDatetime | None = Field(
        default=None, description="When it was revoked; null: not revoked."
    )
    given_by: ConsentGiver = Field(
        description="Who signed: performer, authorized_representative (for a deceased "
        "performer) or union (for a deceased performer with no representative)."
    )
    compensation_ref: str | None = Field(
        default=None, description="Where the compensation terms are recorded."
    )


class ReplicaModel(_Part):
    """A performer likeness or voice model the request uses, and where it was built."""

    talent_id: str = Field(description="Whose likeness or voice the model carries.")
    origin_production_id: str = Field(description="The production the model was built on.")


class DocumentProduction(_Part):
    """The production's settings the decision depends on."""

    id: str = Field(description="The production's id; must equal request.production_id.")
    studio_contact: str | None = Field(
        default=None, description="Who at the studio every use is disclosed to."
    )
    replica_models: list[ReplicaModel] = Field(
        default_factory=list,
        description="Performer likeness or voice models the request uses.",
    )


class PolicyDocument(_Part):
    """A request and every fact its decision depends on: judged without a database."""

    request: DocumentRequest = Field(description="What is asked for.")
    tool: DocumentTool = Field(description="The tool asked for and its attestation.")
    talent: list[DocumentTalent] = Field(
        default_factory=list, description="Every performer the request references."
    )
    consents: list[DocumentConsent] = Field(
        default_factory=list,
        description="Every consent on record for those performers, in force or not.",
    )
    production: DocumentProduction = Field(description="The production's settings.")
    now: AwareDatetime = Field(description="The moment the request is judged at.")

    @model_validator(mode="after")
    def _consistent(self) -> PolicyDocument:
        if self.tool.id != self.request.tool_id:
            raise ValueError(
                f"tool.id {self.tool.id!r} is not the requested tool {self.request.tool_id!r}"
            )
        if self.production.id != self.request.production_id:
            raise ValueError(
                f"production.id {self.production.id!r} is not the request's production "
                f"{self.request.production_id!r}"
            )
        described = {t.id for t in self.talent}
        missing = [t for t in self.request.talent_ids if t not in described]
        if missing:
            raise ValueError(
                "every referenced performer needs an entry under talent; missing: "
                + ", ".join(missing)
            )
        return self


class Decision(BaseModel):
    """A decision as JSON: the outcome, the rules that fired and why, who must approve."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str | None = Field(description="The request judged, when it has an id.")
    outcome: Outcome = Field(description="allow, needs_approval or deny.")
    policy_version: str = Field(description="The exact policy text that decided.")
    rules: list[str] = Field(description="The ids of the rules that decided.")
    reasons: list[str] = Field(description="One sentence per rule, in the same order.")
    required: list[Requirement] = Field(
        description="For needs_approval: each approval needed, by any one of its roles."
    )
    decided_at: datetime = Field(description="The document's `now`.")
