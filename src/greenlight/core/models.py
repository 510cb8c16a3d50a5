"""The platform's vocabulary as typed records: what services return and the API shows.

These are read models: each is built from stored rows by the service that owns
it. Inputs from users have their own ``...Draft`` models, validated at the
boundary, so a record here is always something that exists.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from greenlight.core.enums import (
    AlterationPurpose,
    Hosting,
    Intent,
    Outcome,
    ProductionKind,
    Replica,
    RequestState,
    Role,
    UseCase,
    Verdict,
)

_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"


class Record(BaseModel):
    """Immutable, and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Draft(BaseModel):
    """A user's input: unknown fields are refused, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- people -----------------------------------------------------------------


class Person(Record):
    """Someone who signs in: studio staff, a vendor's artist, an auditor."""

    id: str
    email: str
    name: str
    is_admin: bool
    created_at: datetime


class Membership(Record):
    """One role a person holds on one production (a vendor's people also name the vendor)."""

    production_id: str
    person_id: str
    role: Role
    vendor_id: str | None = None


# --- productions ------------------------------------------------------------


class Episode(Record):
    """An episode of a series; ``number`` is season * 100 + episode (101 = S1E01)."""

    number: int
    title: str


class Production(Record):
    """A series or a film."""

    id: str
    code: str
    title: str
    kind: ProductionKind
    episodes: tuple[Episode, ...] = ()
    created_at: datetime


class ProductionDraft(Draft):
    """A new production."""

    code: str = Field(pattern=_CODE)
    title: str = Field(min_length=1, max_length=200)
    kind: ProductionKind
    episodes: list[Episode] = Field(default_factory=list, max_length=500)

    @field_validator("episodes")
    @classmethod
    def _distinct_numbers(cls, value: list[Episode]) -> list[Episode]:
        numbers = [e.number for e in value]
        if len(set(numbers)) != len(numbers):
            raise ValueError("episode numbers must be distinct")
        return value


class Shot(Record):
    """A shot: its code, the frames it spans and where it stands."""

    id: str
    production_id: str
    episode: int | None
    code: str
    frame_in: int
    frame_out: int
    status: str


class ShotDraft(Draft):
    """A new shot; ``frame_out`` is inclusive and not before ``frame_in``."""

    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    episode: int | None = None
    frame_in: int = Field(ge=0)
    frame_out: int = Field(ge=0)
    status: str = Field(default="in_progress", min_length=1, max_length=32)


# --- rights -----------------------------------------------------------------


class Vendor(Record):
    """A company that provides AI tools or AI-made work."""

    id: str
    name: str
    created_at: datetime


class Tool(Record):
    """A vendor's model or service, at one version, hosted somewhere."""

    id: str
    vendor_id: str
    name: str
    version: str
    hosting: Hosting
    backend: str | None
    use_cases: tuple[UseCase, ...]
    created_at: datetime


class ToolDraft(Draft):
    """A tool to register under a vendor."""

    name: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=100)
    hosting: Hosting
    backend: str | None = Field(default=None, max_length=64)
    use_cases: list[UseCase] = Field(min_length=1)


class Talent(Record):
    """A performer whose likeness or voice may be referenced."""

    id: str
    name: str
    union_affiliation: str | None
    created_at: datetime


class Consent(Record):
    """A performer's written consent to named uses on one production."""

    id: str
    talent_id: str
    production_id: str
    use_cases: tuple[UseCase, ...]
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    document_sha256: str | None
    note: str | None

    def covers(self, use_case: UseCase, at: datetime) -> bool:
        """Whether this consent allows ``use_case`` at the moment ``at``."""
        if self.revoked_at is not None and self.revoked_at <= at:
            return False
        if self.expires_at is not None and self.expires_at <= at:
            return False
        return self.granted_at <= at and use_case in self.use_cases


# --- requests ---------------------------------------------------------------


class InputRef(Draft):
    """An input asset of a request and the part it plays (``plate``, ``mask``...)."""

    asset_id: str
    part: str = Field(default="plate", pattern=r"^[a-z][a-z0-9_]{0,31}$")


class Disclosure(Draft):
    """What the requester declares about a use, beyond the use case and intent.

    The studio's guidance escalates on these facts, so they are asked for, not
    guessed: each defaults to the harmless answer and the requester's name is on
    the declaration. Unknown is not a choice for the booleans that matter most;
    the policy treats a tool attestation it does not have as unknown instead.
    """

    story_relevant: bool = False  # False: an incidental background element
    key_creative_element: bool = False  # main character, key visual, story-central setting
    references_copyrighted_work: bool = False
    references_public_figure: bool = False
    references_deceased_person: bool = False
    could_be_mistaken_for_real_events: bool = False
    inputs_unreleased_material: bool = False  # scripts, footage not yet released
    inputs_personal_data: bool = False  # cast and crew personal data sent to the tool
    output_personal_data: bool = False  # the output shows or carries personal data
    recreates_unowned_material: bool = False  # identifiable parts of material we don't own
    replaces_union_work: bool = False  # replaces or generates union-covered work
    replica: Replica = Replica.NONE
    alteration_purpose: AlterationPurpose | None = None  # for changes to a recorded performance
    synthetic_performer: bool = False  # a wholly synthetic performer (union notice)
    given_to_writer: bool = False  # AI-made material handed to a writer (WGA)
    medium: str | None = Field(default=None, max_length=64)  # e.g. series, theatrical, trailer
    territory: str | None = Field(default=None, max_length=64)  # e.g. worldwide, US


class RequestDraft(Draft):
    """What someone asks the platform to make."""

    production_id: str
    shot_id: str | None = None
    use_case: UseCase
    tool_id: str
    intent: Intent
    prompt: str = Field(default="", max_length=20_000)
    parameters: dict[str, Any] = Field(default_factory=dict)
    inputs: list[InputRef] = Field(default_factory=list, max_length=32)
    talent_ids: list[str] = Field(default_factory=list, max_length=64)
    third_party_ip: list[str] = Field(default_factory=list, max_length=64)
    previous_request_id: str | None = None
    disclosure: Disclosure = Field(default_factory=Disclosure)


class Requirement(Record):
    """One approval a decision asks for: any person holding one of ``roles``."""

    roles: tuple[Role, ...]
    reason: str
    rule: str


class PolicyDecision(Record):
    """The policy engine's answer for one request, and why."""

    id: str
    request_id: str
    outcome: Outcome
    policy_version: str
    rules: tuple[str, ...]
    reasons: tuple[str, ...]
    required: tuple[Requirement, ...]
    created_at: datetime


class Approval(Record):
    """A person's written approval (or refusal) of a request, in one of their roles."""

    id: str
    request_id: str
    person_id: str
    role: Role
    approved: bool
    note: str
    created_at: datetime


class Run(Record):
    """One execution on a backend: the prompt log."""

    id: str
    job_id: str
    backend: str
    model: str
    model_version: str
    parameters: dict[str, Any]
    seed: int | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    usage: dict[str, Any]
    cost_usd: Decimal | None
    error: str | None


class Job(Record):
    """The queued work for a request and its runs."""

    id: str
    request_id: str
    state: str
    attempts: int
    runs: tuple[Run, ...] = ()


class Asset(Record):
    """Bytes the platform holds, named by SHA-256, with where they came from."""

    id: str
    production_id: str
    sha256: str
    media_type: str
    size: int
    filename: str
    origin: str  # upload | output
    request_id: str | None
    run_id: str | None
    manifest_sha256: str | None
    parents: tuple[str, ...]
    created_by: str
    created_at: datetime


class Review(Record):
    """A reviewer's verdict on a request's outputs."""

    id: str
    request_id: str
    reviewer_id: str
    role: Role
    verdict: Verdict
    note: str
    created_at: datetime


class Delivery(Record):
    """Accepted outputs leaving the platform, with their credentials and proofs."""

    id: str
    request_id: str
    delivered_by: str
    destination: str
    note: str
    created_at: datetime


class LedgerMark(Record):
    """One of a request's ledger entries."""

    index: int
    event_type: str
    actor: str
    leaf_hash: str
    created_at: datetime


class GenerationRequest(Record):
    """A request and everything that has happened to it."""

    id: str
    production_id: str
    shot_id: str | None
    use_case: UseCase
    tool_id: str
    intent: Intent
    prompt: str
    parameters: dict[str, Any]
    inputs: tuple[InputRef, ...]
    talent_ids: tuple[str, ...]
    third_party_ip: tuple[str, ...]
    state: RequestState
    iteration: int
    previous_request_id: str | None
    requested_by: str
    created_at: datetime
    updated_at: datetime


class RequestDetail(Record):
    """A request with its decision, approvals, job, outputs, reviews and ledger entries."""

    request: GenerationRequest
    decision: PolicyDecision | None
    approvals: tuple[Approval, ...]
    job: Job | None
    outputs: tuple[Asset, ...]
    reviews: tuple[Review, ...]
    delivery: Delivery | None
    events: tuple[LedgerMark, ...]
