"""The studio's signing identity: made, imported, held by a KMS, rotated, refused."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from greenlight.core import Conflict, NotFound, ProvenanceError, Settings
from greenlight.core.clock import utcnow
from greenlight.provenance import (
    CredentialFacts,
    SigningIdentity,
    TrustAnchors,
    _certs,
    import_identity,
    init_identity,
    read_credentials,
    rotate_identity,
    sign_asset,
)
from tests.expect import refused
from tests.media import make_image

ORG = "Harbour VFX"


def _vendor_chain(
    *, leaf_lifetime: timedelta = timedelta(days=365), leaf_born: timedelta = timedelta(0)
) -> tuple[bytes, bytes, bytes]:
    """(chain with root, leaf key, root) of a CA outside Greenlight, as a vendor brings it."""
    now = utcnow()
    root = _certs.issue_root(ORG, now=now)
    intermediate = _certs.issue_intermediate(root, ORG, now=now)
    leaf = _certs.issue_leaf(intermediate, ORG, now=now - leaf_born, lifetime=leaf_lifetime)
    chain = _certs.pem(leaf.certificate, intermediate.certificate, root.certificate)
    return chain, _certs.private_pem(leaf.key), _certs.pem(root.certificate)


def _self_signed_leaf() -> tuple[bytes, bytes]:
    """An end-entity certificate (CA:FALSE) that signs itself: C2PA lets it through."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rogue Signer")])
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=True)
        .sign(key, hashes.SHA256())
    )
    return _certs.pem(cert), _certs.private_pem(key)


def _sign_one(tmp_path: Path, name: str, facts: CredentialFacts, identity: SigningIdentity) -> Path:
    dst = tmp_path / name
    sign_asset(make_image(tmp_path / f"raw-{name}"), dst, facts, identity)
    return dst


def test_keys_init_creates_a_three_level_chain_with_private_keys_kept_private(
    studio: Settings,
) -> None:
    identity = init_identity(studio, organization=ORG)

    keys = studio.keys_dir
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for private in ("signing.key", "intermediate-ca.key", "root-ca.key"):
        assert stat.S_IMODE((keys / private).stat().st_mode) == 0o600
    anchor = x509.load_pem_x509_certificate((keys / "trust-anchor.pem").read_bytes())
    leaf, intermediate = identity.chain
    assert leaf.issuer == intermediate.subject and intermediate.issuer == anchor.subject
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == (
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION])
    )
    for cert in (leaf, intermediate, anchor):
        cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        assert cert.extensions.get_extension_for_class(x509.KeyUsage).critical
    assert identity.algorithm == "es256"
    assert SigningIdentity.load(studio).fingerprint == identity.fingerprint


def test_keys_init_refuses_to_overwrite_an_identity(studio: Settings) -> None:
    init_identity(studio)
    with refused("provenance.identity_exists", Conflict):
        init_identity(studio)


def test_signing_without_an_identity_says_how_to_make_one(studio: Settings) -> None:
    with pytest.raises(NotFound, match="keys init") as caught:
        SigningIdentity.load(studio)
    assert caught.value.code == "provenance.no_identity"


def test_a_key_readable_by_others_is_refused(studio: Settings) -> None:
    init_identity(studio)
    (studio.keys_dir / "signing.key").chmod(0o644)
    with pytest.raises(ProvenanceError, match="chmod 600") as caught:
        SigningIdentity.load(studio)
    assert caught.value.code == "provenance.key_permissions"


def test_credentials_are_trusted_only_by_a_verifier_holding_the_studio_anchor(
    tmp_path: Path, studio: Settings, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    signed = _sign_one(tmp_path, "frame.png", generated, identity)
    auditor_copy = tmp_path / "anchor-from-the-studio.pem"
    auditor_copy.write_bytes((studio.keys_dir / "trust-anchor.pem").read_bytes())

    assert read_credentials(signed, trust=TrustAnchors.from_file(auditor_copy)).state == "Trusted"
    without = read_credentials(signed, trust=TrustAnchors.none())
    assert without.state == "Valid"
    assert "signingCredential.untrusted" in {n.code for n in without.failures}
    with refused("provenance.untrusted", ProvenanceError):
        without.require_trusted()


def test_a_credential_signed_under_another_studios_chain_is_untrusted(
    tmp_path: Path, studio: Settings, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    chain, key, root = _vendor_chain()
    stranger = SigningIdentity.from_pem(chain, key)
    signed = _sign_one(tmp_path, "vendor.png", generated, stranger)

    report = read_credentials(signed, trust=TrustAnchors.studio(studio))

    assert report.state == "Valid"
    assert report.problem() is not None
    assert report.problem().code == "provenance.untrusted"  # type: ignore[union-attr]
    assert read_credentials(signed, trust=TrustAnchors.from_pem(root)).state == "Trusted"


def test_a_self_signed_signing_certificate_is_refused(studio: Settings) -> None:
    cert, key = _self_signed_leaf()
    with pytest.raises(ProvenanceError, match="self-signed") as caught:
        SigningIdentity.from_pem(cert, key)
    assert caught.value.code == "provenance.self_signed"
    with refused("provenance.self_signed", ProvenanceError):
        import_identity(studio, cert, key, anchor_pem=cert)
    assert not (studio.keys_dir / "signing.key").exists()


def test_an_expired_certificate_is_refused(studio: Settings) -> None:
    chain, key, _ = _vendor_chain(leaf_lifetime=timedelta(days=30), leaf_born=timedelta(days=31))
    with pytest.raises(ProvenanceError, match="expired") as caught:
        SigningIdentity.from_pem(chain, key)
    assert caught.value.code == "provenance.certificate_expired"


def test_a_certificate_about_to_expire_is_refused_unless_the_margin_allows_it() -> None:
    chain, key, _ = _vendor_chain(leaf_lifetime=timedelta(days=3))
    with pytest.raises(ProvenanceError, match="keys rotate") as caught:
        SigningIdentity.from_pem(chain, key)
    assert caught.value.code == "provenance.certificate_expiring"
    with pytest.raises(ProvenanceError):
        SigningIdentity.from_pem(chain, key, min_validity=timedelta(days=30))

    assert SigningIdentity.from_pem(chain, key, min_validity=timedelta(days=1)).chain


def test_a_key_that_is_not_the_certificates_is_refused() -> None:
    chain, _, _ = _vendor_chain()
    _, other_key, _ = _vendor_chain()
    with refused("provenance.key_mismatch", ProvenanceError):
        SigningIdentity.from_pem(chain, other_key)


def test_a_chain_out_of_order_is_refused() -> None:
    chain, key, _ = _vendor_chain()
    leaf, _intermediate, root = x509.load_pem_x509_certificates(chain)
    with refused("provenance.bad_chain", ProvenanceError):
        SigningIdentity.from_pem(_certs.pem(leaf, root), key, anchors=TrustAnchors.none())


def test_a_vendor_brings_its_own_chain_and_key(
    tmp_path: Path, studio: Settings, generated: CredentialFacts
) -> None:
    chain, key, root = _vendor_chain()

    identity = import_identity(studio, chain, key)

    assert len(identity.chain) == 2, "the root is the anchor, not part of the signing chain"
    anchors = TrustAnchors.studio(studio).certificates
    assert _certs.pem(*anchors) == root
    signed = _sign_one(tmp_path, "vendor.png", generated, SigningIdentity.load(studio))
    assert read_credentials(signed, trust=TrustAnchors.studio(studio)).state == "Trusted"
    with refused("provenance.rotation_unavailable", ProvenanceError):
        rotate_identity(studio)


def test_a_kms_held_key_signs_through_a_callback(
    tmp_path: Path, studio: Settings, generated: CredentialFacts
) -> None:
    chain, key_pem, root = _vendor_chain()
    # The key stays with the "KMS"; Greenlight only sees the chain and a sign function.
    kms_key = _certs.load_private_key(key_pem, "kms")
    assert isinstance(kms_key, ec.EllipticCurvePrivateKey)
    calls: list[int] = []

    def kms_sign(data: bytes) -> bytes:
        calls.append(len(data))
        return kms_key.sign(data, ec.ECDSA(hashes.SHA256()))

    identity = SigningIdentity.from_callback(kms_sign, chain)
    signed = _sign_one(tmp_path, "kms.png", generated, identity)

    assert calls, "the callback did the signing"
    report = read_credentials(signed, trust=TrustAnchors.from_pem(root))
    assert report.state == "Trusted"


def test_a_failing_kms_gives_a_clear_error_and_writes_nothing(
    tmp_path: Path, generated: CredentialFacts
) -> None:
    chain, _, _ = _vendor_chain()

    def unreachable_kms(data: bytes) -> bytes:
        raise ConnectionError("kms.internal:443 refused the connection")

    identity = SigningIdentity.from_callback(unreachable_kms, chain)
    src = make_image(tmp_path / "raw.png")

    with pytest.raises(ProvenanceError, match=r"kms\.internal") as caught:
        sign_asset(src, tmp_path / "out.png", generated, identity)
    assert caught.value.code == "provenance.signer_failed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.png"]


@pytest.mark.parametrize("renew", ["leaf", "intermediate", "root"])
def test_rotation_keeps_old_credentials_verifiable(
    renew: str, tmp_path: Path, studio: Settings, generated: CredentialFacts
) -> None:
    before = init_identity(studio, organization=ORG)
    old = _sign_one(tmp_path, "before.png", generated, before)

    after = rotate_identity(studio, renew=renew)  # type: ignore[arg-type]
    new = _sign_one(tmp_path, "after.png", generated, SigningIdentity.load(studio))

    trust = TrustAnchors.studio(studio)
    assert read_credentials(old, trust=trust).state == "Trusted"
    assert read_credentials(new, trust=trust).state == "Trusted"
    assert after.fingerprint != before.fingerprint
    assert (before.chain[1] == after.chain[1]) is (renew == "leaf")
    assert len(trust.certificates) == (2 if renew == "root" else 1)
    retired = list((studio.keys_dir / "retired").iterdir())
    assert len(retired) == 1 and (retired[0] / "signing-chain.pem").exists()
    assert not list(retired[0].glob("*.key")), "retired keys are deleted, not archived"


def test_after_a_root_rotation_an_auditor_with_only_the_new_root_sees_old_work_as_untrusted(
    tmp_path: Path, studio: Settings, generated: CredentialFacts
) -> None:
    old = _sign_one(tmp_path, "before.png", generated, init_identity(studio))
    rotate_identity(studio, renew="root")

    newest_root_only = TrustAnchors.studio(studio).certificates[0]
    report = read_credentials(old, trust=TrustAnchors.from_pem(_certs.pem(newest_root_only)))

    assert report.state == "Valid", "which is why trust-anchor.pem keeps every root"
