"""Content credentials (C2PA) on every AI output: the signing identity, signing, verifying.

The lifecycle signs each output with::

    identity = SigningIdentity.load(settings)
    signed = sign_asset(src, dst, CredentialFacts(...), identity)

and anyone holding the studio's trust anchor checks it with::

    report = read_credentials(path, trust=TrustAnchors.studio(settings))
    report.require_trusted()
"""

from greenlight.provenance._facts import (
    GOVERNANCE_LABEL,
    CredentialFacts,
    Governance,
    LedgerReference,
    Tool,
    TrainingMining,
    prompt_digest,
)
from greenlight.provenance._formats import SUPPORTED_SUFFIXES
from greenlight.provenance._identity import (
    DEFAULT_MIN_VALIDITY,
    SigningIdentity,
    TrustAnchors,
    import_identity,
    init_identity,
    rotate_identity,
)
from greenlight.provenance._read import (
    ActionRecord,
    CredentialReport,
    IngredientRecord,
    ManifestEntry,
    ValidationNote,
    governance_reference,
    read_credentials,
)
from greenlight.provenance._sign import SignedAsset, sign_asset

__all__ = [
    "DEFAULT_MIN_VALIDITY",
    "GOVERNANCE_LABEL",
    "SUPPORTED_SUFFIXES",
    "ActionRecord",
    "CredentialFacts",
    "CredentialReport",
    "Governance",
    "IngredientRecord",
    "LedgerReference",
    "ManifestEntry",
    "SignedAsset",
    "SigningIdentity",
    "Tool",
    "TrainingMining",
    "TrustAnchors",
    "ValidationNote",
    "governance_reference",
    "import_identity",
    "init_identity",
    "prompt_digest",
    "read_credentials",
    "rotate_identity",
    "sign_asset",
]
