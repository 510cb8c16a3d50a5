"""The studio's signing identity: certificates, keys, trust anchors, rotation.

Layout of ``settings.keys_dir`` (private keys 0600, the directory 0700)::

    trust-anchor.pem      every root the studio has signed under, newest first
    signing-chain.pem     signing certificate, then its intermediate (no root)
    signing.key           the signing certificate's private key
    intermediate-ca.pem   } only for an identity made by `greenlight keys init`;
    intermediate-ca.key   } they issue the next signing certificate on rotation
    root-ca.pem           }
    root-ca.key           }
    retired/<time>/       certificates replaced by a rotation or an import

Verification trusts every root in ``trust-anchor.pem``: a rotation adds the new
root and keeps the old ones, so credentials signed before it stay Trusted.
Retired private keys are deleted; they can sign nothing more.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import struct
import threading
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from greenlight.core.clock import utcnow
from greenlight.core.errors import Conflict, NotFound, ProvenanceError
from greenlight.core.settings import Settings
from greenlight.provenance import _certs
from greenlight.provenance._sdk import provenance_error, reading_context, signing_context

TRUST_ANCHOR = "trust-anchor.pem"
SIGNING_CHAIN = "signing-chain.pem"
SIGNING_KEY = "signing.key"
INTERMEDIATE_CERT = "intermediate-ca.pem"
INTERMEDIATE_KEY = "intermediate-ca.key"
ROOT_CERT = "root-ca.pem"
ROOT_KEY = "root-ca.key"
RETIRED = "retired"

DEFAULT_MIN_VALIDITY = timedelta(days=7)
DEFAULT_ORGANIZATION = "Greenlight Studio"

Renewal = Literal["leaf", "intermediate", "root"]


@dataclass(frozen=True)
class TrustAnchors:
    """The root certificates a verifier trusts, as one PEM bundle. Empty trusts nothing."""

    pem: str = ""

    @classmethod
    def none(cls) -> TrustAnchors:
        """Trust nothing: an intact credential reads as ``Valid``, never ``Trusted``."""
        return cls("")

    @classmethod
    def from_pem(cls, data: bytes | str, *, what: str = "the trust anchor") -> TrustAnchors:
        """Anchors from PEM text holding one or more certificates."""
        raw = data.encode() if isinstance(data, str) else data
        return cls(_certs.pem(*_certs.load_chain(raw, what)).decode())

    @classmethod
    def from_file(cls, path: Path) -> TrustAnchors:
        """Anchors from a PEM file (an auditor's copy of the studio's trust anchor)."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(
                f"No trust anchor file at {path}.", code="provenance.no_trust_anchor"
            ) from None
        return cls.from_pem(data, what=str(path))

    @classmethod
    def studio(cls, settings: Settings) -> TrustAnchors:
        """The studio's anchors (``<keys dir>/trust-anchor.pem``), or none if never set up."""
        path = settings.keys_dir / TRUST_ANCHOR
        return cls.from_file(path) if path.exists() else cls.none()

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """The anchor certificates, in bundle order."""
        if not self.pem:
            return ()
        return tuple(x509.load_pem_x509_certificates(self.pem.encode()))

    def including(self, *certificates: x509.Certificate) -> TrustAnchors:
        """These anchors with ``certificates`` added in front (duplicates dropped)."""
        seen: set[bytes] = set()
        merged: list[x509.Certificate] = []
        for cert in (*certificates, *self.certificates):
            fp = cert.fingerprint(hashes.SHA256())
            if fp not in seen:
                seen.add(fp)
                merged.append(cert)
        return TrustAnchors(_certs.pem(*merged).decode())


class SigningIdentity:
    """A certificate chain and a way to sign with its key: from the data directory,
    from PEM files, or from a callback so a KMS or HSM keeps the key.

    Build it with ``load``, ``from_pem`` or ``from_callback``; each checks the chain
    (not self-signed, not expired or about to expire, in order, matching the key).
    One identity may sign many files; the SDK signer inside is made once per process.
    """

    def __init__(
        self,
        chain: Sequence[x509.Certificate],
        anchors: TrustAnchors,
        make_signer: Callable[[], c2pa.Signer],
    ) -> None:
        self._chain = tuple(chain)
        self._anchors = anchors
        self._make_signer = make_signer
        self._lock = threading.Lock()
        self._signer: tuple[int, c2pa.Signer] | None = None
        self._callback_error = threading.local()

    @classmethod
    def load(
        cls,
        settings: Settings,
        *,
        min_validity: timedelta = DEFAULT_MIN_VALIDITY,
        now: datetime | None = None,
    ) -> SigningIdentity:
        """The studio identity in ``settings.keys_dir`` (from ``keys init`` or ``keys import``)."""
        keys = settings.keys_dir
        chain_path, key_path = keys / SIGNING_CHAIN, keys / SIGNING_KEY
        if not chain_path.exists() or not key_path.exists():
            raise NotFound(
                f"No signing identity in {keys}. Run `greenlight keys init` to create the "
                "studio's CA and signing certificate, or `greenlight keys import` to bring "
                "your own.",
                code="provenance.no_identity",
            )
        _check_private(key_path)
        # The anchors hold every root the studio ever used, and an imported chain may
        # lead to none of them (a public CA): checked at import, not on every load.
        chain, _ = _checked_chain(chain_path.read_bytes(), None, min_validity, now)
        return cls._keyed(chain, key_path.read_bytes(), TrustAnchors.studio(settings))

    @classmethod
    def from_pem(
        cls,
        chain_pem: bytes,
        key_pem: bytes,
        *,
        anchors: TrustAnchors | None = None,
        min_validity: timedelta = DEFAULT_MIN_VALIDITY,
        now: datetime | None = None,
    ) -> SigningIdentity:
        """An identity from a PEM chain (signing certificate first) and its PEM private key.

        A self-signed root at the end of the chain is taken out of it and trusted. With
        ``anchors``, the chain must lead to one of them.
        """
        chain, anchors = _checked_chain(chain_pem, anchors, min_validity, now)
        return cls._keyed(chain, key_pem, anchors)

    @classmethod
    def _keyed(
        cls, chain: Sequence[x509.Certificate], key_pem: bytes, anchors: TrustAnchors
    ) -> SigningIdentity:
        key = _certs.load_private_key(key_pem, "the private key")
        if not _certs.same_public_key(key, chain[0]):
            raise ProvenanceError(
                "The private key does not belong to the signing certificate "
                f"({chain[0].subject.rfc4514_string()}).",
                code="provenance.key_mismatch",
            )
        info = c2pa.C2paSignerInfo(
            alg=_certs.algorithm_of(chain[0]).encode(),
            sign_cert=_certs.pem(*chain),
            private_key=_certs.private_pem(key),
            ta_url=None,
        )
        return cls(chain, anchors, lambda: c2pa.Signer.from_info(info))

    @classmethod
    def from_callback(
        cls,
        sign: Callable[[bytes], bytes],
        chain_pem: bytes,
        *,
        anchors: TrustAnchors | None = None,
        min_validity: timedelta = DEFAULT_MIN_VALIDITY,
        now: datetime | None = None,
    ) -> SigningIdentity:
        """An identity whose key lives elsewhere (a KMS, an HSM): ``sign(data)`` returns the
        signature of ``data`` with the signing certificate's key.

        For ECDSA keys the signature may be DER (what KMS and ``cryptography`` return) or
        raw r||s; for Ed25519 the 64 raw bytes; for RSA an RSASSA-PSS (SHA-256) signature.
        """
        chain, anchors = _checked_chain(chain_pem, anchors, min_validity, now)
        alg = _SIGNING_ALGORITHMS[_certs.algorithm_of(chain[0])]
        certs = _certs.pem(*chain).decode()
        identity: SigningIdentity

        def guarded(data: bytes) -> bytes:
            # The SDK swallows callback exceptions; keep ours so the error can say why.
            try:
                return sign(data)
            except Exception as exc:
                identity._callback_error.value = exc
                raise

        identity = cls(chain, anchors, lambda: c2pa.Signer.from_callback(guarded, alg, certs, None))
        return identity

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """The chain that goes into every credential: signing certificate first, no root."""
        return self._chain

    @property
    def certificate(self) -> x509.Certificate:
        """The signing (leaf) certificate."""
        return self._chain[0]

    @property
    def anchors(self) -> TrustAnchors:
        """The roots this identity's credentials are expected to verify against."""
        return self._anchors

    @property
    def algorithm(self) -> str:
        """The C2PA signing algorithm (``es256``, ``ed25519``...)."""
        return _certs.algorithm_of(self.certificate)

    @property
    def expires(self) -> datetime:
        """When the first certificate of the chain expires (UTC)."""
        return min(c.not_valid_after_utc for c in self._chain)

    @property
    def fingerprint(self) -> str:
        """SHA-256 fingerprint (hex) of the signing certificate."""
        return _certs.fingerprint(self.certificate)

    def sdk_signer(self) -> c2pa.Signer:
        """The c2pa-python signer for this identity, made once per process."""
        with self._lock:
            pid = os.getpid()
            if self._signer is None or self._signer[0] != pid:
                self._signer = (pid, self._make_signer())
            return self._signer[1]

    def take_callback_error(self) -> BaseException | None:
        """The exception the signing callback raised in this thread, if any (and forget it)."""
        error: BaseException | None = getattr(self._callback_error, "value", None)
        self._callback_error.value = None
        return error


_SIGNING_ALGORITHMS = {
    "es256": c2pa.C2paSigningAlg.ES256,
    "es384": c2pa.C2paSigningAlg.ES384,
    "es512": c2pa.C2paSigningAlg.ES512,
    "ps256": c2pa.C2paSigningAlg.PS256,
    "ed25519": c2pa.C2paSigningAlg.ED25519,
}


def _checked_chain(
    chain_pem: bytes,
    anchors: TrustAnchors | None,
    min_validity: timedelta,
    now: datetime | None,
) -> tuple[list[x509.Certificate], TrustAnchors]:
    chain, roots = _certs.split_root(_certs.load_chain(chain_pem, "the certificate chain"))
    anchors = (anchors or TrustAnchors.none()).including(*roots)
    _certs.check_signing_chain(
        chain,
        now=now or utcnow(),
        min_validity=min_validity,
        anchors=anchors.certificates,
    )
    return chain, anchors


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ProvenanceError(
            f"{path} is readable by other users (mode {mode:o}). Private keys must be "
            f"0600: run `chmod 600 {path}`.",
            code="provenance.key_permissions",
        )


# --- writing the identity -------------------------------------------------------------


def init_identity(
    settings: Settings, *, organization: str = DEFAULT_ORGANIZATION
) -> SigningIdentity:
    """Create the studio's root CA, intermediate CA and signing certificate in the data
    directory, and write the trust anchor. Refuses if an identity already exists."""
    keys = settings.keys_dir
    if (keys / SIGNING_CHAIN).exists():
        raise Conflict(
            f"A signing identity already exists in {keys}. Use `greenlight keys rotate` for "
            "a new signing certificate, or `greenlight keys import` to replace it.",
            code="provenance.identity_exists",
        )
    now = utcnow()
    anchors = TrustAnchors.studio(settings)
    root = _certs.issue_root(organization, now=now, generation=len(anchors.certificates) + 1)
    intermediate = _certs.issue_intermediate(root, organization, now=now)
    leaf = _certs.issue_leaf(intermediate, organization, now=now)
    anchors = anchors.including(root.certificate)
    identity = _proven(leaf, intermediate, anchors)
    _make_keys_dir(keys)
    _write(keys / ROOT_KEY, _certs.private_pem(root.key), private=True)
    _write(keys / ROOT_CERT, _certs.pem(root.certificate))
    _write(keys / INTERMEDIATE_KEY, _certs.private_pem(intermediate.key), private=True)
    _write(keys / INTERMEDIATE_CERT, _certs.pem(intermediate.certificate))
    _write_signing(keys, leaf, intermediate)
    _write(keys / TRUST_ANCHOR, anchors.pem.encode())
    return identity


def rotate_identity(settings: Settings, *, renew: Renewal = "leaf") -> SigningIdentity:
    """Issue a new signing certificate (``renew="leaf"``), or also a new intermediate
    (``"intermediate"``) or a whole new chain (``"root"``).

    Old roots stay in the trust anchor file, so credentials signed before the rotation
    keep verifying as Trusted while their certificates are within validity.
    """
    keys = settings.keys_dir
    if not (keys / SIGNING_CHAIN).exists():
        raise NotFound(
            f"No signing identity in {keys} to rotate; run `greenlight keys init` first.",
            code="provenance.no_identity",
        )
    if not (keys / INTERMEDIATE_KEY).exists() or not (keys / ROOT_KEY).exists():
        raise ProvenanceError(
            "This signing identity was imported, so Greenlight holds no CA key to issue its "
            "successor. Get a new certificate from your CA and run `greenlight keys import`.",
            code="provenance.rotation_unavailable",
        )
    now = utcnow()
    root = _stored(keys, ROOT_CERT, ROOT_KEY)
    organization = _certs.organization_of(root.certificate)
    anchors = TrustAnchors.studio(settings)
    if renew == "root":
        generation = len(anchors.certificates) + 1
        root = _certs.issue_root(organization, now=now, generation=generation)
    if renew in ("root", "intermediate"):
        intermediate = _certs.issue_intermediate(root, organization, now=now)
    else:
        intermediate = _stored(keys, INTERMEDIATE_CERT, INTERMEDIATE_KEY)
    leaf = _certs.issue_leaf(intermediate, organization, now=now)
    anchors = anchors.including(root.certificate)
    identity = _proven(leaf, intermediate, anchors)

    _retire(keys, renew)
    if renew == "root":
        _write(keys / ROOT_KEY, _certs.private_pem(root.key), private=True)
        _write(keys / ROOT_CERT, _certs.pem(root.certificate))
    if renew in ("root", "intermediate"):
        _write(keys / INTERMEDIATE_KEY, _certs.private_pem(intermediate.key), private=True)
        _write(keys / INTERMEDIATE_CERT, _certs.pem(intermediate.certificate))
    _write_signing(keys, leaf, intermediate)
    # Anchors last: a crash before this leaves the old anchors, which still hold the
    # old root; the new root is then added by re-running the rotation.
    _write(keys / TRUST_ANCHOR, anchors.pem.encode())
    return identity


def import_identity(
    settings: Settings,
    chain_pem: bytes,
    key_pem: bytes,
    *,
    anchor_pem: bytes | None = None,
    min_validity: timedelta = DEFAULT_MIN_VALIDITY,
) -> SigningIdentity:
    """Bring your own certificate chain (PEM, signing certificate first) and key.

    The trust anchor is ``anchor_pem``, or the self-signed root at the end of the
    chain; it is added to the studio's anchors (old ones stay). Any studio CA made
    by ``keys init`` is retired, since it no longer issues this identity.
    """
    keys = settings.keys_dir
    given = TrustAnchors.from_pem(anchor_pem) if anchor_pem is not None else None
    candidate = SigningIdentity.from_pem(
        chain_pem, key_pem, anchors=given, min_validity=min_validity
    )
    _trial_sign(candidate)
    anchors = TrustAnchors.studio(settings).including(*candidate.anchors.certificates)
    _make_keys_dir(keys)
    if (keys / SIGNING_CHAIN).exists():
        _retire(keys, "root" if (keys / ROOT_KEY).exists() else "leaf")
    key = _certs.load_private_key(key_pem, "the private key")
    _write(keys / SIGNING_KEY, _certs.private_pem(key), private=True)
    _write(keys / SIGNING_CHAIN, _certs.pem(*candidate.chain))
    _write(keys / TRUST_ANCHOR, anchors.pem.encode())
    return SigningIdentity.load(settings, min_validity=min_validity)


def _stored(keys: Path, cert_name: str, key_name: str) -> _certs.Issued:
    _check_private(keys / key_name)
    cert = _certs.load_chain((keys / cert_name).read_bytes(), cert_name)[0]
    key = _certs.load_private_key((keys / key_name).read_bytes(), key_name)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ProvenanceError(
            f"{keys / key_name} is not an EC key; Greenlight only issues EC P-256 CAs.",
            code="provenance.bad_key",
        )
    return _certs.Issued(cert, key)


def _proven(
    leaf: _certs.Issued, intermediate: _certs.Issued, anchors: TrustAnchors
) -> SigningIdentity:
    identity = SigningIdentity.from_pem(
        _certs.pem(leaf.certificate, intermediate.certificate),
        _certs.private_pem(leaf.key),
        anchors=anchors,
    )
    _trial_sign(identity)
    return identity


def _write_signing(keys: Path, leaf: _certs.Issued, intermediate: _certs.Issued) -> None:
    # Key before chain: if we stop in between, load() reports a key/certificate
    # mismatch instead of silently signing with a retired key.
    _write(keys / SIGNING_KEY, _certs.private_pem(leaf.key), private=True)
    _write(keys / SIGNING_CHAIN, _certs.pem(leaf.certificate, intermediate.certificate))


def _retire(keys: Path, renew: Renewal) -> None:
    """Copy the certificates being replaced to ``retired/<time>/`` and delete their keys."""
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
    folder = keys / RETIRED / stamp
    folder.mkdir(parents=True, mode=0o700)
    replaced = [(SIGNING_CHAIN, SIGNING_KEY)]
    if renew in ("intermediate", "root"):
        replaced.append((INTERMEDIATE_CERT, INTERMEDIATE_KEY))
    if renew == "root":
        replaced.append((ROOT_CERT, ROOT_KEY))
    for cert_name, key_name in replaced:
        if (keys / cert_name).exists():
            _write(folder / cert_name, (keys / cert_name).read_bytes())
        with contextlib.suppress(FileNotFoundError):
            (keys / key_name).unlink()


def _make_keys_dir(keys: Path) -> None:
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(keys, 0o700)


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data`` whole or not at all; private files are 0600 from the first byte."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


# --- proving an identity works before we store it ---------------------------------------


def _tiny_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


_TRIAL_MANIFEST = {
    "title": "greenlight identity check",
    "claim_generator_info": [{"name": "Greenlight"}],
    "assertions": [
        {
            "label": "c2pa.actions",
            "data": {
                "actions": [
                    {
                        "action": "c2pa.created",
                        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCreation",
                    }
                ]
            },
        }
    ],
}


def _trial_sign(identity: SigningIdentity) -> None:
    """Sign and verify a 1x1 PNG, so a chain the SDK rejects fails now, not on the first output."""
    signed = io.BytesIO()
    try:
        with c2pa.Builder(_TRIAL_MANIFEST, signing_context()) as builder:
            builder.sign(identity.sdk_signer(), "image/png", io.BytesIO(_tiny_png()), signed)
        signed.seek(0)
        context = reading_context(identity.anchors.pem)
        with c2pa.Reader("image/png", signed, context=context) as reader:
            store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        raise provenance_error(exc, path="a test image", doing="sign") from exc
    failures = store.get("validation_results", {}).get("activeManifest", {}).get("failure", [])
    wanted = "Trusted" if identity.anchors.pem else "Valid"
    if store.get("validation_state") != wanted:
        reasons = "; ".join(f"{f.get('code')}: {f.get('explanation')}" for f in failures)
        raise ProvenanceError(
            f"A test credential signed with this identity does not verify as {wanted} "
            f"({reasons or store.get('validation_state')}).",
            code="provenance.certificate_rejected",
        )
