"""Performers' face and voice templates: made from their references, sealed at rest.

A template is what the scanner compares outputs against: the face encodings
of one reference photo (the face and its mirror image), or the speaker
embedding of one voice sample. Templates are biometric data, so:

- the vectors are sealed with AES-GCM under ``keys/likeness.key`` (the
  database alone does not reveal them), each bound to its row;
- only the scanner (:func:`scanner_gallery`, no person involved) and legal
  (:func:`list_templates`, :func:`open_templates`) read them; no route or
  command returns the vectors;
- they go when their reference is withdrawn or their performer removed (the
  database's ON DELETE CASCADE), and when the consent they are kept under
  (``kept_under``) is revoked (:func:`forget_kept_under`, called by
  ``engine/revocation.py``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, RowMapping, delete, insert, select

from greenlight.accounts import Access
from greenlight.core.clock import utcnow
from greenlight.core.enums import Role
from greenlight.core.errors import Conflict, Forbidden, InvalidInput, ProvenanceError
from greenlight.core.ids import new_id
from greenlight.core.models import Record, TalentReference
from greenlight.likeness import faces
from greenlight.rights import add_reference, get_consent, get_talent, list_references
from greenlight.store import BlobStore, Database
from greenlight.store.schema import (
    consent_productions,
    consents,
    generation_requests,
    likeness_templates,
    request_talent,
)
from greenlight.store.sealing import BadKeyFile, SealingKey, Unsealable, sealing_key

KEY_FILE = "likeness.key"
Modality = Literal["face", "voice"]
_MODALITY_OF: dict[str, Modality] = {"photo": "face", "voice": "voice"}


class Template(Record):
    """A template's record (never its vectors): whose, from which reference, by which
    model, how many vectors, the consent it is kept under, who made it and when."""

    id: str
    talent_id: str
    reference_id: str
    modality: Modality
    model: str
    vectors: int
    kept_under: str | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class Gallery:
    """Every vector of one modality and model, one row each, with whose it is."""

    modality: Modality
    model: str
    talent_ids: tuple[str, ...]  # one per row of ``vectors``
    vectors: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return len(self.talent_ids)


# --- enrollment ---------------------------------------------------------------------


def enroll(
    db: Database,
    blobs: BlobStore,
    keys_dir: Path,
    access: Access,
    talent_id: str,
    *,
    photos: Sequence[tuple[str, bytes]] = (),
    voice_samples: Sequence[tuple[str, bytes]] = (),
    kept_under: str | None = None,
) -> list[Template]:
    """Add a performer's reference photos and voice samples (``(filename, bytes)``) and
    make the templates of every reference they have that lacks one. Legal or admins.

    Every new file is checked first (a photo with no face or several faces, a
    voice sample too short, is refused) so a refusal stores nothing.
    ``kept_under`` names the performer's consent that lets the studio keep
    their templates; revoking it deletes them. Returns the templates made.
    """
    access.require_talent_keeper()
    with db.read() as conn:
        get_talent(conn, talent_id)
        if kept_under is not None:
            _check_kept_under(conn, talent_id, kept_under)
    for filename, data in photos:
        _face_vectors(data, filename)  # refuses before anything is stored
    for filename, data in voice_samples:
        _voice_vectors(data, filename)
    for kind, files in (("photo", photos), ("voice", voice_samples)):
        for filename, data in files:
            _add_or_find(db, blobs, access, talent_id, kind, filename, data)
    return build_templates(db, blobs, keys_dir, access, talent_id, kept_under=kept_under)


def build_templates(
    db: Database,
    blobs: BlobStore,
    keys_dir: Path,
    access: Access,
    talent_id: str,
    *,
    kept_under: str | None = None,
) -> list[Template]:
    """Make the templates a performer's references lack (with the current models).

    A reference that cannot be used (no face in a photo added through the
    registry) is refused with its own error, naming the reference.
    """
    access.require_talent_keeper()
    with db.read() as conn:
        references = list_references(conn, talent_id)
        have = {
            (r.reference_id, r.model)
            for r in conn.execute(
                select(likeness_templates.c.reference_id, likeness_templates.c.model).where(
                    likeness_templates.c.talent_id == talent_id
                )
            )
        }
    pending = []
    for reference in references:
        model = _model_for(reference.kind)
        if (reference.id, model) in have:
            continue
        data = blobs.read_bytes(reference.sha256)
        try:
            vectors = (
                _face_vectors(data, reference.filename)
                if reference.kind == "photo"
                else _voice_vectors(data, reference.filename)
            )
        except InvalidInput as refusal:
            refusal.details["reference_id"] = reference.id
            raise
        pending.append((reference, model, vectors))
    key = _key(keys_dir)
    made = []
    with db.transaction() as conn:
        for reference, model, vectors in pending:
            made.append(_insert(conn, key, reference, model, vectors, kept_under, access.person.id))
    return made


def _add_or_find(
    db: Database,
    blobs: BlobStore,
    access: Access,
    talent_id: str,
    kind: str,
    filename: str,
    data: bytes,
) -> str:
    """The id of the reference holding ``data``: added now, or the one already there."""
    try:
        return add_reference(
            db,
            blobs,
            talent_id,
            kind,  # type: ignore[arg-type]  # "photo" | "voice", checked by add_reference
            data,
            filename=filename,
            media_type=None,
            by=access.person.id,
        ).id
    except Conflict as taken:
        if taken.code == "reference.duplicate":
            return str(taken.details["reference_id"])
        raise


def _insert(
    conn: Connection,
    key: SealingKey,
    reference: TalentReference,
    model: str,
    vectors: npt.NDArray[np.float32],
    kept_under: str | None,
    by: str,
) -> Template:
    template_id = new_id("template")
    modality = _MODALITY_OF[reference.kind]
    row: dict[str, Any] = {
        "id": template_id,
        "talent_id": reference.talent_id,
        "reference_id": reference.id,
        "modality": modality,
        "model": model,
        "vectors": len(vectors),
        "key_id": key.key_id,
        "sealed": key.seal(
            np.ascontiguousarray(vectors, dtype="<f4").tobytes(),
            bound_to=_bound_to(template_id, reference.talent_id, modality, model),
        ),
        "kept_under": kept_under,
        "created_by": by,
        "created_at": utcnow(),
    }
    conn.execute(insert(likeness_templates).values(**row))
    return _template(row)


def _face_vectors(data: bytes, filename: str) -> npt.NDArray[np.float32]:
    try:
        return np.stack(faces.encode_reference(faces.read_image(data)))
    except InvalidInput as refusal:
        refusal.details.setdefault("file", filename)
        raise


def _voice_vectors(data: bytes, filename: str) -> npt.NDArray[np.float32]:
    from greenlight.likeness import voice

    suffix = Path(filename).suffix or ".wav"
    with tempfile.NamedTemporaryFile(suffix=suffix) as sample:
        sample.write(data)
        sample.flush()
        try:
            embedding = voice.embed_voice(Path(sample.name))
        except InvalidInput as refusal:
            refusal.details.setdefault("file", filename)
            raise
    return np.asarray(embedding, dtype=np.float32)[None, :]


def _model_for(kind: str) -> str:
    if kind == "photo":
        return faces.MODEL
    from greenlight.likeness import voice

    return voice.MODEL


def _check_kept_under(conn: Connection, talent_id: str, consent_id: str) -> None:
    consent = get_consent(conn, consent_id)
    if consent.talent_id != talent_id:
        raise InvalidInput(
            f"Consent {consent_id} is another performer's; name a consent {talent_id} gave.",
            code="likeness.kept_under_other_talent",
        )
    if consent.revoked_at is not None:
        raise InvalidInput(
            f"Consent {consent_id} is revoked; templates cannot be kept under it.",
            code="likeness.kept_under_revoked",
        )


# --- reading -------------------------------------------------------------------------


def _require_legal(access: Access) -> None:
    """Templates are read by legal only (not admins, not auditors): biometric data."""
    if not access.holds_anywhere({Role.LEGAL}):
        raise Forbidden(
            "Only legal may read performers' likeness templates; ask legal on the production.",
            code="likeness.templates_legal_only",
        )


def _legal_read(conn: Connection, access: Access, talent_id: str) -> list[RowMapping]:
    """A performer's template rows, oldest first, for legal only."""
    _require_legal(access)
    get_talent(conn, talent_id)
    return list(
        conn.execute(
            select(likeness_templates)
            .where(likeness_templates.c.talent_id == talent_id)
            .order_by(likeness_templates.c.created_at, likeness_templates.c.id)
        ).mappings()
    )


def list_templates(conn: Connection, access: Access, talent_id: str) -> list[Template]:
    """A performer's templates, oldest first (their records, not their vectors). Legal only."""
    rows = _legal_read(conn, access, talent_id)
    return [_template(r) for r in rows]


def open_templates(
    conn: Connection, keys_dir: Path, access: Access, talent_id: str
) -> list[tuple[Template, npt.NDArray[np.float32]]]:
    """A performer's templates with their vectors unsealed, for legal's own checks.
    In-process only: nothing serves this over HTTP or prints it."""
    rows = _legal_read(conn, access, talent_id)
    key = _key(keys_dir)
    return [(_template(r), _unseal(key, r)) for r in rows]


def scanner_gallery(
    conn: Connection,
    keys_dir: Path,
    modality: Modality,
    model: str,
    talent_ids: Collection[str] | None,
) -> Gallery:
    """Every vector of ``modality`` made by ``model``, of ``talent_ids`` (``None``:
    every enrolled performer), for the scanner's use only."""
    query = select(likeness_templates).where(
        likeness_templates.c.modality == modality, likeness_templates.c.model == model
    )
    if talent_ids is not None:
        query = query.where(likeness_templates.c.talent_id.in_(sorted(talent_ids)))
    key = _key(keys_dir)
    owners: list[str] = []
    blocks = []
    for row in conn.execute(query.order_by(likeness_templates.c.id)).mappings():
        vectors = _unseal(key, row)
        owners.extend([row["talent_id"]] * len(vectors))
        blocks.append(vectors)
    width = blocks[0].shape[1] if blocks else 0
    stacked = np.concatenate(blocks) if blocks else np.zeros((0, width), np.float32)
    return Gallery(modality, model, tuple(owners), stacked)


def production_talent(conn: Connection, production_id: str) -> set[str]:
    """The performers a production deals with: those with a consent covering it, and
    those named on any of its requests."""
    consenting = (
        select(consents.c.talent_id)
        .join(consent_productions, consent_productions.c.consent_id == consents.c.id)
        .where(consent_productions.c.production_id == production_id)
    )
    named = (
        select(request_talent.c.talent_id)
        .join(generation_requests, generation_requests.c.id == request_talent.c.request_id)
        .where(generation_requests.c.production_id == production_id)
    )
    found = {r[0] for r in conn.execute(consenting)}
    found |= {r[0] for r in conn.execute(named)}
    return found


# --- forgetting ------------------------------------------------------------------------


def forget_kept_under(conn: Connection, consent_id: str) -> int:
    """Delete the templates kept under a consent being revoked; how many went."""
    done = conn.execute(
        delete(likeness_templates).where(likeness_templates.c.kept_under == consent_id)
    )
    return int(done.rowcount or 0)


def forget_talent(conn: Connection, talent_id: str, *, modality: Modality | None = None) -> int:
    """Delete a performer's templates (of one modality, or all); how many went."""
    query = delete(likeness_templates).where(likeness_templates.c.talent_id == talent_id)
    if modality is not None:
        query = query.where(likeness_templates.c.modality == modality)
    return int(conn.execute(query).rowcount or 0)


# --- sealing ---------------------------------------------------------------------------


def _key(keys_dir: Path) -> SealingKey:
    try:
        return sealing_key(keys_dir, KEY_FILE)
    except BadKeyFile as exc:
        raise ProvenanceError(
            f"{exc} is not a 32-byte key; restore it from backup (likeness templates "
            "sealed under it cannot be read without it; or re-enroll the performers).",
            code="likeness.bad_key",
        ) from None


def _bound_to(template_id: str, talent_id: str, modality: str, model: str) -> bytes:
    return f"greenlight likeness v1\n{template_id}\n{talent_id}\n{modality}\n{model}".encode()


def _unseal(key: SealingKey, row: Any) -> npt.NDArray[np.float32]:
    try:
        raw = key.open(
            row["sealed"],
            key_id=row["key_id"],
            bound_to=_bound_to(row["id"], row["talent_id"], row["modality"], row["model"]),
        )
    except Unsealable as exc:
        raise ProvenanceError(
            f"Likeness template {row['id']} does not open ({exc.reason}): restore the "
            "likeness key it was sealed under to keys/, or re-enroll the performer.",
            code="likeness.template_unreadable",
            template_id=row["id"],
        ) from None
    return np.frombuffer(raw, dtype="<f4").reshape(int(row["vectors"]), -1).astype(np.float32)


def _template(row: Any) -> Template:
    fields = {k: row[k] for k in Template.model_fields}
    return Template.model_validate(fields)
