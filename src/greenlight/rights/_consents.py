"""Performers' consents: recording them with their scope, reading them, revoking them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from pydantic import Field
from sqlalchemy import Connection, insert, select, update

from greenlight.core.clock import utcnow
from greenlight.core.enums import ConsentKind, UseCase
from greenlight.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from greenlight.core.ids import new_id
from greenlight.core.models import Consent, ConsentGiver, Draft, Talent
from greenlight.rights._common import check_page, require_person, require_production, words
from greenlight.rights._talent import get_talent
from greenlight.store.schema import consent_productions, consents

# "A reasonably specific description of the intended use" (SAG-AFTRA 2023): a
# sentence, not a word. Length and word count are what a machine can check.
MIN_INTENDED_USE = 20
MIN_INTENDED_WORDS = 4
_GIVER_WORDS = {
    "performer": "the performer",
    "authorized_representative": "their authorized representative",
    "union": "the union",
}


class ConsentDraft(Draft):
    """A performer's written consent to record: one kind, for named uses and productions."""

    talent_id: str
    production_id: str  # where it is recorded; always among the productions it covers
    use_cases: list[UseCase] = Field(min_length=1)
    kind: ConsentKind
    intended_use: str = Field(max_length=4000)
    productions: list[str] = Field(default_factory=list, max_length=50)  # more productions
    media: list[str] = Field(default_factory=list, max_length=20)  # empty: any
    territories: list[str] = Field(default_factory=list, max_length=50)  # empty: any
    granted_at: datetime | None = None
    expires_at: datetime | None = None
    compensation_reference: str | None = Field(default=None, max_length=200)
    document_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    signed_on: date | None = None
    given_by: ConsentGiver | None = None  # default: whoever consents for this performer
    signatory: str | None = Field(default=None, max_length=200)
    recorded_by: str | None = None  # the person recording it
    note: str | None = Field(default=None, max_length=2000)


def _check_giver(performer: Talent, given_by: ConsentGiver) -> None:
    """Refuse a consent from someone who cannot give it for this performer."""
    if given_by == performer.consent_from:
        return
    if performer.consent_from == "performer":
        raise InvalidInput(
            f"{performer.name} is alive and gives consent themselves; record it as given "
            "by the performer.",
            code="consent.performer_consents",
        )
    expected = _GIVER_WORDS[performer.consent_from]
    if performer.consent_from == "authorized_representative":
        expected += f" ({performer.authorized_representative})"
    raise InvalidInput(
        f"{performer.name} is deceased: consent comes from {expected}, not from "
        f"{_GIVER_WORDS[given_by]}.",
        code="consent.deceased_needs_representative",
        expected=performer.consent_from,
    )


def _check_intended_use(text: str) -> str:
    text = " ".join(text.split())
    if len(text) < MIN_INTENDED_USE or len(text.split()) < MIN_INTENDED_WORDS:
        raise InvalidInput(
            "Describe the intended use specifically, in a sentence (for example 'de-age "
            "Maya in the 1989 flashback scenes of episode 3'); a consent covers only what "
            "it describes.",
            code="consent.vague_use",
            min_length=MIN_INTENDED_USE,
        )
    return text


def record_consent(conn: Connection, draft: ConsentDraft) -> Consent:
    """Record a performer's consent to one kind of use, on one or more productions.

    Checks, before writing anything: the performer and every production exist;
    the intended use is described in a sentence; the consent comes from whoever
    consents for this performer (the performer, or for a deceased performer their
    authorized representative or the union); the dates are in order; a signed
    document carries its signature date, which is not in the future.
    """
    performer = get_talent(conn, draft.talent_id)
    covered = list(dict.fromkeys([draft.production_id, *draft.productions]))
    for production_id in covered:
        require_production(conn, production_id)
    intended = _check_intended_use(draft.intended_use)
    given_by = draft.given_by or performer.consent_from
    _check_giver(performer, given_by)
    now = utcnow()
    granted = draft.granted_at or now
    if draft.expires_at is not None and draft.expires_at <= granted:
        raise InvalidInput(
            "The consent expires before it is granted; check the dates.",
            code="consent.bad_dates",
        )
    if draft.document_sha256 is not None and draft.signed_on is None:
        raise InvalidInput(
            "A signed document has a signature date; give signed_on (YYYY-MM-DD).",
            code="consent.signature_date_required",
        )
    if draft.signed_on is not None and draft.signed_on > now.date():
        raise InvalidInput(
            f"The signature date {draft.signed_on} is in the future; record the consent "
            "once it is signed.",
            code="consent.signed_in_future",
        )
    if draft.recorded_by is not None:
        require_person(conn, draft.recorded_by)
    signatory = (
        draft.signatory
        or {
            "performer": performer.name,
            "authorized_representative": performer.authorized_representative,
            "union": performer.union_affiliation or "the union",
        }[given_by]
    )
    row: dict[str, Any] = {
        "id": new_id("consent"),
        "talent_id": draft.talent_id,
        "production_id": draft.production_id,
        "use_cases": sorted({u.value for u in draft.use_cases}),
        "granted_at": granted,
        "expires_at": draft.expires_at,
        "revoked_at": None,
        "document_sha256": draft.document_sha256,
        "note": draft.note,
        "created_at": now,
        "kind": draft.kind.value,
        "intended_use": intended,
        "media": words(draft.media, "medium"),
        "territories": words(draft.territories, "territory"),
        "compensation_reference": draft.compensation_reference or None,
        "signed_on": draft.signed_on,
        "given_by": given_by,
        "signatory": signatory,
        "recorded_by": draft.recorded_by,
        "revoked_by": None,
        "revocation_reason": None,
    }
    conn.execute(insert(consents).values(**row))
    conn.execute(
        insert(consent_productions),
        [{"consent_id": row["id"], "production_id": p} for p in covered],
    )
    return _consent(row, covered)


def get_consent(conn: Connection, consent_id: str) -> Consent:
    """The consent with this id, or NotFound."""
    found = _load(conn, select(consents).where(consents.c.id == consent_id))
    if not found:
        raise NotFound(
            f"There is no consent {consent_id!r}; list a production's consents to find it.",
            code="consent.not_found",
        )
    return found[0]


def consents_for(
    conn: Connection, production_id: str, talent_ids: Collection[str]
) -> list[Consent]:
    """Every consent on record covering this production for these performers (any state)."""
    if not talent_ids:
        return []
    query = (
        select(consents)
        .join(consent_productions, consent_productions.c.consent_id == consents.c.id)
        .where(
            consent_productions.c.production_id == production_id,
            consents.c.talent_id.in_(list(talent_ids)),
        )
        .order_by(consents.c.id)
    )
    return _load(conn, query)


def list_consents(
    conn: Connection,
    production_id: str,
    *,
    talent_id: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> list[Consent]:
    """The consents covering a production, newest first (revoked and expired included).

    ``talent_id`` narrows to one performer; ``limit`` and ``cursor`` (the id of
    the last consent seen) page through them.
    """
    check_page(limit or 1, cursor)
    query = (
        select(consents)
        .join(consent_productions, consent_productions.c.consent_id == consents.c.id)
        .where(consent_productions.c.production_id == production_id)
        .order_by(consents.c.id.desc())
    )
    if talent_id is not None:
        query = query.where(consents.c.talent_id == talent_id)
    if cursor is not None:
        query = query.where(consents.c.id < cursor)
    if limit is not None:
        query = query.limit(limit)
    return _load(conn, query)


def talent_consents(conn: Connection, talent_id: str) -> list[Consent]:
    """Every consent a performer has given, on any production, newest first."""
    get_talent(conn, talent_id)
    return _load(
        conn,
        select(consents).where(consents.c.talent_id == talent_id).order_by(consents.c.id.desc()),
    )


def revoke_consent(conn: Connection, consent_id: str, *, reason: str, by: str) -> Consent:
    """Revoke a consent from now on, saying why and who (a person id) revoked it.

    From this moment it covers nothing new (:meth:`Consent.covers` checks
    ``revoked_at``). Revoking a revoked consent is a Conflict
    (``consent.already_revoked``). What relied on it is listed by
    :func:`affected_by_revocation`.
    """
    reason = " ".join(reason.split())
    if len(reason) < 5:
        raise InvalidInput(
            "Say why the consent is revoked (at least a few words); the reason is kept "
            "with the record.",
            code="consent.reason_required",
        )
    if len(reason) > 2000:
        raise InvalidInput(
            "Keep the revocation reason under 2000 characters.", code="consent.reason_too_long"
        )
    current = get_consent(conn, consent_id)
    require_person(conn, by)
    done = conn.execute(
        update(consents)
        .where(consents.c.id == consent_id, consents.c.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_by=by, revocation_reason=reason)
    )
    if done.rowcount == 0:  # revoked already, perhaps a moment ago by someone else
        raise Conflict(
            f"Consent {consent_id} was already revoked"
            + (f" on {current.revoked_at:%Y-%m-%d}" if current.revoked_at else "")
            + "; nothing more to do.",
            code="consent.already_revoked",
        )
    return get_consent(conn, consent_id)


def _load(conn: Connection, query: Any) -> list[Consent]:
    rows = conn.execute(query).mappings().all()
    if not rows:
        return []
    covered: dict[str, list[str]] = {}
    links = conn.execute(
        select(consent_productions.c.consent_id, consent_productions.c.production_id)
        .where(consent_productions.c.consent_id.in_([r["id"] for r in rows]))
        .order_by(consent_productions.c.production_id)
    )
    for link in links:
        covered.setdefault(link.consent_id, []).append(link.production_id)
    return [_consent(r, covered.get(r["id"], [r["production_id"]])) for r in rows]


def _consent(row: Mapping[Any, Any], productions: Sequence[str]) -> Consent:
    fields = {k: v for k, v in dict(row).items() if k != "created_at"}
    # The production it was recorded on first, then the others in a stable order.
    ordered = [row["production_id"], *sorted(p for p in productions if p != row["production_id"])]
    return Consent.model_validate({**fields, "productions": tuple(ordered)})


def on_any_covered_production(consent: Consent, check: Callable[[str], None]) -> None:
    """Pass when ``check`` passes on any production the consent covers; else raise its
    refusal for the production the consent was recorded on.

    ``check`` is an access check such as ``access.require_rights``: a consent
    spanning several productions may be handled by legal on any of them.
    """
    for production_id in consent.covered_productions:
        try:
            check(production_id)
            return
        except Forbidden:
            continue
    check(consent.production_id)
