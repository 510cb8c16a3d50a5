"""Content credentials (C2PA) on every AI output: the signing identity, signing, verifying.

The lifecycle signs each output with::

    identity = SigningIdentity.load(settings)            # once per process
    signed = sign_asset(src, dst, CredentialFacts(...), identity)

and anyone holding the studio's trust anchor checks it with::

    report = read_credentials(path, trust=TrustAnchors.studio(settings))
    report.require_trusted()      # provenance.untrusted / .tampered / .expired / .invalid

Formats. PNG, JPEG, WebP, TIFF, WAV, MP3, M4A, MP4 and MOV carry the manifest
inside the file. SRT, WebVTT, TTML, JSON and OpenEXR cannot, so the file is left
byte for byte as it was and the manifest goes to ``<file>.c2pa`` next to it: a
standard C2PA manifest store, signed by the SDK itself with its ``no_embed`` mode,
whose ``c2pa.hash.data`` hard binding is the SHA-256 of the whole file. Any C2PA
reader given the file and the sidecar recomputes that hash (``Reader(format,
stream, manifest_data)``); no Greenlight-specific assertion is needed.

Trust. Verification trusts the roots in ``<data dir>/keys/trust-anchor.pem``,
which keeps every root the studio has used, so a rotation does not orphan old
credentials. Signatures carry no trusted timestamp (no network), so the SDK judges
a certificate's validity at verification time: credentials signed by a leaf that
has since expired read as Invalid (``provenance.expired``); the ledger entry named
in the governance assertion is then the evidence of when they were signed.

Memory. Greenlight passes file handles to the SDK and hashes in chunks; c2pa
0.91.3 itself holds the asset in memory while signing (measured: about 2-3x the
file size for MP4, WAV and sidecar types).
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
