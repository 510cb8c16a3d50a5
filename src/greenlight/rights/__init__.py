"""Who and what may be used, and on what terms: performers and their consents, vendors,
their tools, attestations and audits, each production's tool allow-list and
watchlist, and the disclosure of every request to the studio.

Every function takes the caller's ``Connection`` (the caller owns the
transaction), except those that also write blobs (:func:`add_reference`,
:func:`remove_references`), which take the database and run their own.
"""

from greenlight.rights._attestations import (
    Effective,
    effective_attestation,
    list_attestations,
    record_attestation,
)
from greenlight.rights._audits import (
    add_finding,
    finding_vendor,
    get_audit,
    list_audits,
    open_critical_findings,
    remediate_finding,
    schedule_audit,
    set_audit_status,
)
from greenlight.rights._common import MAX_PAGE
from greenlight.rights._consents import (
    MIN_INTENDED_USE,
    ConsentDraft,
    consents_for,
    get_consent,
    list_consents,
    on_any_covered_production,
    record_consent,
    revoke_consent,
    talent_consents,
)
from greenlight.rights._disclosures import (
    daily_digest,
    disclosure_row,
    list_disclosures,
    record_disclosure,
    set_studio_contact,
    studio_contact,
    today,
)
from greenlight.rights._impact import affected_by_revocation
from greenlight.rights._standing import (
    StandingFacts,
    allow_tool,
    allowed_tools,
    disallow_tool,
    standing_facts,
    tool_standing,
)
from greenlight.rights._talent import (
    REFERENCE_TYPES,
    add_reference,
    get_talent,
    list_references,
    list_talent,
    register_talent,
    remove_references,
    update_talent,
)
from greenlight.rights._vendors import (
    create_tool,
    create_vendor,
    get_tool,
    get_vendor,
    list_tools,
    list_vendors,
)
from greenlight.rights._watchlist import (
    add_watch,
    get_watch,
    remove_watch,
    update_watch,
    watchlist_for,
)

__all__ = [
    "MAX_PAGE",
    "MIN_INTENDED_USE",
    "REFERENCE_TYPES",
    "ConsentDraft",
    "Effective",
    "StandingFacts",
    "add_finding",
    "add_reference",
    "add_watch",
    "affected_by_revocation",
    "allow_tool",
    "allowed_tools",
    "consents_for",
    "create_tool",
    "create_vendor",
    "daily_digest",
    "disallow_tool",
    "disclosure_row",
    "effective_attestation",
    "finding_vendor",
    "get_audit",
    "get_consent",
    "get_talent",
    "get_tool",
    "get_vendor",
    "get_watch",
    "list_attestations",
    "list_audits",
    "list_consents",
    "list_disclosures",
    "list_references",
    "list_talent",
    "list_tools",
    "list_vendors",
    "on_any_covered_production",
    "open_critical_findings",
    "record_attestation",
    "record_consent",
    "record_disclosure",
    "register_talent",
    "remediate_finding",
    "remove_references",
    "remove_watch",
    "revoke_consent",
    "schedule_audit",
    "set_audit_status",
    "set_studio_contact",
    "standing_facts",
    "studio_contact",
    "talent_consents",
    "today",
    "tool_standing",
    "update_talent",
    "update_watch",
    "watchlist_for",
]
