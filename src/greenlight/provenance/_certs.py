"""X.509 for content credentials: issuing the studio's chain and checking any chain.

C2PA's certificate profile wants, on every certificate: v3, AKI, critical
BasicConstraints and KeyUsage; SKI on CAs; on the signing leaf: CA:FALSE,
digitalSignature, and an allowed EKU (we use emailProtection, which the SDK's
default trust policy accepts). The SDK enforces most of that itself; what it
lets through (a self-signed end-entity, a certificate about to expire) we
refuse here.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from greenlight.core.errors import ProvenanceError

# Clock skew between this machine and whoever validates the credential.
_BACKDATE = timedelta(minutes=5)

ROOT_LIFETIME = timedelta(days=20 * 365)
INTERMEDIATE_LIFETIME = timedelta(days=10 * 365)
LEAF_LIFETIME = timedelta(days=2 * 365)


@dataclass(frozen=True)
class Issued:
    """A certificate and the private key it certifies."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: Issued | None,
    *,
    now: datetime,
    lifetime: timedelta,
    ca: bool,
) -> Issued:
    # A root signs itself; everything else is signed by its issuer.
    signing_key: CertificateIssuerPrivateKeyTypes = issuer.key if issuer else key
    issuer_name = issuer.certificate.subject if issuer else subject
    not_after = now + lifetime
    if issuer is not None:
        # A certificate must not outlive the one that vouches for it.
        not_after = min(not_after, issuer.certificate.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=not ca,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=True
        )
    return Issued(builder.sign(signing_key, hashes.SHA256()), key)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def issue_root(organization: str, *, now: datetime, generation: int = 1) -> Issued:
    """A new self-signed studio root CA (the trust anchor).

    ``generation`` goes into the name so that after a rotation the old and new roots,
    both trusted, are told apart by people and by chain builders matching on names.
    """
    return _issue(
        _name(f"{organization} Root CA G{generation}", organization),
        _new_key(),
        None,
        now=now,
        lifetime=ROOT_LIFETIME,
        ca=True,
    )


def issue_intermediate(root: Issued, organization: str, *, now: datetime) -> Issued:
    """A new intermediate CA under ``root``; it issues the signing leaves."""
    return _issue(
        _name(f"{organization} Signing CA", organization),
        _new_key(),
        root,
        now=now,
        lifetime=INTERMEDIATE_LIFETIME,
        ca=True,
    )


def issue_leaf(
    intermediate: Issued, organization: str, *, now: datetime, lifetime: timedelta = LEAF_LIFETIME
) -> Issued:
    """A new content-credential signing certificate under ``intermediate``."""
    return _issue(
        _name(f"{organization} Content Credentials", organization),
        _new_key(),
        intermediate,
        now=now,
        lifetime=lifetime,
        ca=False,
    )


def organization_of(certificate: x509.Certificate) -> str:
    """The O= of a certificate's subject, or its CN when it has none."""
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        values = certificate.subject.get_attributes_for_oid(oid)
        if values:
            return str(values[0].value)
    return "Greenlight Studio"


def pem(*certificates: x509.Certificate) -> bytes:
    """PEM text of ``certificates``, in order."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def private_pem(key: PrivateKeyTypes) -> bytes:
    """Unencrypted PKCS#8 PEM of ``key`` (the file holding it is mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_chain(data: bytes, what: str) -> list[x509.Certificate]:
    """Every certificate in PEM ``data``; ``provenance.bad_certificate`` if none parse."""
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ProvenanceError(
            f"{what} is not a PEM certificate chain ({exc}). "
            "Give the signing certificate first, then its intermediates, in PEM.",
            code="provenance.bad_certificate",
        ) from None
    return chain


def load_private_key(data: bytes, what: str) -> PrivateKeyTypes:
    """A private key from unencrypted PEM; ``provenance.bad_key`` otherwise."""
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ProvenanceError(
            f"{what} is not an unencrypted PEM private key ({exc}).",
            code="provenance.bad_key",
        ) from None


def algorithm_of(certificate: x509.Certificate) -> str:
    """The C2PA signing algorithm the certificate's key implies (``es256``, ``ed25519``...)."""
    key = certificate.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        by_curve = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name in by_curve:
            return by_curve[key.curve.name]
    elif isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    elif isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        # C2PA allows RSA only as RSASSA-PSS.
        return "ps256"
    raise ProvenanceError(
        "The signing certificate's key type is not one C2PA allows; use an EC P-256/384/521, "
        "Ed25519 or RSA (2048 bits or more) key.",
        code="provenance.bad_certificate",
    )


def is_self_signed(certificate: x509.Certificate) -> bool:
    """True when the certificate names itself as issuer or its own key verifies it."""
    if certificate.issuer == certificate.subject:
        return True
    try:
        certificate.verify_directly_issued_by(certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def split_root(
    chain: Sequence[x509.Certificate],
) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """(signing chain, roots): a self-signed CA at the end of a chain is a trust anchor,
    which C2PA wants left out of the chain that goes into the credential."""
    certs = list(chain)
    roots: list[x509.Certificate] = []
    while len(certs) > 1 and _is_ca(certs[-1]) and is_self_signed(certs[-1]):
        roots.append(certs.pop())
    return certs, roots


def check_signing_chain(
    chain: Sequence[x509.Certificate],
    *,
    now: datetime,
    min_validity: timedelta,
    anchors: Sequence[x509.Certificate] = (),
) -> None:
    """Refuse a chain C2PA or Greenlight would not stand behind, with a reason.

    The leaf comes first. Checks: the leaf is an end entity and not self-signed;
    each certificate is issued by the next; every certificate is valid now and for
    at least ``min_validity`` more; with ``anchors``, the top is issued by one.
    """
    if not chain:
        raise ProvenanceError("The certificate chain is empty.", code="provenance.bad_certificate")
    leaf = chain[0]
    if _is_ca(leaf):
        raise ProvenanceError(
            f"The signing certificate ({leaf.subject.rfc4514_string()}) is a CA certificate. "
            "Sign with an end-entity certificate (CA:FALSE) issued by your CA.",
            code="provenance.bad_certificate",
        )
    if is_self_signed(leaf):
        raise ProvenanceError(
            f"The signing certificate ({leaf.subject.rfc4514_string()}) is self-signed. "
            "Content credentials must chain to a CA the verifier can trust: issue the "
            "signing certificate from a CA (`greenlight keys init` makes one).",
            code="provenance.self_signed",
        )
    for child, parent in itertools.pairwise(chain):
        if not _issued_by(child, parent):
            raise ProvenanceError(
                f"{child.subject.rfc4514_string()} is not issued by the next certificate in "
                f"the chain ({parent.subject.rfc4514_string()}). Order the chain leaf first, "
                "then each issuer.",
                code="provenance.bad_chain",
            )
    for certificate in chain:
        _check_validity(certificate, now=now, min_validity=min_validity)
    if anchors and not any(_issued_by(chain[-1], a) or chain[-1] == a for a in anchors):
        raise ProvenanceError(
            "The chain does not lead to the trust anchor given: its top certificate "
            f"({chain[-1].subject.rfc4514_string()}) is not issued by it.",
            code="provenance.bad_chain",
        )


def _check_validity(
    certificate: x509.Certificate, *, now: datetime, min_validity: timedelta
) -> None:
    subject = certificate.subject.rfc4514_string()
    starts, ends = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if now < starts:
        raise ProvenanceError(
            f"The certificate {subject} is not valid until {starts:%Y-%m-%d %H:%M} UTC.",
            code="provenance.certificate_not_yet_valid",
        )
    if ends <= now:
        raise ProvenanceError(
            f"The certificate {subject} expired on {ends:%Y-%m-%d %H:%M} UTC. "
            "Rotate the signing identity (`greenlight keys rotate`) or import a current one.",
            code="provenance.certificate_expired",
        )
    if ends - now < min_validity:
        left = ends - now
        raise ProvenanceError(
            f"The certificate {subject} expires on {ends:%Y-%m-%d %H:%M} UTC, "
            f"in {_human(left)}; Greenlight wants at least {_human(min_validity)} left so "
            "credentials are not signed at the edge of expiry. Rotate the signing identity "
            "(`greenlight keys rotate`).",
            code="provenance.certificate_expiring",
        )


def _human(delta: timedelta) -> str:
    if delta >= timedelta(days=2):
        return f"{delta.days} days"
    hours = int(delta.total_seconds() // 3600)
    return f"{hours} hours" if hours >= 2 else f"{int(delta.total_seconds() // 60)} minutes"


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 fingerprint of the certificate (hex), as auditors compare them."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def same_public_key(key: PrivateKeyTypes, certificate: x509.Certificate) -> bool:
    """True when ``key`` is the private half of the certificate's public key."""
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bool(key.public_key().public_bytes(*fmt) == certificate.public_key().public_bytes(*fmt))
