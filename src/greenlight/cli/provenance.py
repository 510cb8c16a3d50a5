"""``greenlight keys`` and ``greenlight provenance``: signing identity and content credentials."""

from __future__ import annotations

import json
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives import hashes
from rich.markup import escape

from greenlight.cli._common import console, err_console, friendly_errors, settings
from greenlight.core.errors import ProvenanceError, VerificationFailed
from greenlight.ledger import Ledger
from greenlight.provenance import (
    CredentialReport,
    ManifestEntry,
    SigningIdentity,
    TrustAnchors,
    governance_reference,
    import_identity,
    init_identity,
    read_credentials,
    rotate_identity,
)

keys_app = typer.Typer(help="The studio's C2PA signing identity.", no_args_is_help=True)
app = typer.Typer(help="Content credentials (C2PA) on AI outputs.", no_args_is_help=True)

_IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"

MinDays = Annotated[
    int,
    typer.Option(
        "--min-days",
        min=0,
        help="Refuse a certificate with fewer days than this left before it expires.",
    ),
]
TrustFile = Annotated[
    Path | None,
    typer.Option(
        "--trust",
        exists=True,
        dir_okay=False,
        help="PEM file of trust anchors (default: the studio's keys/trust-anchor.pem).",
    ),
]


def _print_identity(identity: SigningIdentity, verb: str) -> None:
    keys = settings().keys_dir
    leaf = identity.certificate
    console.print(f"[green]{verb}[/] signing identity in {escape(str(keys))}", highlight=False)
    console.print(f"  signs as     {escape(leaf.subject.rfc4514_string())}", highlight=False)
    console.print(f"  issued by    {escape(leaf.issuer.rfc4514_string())}", highlight=False)
    console.print(f"  algorithm    {identity.algorithm}", highlight=False)
    console.print(f"  expires      {identity.expires:%Y-%m-%d %H:%M} UTC", highlight=False)
    console.print(f"  fingerprint  {identity.fingerprint}", highlight=False)
    anchors = identity.anchors.certificates
    console.print(
        f"  trust anchor {escape(str(keys / 'trust-anchor.pem'))} ({len(anchors)} root(s))",
        highlight=False,
    )
    for anchor in anchors:
        console.print(
            f"    - {escape(anchor.subject.rfc4514_string())} "
            f"(until {anchor.not_valid_after_utc:%Y-%m-%d}, "
            f"sha256 {anchor.fingerprint(hashes.SHA256()).hex()[:16]}...)",
            highlight=False,
        )
    if not anchors:
        err_console.print(
            "[yellow]warning[/] no trust anchor: credentials will verify as Valid, not "
            "Trusted. Import again with --anchor ROOT.pem.",
            highlight=False,
        )


@keys_app.command("init")
@friendly_errors
def keys_init(
    organization: Annotated[
        str, typer.Option(help="The studio's name, as it appears in its certificates.")
    ] = "Greenlight Studio",
) -> None:
    """Create the studio's root CA, intermediate CA and signing certificate."""
    identity = init_identity(settings(), organization=organization)
    _print_identity(identity, "created")


@keys_app.command("import")
@friendly_errors
def keys_import(
    chain: Annotated[
        Path,
        typer.Option(
            exists=True, dir_okay=False, help="PEM chain: signing certificate first, then its CAs."
        ),
    ],
    key: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="PEM private key of the certificate.")
    ],
    anchor: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="PEM root the chain leads to (the trust anchor)."
        ),
    ] = None,
    min_days: MinDays = 7,
) -> None:
    """Bring your own certificate chain and key (replaces the current signing identity)."""
    identity = import_identity(
        settings(),
        chain.read_bytes(),
        key.read_bytes(),
        anchor_pem=anchor.read_bytes() if anchor else None,
        min_validity=timedelta(days=min_days),
    )
    _print_identity(identity, "imported")


class Renewal(StrEnum):
    """What ``keys rotate`` renews."""

    leaf = "leaf"
    intermediate = "intermediate"
    root = "root"


@keys_app.command("rotate")
@friendly_errors
def keys_rotate(
    renew: Annotated[
        Renewal,
        typer.Option(help="The signing certificate only, or also its intermediate, or the root."),
    ] = Renewal.leaf,
) -> None:
    """Issue a new signing certificate; old credentials stay verifiable."""
    identity = rotate_identity(settings(), renew=renew.value)
    _print_identity(identity, "rotated")


@keys_app.command("show")
@friendly_errors
def keys_show(min_days: MinDays = 7) -> None:
    """Show the signing identity and the trust anchors."""
    identity = SigningIdentity.load(settings(), min_validity=timedelta(days=min_days))
    _print_identity(identity, "current")


def _trust(path: Path | None) -> TrustAnchors:
    return TrustAnchors.from_file(path) if path else TrustAnchors.studio(settings())


def _short(source_type: str | None) -> str:
    return source_type.removeprefix(_IPTC) if source_type else ""


def _print_manifest(entry: ManifestEntry, indent: str) -> None:
    console.print(
        f"{indent}manifest {escape(entry.label)}  {escape(entry.title or '')}", highlight=False
    )
    console.print(
        f"{indent}  signed by {escape(entry.signed_by or '?')} ({escape(entry.issuer or '?')})",
        highlight=False,
    )
    for action in entry.actions:
        words = [action.action, _short(action.digital_source_type)]
        if action.software_agent:
            words.append(f"by {action.software_agent}")
        line = " ".join(w for w in words if w)
        console.print(f"{indent}  action {escape(line)}", highlight=False)
    for ingredient in entry.ingredients:
        credentials = " (has credentials)" if ingredient.manifest_label else ""
        console.print(
            f"{indent}  ingredient {ingredient.relationship} {escape(ingredient.title)} "
            f"{escape(ingredient.format or '')}{credentials}",
            highlight=False,
        )


def _print_report(report: CredentialReport) -> None:
    colour = {"Trusted": "green", "Valid": "yellow", "Invalid": "bold red"}[report.state]
    console.print(
        f"[{colour}]{report.state}[/] {escape(str(report.path))} ({report.binding} credentials)",
        highlight=False,
    )
    for note in report.failures:
        console.print(
            f"  [red]reason[/] {escape(note.code)}: {escape(note.explanation or '')}",
            highlight=False,
        )
    _print_manifest(report.manifest, "")
    if report.ancestors:
        console.print("history (parents, nearest first):")
        for entry in report.ancestors:
            _print_manifest(entry, "  ")
    governance = report.manifest.governance
    if governance is None:
        console.print("governance: [yellow]none[/] (not signed by Greenlight?)")
    else:
        console.print("governance (studio.greenlight.governance):")
        for name, value in governance.model_dump(mode="json", exclude_none=True).items():
            shown = json.dumps(value) if isinstance(value, dict | list) else str(value)
            console.print(f"  {name:<19}{escape(shown)}", highlight=False)
    if report.manifest.training_mining:
        uses = ", ".join(f"{k}={v}" for k, v in sorted(report.manifest.training_mining.items()))
        console.print(f"training/mining: {escape(uses)}", highlight=False)


def _as_json(report: CredentialReport) -> dict[str, Any]:
    problem = report.problem()
    body = report.model_dump(mode="json", exclude={"store"})
    body["trusted"] = report.trusted
    body["error"] = problem.to_dict() if problem else None
    body["manifest_store"] = report.store
    return body


def _exit_unless_trusted(report: CredentialReport) -> None:
    problem = report.problem()
    if problem is not None:
        err_console.print(f"[bold red]error[/] {escape(problem.diagnostics())}", highlight=False)
        raise typer.Exit(code=1)


def _check_ledger(report: CredentialReport) -> None:
    """The governance assertion's ledger entry exists, matches and is signed."""
    reference = governance_reference(report)
    governance = report.manifest.governance
    if reference is None or governance is None:
        raise ProvenanceError(
            f"{report.path.name} names no ledger entry, so --ledger has nothing to check.",
            code="provenance.no_ledger_reference",
        )
    ledger = Ledger.open(settings())
    entry, proof = ledger.confirm(reference.origin, reference.index, reference.leaf_hash_bytes)
    logged_request = entry.event().get("subjects", {}).get("request")
    if logged_request is not None and logged_request != governance.request_id:
        raise VerificationFailed(
            f"Ledger entry {entry.index} is about request {logged_request}, but the credential "
            f"says {governance.request_id}: it points at another request's entry.",
            code="ledger.reference_mismatch",
        )
    console.print(
        f"[green]ledger[/] entry {entry.index} of {escape(ledger.origin)} matches the credential "
        f"and is included in the signed checkpoint of size {proof.size}",
        highlight=False,
    )


@app.command()
@friendly_errors
def verify(
    file: Annotated[Path, typer.Argument(help="The file to check.")],
    trust: TrustFile = None,
    ledger: Annotated[
        bool,
        typer.Option(
            "--ledger",
            help="Also check that the referenced ledger entry exists, matches and is signed.",
        ),
    ] = False,
) -> None:
    """Validate a file's content credentials; exit 1 unless Trusted by the studio anchor."""
    report = read_credentials(file, trust=_trust(trust))
    _print_report(report)
    _exit_unless_trusted(report)
    if ledger:
        _check_ledger(report)


@app.command()
@friendly_errors
def show(
    file: Annotated[Path, typer.Argument(help="The file to describe.")],
    trust: TrustFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Describe a file's content credentials (``--json`` for machines); exit 1 unless Trusted."""
    report = read_credentials(file, trust=_trust(trust))
    if as_json:
        console.print_json(json.dumps(_as_json(report)))
        if not report.trusted:
            raise typer.Exit(code=1)
        return
    _print_report(report)
    _exit_unless_trusted(report)
