"""Performers: who they are, whether they are alive, who consents for them, and their
reference photos and voice samples."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, get_args

from sqlalchemy import Connection, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from greenlight.core.clock import utcnow
from greenlight.core.errors import Conflict, InvalidInput, NotFound
from greenlight.core.ids import new_id
from greenlight.core.models import ConsentGiver, ReferenceKind, Talent, TalentDraft, TalentReference
from greenlight.rights._common import require_person
from greenlight.store import BlobStore, Database
from greenlight.store.blobs import safe_filename, sniff_media_type
from greenlight.store.schema import assets, talent, talent_references

# What a reference may be: photos for the likeness scan, samples for voice matching.
REFERENCE_TYPES: dict[str, frozenset[str]] = {
    "photo": frozenset({"image/png", "image/jpeg", "image/webp", "image/tiff"}),
    "voice": frozenset({"audio/wav", "audio/mpeg", "audio/mp4"}),
}
MAX_REFERENCE_BYTES = 64 * 1024 * 1024


def _status(draft: TalentDraft) -> dict[str, Any]:
    """The status columns for ``draft``, or InvalidInput when it does not hold together."""
    union_member = (
        draft.union_member
        if draft.union_member is not None
        else draft.union_affiliation is not None
    )
    representative = draft.authorized_representative or None
    consent_from: ConsentGiver = "performer"
    if not draft.deceased:
        if representative is not None or draft.union_stands_in:
            raise InvalidInput(
                f"{draft.name} is alive, so they consent for themselves; name an authorized "
                "representative (or the union) only for a deceased performer.",
                code="talent.representative_for_living",
            )
    elif representative is not None:
        if draft.union_stands_in:
            raise InvalidInput(
                "Name the authorized representative or let the union stand in, not both: "
                "the union consents only when no representative can be found.",
                code="talent.representative_and_union",
            )
        consent_from = "authorized_representative"
    elif draft.union_stands_in:
        if not union_member:
            raise InvalidInput(
                f"The union stands in only for its members, and {draft.name} is not recorded "
                "as one; find the authorized representative (the estate) instead.",
                code="talent.union_cannot_stand_in",
            )
        consent_from = "union"
    else:
        raise InvalidInput(
            f"{draft.name} is deceased: name the authorized representative who consents for "
            "them, or, when none can be found, say the union stands in (union_stands_in).",
            code="talent.representative_required",
        )
    return {
        "name": draft.name,
        "union_affiliation": draft.union_affiliation or None,
        "union_member": union_member,
        "deceased": draft.deceased,
        "authorized_representative": representative,
        "consent_from": consent_from,
    }


def register_talent(
    conn: Connection,
    name: str,
    union_affiliation: str | None = None,
    *,
    union_member: bool | None = None,
    deceased: bool = False,
    authorized_representative: str | None = None,
    union_stands_in: bool = False,
) -> Talent:
    """Register a performer whose likeness or voice may be referenced.

    A deceased performer needs an ``authorized_representative`` (their estate),
    or ``union_stands_in`` when none can be found and they were a union member.
    ``union_member`` defaults to whether a ``union_affiliation`` is named.
    """
    name = name.strip()
    if not name:
        raise InvalidInput("A performer needs a name.", code="talent.bad_name")
    draft = TalentDraft.model_validate(
        {
            "name": name,
            "union_affiliation": union_affiliation,
            "union_member": union_member,
            "deceased": deceased,
            "authorized_representative": authorized_representative,
            "union_stands_in": union_stands_in,
        }
    )
    row = {"id": new_id("talent"), **_status(draft), "created_at": utcnow()}
    conn.execute(insert(talent).values(**row))
    return Talent.model_validate(row)


def update_talent(conn: Connection, talent_id: str, draft: TalentDraft) -> Talent:
    """Change a performer's name or status (they died; their estate named a representative).

    The same rules as registering apply. Consents already recorded keep who gave them.
    """
    get_talent(conn, talent_id)
    values = _status(draft)
    conn.execute(update(talent).where(talent.c.id == talent_id).values(**values))
    return get_talent(conn, talent_id)


def get_talent(conn: Connection, talent_id: str) -> Talent:
    """The performer with this id, or NotFound."""
    row = conn.execute(select(talent).where(talent.c.id == talent_id)).mappings().first()
    if row is None:
        raise NotFound(f"There is no registered talent {talent_id!r}.", code="talent.not_found")
    return Talent.model_validate(dict(row))


def list_talent(
    conn: Connection,
    ids: Collection[str] | None = None,
    *,
    limit: int | None = None,
    after: str | None = None,
) -> list[Talent]:
    """Registered performers by name; only ``ids`` when given.

    ``limit`` and ``after`` (the id of the last performer seen) page through a
    long roster.
    """
    query = select(talent).order_by(talent.c.name, talent.c.id)
    if ids is not None:
        query = query.where(talent.c.id.in_(list(ids)))
    if after is not None:
        try:
            last = get_talent(conn, after)
        except NotFound:
            raise InvalidInput(
                "The cursor is not one this API handed out; start again without it.",
                code="page.bad_cursor",
            ) from None
        query = query.where(
            or_(talent.c.name > last.name, and_(talent.c.name == last.name, talent.c.id > last.id))
        )
    if limit is not None:
        query = query.limit(limit)
    return [Talent.model_validate(dict(r)) for r in conn.execute(query).mappings()]


# --- references (biometric data) ------------------------------------------------


def add_reference(
    db: Database,
    blobs: BlobStore,
    talent_id: str,
    kind: ReferenceKind,
    data: bytes,
    *,
    filename: str,
    media_type: str | None,
    by: str,
) -> TalentReference:
    """Store a reference photo or voice sample of a performer, for likeness matching later.

    Opens its own transaction: the bytes go to the blob store first and are
    removed again if the row cannot be written, so no biometric data is left
    behind by a refusal. Photos are PNG, JPEG, WebP or TIFF; voice samples WAV,
    MP3 or M4A.
    """
    if kind not in get_args(ReferenceKind):
        raise InvalidInput(
            f"A reference is a 'photo' or a 'voice' sample, not {kind!r}.",
            code="reference.bad_kind",
        )
    name = safe_filename(filename)
    if not data:
        raise InvalidInput(
            "The reference file is empty; send the file itself.", code="reference.empty"
        )
    if len(data) > MAX_REFERENCE_BYTES:
        raise InvalidInput(
            f"A reference may be at most {MAX_REFERENCE_BYTES // (1024 * 1024)} MB; "
            "send a smaller file.",
            code="reference.too_large",
        )
    found = sniff_media_type(data[:4096], media_type)
    if found not in REFERENCE_TYPES[kind]:
        allowed = ", ".join(sorted(REFERENCE_TYPES[kind]))
        raise InvalidInput(
            f"A {kind} reference must be one of {allowed}; this file is {found}.",
            code="reference.wrong_type",
        )
    with db.read() as conn:
        get_talent(conn, talent_id)
        require_person(conn, by)
    ref = blobs.put_bytes(data, media_type=found)
    row = {
        "id": new_id("reference"),
        "talent_id": talent_id,
        "kind": kind,
        "sha256": ref.sha256,
        "media_type": found,
        "size": ref.size,
        "filename": name,
        "added_by": by,
        "created_at": utcnow(),
    }
    try:
        with db.transaction() as conn:
            taken = conn.execute(
                select(talent_references.c.id).where(
                    talent_references.c.talent_id == talent_id,
                    talent_references.c.sha256 == ref.sha256,
                )
            ).first()
            if taken is not None:
                raise Conflict(
                    f"This file is already reference {taken.id} of the performer.",
                    code="reference.duplicate",
                    reference_id=taken.id,
                )
            conn.execute(insert(talent_references).values(**row))
    except (Conflict, IntegrityError):
        _forget_blob_if_unused(db, blobs, ref.sha256)
        raise
    return TalentReference.model_validate(row)


def list_references(conn: Connection, talent_id: str) -> list[TalentReference]:
    """A performer's reference photos and voice samples, oldest first."""
    get_talent(conn, talent_id)
    rows = conn.execute(
        select(talent_references)
        .where(talent_references.c.talent_id == talent_id)
        .order_by(talent_references.c.id)
    ).mappings()
    return [_reference(r) for r in rows]


def remove_references(
    db: Database, blobs: BlobStore, talent_id: str, reference_id: str | None = None
) -> list[TalentReference]:
    """Withdraw a performer's references (one, or all of them) and erase their bytes.

    The rows go, and each blob too unless another record (an asset, another
    performer's reference) holds the same bytes. Returns what was removed.
    """
    with db.transaction() as conn:
        get_talent(conn, talent_id)
        query = select(talent_references).where(talent_references.c.talent_id == talent_id)
        if reference_id is not None:
            query = query.where(talent_references.c.id == reference_id)
        removed = [_reference(r) for r in conn.execute(query).mappings()]
        if reference_id is not None and not removed:
            raise NotFound(
                f"Performer {talent_id} has no reference {reference_id!r}.",
                code="reference.not_found",
            )
        if removed:
            conn.execute(
                delete(talent_references).where(talent_references.c.id.in_([r.id for r in removed]))
            )
        # Erased under the same write transaction that checked nothing else uses them.
        for sha256 in {r.sha256 for r in removed}:
            if not _blob_in_use(conn, sha256):
                blobs.delete(sha256)
    return removed


def _blob_in_use(conn: Connection, sha256: str) -> bool:
    for column in (talent_references.c.sha256, assets.c.sha256):
        if conn.execute(select(column).where(column == sha256).limit(1)).first():
            return True
    return False


def _forget_blob_if_unused(db: Database, blobs: BlobStore, sha256: str) -> None:
    with db.transaction() as conn:
        if not _blob_in_use(conn, sha256):
            blobs.delete(sha256)


def _reference(row: Mapping[Any, Any]) -> TalentReference:
    return TalentReference.model_validate(dict(row))
