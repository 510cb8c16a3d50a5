"""``greenlight policy``: check a document, publish its schema, validate rules, what-if.

Checking, validating and screening need no database: a policy check document
carries every fact its decision depends on, and the rules are read from a
directory. ``policy whatif`` judges the decisions kept in the platform
database (GREENLIGHT_DATA_DIR or GREENLIGHT_DATABASE_URL), only reading it, or
a JSON-lines file of them; ``policy export`` writes that file, so an auditor
can run what-if away from the platform.

``policy check`` exits 0 for allow, 1 for deny, 3 for needs_approval, and 2
when the document (or the rules) cannot be read; it prints the decision as
JSON in every case it can decide. ``policy whatif`` exits 0 when no decision
would change and 1 when some would, like ``diff``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from greenlight.cli._common import console, friendly_errors, settings
from greenlight.cli._opening import require_installed
from greenlight.core.enums import Outcome
from greenlight.core.errors import Conflict, InvalidInput
from greenlight.core.settings import Settings
from greenlight.policy.cedar_engine import CedarPolicy
from greenlight.policy.document import Decision, PolicyDocument
from greenlight.policy.screening import WatchEntry, Watchlist
from greenlight.policy.whatif import WhatIf, export_decisions, what_if_database, what_if_file
from greenlight.store import Database
from greenlight.store.migrate import head_revision

app = typer.Typer(
    help="The Cedar rules: check a request document, validate and compare rule sets.",
    no_args_is_help=True,
)

EXIT_FOR = {Outcome.ALLOW: 0, Outcome.DENY: 1, Outcome.NEEDS_APPROVAL: 3}

Policies = Annotated[
    Path | None,
    typer.Option(
        "--policies",
        file_okay=False,
        help="A directory of *.cedar rules and their .cedarschema (default: the shipped rules).",
    ),
]


@app.command()
@friendly_errors
def check(
    request: Annotated[
        Path, typer.Option("--request", help="The policy check document (JSON) to judge.")
    ],
    policies: Policies = None,
) -> None:
    """Judge a self-contained document and print the decision as JSON.

    Exit 0 allow, 1 deny, 3 needs_approval, 2 unreadable document or rules.
    """
    document = read_document(request)
    policy = CedarPolicy.load(policies)
    ruling = policy.decide(document)
    decision = Decision(
        request_id=document.request.id,
        outcome=ruling.outcome,
        policy_version=ruling.policy_version,
        rules=list(ruling.rules),
        reasons=list(ruling.reasons),
        required=list(ruling.required),
        decided_at=document.now,
    )
    typer.echo(decision.model_dump_json(indent=2))
    raise typer.Exit(code=EXIT_FOR[ruling.outcome])


@app.command()
def schema() -> None:
    """Print the JSON Schema of the policy check document."""
    typer.echo(json.dumps(PolicyDocument.model_json_schema(), indent=2))


@app.command()
@friendly_errors
def validate(policies: Policies = None) -> None:
    """Load and validate a rule set; list its rules. Exit 2 when it is refused."""
    policy = CedarPolicy.load(policies)
    width = max(len(rule.id) for rule in policy.rules)
    for rule in policy.rules:
        who = "; ".join(", ".join(r.value for r in group) for group in rule.approvers)
        console.print(
            f"{escape(rule.id):<{width}}  {rule.outcome.value:<14}  "
            f"{who + '  ' if who else ''}({escape(rule.source)})",
            highlight=False,
        )
    console.print(
        f"[green]valid[/] {len(policy.rules)} rules in {escape(policy.origin)}, "
        f"version {policy.version}",
        highlight=False,
    )


@app.command()
@friendly_errors
def version(policies: Policies = None) -> None:
    """Print the version of a rule set (a hash of its files' content)."""
    typer.echo(CedarPolicy.load(policies).version)


@app.command()
@friendly_errors
def whatif(
    policies: Annotated[
        Path,
        typer.Option("--policies", file_okay=False, help="The candidate rule set's directory."),
    ],
    documents: Annotated[
        Path | None,
        typer.Option(
            "--documents",
            dir_okay=False,
            help="JSON lines of {request_id, document, outcome, rules}, as `policy export` "
            "writes them (default: the decisions in the platform database).",
        ),
    ] = None,
    current: Annotated[
        Path | None,
        typer.Option(
            "--current",
            file_okay=False,
            help="The rule set in force, to list rule changes against (default: the shipped one).",
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes to judge in (default: up to 2).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    limit: Annotated[int, typer.Option(min=0, help="Changed requests to list (table).")] = 50,
) -> None:
    """Judge stored requests under candidate rules; report the decisions that would change.

    Reads the platform database (only reading it) unless --documents names a
    file. Decisions made before their documents were kept are counted as not
    re-judgeable. Exit 0 when none would change, 1 when some would, 2 when the
    rules, the file or the database cannot be read.
    """
    candidate = CedarPolicy.load(policies)
    in_force = CedarPolicy.load(current)
    if documents is not None:
        report = what_if_file(candidate, documents, current=in_force, workers=workers)
    else:
        with kept_decisions(settings()) as db:
            report = what_if_database(candidate, db, current=in_force, workers=workers)
    if as_json:
        typer.echo(json.dumps(report_json(report, in_force.version), indent=2))
    else:
        print_report(report, in_force.version, limit)
    raise typer.Exit(code=1 if report.changes else 0)


@app.command()
@friendly_errors
def export(
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", dir_okay=False, help="The JSON-lines file to write (FILE.jsonl)."
        ),
    ],
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write the stored decisions as the JSON lines `policy whatif --documents` reads.

    One line per decision that kept its document: {request_id, document,
    outcome, rules}. Decisions without one are counted, not written. Only
    reads the platform database.
    """
    if output.exists() and not force:
        raise Conflict(
            f"{output} already exists; pass --force to overwrite it or choose another --output.",
            code="cli.file_exists",
        )
    with kept_decisions(settings()) as db:
        written, skipped = export_decisions(db, output)
    console.print(f"wrote {written:,} stored decisions to {escape(str(output))}", highlight=False)
    if skipped:
        console.print(f"[yellow]{_not_rejudgeable(skipped)}[/]; not written", highlight=False)


@contextmanager
def kept_decisions(config: Settings) -> Iterator[Database]:
    """The platform database in ``config``, opened to read the decisions it keeps.

    Nothing is created or migrated: a database on an older schema is refused
    with the command that upgrades it.
    """
    require_installed(config)
    db = Database.open(config, migrate=False)
    try:
        with db.engine.connect() as conn:
            found = MigrationContext.configure(conn).get_current_revision()
        if found != head_revision():
            raise Conflict(
                f"The database is at schema {found or 'none'}, not {head_revision()} as this "
                "Greenlight expects; run `greenlight init` once to upgrade it (what exists is "
                "kept), then try again.",
                code="policy.database_outdated",
            )
        yield db
    finally:
        db.close()


@app.command()
@friendly_errors
def screen(
    watchlist: Annotated[
        Path,
        typer.Option(
            "--watchlist", dir_okay=False, help="JSON list of {id, term, category, aliases}."
        ),
    ],
    prompt: Annotated[str, typer.Option("--prompt", help="The prompt to screen.")],
    reference: Annotated[
        list[str] | None,
        typer.Option("--reference", help="A declared reference name (repeatable)."),
    ] = None,
) -> None:
    """Screen a prompt and reference names against a watchlist; print the hits as JSON."""
    try:
        entries = [WatchEntry.model_validate(e) for e in json.loads(watchlist.read_text())]
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"The watchlist {watchlist} cannot be read: {exc}. It is a JSON list of "
            '{"id", "term", "category", "aliases"}.',
            code="policy.watchlist_invalid",
        ) from None
    hits = Watchlist(entries).screen(prompt, reference or [])
    typer.echo(json.dumps([h.model_dump() for h in hits], indent=2))


def read_document(path: Path) -> PolicyDocument:
    """Read and validate a policy check document, or say exactly what is wrong with it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            f"Cannot read the policy check document {path}: {exc.strerror}.",
            code="policy.document_unreadable",
        ) from None
    try:
        return PolicyDocument.model_validate_json(raw)
    except ValidationError as exc:
        problems = exc.errors(include_url=False)
        listed = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}" for e in problems[:5]
        )
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise InvalidInput(
            f"{path} is not a policy check document: {listed}{more}. "
            "`greenlight policy schema` prints the format.",
            code="policy.document_invalid",
        ) from None


def report_json(report: WhatIf, current_version: str) -> dict[str, object]:
    """The what-if report as plain JSON."""
    return {
        "current_version": current_version,
        "candidate_version": report.candidate_version,
        "judged": report.judged,
        "judged_by_cedar": report.judged_by_cedar,
        "unchanged": report.unchanged,
        "seconds": round(report.seconds, 3),
        "not_rejudgeable": {
            "decisions": sum(report.not_rejudgeable.values()),
            "why": dict(sorted(report.not_rejudgeable.items())),
            "examples": list(report.not_rejudgeable_examples),
        },
        "transitions": [
            {"from": old.value, "to": new.value, "requests": n}
            for (old, new), n in sorted(report.transitions.items())
        ],
        "rule_changes": [
            {"rule": c.rule, "change": c.change, "detail": c.detail} for c in report.rule_changes
        ],
        "changes": [
            {
                "request_id": c.request_id,
                "old": {"outcome": c.old_outcome.value, "rules": list(c.old_rules)},
                "new": {"outcome": c.new_outcome.value, "rules": list(c.new_rules)},
                "now_deciding": [{"rule": r, "reason": why} for r, why in c.now_deciding],
                "no_longer_deciding": list(c.no_longer_deciding),
            }
            for c in report.changes
        ],
    }


def print_report(report: WhatIf, current_version: str, limit: int) -> None:
    """The what-if report for a person: counts, rule changes, then the changed requests."""
    console.print(
        f"{report.judged:,} stored requests judged under {report.candidate_version} "
        f"(in force: {current_version}) in {report.seconds:.1f} s; "
        f"{report.judged_by_cedar:,} distinct situations.",
        highlight=False,
    )
    if report.not_rejudgeable:
        examples = ", ".join(report.not_rejudgeable_examples)
        console.print(
            f"[yellow]{_not_rejudgeable(report.not_rejudgeable)}[/]"
            + (f" (e.g. {escape(examples)})" if examples else ""),
            highlight=False,
        )
    for rule in report.rule_changes:
        console.print(
            f"  rule {escape(rule.rule)} {rule.change}: {escape(rule.detail)}",
            highlight=False,
        )
    if not report.changes:
        console.print("[green]no decision would change[/]", highlight=False)
        return
    moved = ", ".join(
        f"{old.value} → {new.value}: {n:,}"
        for (old, new), n in sorted(report.transitions.items())
        if old is not new
    )
    console.print(
        f"[yellow]{len(report.changes):,} decisions would change[/]"
        + (f" ({moved})" if moved else ""),
        highlight=False,
    )
    table = Table()
    table.add_column("request", no_wrap=True)  # ids are copied whole, never folded
    for column in ("now", "would be"):
        table.add_column(column, overflow="fold")  # rule ids are long single words
    table.add_column("why")
    for change in report.changes[:limit]:
        table.add_row(
            escape(change.request_id),
            f"{change.old_outcome.value} {', '.join(change.old_rules)}",
            f"{change.new_outcome.value} {', '.join(change.new_rules)}",
            escape(change.why()),
        )
    console.print(table)
    if len(report.changes) > limit:
        console.print(f"... and {len(report.changes) - limit:,} more (--json lists them all)")


def _not_rejudgeable(why: Counter[str]) -> str:
    total = sum(why.values())
    reasons = "; ".join(f"{n:,} {escape(reason)}" for reason, n in sorted(why.items()))
    return f"{total:,} stored decisions are not re-judgeable ({reasons})"
