"""The production's words for roles, states and choices."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a person does on one production; permissions follow from it."""

    SHOWRUNNER = "showrunner"
    DIRECTOR = "director"
    PRODUCER = "producer"
    VFX_SUPERVISOR = "vfx_supervisor"
    ARTIST = "artist"
    LOCALIZATION_MANAGER = "localization_manager"
    MARKETING_LEAD = "marketing_lead"
    LEGAL = "legal"
    VENDOR = "vendor"
    AUDITOR = "auditor"
    ADMIN = "admin"


# Who keeps final creative control: final deliverables are accepted only by them.
CREATIVE_LEADS = frozenset({Role.SHOWRUNNER, Role.DIRECTOR})
# Who may review (accept, reject, request changes) outputs that are not final.
REVIEWERS = frozenset(
    {
        Role.SHOWRUNNER,
        Role.DIRECTOR,
        Role.PRODUCER,
        Role.VFX_SUPERVISOR,
        Role.LOCALIZATION_MANAGER,
        Role.MARKETING_LEAD,
    }
)


class ProductionKind(StrEnum):
    """A series (with episodes) or a film."""

    SERIES = "series"
    FILM = "film"


class Intent(StrEnum):
    """What the output is for; final deliverables always need written approval."""

    IDEATION = "ideation"
    TEMPORARY = "temporary"
    FINAL_DELIVERABLE = "final_deliverable"


class UseCase(StrEnum):
    """The kinds of generative work the platform governs."""

    PREVIS = "previs"
    STYLE_FRAMES = "style_frames"
    VFX_CLEANUP = "vfx_cleanup"
    CROWD_REPLICATION = "crowd_replication"
    DE_AGING = "de_aging"
    SUBTITLES = "subtitles"
    DUBBING = "dubbing"
    MARKETING_ART = "marketing_art"


class Hosting(StrEnum):
    """Where a tool runs, which matters for where production data goes."""

    STUDIO = "studio"  # on the studio's own machines
    VENDOR_ENCLOSED = "vendor_enclosed"  # vendor's secured environment under agreement
    PUBLIC_API = "public_api"


class RequestState(StrEnum):
    """Where a generation request is in its life (see engine/lifecycle.py)."""

    REQUESTED = "requested"
    DENIED = "denied"
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    RUNNING = "running"
    FAILED = "failed"
    CANCELLED = "cancelled"
    GENERATED = "generated"
    QUARANTINED = "quarantined"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"


class Outcome(StrEnum):
    """A policy decision's verdict."""

    ALLOW = "allow"
    NEEDS_APPROVAL = "needs_approval"
    DENY = "deny"


class Verdict(StrEnum):
    """A reviewer's verdict on an output."""

    ACCEPT = "accept"
    REJECT = "reject"
    CHANGES_REQUESTED = "changes_requested"


class ConsentKind(StrEnum):
    """What a performer consents to (SAG-AFTRA 2023: each given clearly and separately)."""

    REPLICA_CREATION = "replica_creation"  # making a digital replica of them
    REPLICA_USE = "replica_use"  # using an existing replica in new footage
    DIGITAL_ALTERATION = "digital_alteration"  # changing a recorded performance
    VOICE = "voice"  # a synthetic voice that imitates theirs
    MARKETING_LIKENESS = "marketing_likeness"  # their likeness in marketing art


class Replica(StrEnum):
    """Whether the work makes or uses a performer's digital replica, and which kind."""

    NONE = "none"
    EMPLOYMENT_BASED = "employment_based"  # made while employed on this production
    INDEPENDENTLY_CREATED = "independently_created"  # made from existing material


class AlterationPurpose(StrEnum):
    """Why a recorded performance is altered; all but ``performance_change`` are exempt.

    The exempt purposes keep the performance substantially as scripted, performed
    or recorded (SAG-AFTRA 2023), so they need no alteration consent.
    """

    COSMETIC = "cosmetic"
    WARDROBE = "wardrobe"
    NOISE_REDUCTION = "noise_reduction"
    TIMING_OR_SPEED = "timing_or_speed"
    CONTINUITY = "continuity"
    PITCH_OR_TONE = "pitch_or_tone"
    EFFECTS_AND_FILTERS = "effects_and_filters"
    STANDARDS_AND_PRACTICES = "standards_and_practices"
    RATINGS = "ratings"
    DIALOGUE_ADJUSTMENT = "dialogue_adjustment"
    PERFORMANCE_CHANGE = "performance_change"  # not exempt: changes what was performed


class Severity(StrEnum):
    """How bad an audit finding is; an open critical finding suspends the tool."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"
