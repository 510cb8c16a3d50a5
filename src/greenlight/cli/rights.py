"""``greenlight rights``: performers and consents, vendors and tools, attestations and
audits, watchlists and disclosures.

Like the ``requests`` commands, changes act as the person named by ``--as`` (or
``GREENLIGHT_USER``) with exactly that person's roles, so the same rules as the
API apply: legal records and revokes consents, producers choose a production's
tools, auditors only read. Reads without ``--as`` see everything, as the operator.
"""

from __future__ import annotations

import hashlib
import mimetypes
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import typer
from pydantic import BaseModel
from rich.markup import escape

from greenlight.cli._common import console, friendly_errors, settings
from greenlight.cli._opening import (
    ActAs,
    ReadAs,
    acting_as,
    find_performer,
    find_tool,
    find_vendor,
    opened,
    plain_table,
    reading_as,
    validated,
)
from greenlight.core.enums import ConsentKind, Hosting, Role, Severity, UseCase
from greenlight.core.errors import InvalidInput
from greenlight.core.models import (
    Attestation,
    AttestationDraft,
    Audit,
    AuditDraft,
    Consent,
    FindingDraft,
    ReferenceKind,
    Tool,
    ToolDraft,
    WatchlistDraft,
)
from greenlight.engine import revocation
from greenlight.engine.revocation import ACTION_WORDS, tally_words
from greenlight.productions import find_production
from greenlight.rights import (
    ConsentDraft,
    add_finding,
    add_reference,
    add_watch,
    affected_by_revocation,
    allow_tool,
    allowed_tools,
    create_tool,
    create_vendor,
    daily_digest,
    disallow_tool,
    finding_vendor,
    get_consent,
    get_watch,
    list_attestations,
    list_audits,
    list_consents,
    list_references,
    list_talent,
    list_tools,
    list_vendors,
    on_any_covered_production,
    record_attestation,
    record_consent,
    register_talent,
    remediate_finding,
    remove_references,
    remove_watch,
    schedule_audit,
    set_audit_status,
    set_studio_contact,
    talent_consents,
    today,
    tool_standing,
    watchlist_for,
)

app = typer.Typer(
    help="Rights: performers and consents, vendors and tools, attestations and audits, "
    "watchlists and disclosures.",
    no_args_is_help=True,
)
talent_app = typer.Typer(help="Performers, their status and references.", no_args_is_help=True)
consents_app = typer.Typer(help="Performers' consents: record, list, revoke, impact.")
vendors_app = typer.Typer(help="Vendors.", no_args_is_help=True)
tools_app = typer.Typer(help="Tools, each production's allow-list, a tool's standing.")
attestations_app = typer.Typer(help="Vendor attestations.", no_args_is_help=True)
audits_app = typer.Typer(help="Audits of vendors and tools, and their findings.")
watchlist_app = typer.Typer(help="A production's watchlist.", no_args_is_help=True)
disclosures_app = typer.Typer(help="Disclosure of requests to the studio.", no_args_is_help=True)
app.add_typer(talent_app, name="talent")
app.add_typer(consents_app, name="consents", no_args_is_help=True)
app.add_typer(vendors_app, name="vendors")
app.add_typer(tools_app, name="tools", no_args_is_help=True)
app.add_typer(attestations_app, name="attestations")
app.add_typer(audits_app, name="audits", no_args_is_help=True)
app.add_typer(watchlist_app, name="watchlist")
app.add_typer(disclosures_app, name="disclosures")

Production = Annotated[str, typer.Option("--production", help="The production's code or id.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the record as JSON.")]


def _print_json(record: BaseModel) -> None:
    console.print_json(record.model_dump_json())


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{option} {value!r}: write the date as YYYY-MM-DD.", code="cli.bad_date"
        ) from None


def _moment(value: str, option: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 time with its zone."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput(
            f"{option} {value!r}: write YYYY-MM-DD, or a time with its zone such as "
            "2026-12-01T09:00:00Z.",
            code="cli.bad_time",
        )
    return moment


# --- talent ------------------------------------------------------------------------


@talent_app.command("add")
@friendly_errors
def talent_add(
    name: Annotated[str, typer.Option(help="The performer's name.")],
    as_: ActAs,
    union: Annotated[str | None, typer.Option(help="Their union, e.g. SAG-AFTRA.")] = None,
    deceased: Annotated[bool, typer.Option(help="The performer has died.")] = False,
    representative: Annotated[
        str | None, typer.Option(help="Who consents for a deceased performer (their estate).")
    ] = None,
    union_stands_in: Annotated[
        bool, typer.Option(help="No representative can be found: the union consents.")
    ] = False,
) -> None:
    """Register a performer (legal or admin)."""
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        access.require_talent_keeper()
        with platform.db.transaction() as conn:
            made = register_talent(
                conn,
                name,
                union,
                deceased=deceased,
                authorized_representative=representative,
                union_stands_in=union_stands_in,
            )
    console.print(
        f"[green]registered[/] {escape(made.name)} ({made.id}); consent comes from "
        f"{made.consent_from.replace('_', ' ')}.",
        highlight=False,
    )


@talent_app.command("list")
@friendly_errors
def talent_list(as_: ReadAs = None) -> None:
    """Registered performers, by name."""
    with opened(settings()) as platform:
        reading_as(platform, as_)
        with platform.db.read() as conn:
            found = list_talent(conn)
    table = plain_table("talent", "name", "union", "status", "consent from", whole=("talent",))
    for t in found:
        table.add_row(
            t.id,
            escape(t.name),
            t.union_affiliation or "-",
            "deceased" if t.deceased else "alive",
            t.consent_from.replace("_", " ")
            + (f" ({escape(t.authorized_representative)})" if t.authorized_representative else ""),
        )
    console.print(table if found else "No performers registered yet.")


@talent_app.command("show")
@friendly_errors
def talent_show(
    performer: Annotated[str, typer.Argument(help="The performer's name or id.")],
    as_: ReadAs = None,
) -> None:
    """A performer, the consents they gave and (for legal, auditors and admins) their
    references."""
    with opened(settings()) as platform:
        access = reading_as(platform, as_)
        with platform.db.read() as conn:
            found = find_performer(conn, performer)
            given = [
                c
                for c in talent_consents(conn, found.id)
                if any(access.can_read(p) for p in c.covered_productions)
            ]
            refs = list_references(conn, found.id) if access.can_see_references() else None
    console.print(
        f"[bold]{escape(found.name)}[/] ({found.id}), "
        f"{'deceased' if found.deceased else 'alive'}, union: {found.union_affiliation or '-'}; "
        f"consent from {found.consent_from.replace('_', ' ')}"
        + (
            f" ({escape(found.authorized_representative)})"
            if found.authorized_representative
            else ""
        ),
        highlight=False,
    )
    console.print(_consent_table(given) if given else "No consents you can see.")
    if refs is not None:
        table = plain_table("reference", "kind", "type", "file", "sha256", whole=("reference",))
        for r in refs:
            table.add_row(r.id, r.kind, r.media_type, escape(r.filename), r.sha256[:16])
        console.print(table if refs else "No reference photos or voice samples.")


@talent_app.command("reference")
@friendly_errors
def talent_reference(
    performer: Annotated[str, typer.Argument(help="The performer's name or id.")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The file.")],
    kind: Annotated[str, typer.Option(help="photo or voice.")],
    as_: ActAs,
) -> None:
    """Add a reference photo or voice sample (legal or admin), for likeness matching."""
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        access.require_talent_keeper()
        with platform.db.read() as conn:
            found = find_performer(conn, performer)
        if kind not in ("photo", "voice"):
            raise InvalidInput("--kind is photo or voice.", code="reference.bad_kind")
        made = add_reference(
            platform.db,
            platform.blobs,
            found.id,
            cast(ReferenceKind, kind),
            file.read_bytes(),
            filename=file.name,
            media_type=mimetypes.guess_type(file.name)[0],
            by=access.person.id,
        )
    console.print(
        f"[green]added[/] {made.kind} {made.id} ({made.media_type}, sha256 {made.sha256[:16]})",
        highlight=False,
    )


@talent_app.command("withdraw-references")
@friendly_errors
def talent_withdraw(
    performer: Annotated[str, typer.Argument(help="The performer's name or id.")],
    as_: ActAs,
    reference: Annotated[
        str | None, typer.Option(help="Only this reference (default: all of them).")
    ] = None,
) -> None:
    """Withdraw a performer's references and erase their bytes (legal or admin)."""
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        access.require_talent_keeper()
        with platform.db.read() as conn:
            found = find_performer(conn, performer)
        removed = remove_references(platform.db, platform.blobs, found.id, reference)
    console.print(f"[green]withdrew[/] {len(removed)} reference(s) of {escape(found.name)}.")


# --- consents ------------------------------------------------------------------------


def _consent_table(consents: list[Consent]) -> Any:
    table = plain_table(
        "consent", "kind", "use cases", "intended use", "scope", "term", "state", whole=("consent",)
    )
    now = datetime.now(UTC)
    for c in consents:
        scope = [f"{len(c.covered_productions)} production(s)"]
        scope.append("media: " + (", ".join(c.media) or "any"))
        scope.append("territories: " + (", ".join(c.territories) or "any"))
        term = f"{c.granted_at:%Y-%m-%d} to " + (
            f"{c.expires_at:%Y-%m-%d}" if c.expires_at else "open"
        )
        if c.revoked_at is not None:
            state = f"[red]revoked {c.revoked_at:%Y-%m-%d}[/]"
        elif c.expires_at is not None and c.expires_at <= now:
            state = "[yellow]expired[/]"
        else:
            state = "[green]active[/]"
        table.add_row(
            c.id,
            c.kind.value,
            ", ".join(u.value for u in c.use_cases),
            escape(c.intended_use),
            "; ".join(scope),
            term,
            state,
        )
    return table


@consents_app.command("record")
@friendly_errors
def consents_record(
    production: Production,
    talent: Annotated[str, typer.Option(help="The performer's name or id.")],
    kind: Annotated[ConsentKind, typer.Option(help="What is consented to.")],
    use_case: Annotated[list[UseCase], typer.Option(help="A use case covered (repeatable).")],
    intended_use: Annotated[str, typer.Option(help="The specific intended use, in a sentence.")],
    as_: ActAs,
    also: Annotated[
        list[str] | None, typer.Option(help="Another production it covers (repeatable).")
    ] = None,
    medium: Annotated[
        list[str] | None, typer.Option(help="A medium covered, e.g. series (default: any).")
    ] = None,
    territory: Annotated[
        list[str] | None, typer.Option(help="A territory covered, e.g. US (default: any).")
    ] = None,
    expires: Annotated[str | None, typer.Option(help="Expiry date, YYYY-MM-DD.")] = None,
    compensation: Annotated[
        str | None, typer.Option(help="Where the compensation terms are recorded.")
    ] = None,
    document: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="The signed document (its SHA-256 is kept)."
        ),
    ] = None,
    signed_on: Annotated[str | None, typer.Option(help="Signature date, YYYY-MM-DD.")] = None,
    given_by: Annotated[
        str | None,
        typer.Option(help="performer, authorized_representative or union (default: as due)."),
    ] = None,
    note: Annotated[str | None, typer.Option(help="Anything else worth keeping.")] = None,
) -> None:
    """Record a performer's written consent (legal on the productions, or an admin)."""
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        with platform.db.read() as conn:
            main = find_production(conn, production).id
            others = [find_production(conn, p).id for p in also or []]
            performer = find_performer(conn, talent)
        for production_id in dict.fromkeys([main, *others]):
            access.require_rights(production_id, code="consent.not_allowed")
        draft = validated(
            ConsentDraft,
            {
                "talent_id": performer.id,
                "production_id": main,
                "productions": others,
                "use_cases": use_case,
                "kind": kind,
                "intended_use": intended_use,
                "media": medium or [],
                "territories": territory or [],
                "expires_at": _moment(expires, "--expires") if expires else None,
                "compensation_reference": compensation,
                "document_sha256": hashlib.sha256(document.read_bytes()).hexdigest()
                if document
                else None,
                "signed_on": _day(signed_on, "--signed-on") if signed_on else None,
                "given_by": given_by,
                "recorded_by": access.person.id,
                "note": note,
            },
        )
        with platform.db.transaction() as conn:
            made = record_consent(conn, draft)
    console.print(
        f"[green]recorded[/] {made.kind.value} consent {made.id} from "
        f"{made.given_by.replace('_', ' ')} ({escape(made.signatory or '-')}).",
        highlight=False,
    )


@consents_app.command("list")
@friendly_errors
def consents_list(
    production: Production,
    talent: Annotated[str | None, typer.Option(help="Only this performer's.")] = None,
    as_: ReadAs = None,
) -> None:
    """The consents covering a production, newest first."""
    with opened(settings()) as platform:
        access = reading_as(platform, as_)
        with platform.db.read() as conn:
            production_id = find_production(conn, production).id
            access.require_read(production_id)
            talent_id = find_performer(conn, talent).id if talent else None
            found = list_consents(conn, production_id, talent_id=talent_id)
    console.print(_consent_table(found) if found else "No consents on record.")


@consents_app.command("revoke")
@friendly_errors
def consents_revoke(
    consent: Annotated[str, typer.Argument(help="The consent's id.")],
    reason: Annotated[str, typer.Option(help="Why it is revoked (kept with the record).")],
    as_: ActAs,
) -> None:
    """Revoke a consent: it covers no new use from now on (legal or admin).

    Each request that relied on it is dealt with at once and listed: work not
    yet run is denied, outputs not yet delivered are quarantined for legal,
    delivered and running work is flagged for legal.
    """
    with opened(settings()) as platform:
        outcome = revocation.revoke(platform, acting_as(platform, as_), consent, reason=reason)
    impact = outcome.impact
    console.print(
        f"[green]revoked[/] {consent}. {len(impact.not_delivered)} request(s) not yet "
        f"delivered and {len(impact.delivered)} delivered relied on it: "
        f"{tally_words(outcome.tally())}.",
        highlight=False,
    )
    for reached in outcome.requests:
        moved = (
            f"{reached.before.value} -> {reached.after.value}"
            if reached.after is not reached.before
            else reached.before.value
        )
        console.print(
            f"  {reached.request_id}  {moved}: {ACTION_WORDS[reached.action]}",
            highlight=False,
        )
    console.print(f"See `greenlight rights consents impact {consent}`.", highlight=False)


@consents_app.command("impact")
@friendly_errors
def consents_impact(
    consent: Annotated[str, typer.Argument(help="The consent's id.")],
    as_: ReadAs = None,
    as_json: AsJson = False,
) -> None:
    """Every request that relied on a consent: not yet delivered, and delivered."""
    with opened(settings()) as platform:
        access = reading_as(platform, as_)
        with platform.db.read() as conn:
            found = get_consent(conn, consent)
            on_any_covered_production(found, access.require_rights_reader)
            impact = affected_by_revocation(conn, consent)
    if as_json:
        _print_json(impact)
        return
    state = "revoked" if found.revoked_at else "not revoked"
    console.print(f"Consent {found.id} ({state}): {escape(found.intended_use)}", highlight=False)
    for title, rows in (
        ("Not yet delivered", impact.not_delivered),
        ("Delivered", impact.delivered),
    ):
        table = plain_table(
            "request", "state", "use case", "outputs", "still covered by", title=title
        )
        for a in rows:
            table.add_row(
                a.request_id,
                a.state.value,
                a.use_case.value,
                ", ".join(o.filename for o in a.outputs) or "-",
                ", ".join(a.other_consents) or "-",
            )
        console.print(table if rows else f"{title}: none.")


# --- vendors and tools -----------------------------------------------------------------


@vendors_app.command("add")
@friendly_errors
def vendors_add(
    name: Annotated[str, typer.Argument(help="The vendor's name.")], as_: ActAs
) -> None:
    """Register a vendor (platform admins)."""
    with opened(settings()) as platform:
        acting_as(platform, as_).require_admin()
        with platform.db.transaction() as conn:
            made = create_vendor(conn, name)
    console.print(f"[green]registered[/] {escape(made.name)} ({made.id})", highlight=False)


@vendors_app.command("list")
@friendly_errors
def vendors_list(as_: ReadAs = None) -> None:
    """Registered vendors with their tools."""
    with opened(settings()) as platform:
        reading_as(platform, as_)
        with platform.db.read() as conn:
            found = [(v, list_tools(conn, v.id)) for v in list_vendors(conn)]
    table = plain_table("vendor", "name", "tools", whole=("vendor",))
    for vendor, tools in found:
        table.add_row(
            vendor.id, escape(vendor.name), ", ".join(f"{t.name} {t.version}" for t in tools) or "-"
        )
    console.print(table if found else "No vendors registered yet.")


@tools_app.command("add")
@friendly_errors
def tools_add(
    vendor: Annotated[str, typer.Option(help="The vendor's name or id.")],
    name: Annotated[str, typer.Option(help="The tool's name.")],
    version: Annotated[str, typer.Option(help="Its version.")],
    hosting: Annotated[Hosting, typer.Option(help="Where it runs.")],
    use_case: Annotated[list[UseCase], typer.Option(help="A use case it is vetted for.")],
    as_: ActAs,
    backend: Annotated[
        str | None, typer.Option(help="The backend that runs it here (none: vendor delivers).")
    ] = None,
) -> None:
    """Register one version of a vendor's tool (platform admins)."""
    draft = validated(
        ToolDraft,
        {
            "name": name,
            "version": version,
            "hosting": hosting,
            "backend": backend,
            "use_cases": use_case,
        },
    )
    with opened(settings()) as platform:
        acting_as(platform, as_).require_admin()
        if backend is not None:
            platform.backends(backend)
        with platform.db.transaction() as conn:
            made = create_tool(conn, find_vendor(conn, vendor).id, draft)
    console.print(f"[green]registered[/] {escape(made.name)} {made.version} ({made.id})")


@tools_app.command("list")
@friendly_errors
def tools_list(
    vendor: Annotated[str | None, typer.Option(help="Only this vendor's.")] = None,
    production: Annotated[
        str | None, typer.Option(help="Only those on this production's allow-list.")
    ] = None,
    as_: ReadAs = None,
) -> None:
    """Registered tools, or a production's allow-list."""
    with opened(settings()) as platform:
        access = reading_as(platform, as_)
        with platform.db.read() as conn:
            tools = list_tools(conn, find_vendor(conn, vendor).id if vendor else None)
            if production is not None:
                production_id = find_production(conn, production).id
                access.require_read(production_id)
                allowed = {a.tool_id for a in allowed_tools(conn, production_id)}
                tools = [t for t in tools if t.id in allowed]
    table = plain_table("tool", "name", "version", "hosting", "use cases", whole=("tool",))
    for t in tools:
        table.add_row(
            t.id,
            escape(t.name),
            t.version,
            t.hosting.value,
            ", ".join(u.value for u in t.use_cases),
        )
    console.print(table if tools else "No tools.")


@tools_app.command("allow")
@friendly_errors
def tools_allow(
    tool: Annotated[str, typer.Argument(help="The tool's name or id.")],
    production: Production,
    as_: ActAs,
) -> None:
    """Put a tool on a production's allow-list (producer or admin)."""
    found = _change_allow_list(tool, production, as_, allow=True)
    console.print(f"[green]allowed[/] {escape(found.name)} {found.version} on {production}")


@tools_app.command("disallow")
@friendly_errors
def tools_disallow(
    tool: Annotated[str, typer.Argument(help="The tool's name or id.")],
    production: Production,
    as_: ActAs,
) -> None:
    """Take a tool off a production's allow-list (producer or admin)."""
    found = _change_allow_list(tool, production, as_, allow=False)
    console.print(f"[green]removed[/] {escape(found.name)} {found.version} from {production}")


def _change_allow_list(tool: str, production: str, as_: str, *, allow: bool) -> Tool:
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        with platform.db.transaction() as conn:
            production_id = find_production(conn, production).id
            access.require_allow_list(production_id)
            found = find_tool(conn, tool)
            change = allow_tool if allow else disallow_tool
            change(conn, production_id, found.id, by=access.person.id)
    return found


@tools_app.command("standing")
@friendly_errors
def tools_standing(
    tool: Annotated[str, typer.Argument(help="The tool's name or id.")],
    production: Production,
    at: Annotated[str | None, typer.Option(help="When (YYYY-MM-DD or ISO time); now.")] = None,
    as_: ReadAs = None,
    as_json: AsJson = False,
) -> None:
    """Where a tool stands on a production: attestation, allow-list, suspension."""
    with opened(settings()) as platform:
        access = reading_as(platform, as_)
        with platform.db.read() as conn:
            production_id = find_production(conn, production).id
            access.require_read(production_id)
            found = find_tool(conn, tool)
            access.require_vendor_visible(found.vendor_id)
            standing = tool_standing(
                conn, found.id, production_id, _moment(at, "--at") if at else None
            )
    if as_json:
        _print_json(standing)
        return
    verdict = "[red]suspended[/]" if standing.suspended else "[green]not suspended[/]"
    allowed = "allowed" if standing.allowed_on_production else "[yellow]not allowed[/]"
    console.print(f"{escape(found.name)} {found.version}: {verdict}, {allowed} on {production}")
    for reason in standing.reasons:
        console.print(f"  - {escape(reason)}", highlight=False)


# --- attestations and audits -----------------------------------------------------------


def _attestation_table(found: list[Attestation]) -> Any:
    table = plain_table(
        "attestation",
        "for",
        "trains on inputs",
        "retains",
        "enclosed",
        "certification",
        "valid",
        whole=("attestation",),
    )
    for a in found:
        table.add_row(
            a.id,
            a.tool_id or "all tools",
            "yes" if a.trains_on_inputs else "no",
            f"{a.retains_data_days} days",
            "yes" if a.enclosed_environment else "no",
            a.security_certification or "-",
            f"{a.valid_from:%Y-%m-%d} to {a.expires_at:%Y-%m-%d}",
        )
    return table


@attestations_app.command("record")
@friendly_errors
def attestations_record(
    vendor: Annotated[str, typer.Option(help="The vendor's name or id.")],
    source: Annotated[
        list[str],
        typer.Option(help="A training-data source as 'SOURCE=LICENCE' (repeatable)."),
    ],
    retains_days: Annotated[int, typer.Option(help="How many days it keeps our data.")],
    expires: Annotated[str, typer.Option(help="When the attestation expires (YYYY-MM-DD).")],
    as_: ActAs,
    tool: Annotated[str | None, typer.Option(help="Only this tool (default: all).")] = None,
    trains_on_inputs: Annotated[
        bool, typer.Option(help="Whether it trains on our inputs or outputs.")
    ] = False,
    enclosed: Annotated[
        bool, typer.Option("--enclosed/--not-enclosed", help="Runs in a secured environment.")
    ] = False,
    certification: Annotated[
        str | None, typer.Option(help="Security certification, e.g. 'TPN Gold'.")
    ] = None,
    valid_from: Annotated[str | None, typer.Option(help="From when (default: now).")] = None,
    document: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="The signed attestation.")
    ] = None,
) -> None:
    """Record a vendor's attestation (legal or admin)."""
    sources = []
    for spec in source:
        name, _, licence = spec.partition("=")
        if not name.strip() or not licence.strip():
            raise InvalidInput(
                f"--source {spec!r}: write SOURCE=LICENCE, e.g. 'Studio plates=owned'.",
                code="cli.bad_source",
            )
        sources.append({"source": name.strip(), "licence": licence.strip()})
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        access.require_vendor_oversight()
        with platform.db.transaction() as conn:
            found = find_vendor(conn, vendor)
            draft = validated(
                AttestationDraft,
                {
                    "tool_id": find_tool(conn, tool).id if tool else None,
                    "training_data": sources,
                    "trains_on_inputs": trains_on_inputs,
                    "retains_data_days": retains_days,
                    "enclosed_environment": enclosed,
                    "security_certification": certification,
                    "valid_from": _moment(valid_from, "--valid-from") if valid_from else None,
                    "expires_at": _moment(expires, "--expires"),
                    "document_sha256": hashlib.sha256(document.read_bytes()).hexdigest()
                    if document
                    else None,
                },
            )
            made = record_attestation(conn, found.id, draft, by=access.person.id)
    console.print(f"[green]recorded[/] attestation {made.id} until {made.expires_at:%Y-%m-%d}")


@attestations_app.command("list")
@friendly_errors
def attestations_list(
    vendor: Annotated[str | None, typer.Option(help="Only this vendor's.")] = None,
    tool: Annotated[str | None, typer.Option(help="Only this tool's own.")] = None,
    as_: ReadAs = None,
) -> None:
    """Attestations, newest first (a vendor's people see only their own vendor's)."""
    with opened(settings()) as platform:
        access = reading_as(platform, as_)
        with platform.db.read() as conn:
            vendor_id = find_vendor(conn, vendor).id if vendor else None
            if vendor_id is not None:
                access.require_vendor_visible(vendor_id)
            found = list_attestations(
                conn,
                vendor_id=vendor_id,
                tool_id=find_tool(conn, tool).id if tool else None,
                vendors=access.visible_vendors(),
                limit=200,
            )
    console.print(_attestation_table(found) if found else "No attestations.")


def _audit_lines(audits: list[Audit]) -> None:
    for a in audits:
        console.print(
            f"[bold]{a.id}[/] {a.status.replace('_', ' ')}: {escape(a.auditor)} on "
            f"{a.scheduled_for}, {'tool ' + a.tool_id if a.tool_id else 'whole vendor'} "
            f"({a.vendor_id})",
            highlight=False,
        )
        for f in a.findings:
            style = "red" if f.severity is Severity.CRITICAL and f.status == "open" else ""
            line = f"  {f.id} {f.severity.value} {f.status}: {escape(f.description)}"
            console.print(f"[{style}]{line}[/]" if style else line, highlight=False)


@audits_app.command("schedule")
@friendly_errors
def audits_schedule(
    vendor: Annotated[str, typer.Option(help="The vendor's name or id.")],
    on: Annotated[str, typer.Option("--date", help="When, YYYY-MM-DD.")],
    auditor: Annotated[str, typer.Option(help="Who audits (firm or person).")],
    as_: ActAs,
    tool: Annotated[str | None, typer.Option(help="Only this tool (default: the vendor).")] = None,
    note: Annotated[str, typer.Option(help="Scope or anything else.")] = "",
) -> None:
    """Schedule an audit (legal or admin)."""
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        access.require_vendor_oversight()
        with platform.db.transaction() as conn:
            found = find_vendor(conn, vendor)
            draft = validated(
                AuditDraft,
                {
                    "tool_id": find_tool(conn, tool).id if tool else None,
                    "scheduled_for": _day(on, "--date"),
                    "auditor": auditor,
                    "note": note,
                },
            )
            made = schedule_audit(conn, found.id, draft, by=access.person.id)
    console.print(f"[green]scheduled[/] audit {made.id} of {escape(found.name)} on {on}")


@audits_app.command("finding")
@friendly_errors
def audits_finding(
    audit: Annotated[str, typer.Argument(help="The audit's id.")],
    severity: Annotated[Severity, typer.Option(help="How bad it is.")],
    description: Annotated[str, typer.Option(help="What was found.")],
    remediation: Annotated[str, typer.Option(help="What must be done about it.")],
    as_: ActAs,
) -> None:
    """Record an audit finding (legal or admin); an open critical one suspends the tool."""
    draft = validated(
        FindingDraft,
        {"severity": severity, "description": description, "remediation": remediation},
    )
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        access.require_vendor_oversight()
        with platform.db.transaction() as conn:
            made = add_finding(conn, audit, draft, by=access.person.id)
    console.print(f"[green]recorded[/] {made.severity.value} finding {made.id}")


@audits_app.command("remediate")
@friendly_errors
def audits_remediate(
    finding: Annotated[str, typer.Argument(help="The finding's id.")],
    note: Annotated[str, typer.Option(help="How it was put right.")],
    as_: ActAs,
) -> None:
    """Mark a finding remediated (legal or admin)."""
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        access.require_vendor_oversight()
        with platform.db.transaction() as conn:
            finding_vendor(conn, finding)
            remediate_finding(conn, finding, note=note, by=access.person.id)
    console.print(f"[green]remediated[/] {finding}")


@audits_app.command("complete")
@friendly_errors
def audits_complete(
    audit: Annotated[str, typer.Argument(help="The audit's id.")],
    as_: ActAs,
    status: Annotated[str, typer.Option(help="in_progress or completed.")] = "completed",
) -> None:
    """Move an audit on: in progress, or completed (legal or admin)."""
    if status not in ("in_progress", "completed"):
        raise InvalidInput("--status is in_progress or completed.", code="cli.bad_status")
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        access.require_vendor_oversight()
        with platform.db.transaction() as conn:
            made = set_audit_status(conn, audit, cast(Literal["in_progress", "completed"], status))
    console.print(f"audit {made.id} is {made.status.replace('_', ' ')}")


@audits_app.command("list")
@friendly_errors
def audits_list(
    vendor: Annotated[str | None, typer.Option(help="Only this vendor's.")] = None,
    as_: ReadAs = None,
) -> None:
    """Audits with their findings, newest first."""
    with opened(settings()) as platform:
        access = reading_as(platform, as_)
        with platform.db.read() as conn:
            vendor_id = find_vendor(conn, vendor).id if vendor else None
            if vendor_id is not None:
                access.require_vendor_visible(vendor_id)
            found = list_audits(
                conn, vendor_id=vendor_id, vendors=access.visible_vendors(), limit=200
            )
    if not found:
        console.print("No audits.")
    _audit_lines(found)


# --- watchlist ----------------------------------------------------------------------


@watchlist_app.command("add")
@friendly_errors
def watchlist_add(
    production: Production,
    term: Annotated[str, typer.Option(help="What to watch for.")],
    category: Annotated[
        str,
        typer.Option(help="protected_character, franchise, real_person, brand or other."),
    ],
    as_: ActAs,
    alias: Annotated[list[str] | None, typer.Option(help="Another name (repeatable).")] = None,
    note: Annotated[str, typer.Option(help="Why it is watched.")] = "",
) -> None:
    """Put a term on a production's watchlist (legal or admin)."""
    draft = validated(
        WatchlistDraft,
        {"term": term, "category": category, "aliases": alias or [], "note": note},
    )
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        with platform.db.transaction() as conn:
            production_id = find_production(conn, production).id
            access.require_rights(production_id, code="watchlist.not_allowed")
            made = add_watch(conn, production_id, draft, by=access.person.id)
    console.print(f"[green]watching[/] {escape(made.term)} ({made.id})", highlight=False)


@watchlist_app.command("list")
@friendly_errors
def watchlist_list(production: Production, as_: ReadAs = None) -> None:
    """A production's watchlist."""
    with opened(settings()) as platform:
        access = reading_as(platform, as_)
        with platform.db.read() as conn:
            production_id = find_production(conn, production).id
            access.require_read(production_id)
            found = watchlist_for(conn, production_id)
    table = plain_table("entry", "term", "category", "aliases", "note", whole=("entry",))
    for e in found:
        table.add_row(
            e.id,
            escape(e.term),
            e.category.replace("_", " "),
            escape(", ".join(e.aliases)) or "-",
            escape(e.note),
        )
    console.print(table if found else "The watchlist is empty.")


@watchlist_app.command("remove")
@friendly_errors
def watchlist_remove(
    entry: Annotated[str, typer.Argument(help="The entry's id.")], as_: ActAs
) -> None:
    """Take an entry off its watchlist (legal or admin)."""
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        with platform.db.transaction() as conn:
            found = get_watch(conn, entry)
            access.require_rights(found.production_id, code="watchlist.not_allowed")
            remove_watch(conn, entry, by=access.person.id)
    console.print(f"[green]removed[/] {escape(found.term)}", highlight=False)


# --- disclosures ----------------------------------------------------------------------


@disclosures_app.command("digest")
@friendly_errors
def disclosures_digest(
    production: Production,
    on: Annotated[str | None, typer.Option("--date", help="The day, YYYY-MM-DD (UTC).")] = None,
    as_: ReadAs = None,
    as_json: AsJson = False,
) -> None:
    """The requests disclosed to the studio on one day (default today, UTC)."""
    with opened(settings()) as platform:
        access = reading_as(platform, as_)
        with platform.db.read() as conn:
            production_id = find_production(conn, production).id
            if Role.PRODUCER not in access.roles_in(production_id):
                access.require_rights_reader(production_id)
            digest = daily_digest(conn, production_id, _day(on, "--date") if on else today())
    if as_json:
        _print_json(digest)
        return
    contact = digest.studio_contact or "[yellow]no studio contact named[/]"
    console.print(
        f"Disclosures for {production} on {digest.day} to {contact}: "
        f"{len(digest.items)} request(s)",
        highlight=False,
    )
    if digest.items:
        table = plain_table("request", "time", "use case", "intent", "tool", "outcome", "state")
        for i in digest.items:
            table.add_row(
                i.request_id,
                f"{i.disclosed_at:%H:%M:%S}",
                i.use_case.value,
                i.intent.value,
                escape(i.tool),
                i.outcome.value if i.outcome else "-",
                i.state.value,
            )
        console.print(table)


@disclosures_app.command("contact")
@friendly_errors
def disclosures_contact(
    production: Production,
    contact: Annotated[
        str, typer.Argument(help="Email or name of the studio contact ('' clears it).")
    ],
    as_: ActAs,
) -> None:
    """Name who at the studio hears of every request (producer or admin)."""
    with opened(settings()) as platform:
        access = acting_as(platform, as_)
        with platform.db.transaction() as conn:
            production_id = find_production(conn, production).id
            access.require_manage(production_id)
            value = set_studio_contact(conn, production_id, contact)
    console.print(f"studio contact for {production}: {escape(value or 'none')}")
