"""Performers, their reference photos and voice samples, and their consents: recording,
revoking, and what a revocation affects.

Legal (on the production, or anywhere for studio-wide performer records) and
admins change these; auditors read everything and change nothing. POSTs that
create something accept an ``Idempotency-Key``.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Annotated, TypeVar, cast, get_args

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from greenlight.accounts import Access
from greenlight.api.auth import CurrentAccess, PlatformDep
from greenlight.api.idempotency import IdempotencyKey, OptionalKey, fingerprint, once, read_key
from greenlight.api.limits import upload_body
from greenlight.core.enums import ConsentKind, UseCase
from greenlight.core.errors import Forbidden, InvalidInput, NotFound
from greenlight.core.models import (
    Consent,
    ConsentGiver,
    ReferenceKind,
    RevocationImpact,
    Talent,
    TalentDraft,
    TalentReference,
)
from greenlight.engine import revocation
from greenlight.engine.revocation import RevokedRequest
from greenlight.productions import get_production
from greenlight.rights import (
    MAX_PAGE,
    ConsentDraft,
    add_reference,
    affected_by_revocation,
    get_consent,
    get_talent,
    list_consents,
    list_references,
    list_talent,
    on_any_covered_production,
    record_consent,
    register_talent,
    remove_references,
    talent_consents,
    update_talent,
)
from greenlight.store.blobs import CHUNK

router = APIRouter(tags=["rights"])
ItemT = TypeVar("ItemT", Talent, Consent)

NEXT_CURSOR = "X-Next-Cursor"
Limit = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_PAGE,
        description="Items per page (1 to 200); without it, all of them. When more "
        f"follow, the {NEXT_CURSOR} response header holds the cursor for the next page.",
    ),
]
Cursor = Annotated[
    str | None,
    Query(max_length=64, description=f"The {NEXT_CURSOR} of the previous page."),
]


class TalentDetail(BaseModel):
    """A performer, the consents they gave that the caller may see, and (for legal,
    auditors and admins) their references."""

    talent: Talent
    consents: list[Consent]
    references: list[TalentReference] | None


class ConsentBody(BaseModel):
    """A performer's written consent to one kind of use, on this production and any others
    named in ``productions``.

    ``intended_use`` says specifically what is consented to, in a sentence: a use
    beyond it needs a new consent. Empty ``media`` / ``territories`` mean any.
    """

    model_config = ConfigDict(extra="forbid")

    talent_id: str
    kind: ConsentKind
    intended_use: str = Field(max_length=4000)
    use_cases: list[UseCase] = Field(min_length=1)
    productions: list[str] = Field(default_factory=list, max_length=50)
    media: list[str] = Field(default_factory=list, max_length=20)
    territories: list[str] = Field(default_factory=list, max_length=50)
    granted_at: datetime | None = None
    expires_at: datetime | None = None
    compensation_reference: str | None = Field(default=None, max_length=200)
    document_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    signed_on: date | None = None
    given_by: ConsentGiver | None = None
    signatory: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=2000)


class RevocationBody(BaseModel):
    """Why the consent is revoked (kept with the record)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class RevokedConsent(Consent):
    """The revoked consent, and what the revocation did to each request that relied on
    it: its state before and after, the action taken, and the ledger entry written."""

    requests: tuple[RevokedRequest, ...]


class RemovedReferences(BaseModel):
    """The references withdrawn, whose bytes are erased unless something else holds them."""

    removed: list[TalentReference]


# --- talent ---------------------------------------------------------------------


@router.get("/talent", response_model=list[Talent])
def talent(
    response: Response,
    access: CurrentAccess,
    platform: PlatformDep,
    limit: Limit = None,
    cursor: Cursor = None,
) -> list[Talent]:
    """Registered performers, by name; ``limit`` of them after ``cursor`` when paging."""
    with platform.db.read() as conn:
        found = list_talent(conn, limit=None if limit is None else limit + 1, after=cursor)
    return _paged(response, found, limit)


def _paged(response: Response, found: list[ItemT], limit: int | None) -> list[ItemT]:
    """The first ``limit`` items, naming the next page's cursor in a header when more follow."""
    if limit is None or len(found) <= limit:
        return found
    page = found[:limit]
    response.headers[NEXT_CURSOR] = page[-1].id
    return page


@router.post("/talent", response_model=Talent, status_code=status.HTTP_201_CREATED)
def add_talent(
    body: TalentDraft, access: CurrentAccess, platform: PlatformDep, key: OptionalKey
) -> Response:
    """Register a performer (legal on any production, or an admin).

    A deceased performer names their ``authorized_representative``, or sets
    ``union_stands_in`` when none can be found (422 ``talent.representative_required``
    otherwise).
    """
    access.require_talent_keeper()

    def work() -> tuple[int, BaseModel]:
        with platform.db.transaction() as conn:
            made = register_talent(
                conn,
                body.name,
                body.union_affiliation,
                union_member=body.union_member,
                deceased=body.deceased,
                authorized_representative=body.authorized_representative,
                union_stands_in=body.union_stands_in,
            )
        return status.HTTP_201_CREATED, made

    return once(platform, access.person.id, key, work)


@router.get("/talent/{talent_id}", response_model=TalentDetail)
def talent_detail(talent_id: str, access: CurrentAccess, platform: PlatformDep) -> TalentDetail:
    """A performer with the consents they gave on the caller's productions; references
    only for legal, auditors and admins (``null`` for others)."""
    with platform.db.read() as conn:
        performer = get_talent(conn, talent_id)
        consents = [
            c
            for c in talent_consents(conn, talent_id)
            if any(access.can_read(p) for p in c.covered_productions)
        ]
        references = list_references(conn, talent_id) if access.can_see_references() else None
    return TalentDetail(talent=performer, consents=consents, references=references)


@router.put("/talent/{talent_id}", response_model=Talent)
def change_talent(
    talent_id: str, body: TalentDraft, access: CurrentAccess, platform: PlatformDep
) -> Talent:
    """Change a performer's name or status (legal or admin), e.g. record that they died and
    who now consents for them. Consents already given keep who gave them."""
    access.require_talent_keeper()
    with platform.db.transaction() as conn:
        return update_talent(conn, talent_id, body)


def _require_reference_reader(access: Access) -> None:
    if not access.can_see_references():
        raise Forbidden(
            "Performers' reference photos and voice samples are biometric data: only legal, "
            "auditors and admins see them.",
            code="reference.not_allowed",
            reason="role",
        )


@router.get("/talent/{talent_id}/references", response_model=list[TalentReference])
def references(
    talent_id: str, access: CurrentAccess, platform: PlatformDep
) -> list[TalentReference]:
    """A performer's reference photos and voice samples (legal, auditors, admins)."""
    _require_reference_reader(access)
    with platform.db.read() as conn:
        return list_references(conn, talent_id)


@router.post(
    "/talent/{talent_id}/references",
    response_model=TalentReference,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=upload_body(kind={"type": "string", "enum": ["photo", "voice"]}),
)
async def add_talent_reference(
    talent_id: str, request: Request, access: CurrentAccess, platform: PlatformDep
) -> Response:
    """Add a reference photo or voice sample (multipart: ``file`` and ``kind`` photo|voice),
    for likeness matching. Legal or admins only. Photos are PNG, JPEG, WebP or TIFF;
    voice samples WAV, MP3 or M4A (422 ``reference.wrong_type``). The same file twice
    is 409 ``reference.duplicate``.
    """
    access.require_talent_keeper()
    key = read_key(request)
    form = await request.form(max_files=1, max_fields=1)
    try:
        part, kind = form.get("file"), form.get("kind")
        if not isinstance(part, UploadFile) or not isinstance(kind, str):
            raise InvalidInput(
                "Send multipart/form-data with the file in a field named 'file' and "
                "'kind' set to photo or voice.",
                code="reference.no_file",
            )
        if kind not in get_args(ReferenceKind):
            raise InvalidInput(
                f"'kind' is photo or voice, not {kind!r}.", code="reference.bad_kind"
            )
        data = await part.read()
        filename, declared = part.filename or "", part.content_type
    finally:
        await form.close()
    once_key = None
    if key is not None:
        digest = hashlib.sha256(data).hexdigest()
        body = f"{kind}\n{filename}\n{declared}\n{digest}"
        once_key = IdempotencyKey(key, fingerprint(request.method, request.url.path, body))

    def work() -> tuple[int, BaseModel]:
        made = add_reference(
            platform.db,
            platform.blobs,
            talent_id,
            cast(ReferenceKind, kind),
            data,
            filename=filename,
            media_type=declared,
            by=access.person.id,
        )
        return status.HTTP_201_CREATED, made

    return await run_in_threadpool(once, platform, access.person.id, once_key, work)


@router.get("/talent/{talent_id}/references/{reference_id}/content")
def reference_content(
    talent_id: str, reference_id: str, access: CurrentAccess, platform: PlatformDep
) -> StreamingResponse:
    """The bytes of a reference (legal, auditors, admins), checked against its SHA-256."""
    _require_reference_reader(access)
    with platform.db.read() as conn:
        found = [r for r in list_references(conn, talent_id) if r.id == reference_id]
    if not found:
        raise NotFound(
            f"Performer {talent_id} has no reference {reference_id!r}.",
            code="reference.not_found",
        )
    reader = platform.blobs.open(found[0].sha256)
    return StreamingResponse(
        reader.chunks(CHUNK),
        media_type=found[0].media_type,
        headers={"Cache-Control": "no-store"},
    )


@router.delete("/talent/{talent_id}/references", response_model=RemovedReferences)
def withdraw_references(
    talent_id: str, access: CurrentAccess, platform: PlatformDep
) -> RemovedReferences:
    """Withdraw all of a performer's references and erase their bytes (legal or admin)."""
    access.require_talent_keeper()
    return RemovedReferences(removed=remove_references(platform.db, platform.blobs, talent_id))


@router.delete("/talent/{talent_id}/references/{reference_id}", response_model=RemovedReferences)
def withdraw_reference(
    talent_id: str, reference_id: str, access: CurrentAccess, platform: PlatformDep
) -> RemovedReferences:
    """Withdraw one reference and erase its bytes (legal or admin)."""
    access.require_talent_keeper()
    removed = remove_references(platform.db, platform.blobs, talent_id, reference_id)
    return RemovedReferences(removed=removed)


# --- consents -------------------------------------------------------------------


@router.get("/productions/{production_id}/consents", response_model=list[Consent])
def consents(
    production_id: str,
    response: Response,
    access: CurrentAccess,
    platform: PlatformDep,
    talent_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> list[Consent]:
    """The consents covering the production, newest first (revoked and expired ones
    included); ``talent_id`` narrows to one performer."""
    access.require_read(production_id)
    with platform.db.read() as conn:
        get_production(conn, production_id)
        found = list_consents(
            conn,
            production_id,
            talent_id=talent_id,
            limit=None if limit is None else limit + 1,
            cursor=cursor,
        )
    return _paged(response, found, limit)


@router.post(
    "/productions/{production_id}/consents",
    response_model=Consent,
    status_code=status.HTTP_201_CREATED,
)
def add_consent(
    production_id: str,
    body: ConsentBody,
    access: CurrentAccess,
    platform: PlatformDep,
    key: OptionalKey,
) -> Response:
    """Record a performer's written consent (legal on this production, or an admin; legal
    on every other production it names too).

    ``document_sha256`` points at the signed document (upload it as an asset
    first) and needs ``signed_on``. Consent comes from the performer, or for a
    deceased performer from their authorized representative (or the union when
    none can be found): 422 ``consent.deceased_needs_representative`` otherwise.
    Requests referencing the performer are covered only for the consented kind,
    use cases, productions, media and territories, between ``granted_at`` and
    ``expires_at``, until it is revoked.
    """
    for production in dict.fromkeys([production_id, *body.productions]):
        access.require_rights(production, code="consent.not_allowed")

    def work() -> tuple[int, BaseModel]:
        with platform.db.transaction() as conn:
            get_production(conn, production_id)
            made = record_consent(
                conn,
                ConsentDraft(
                    production_id=production_id,
                    recorded_by=access.person.id,
                    **body.model_dump(),
                ),
            )
        return status.HTTP_201_CREATED, made

    return once(platform, access.person.id, key, work)


@router.get("/consents/{consent_id}", response_model=Consent)
def consent(consent_id: str, access: CurrentAccess, platform: PlatformDep) -> Consent:
    """One consent, for anyone with a role on a production it covers."""
    with platform.db.read() as conn:
        found = get_consent(conn, consent_id)
    on_any_covered_production(found, access.require_read)
    return found


@router.post("/consents/{consent_id}/revocation", response_model=RevokedConsent)
def revoke(
    consent_id: str, body: RevocationBody, access: CurrentAccess, platform: PlatformDep
) -> RevokedConsent:
    """Revoke a consent (legal on a production it covers, or an admin).

    From this moment it covers no new use. In the same transaction each request
    that relied on it is dealt with, and listed in ``requests``: work not yet run
    is denied (``denied``), outputs not yet delivered are quarantined for legal
    (``quarantined``), delivered work is flagged for legal review
    (``legal_review``), a run under way is flagged (``pending_run``), and work
    another consent of the performer still covers is left (``still_covered``).
    Revoking twice is 409 ``consent.already_revoked`` and changes nothing.
    ``GET /consents/{id}/impact`` lists the requests that relied on it.
    """
    outcome = revocation.revoke(platform, access, consent_id, reason=body.reason)
    return RevokedConsent.model_validate(
        {**outcome.consent.model_dump(), "requests": outcome.requests}
    )


@router.get("/consents/{consent_id}/impact", response_model=RevocationImpact)
def impact(consent_id: str, access: CurrentAccess, platform: PlatformDep) -> RevocationImpact:
    """Every request that relied on this consent, not yet delivered and delivered, with
    their states and outputs (legal, auditors and admins on a production it covers)."""
    with platform.db.read() as conn:
        found = get_consent(conn, consent_id)
        on_any_covered_production(found, access.require_rights_reader)
        return affected_by_revocation(conn, consent_id)
