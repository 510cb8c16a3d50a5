"""The platform's vocabulary as typed records: what services return and the API shows.

These are read models: each is built from stored rows by the service that owns
it. Inputs from users have their own ``...Draft`` models, validated at the
boundary, so a record here is always something that exists.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from greenlight.core.enums import (
    AlterationPurpose,
    ConsentKind,
    Hosting,
    Intent,
    Outcome,
    ProductionKind,
    Replica,
    RequestState,
    Role,
    Severity,
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


# Who gives consent for a performer: the performer, or for a deceased performer
# their authorized representative, or the union when no representative can be found.
ConsentGiver = Literal["performer", "authorized_representative", "union"]
ReferenceKind = Literal["photo", "voice"]
AuditStatus = Literal["scheduled", "in_progress", "completed"]
FindingStatus = Literal["open", "remediated"]
WatchCategory = Literal["protected_character", "franchise", "real_person", "brand", "other"]
_SHA256 = r"^[0-9a-f]{64}$"
WORLDWIDE = "worldwide"  # the territory that stands for all of them


class Talent(Record):
    """A performer whose likeness or voice may be referenced."""

    id: str
    name: str
    union_affiliation: str | None
    created_at: datetime
    union_member: bool = False
    deceased: bool = False
    authorized_representative: str | None = None
    consent_from: ConsentGiver = "performer"


class TalentDraft(Draft):
    """A performer to register, or their status to change.

    A deceased performer's consent comes from ``authorized_representative``;
    when none can be found, ``union_stands_in`` says the union gives it.
    """

    name: str = Field(min_length=1, max_length=200)
    union_affiliation: str | None = Field(default=None, max_length=64)
    union_member: bool | None = None  # default: whether a union is named
    deceased: bool = False
    authorized_representative: str | None = Field(default=None, max_length=200)
    union_stands_in: bool = False


class TalentReference(Record):
    """A reference photo or voice sample of a performer, held as a blob (biometric data)."""

    id: str
    talent_id: str
    kind: ReferenceKind
    sha256: str
    media_type: str
    size: int
    filename: str
    added_by: str
    created_at: datetime


class Consent(Record):
    """A performer's written consent to named uses, for one or more productions.

    ``production_id`` is the production it was recorded on; ``productions``
    lists every production it covers (that one included; empty means just it).
    Empty ``media`` or ``territories`` mean any.
    """

    id: str
    talent_id: str
    production_id: str
    use_cases: tuple[UseCase, ...]
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    document_sha256: str | None
    note: str | None
    kind: ConsentKind = ConsentKind.DIGITAL_ALTERATION
    intended_use: str = ""
    productions: tuple[str, ...] = ()
    media: tuple[str, ...] = ()
    territories: tuple[str, ...] = ()
    compensation_reference: str | None = None
    signed_on: date | None = None
    given_by: ConsentGiver = "performer"
    signatory: str | None = None
    recorded_by: str | None = None
    revoked_by: str | None = None
    revocation_reason: str | None = None

    @property
    def covered_productions(self) -> tuple[str, ...]:
        """Every production this consent covers."""
        return self.productions or (self.production_id,)

    def gaps(
        self,
        use_case: UseCase,
        at: datetime,
        *,
        production_id: str | None = None,
        medium: str | None = None,
        territory: str | None = None,
        kind: ConsentKind | None = None,
    ) -> list[str]:
        """Why this consent does not cover the use, one sentence each; empty when it does.

        ``production_id`` and ``kind`` are checked only when given. A consent
        limited to some media (or territories) covers only a use that declares
        one of them: an undeclared ``medium`` or ``territory`` is not assumed
        (a consent for ``worldwide`` covers every territory).
        """
        why = []
        if self.revoked_at is not None and self.revoked_at <= at:
            why.append(f"consent {self.id} was revoked")
        if self.expires_at is not None and self.expires_at <= at:
            why.append(f"consent {self.id} expired")
        if self.granted_at > at:
            why.append(f"consent {self.id} is not granted yet")
        if use_case not in self.use_cases:
            allowed = ", ".join(u.value for u in self.use_cases)
            why.append(f"consent {self.id} covers {allowed}, not {use_case.value}")
        if production_id is not None and production_id not in self.covered_productions:
            why.append(f"consent {self.id} does not cover production {production_id}")
        if kind is not None and kind is not self.kind:
            why.append(f"consent {self.id} is for {self.kind.value}, not {kind.value}")
        if self.media and (medium is None or medium.casefold() not in self.media):
            why.append(
                f"consent {self.id} covers the media {', '.join(self.media)}, "
                + ("and the use names none" if medium is None else f"not {medium}")
            )
        if (
            self.territories
            and WORLDWIDE not in self.territories
            and (territory is None or territory.casefold() not in self.territories)
        ):
            why.append(
                f"consent {self.id} covers the territories {', '.join(self.territories)}, "
                + ("and the use names none" if territory is None else f"not {territory}")
            )
        return why

    def covers(
        self,
        use_case: UseCase,
        at: datetime,
        *,
        production_id: str | None = None,
        medium: str | None = None,
        territory: str | None = None,
        kind: ConsentKind | None = None,
    ) -> bool:
        """Whether this consent allows ``use_case`` at the moment ``at`` (see :meth:`gaps`)."""
        return not self.gaps(
            use_case,
            at,
            production_id=production_id,
            medium=medium,
            territory=territory,
            kind=kind,
        )


class TrainingSource(Record):
    """Where a tool's training data came from, and under what licence."""

    source: str = Field(min_length=1, max_length=500)
    licence: str = Field(min_length=1, max_length=200)


class Attestation(Record):
    """What a vendor attests about a tool (or all its tools), for a period."""

    id: str
    vendor_id: str
    tool_id: str | None  # None: every tool of the vendor
    training_data: tuple[TrainingSource, ...]
    trains_on_inputs: bool
    retains_data_days: int
    enclosed_environment: bool
    security_certification: str | None
    valid_from: datetime
    expires_at: datetime
    document_sha256: str | None
    recorded_by: str
    created_at: datetime

    def in_force(self, at: datetime) -> bool:
        """Whether the attestation holds at ``at``."""
        return self.valid_from <= at < self.expires_at


class AttestationDraft(Draft):
    """An attestation to record for a vendor, or for one of its tools."""

    tool_id: str | None = None
    training_data: list[TrainingSource] = Field(min_length=1, max_length=100)
    trains_on_inputs: bool
    retains_data_days: int = Field(ge=0, le=36_500)
    enclosed_environment: bool
    security_certification: str | None = Field(default=None, max_length=100)
    valid_from: datetime | None = None  # default: now
    expires_at: datetime
    document_sha256: str | None = Field(default=None, pattern=_SHA256)


class Finding(Record):
    """Something an audit found, how bad it is and how it is put right."""

    id: str
    audit_id: str
    severity: Severity
    description: str
    remediation: str
    status: FindingStatus
    recorded_by: str
    created_at: datetime
    remediated_at: datetime | None = None
    remediated_by: str | None = None
    remediation_note: str | None = None


class FindingDraft(Draft):
    """A finding to add to an audit."""

    severity: Severity
    description: str = Field(min_length=5, max_length=5000)
    remediation: str = Field(min_length=5, max_length=5000)


class Audit(Record):
    """An audit of a vendor (or one of its tools): when, by whom, where it stands, findings."""

    id: str
    vendor_id: str
    tool_id: str | None
    scheduled_for: date
    auditor: str
    status: AuditStatus
    note: str
    scheduled_by: str
    created_at: datetime
    completed_at: datetime | None = None
    findings: tuple[Finding, ...] = ()


class AuditDraft(Draft):
    """An audit to schedule."""

    tool_id: str | None = None
    scheduled_for: date
    auditor: str = Field(min_length=1, max_length=200)
    note: str = Field(default="", max_length=5000)


class AllowedTool(Record):
    """A tool on a production's allow-list, and who put it there."""

    production_id: str
    tool_id: str
    allowed_by: str
    allowed_at: datetime


class ToolStanding(Record):
    """Whether a tool may be used on a production at a moment, and why (or why not).

    ``suspended`` means expired or critically flawed: the effective attestation
    has lapsed (and none replaced it), or the tool or its vendor has an open
    critical finding. A tool never attested is not suspended: its attestation is
    unknown (``attestation`` is None) and the policy escalates on that.
    """

    tool_id: str
    vendor_id: str
    production_id: str
    at: datetime
    attestation: Attestation | None
    attestation_from: Literal["tool", "vendor"] | None
    allowed_on_production: bool
    suspended: bool
    open_critical_findings: tuple[str, ...]
    reasons: tuple[str, ...]


class WatchlistEntry(Record):
    """Something a production must not recreate or reference without clearance."""

    id: str
    production_id: str
    term: str
    category: WatchCategory
    aliases: tuple[str, ...]
    note: str
    added_by: str
    created_at: datetime
    updated_at: datetime


class WatchlistDraft(Draft):
    """A watchlist entry to add, or its new content."""

    term: str = Field(min_length=1, max_length=200)
    category: WatchCategory
    aliases: list[str] = Field(default_factory=list, max_length=50)
    note: str = Field(default="", max_length=2000)


class StudioDisclosure(Record):
    """A request disclosed to the production's studio contact."""

    id: str
    request_id: str
    production_id: str
    studio_contact: str | None
    summary: dict[str, Any]
    created_at: datetime


class DigestItem(Record):
    """One disclosed request in a daily digest."""

    request_id: str
    disclosed_at: datetime
    use_case: UseCase
    intent: Intent
    tool: str
    outcome: Outcome | None
    state: RequestState
    requested_by: str


class Digest(Record):
    """The requests disclosed on one production on one day (UTC)."""

    production_id: str
    day: date
    studio_contact: str | None
    items: tuple[DigestItem, ...]


class AffectedOutput(Record):
    """An output of a request whose consent was revoked."""

    asset_id: str
    sha256: str
    filename: str


class AffectedRequest(Record):
    """A request that relied on a revoked consent, where it stands and what it made."""

    request_id: str
    production_id: str
    state: RequestState
    use_case: UseCase
    intent: Intent
    tool_id: str
    requested_by: str
    outputs: tuple[AffectedOutput, ...]
    other_consents: tuple[str, ...]  # other consents its decision relied on, still unrevoked


class RevocationImpact(Record):
    """Every request that relied on a consent: not yet delivered, and delivered."""

    consent: Consent
    not_delivered: tuple[AffectedRequest, ...]
    delivered: tuple[AffectedRequest, ...]


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
    # The production a likeness or voice model of the named performers was built on,
    # when the work uses one: a model made for one project is not reused on another.
    replica_model_built_on: str | None = Field(default=None, max_length=64)


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
    facts: dict[str, Any] | None = None  # the self-contained document it was decided on


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
    disclosure: Disclosure = Field(default_factory=Disclosure)


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
