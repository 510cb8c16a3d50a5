"""Policy check documents for tests: a harmless use by default, changed per story.

``document()`` is temporary previs with an attested, enclosed, certified tool
that keeps and trains on nothing, no talent and nothing declared: it proceeds
on disclosure alone. Each test changes the one fact its story is about.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from greenlight.core.models import Disclosure
from greenlight.policy.document import (
    Attestation,
    DocumentConsent,
    DocumentTalent,
    DocumentTool,
    PolicyDocument,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PRODUCTION = "prod_nightfall"
OTHER_PRODUCTION = "prod_daybreak"

MAYA = DocumentTalent(id="tal_maya", name="Maya Okafor", union_member=True)
ESTATE_OF_ARTHUR = DocumentTalent(
    id="tal_arthur",
    name="Arthur Vance",
    union_member=True,
    deceased=True,
    authorized_representative="The Vance Estate",
)
UNREPRESENTED = DocumentTalent(id="tal_june", name="June Hale", deceased=True)


def attestation(**changes: Any) -> Attestation:
    """A current attestation: no training, no retention, enclosed, TPN Gold."""
    fields: dict[str, Any] = {
        "trains_on_inputs": False,
        "retains_data_days": 0,
        "enclosed_environment": True,
        "training_data_sources": ["licensed stock library"],
        "licences": ["commercial"],
        "certification": "TPN Gold",
        "valid_from": NOW - timedelta(days=90),
        "expires_at": NOW + timedelta(days=275),
    }
    fields.update(changes)
    return Attestation(**fields)


def tool(**changes: Any) -> DocumentTool:
    """A vendor-enclosed tool vetted for every use case, allowed on the production."""
    fields: dict[str, Any] = {
        "id": "tool_frame",
        "name": "FrameForge",
        "version": "3.1",
        "vendor_id": "ven_lumen",
        "vendor": "Lumen VFX",
        "hosting": "vendor_enclosed",
        "use_cases": [
            "previs",
            "style_frames",
            "vfx_cleanup",
            "crowd_replication",
            "de_aging",
            "subtitles",
            "dubbing",
            "marketing_art",
        ],
        "allowed_on_production": True,
        "attestation": attestation(),
    }
    fields.update(changes)
    return DocumentTool(**fields)


def consent(
    talent: DocumentTalent = MAYA, kind: str = "replica_use", **changes: Any
) -> DocumentConsent:
    """A consent in force now, for this production, every use case, any medium or territory."""
    fields: dict[str, Any] = {
        "id": f"con_{talent.id}_{kind}",
        "talent_id": talent.id,
        "kind": kind,
        "intended_use": "Digital double for the rooftop chase in episode 104.",
        "production_ids": [PRODUCTION],
        "use_cases": [
            "previs",
            "vfx_cleanup",
            "crowd_replication",
            "de_aging",
            "dubbing",
            "marketing_art",
            "style_frames",
        ],
        "granted_at": NOW - timedelta(days=30),
        "given_by": "performer",
        "compensation_ref": "SAG-AFTRA rider 7",
    }
    fields.update(changes)
    return DocumentConsent(**fields)


def replica_consents(talent: DocumentTalent = MAYA, **changes: Any) -> list[DocumentConsent]:
    """Both consents a digital replica needs: to its creation and to this use."""
    return [
        consent(talent, "replica_creation", **changes),
        consent(talent, "replica_use", **changes),
    ]


def document(
    *,
    disclosure: dict[str, Any] | None = None,
    talent: list[DocumentTalent] | None = None,
    consents: list[DocumentConsent] | None = None,
    replica_models: list[dict[str, str]] | None = None,
    now: datetime = NOW,
    **request: Any,
) -> PolicyDocument:
    """A document for temporary previs; keyword arguments change the request or its facts."""
    the_tool = request.pop("tool", None) or tool()
    people = talent or []
    fields: dict[str, Any] = {
        "id": "req_1",
        "production_id": PRODUCTION,
        "use_case": "previs",
        "intent": "temporary",
        "tool_id": the_tool.id,
        "talent_ids": [t.id for t in people],
        "disclosure": Disclosure(**(disclosure or {})),
    }
    fields.update(request)
    return PolicyDocument.model_validate(
        {
            "request": fields,
            "tool": the_tool,
            "talent": people,
            "consents": consents or [],
            "production": {
                "id": fields["production_id"],
                "studio_contact": "studio.contact@studio.test",
                "replica_models": replica_models or [],
            },
            "now": now,
        }
    )
