"""Reading credentials back: what the SDK validated, in Greenlight's words.

``read_credentials`` reports on any credentialed file, good or bad; it raises only
when there is nothing to report on (unsupported, corrupt, no credentials).
``CredentialReport.require_trusted`` turns a bad report into a specific error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import c2pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greenlight.core.errors import ProvenanceError
from greenlight.provenance._facts import GOVERNANCE_LABEL, Governance, LedgerReference
from greenlight.provenance._formats import Binding, check_looks_like, media_type, sidecar_path
from greenlight.provenance._identity import TrustAnchors
from greenlight.provenance._sdk import provenance_error, reading_context

ValidationState = Literal["Trusted", "Valid", "Invalid"]

# Failure codes meaning the bytes or the manifest changed after signing.
_TAMPER_CODES = frozenset(
    {
        "assertion.dataHash.mismatch",
        "assertion.bmffHash.mismatch",
        "assertion.boxesHash.mismatch",
        "assertion.collectionHash.mismatch",
        "assertion.hashedURI.mismatch",
        "claimSignature.mismatch",
        "ingredient.manifest.mismatch",
        "ingredient.claimSignature.mismatch",
    }
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ValidationNote(_Frozen):
    """One validation finding: its C2PA status code and the SDK's explanation."""

    code: str
    explanation: str | None = None
    url: str | None = None


class ActionRecord(_Frozen):
    """One action in a manifest (``c2pa.created``, ``c2pa.opened``, ``c2pa.edited``...)."""

    action: str
    digital_source_type: str | None = None
    software_agent: str | None = None


class IngredientRecord(_Frozen):
    """One ingredient: a parent (``parentOf``) or a reference input (``inputTo``)."""

    title: str
    relationship: str
    format: str | None = None
    manifest_label: str | None = None


class ManifestEntry(_Frozen):
    """One manifest of the store: who signed it, what it says was done, and why."""

    label: str
    title: str | None = None
    signed_by: str | None = None
    issuer: str | None = None
    actions: tuple[ActionRecord, ...] = ()
    ingredients: tuple[IngredientRecord, ...] = ()
    governance: Governance | None = None
    training_mining: dict[str, str] = Field(default_factory=dict)


class CredentialReport(_Frozen):
    """What a file's credentials say and whether they hold.

    ``state`` is the SDK's: ``Trusted`` (intact, and signed under a trusted anchor),
    ``Valid`` (intact, signer not trusted) or ``Invalid``. ``manifest`` is the active
    manifest; ``ancestors`` follow ``parentOf`` ingredients back, nearest first.
    """

    path: Path
    binding: Binding
    state: ValidationState
    failures: tuple[ValidationNote, ...]
    manifest: ManifestEntry
    ancestors: tuple[ManifestEntry, ...]
    store: dict[str, Any] = Field(repr=False)

    @property
    def trusted(self) -> bool:
        """True when the credential is intact and signed under a trusted anchor."""
        return self.state == "Trusted"

    def problem(self) -> ProvenanceError | None:
        """The error a caller should raise for this report, or None when it is Trusted."""
        if self.state == "Trusted":
            return None
        codes = {note.code for note in self.failures}
        name = self.path.name
        reasons = "; ".join(sorted(codes)) or "no reason given"
        if self.state == "Valid":
            return ProvenanceError(
                f"{name} is intact, but its signer ({self.manifest.signed_by}, "
                f"{self.manifest.issuer}) does not chain to a trusted anchor. Verify with "
                "the studio's trust anchor (keys/trust-anchor.pem, or --trust FILE).",
                code="provenance.untrusted",
                path=str(self.path),
            )
        if codes & _TAMPER_CODES:
            return ProvenanceError(
                f"{name} was changed after it was signed ({reasons}). Do not use it; "
                "fetch the delivered original.",
                code="provenance.tampered",
                path=str(self.path),
            )
        if "signingCredential.expired" in codes:
            return ProvenanceError(
                f"{name} was signed with a certificate that has expired ({reasons}). The "
                "ledger entry named in its governance assertion shows when it was signed.",
                code="provenance.expired",
                path=str(self.path),
            )
        return ProvenanceError(
            f"The credentials of {name} are invalid ({reasons}).",
            code="provenance.invalid",
            path=str(self.path),
        )

    def require_trusted(self) -> None:
        """Raise the specific error (``provenance.untrusted``, ``provenance.tampered``...)
        unless the credential is Trusted."""
        problem = self.problem()
        if problem is not None:
            raise problem


def read_credentials(path: Path, trust: TrustAnchors | None = None) -> CredentialReport:
    """Read and validate the content credentials of ``path`` (embedded, or its
    ``.c2pa`` sidecar), trusting the roots in ``trust`` (none: at best ``Valid``).

    Raises ``provenance.unsupported_type``, ``provenance.corrupt_file`` or
    ``provenance.no_credentials`` when there is nothing to validate.
    """
    path = Path(path)
    kind = media_type(path)
    check_looks_like(path, kind)
    context = reading_context((trust or TrustAnchors.none()).pem)
    manifest_data: bytes | None = None
    if kind.binding == "sidecar":
        sidecar = sidecar_path(path)
        if not sidecar.exists():
            raise ProvenanceError(
                f"{path.name} carries no content credentials: {sidecar.name} is missing. "
                "Keep the .c2pa sidecar next to the file it belongs to.",
                code="provenance.no_credentials",
                path=str(path),
            )
        manifest_data = sidecar.read_bytes()
    try:
        with (
            path.open("rb") as stream,
            c2pa.Reader(kind.mime, stream, manifest_data, context=context) as reader,
        ):
            store: dict[str, Any] = json.loads(reader.json())
    except c2pa.C2paError as exc:
        raise provenance_error(exc, path=str(path), doing="read") from exc
    return _report(path, kind.binding, store)


def governance_reference(report: CredentialReport) -> LedgerReference | None:
    """The ledger entry the active manifest's governance assertion points at, if any."""
    governance = report.manifest.governance
    return governance.ledger if governance is not None else None


def _report(path: Path, binding: Binding, store: dict[str, Any]) -> CredentialReport:
    manifests: dict[str, Any] = store.get("manifests", {})
    active_label = store.get("active_manifest")
    if not active_label or active_label not in manifests:
        raise ProvenanceError(
            f"{path.name} has a manifest store without an active manifest.",
            code="provenance.invalid",
            path=str(path),
        )
    active = _entry(active_label, manifests[active_label])
    return CredentialReport(
        path=path,
        binding=binding,
        state=store.get("validation_state", "Invalid"),
        failures=_failures(store.get("validation_results", {})),
        manifest=active,
        ancestors=_ancestors(active, manifests),
        store=store,
    )


def _failures(results: dict[str, Any]) -> tuple[ValidationNote, ...]:
    # Failures of the active manifest, then of each ingredient's manifests: a parent
    # broken by tampering shows up only in the ingredient deltas.
    found = list(results.get("activeManifest", {}).get("failure", []))
    for delta in results.get("ingredientDeltas", []):
        found.extend(delta.get("validationDeltas", {}).get("failure", []))
    return tuple(
        ValidationNote(
            code=f.get("code", "unknown"), explanation=f.get("explanation"), url=f.get("url")
        )
        for f in found
    )


def _ancestors(active: ManifestEntry, manifests: dict[str, Any]) -> tuple[ManifestEntry, ...]:
    chain: list[ManifestEntry] = []
    seen = {active.label}
    current = active
    while True:
        parent = next(
            (
                i.manifest_label
                for i in current.ingredients
                if i.relationship == "parentOf" and i.manifest_label in manifests
            ),
            None,
        )
        if parent is None or parent in seen:
            return tuple(chain)
        seen.add(parent)
        current = _entry(parent, manifests[parent])
        chain.append(current)


def _entry(label: str, manifest: dict[str, Any]) -> ManifestEntry:
    signature = manifest.get("signature_info") or {}
    actions: list[ActionRecord] = []
    governance: Governance | None = None
    training: dict[str, str] = {}
    for assertion in manifest.get("assertions", []):
        kind, data = assertion.get("label", ""), assertion.get("data") or {}
        if kind.startswith("c2pa.actions"):
            actions.extend(_action(a) for a in data.get("actions", []))
        elif kind == GOVERNANCE_LABEL:
            try:
                # Fields a newer Greenlight may add are skipped, not fatal.
                known = {k: v for k, v in data.items() if k in Governance.model_fields}
                governance = Governance.model_validate(known)
            except ValidationError:
                governance = None
        elif kind in ("cawg.training-mining", "c2pa.training-mining"):
            training = {
                name: str(entry.get("use")) for name, entry in data.get("entries", {}).items()
            }
    ingredients = tuple(
        IngredientRecord(
            title=str(i.get("title", "")),
            relationship=str(i.get("relationship", "componentOf")),
            format=i.get("format"),
            manifest_label=i.get("active_manifest"),
        )
        for i in manifest.get("ingredients", [])
    )
    return ManifestEntry(
        label=label,
        title=manifest.get("title"),
        signed_by=signature.get("common_name"),
        issuer=signature.get("issuer"),
        actions=tuple(actions),
        ingredients=ingredients,
        governance=governance,
        training_mining=training,
    )


def _action(data: dict[str, Any]) -> ActionRecord:
    agent = data.get("softwareAgent")
    if isinstance(agent, dict):
        agent = " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k))
    return ActionRecord(
        action=str(data.get("action", "")),
        digital_source_type=data.get("digitalSourceType"),
        software_agent=agent,
    )
