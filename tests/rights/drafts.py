"""Ready-made inputs for the rights tests: a consent, an attestation, a finding."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from greenlight.core.clock import utcnow
from greenlight.core.models import AttestationDraft
from greenlight.rights import ConsentDraft
from tests.world import World

FLASHBACK = "De-age Maya Okafor to her twenties in the 1999 flashback of episode 103"


def consent(world: World, **changes: Any) -> ConsentDraft:
    """A digital-alteration consent for the consented performer on Northern Lights."""
    fields: dict[str, Any] = {
        "talent_id": world.consented.id,
        "production_id": world.production.id,
        "use_cases": ["de_aging"],
        "kind": "digital_alteration",
        "intended_use": FLASHBACK,
        "recorded_by": world.people["legal"].id,
    }
    fields.update(changes)
    return ConsentDraft.model_validate(fields)


def attestation(**changes: Any) -> AttestationDraft:
    """A clean attestation, in force for a year."""
    fields: dict[str, Any] = {
        "training_data": [{"source": "Studio-owned plates 2010-2024", "licence": "owned"}],
        "trains_on_inputs": False,
        "retains_data_days": 0,
        "enclosed_environment": True,
        "security_certification": "TPN Gold",
        "expires_at": utcnow() + timedelta(days=365),
    }
    fields.update(changes)
    return AttestationDraft.model_validate(fields)
