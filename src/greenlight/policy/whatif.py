"""What if: judge stored requests again under a candidate policy set, before switching.

Each stored request comes with the document it was decided on and the
outcome and rules recorded then. The candidate judges every document again,
and the report lists the requests whose decision would change: the old
outcome and rules, the new ones, and the rules that now decide (with their
reasons) or no longer do.

Stored requests repeat the same situations (same tool, same answers, same
consents in force), and the context builder leaves request ids out of the
query, so each distinct query is judged once and its ruling reused; the
distinct ones go to Cedar in batches. A JSON-lines file can be split across
processes, each reading its own byte range.

The platform database keeps each decision's document with it
(``policy_decisions.facts``); :func:`what_if_database` reads them straight
from there, a page at a time in key order, split across processes by key
range. Decisions made before documents were kept cannot be judged again: they
are counted and named in the report, not guessed at.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Connection, Row, Text, cast, func, select

from greenlight.core.enums import Outcome
from greenlight.core.errors import InvalidInput
from greenlight.policy.cedar_engine import CedarPolicy, Rule
from greenlight.policy.context import CedarQuery, build_query
from greenlight.policy.document import PolicyDocument
from greenlight.policy.facts import Ruling
from greenlight.store import Database, engine_for
from greenlight.store.schema import policy_decisions

BATCH = 2048
# Below this size one process judges the whole file; starting another costs more.
SPLIT_ABOVE_BYTES = 4_000_000
# The same for the database, in decisions (about 4 MB of documents).
SPLIT_ABOVE_DECISIONS = 2_500
# Decisions read per query; a page of documents is a few megabytes at most.
PAGE = 1000
# Request ids named in the report for the decisions that cannot be judged again.
EXAMPLES = 10

# Why a stored decision cannot be judged again.
NO_DOCUMENT = "made before decisions kept their document"
UNREADABLE_DOCUMENT = "its document no longer reads as a policy document"

# What the database (or a file) hands over per request: its id, the document it
# was decided on, and the outcome and rule ids recorded then.
Stored = tuple[str, PolicyDocument, Outcome | str, Sequence[str]]


class StoredDecision(BaseModel):
    """One line of a what-if file: a request's document and what was decided on it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    document: PolicyDocument
    outcome: Outcome
    rules: tuple[str, ...]

    @classmethod
    def judged(cls, document: PolicyDocument, ruling: Ruling) -> StoredDecision:
        """The line for ``document`` and the ruling it got."""
        return cls(
            request_id=document.request.id or "",
            document=document,
            outcome=ruling.outcome,
            rules=ruling.rules,
        )


def write_decisions(
    path: Path, documents: Sequence[PolicyDocument], rulings: Sequence[Ruling]
) -> None:
    """Write documents and their rulings as a what-if JSON-lines file."""
    with path.open("w", encoding="utf-8") as out:
        for document, ruling in zip(documents, rulings, strict=True):
            out.write(StoredDecision.judged(document, ruling).model_dump_json() + "\n")


@dataclass(frozen=True)
class Change:
    """One request whose decision the candidate would change, and why."""

    request_id: str
    old_outcome: Outcome
    old_rules: tuple[str, ...]
    new_outcome: Outcome
    new_rules: tuple[str, ...]
    now_deciding: tuple[tuple[str, str], ...]  # (rule, reason) that decide now, not before
    no_longer_deciding: tuple[str, ...]  # rules that decided before, not now

    def why(self) -> str:
        """One sentence: what changes and which rules make it change."""
        parts = [f"{self.old_outcome.value} → {self.new_outcome.value}"]
        if self.now_deciding:
            parts.append("now: " + "; ".join(f"{r} ({why})" for r, why in self.now_deciding))
        if self.no_longer_deciding:
            parts.append("no longer: " + ", ".join(self.no_longer_deciding))
        return ". ".join(parts)


@dataclass(frozen=True)
class RuleChange:
    """A rule the candidate adds, removes or rewrites, compared with the current set."""

    rule: str
    change: str  # added | removed | changed
    detail: str


@dataclass
class WhatIf:
    """The report: how many requests were judged again and which decisions change."""

    candidate_version: str
    judged: int = 0
    judged_by_cedar: int = 0  # distinct queries sent to Cedar
    changes: list[Change] = field(default_factory=list)
    transitions: Counter[tuple[Outcome, Outcome]] = field(default_factory=Counter)
    seconds: float = 0.0
    rule_changes: list[RuleChange] = field(default_factory=list)
    # Stored decisions that could not be judged again: why -> how many, and a few request ids.
    not_rejudgeable: Counter[str] = field(default_factory=Counter)
    not_rejudgeable_examples: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        """Requests the candidate decides as before."""
        return self.judged - len(self.changes)

    def merge(self, other: WhatIf) -> None:
        """Fold another part's counts and changes into this report."""
        self.judged += other.judged
        self.judged_by_cedar += other.judged_by_cedar
        self.changes.extend(other.changes)
        self.transitions.update(other.transitions)
        self.not_rejudgeable.update(other.not_rejudgeable)
        room = EXAMPLES - len(self.not_rejudgeable_examples)
        self.not_rejudgeable_examples.extend(other.not_rejudgeable_examples[:room])


def what_if(
    candidate: CedarPolicy,
    stored: Iterable[Stored],
    *,
    current: CedarPolicy | None = None,
    batch: int = BATCH,
) -> WhatIf:
    """Judge every stored request under ``candidate``; report the decisions that change.

    ``stored`` yields ``(request_id, document, recorded outcome, recorded rules)``.
    With ``current``, the report also lists the rules the candidate adds,
    removes or rewrites.
    """
    started = time.perf_counter()
    report = _judge_all(candidate, stored, batch)
    if current is not None:
        report.rule_changes = rule_changes(current, candidate)
    report.seconds = time.perf_counter() - started
    return report


def what_if_file(
    candidate: CedarPolicy,
    path: Path,
    *,
    current: CedarPolicy | None = None,
    workers: int | None = None,
    batch: int = BATCH,
    split_above: int = SPLIT_ABOVE_BYTES,
) -> WhatIf:
    """Like :func:`what_if`, over a JSON-lines file of stored decisions, in ``workers`` processes.

    Each line is ``{"request_id", "document", "outcome", "rules"}``. A line that
    is not one is refused with its line number, and nothing is reported.
    """
    started = time.perf_counter()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInput(
            f"Cannot read the stored decisions at {path}: {exc.strerror}.",
            code="policy.whatif_unreadable",
        ) from None
    count = workers if workers is not None else min(2, os.cpu_count() or 1)
    ranges = _split(path, size, count if size > split_above else 1)
    if len(ranges) == 1:
        report = _judge_range(candidate, path, *ranges[0], batch)
    else:
        report = _fan_out(
            candidate,
            _judge_range_in_worker,
            [(str(path), start, end, batch) for start, end in ranges],
        )
    if current is not None:
        report.rule_changes = rule_changes(current, candidate)
    report.seconds = time.perf_counter() - started
    return report


def what_if_database(
    candidate: CedarPolicy,
    db: Database,
    *,
    current: CedarPolicy | None = None,
    workers: int | None = None,
    batch: int = BATCH,
    page: int = PAGE,
    split_above: int = SPLIT_ABOVE_DECISIONS,
) -> WhatIf:
    """Like :func:`what_if`, over the decisions kept in the platform database.

    Only reads. The decisions are read ``page`` at a time in key order (never
    the whole table at once), and above ``split_above`` decisions they are split
    by key range across ``workers`` processes, each with its own connection.
    The report covers the decisions stored when it starts. Decisions without a
    document, or whose document no longer reads, are counted in
    ``not_rejudgeable``.
    """
    started = time.perf_counter()
    count = workers if workers is not None else min(2, os.cpu_count() or 1)
    with db.read() as conn:
        ranges = _key_ranges(conn, count, split_above)
    if len(ranges) == 1:
        with db.read() as conn:
            report = _judge_stored(candidate, StoredDecisions(conn, *ranges[0], page=page), batch)
    else:
        url = db.engine.url.render_as_string(hide_password=False)
        report = _fan_out(
            candidate,
            _judge_keys_in_worker,
            [(url, after, through, batch, page) for after, through in ranges],
        )
    if current is not None:
        report.rule_changes = rule_changes(current, candidate)
    report.seconds = time.perf_counter() - started
    return report


def _fan_out(
    candidate: CedarPolicy, work: Callable[..., WhatIf | _Refusal], shares: list[tuple[Any, ...]]
) -> WhatIf:
    """Run ``work(files, schema, *share)`` for each share in its own process; merge the parts.

    Workers get the rule text, not the policy object, and load it themselves.
    """
    report = WhatIf(candidate_version=candidate.version)
    files, schema = candidate.files, candidate.schema
    with ProcessPoolExecutor(max_workers=len(shares)) as pool:
        parts = [pool.submit(work, files, schema, *share) for share in shares]
        for part in parts:
            result = part.result()
            if isinstance(result, _Refusal):
                raise InvalidInput(result.message, code=result.code)
            report.merge(result)
    return report


def export_decisions(db: Database, output: Path) -> tuple[int, Counter[str]]:
    """Write the database's decisions to ``output`` as what-if JSON lines, all or nothing.

    Only reads the database. Each decision that kept a readable document
    becomes one :class:`StoredDecision` line, in key order; the file appears
    whole or not at all. Returns how many were written and, by why, how many
    could not be.
    """
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    except OSError as exc:
        raise _unwritable(output, exc) from None
    written = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out, db.read() as conn:
            decisions = StoredDecisions(conn)
            for request_id, document, outcome, rules in decisions:
                line = StoredDecision(
                    request_id=request_id,
                    document=document,
                    outcome=Outcome(outcome),
                    rules=tuple(rules),
                )
                out.write(line.model_dump_json() + "\n")
                written += 1
        os.replace(temp, output)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise _unwritable(output, exc) from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return written, decisions.not_rejudgeable


def _unwritable(output: Path, exc: OSError) -> InvalidInput:
    return InvalidInput(
        f"Cannot write the stored decisions to {output}: {exc.strerror}; "
        "choose an --output in a directory you can write to.",
        code="policy.export_unwritable",
    )


class StoredDecisions:
    """The decisions kept in the platform database, read a page at a time in key order.

    Iterating yields the ones that can be judged again as ``(request_id,
    document, outcome, rules)``; the others are counted in ``not_rejudgeable``
    (why -> how many), with the first few request ids in ``examples``. Keys
    run after ``after`` up to and including ``through`` (``None``: no bound).
    """

    def __init__(
        self,
        conn: Connection,
        after: str | None = None,
        through: str | None = None,
        *,
        page: int = PAGE,
    ) -> None:
        """Read from ``conn`` (a read transaction the caller holds open)."""
        self._conn = conn
        self._after = after
        self._through = through
        self._page = page
        self.not_rejudgeable: Counter[str] = Counter()
        self.examples: list[str] = []

    def __iter__(self) -> Iterator[Stored]:
        """The re-judgeable decisions, in key order."""
        for rows in self._pages():
            for row in rows:
                document = self._document(row.request_id, row.facts)
                if document is not None:
                    yield row.request_id, document, row.outcome, row.rules

    def _pages(self) -> Iterator[Sequence[Row[tuple[str, str, str, list[str], str | None]]]]:
        # Keyset pagination: each query starts after the last key seen, on the primary key.
        table = policy_decisions.c
        last = self._after
        while True:
            query = select(
                table.id,
                table.request_id,
                table.outcome,
                table.rules,
                cast(table.facts, Text).label("facts"),
            )
            if last is not None:
                query = query.where(table.id > last)
            if self._through is not None:
                query = query.where(table.id <= self._through)
            rows = self._conn.execute(query.order_by(table.id).limit(self._page)).all()
            if rows:
                yield rows
            if len(rows) < self._page:
                return
            last = rows[-1].id

    def _document(self, request_id: str, facts: str | None) -> PolicyDocument | None:
        # A JSON column written with None holds the JSON text null rather than SQL NULL.
        if facts is None or facts == "null":
            self._skip(request_id, NO_DOCUMENT)
            return None
        try:
            return PolicyDocument.model_validate_json(facts)
        except ValidationError:
            self._skip(request_id, UNREADABLE_DOCUMENT)
            return None

    def _skip(self, request_id: str, why: str) -> None:
        self.not_rejudgeable[why] += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(request_id)


def rule_changes(current: CedarPolicy, candidate: CedarPolicy) -> list[RuleChange]:
    """The rules ``candidate`` adds, removes or rewrites (outcome, approvers or reason)."""
    before = {r.id: r for r in current.rules}
    after = {r.id: r for r in candidate.rules}
    out = [RuleChange(i, "removed", before[i].reason) for i in before if i not in after]
    for rule in after.values():
        old = before.get(rule.id)
        if old is None:
            out.append(RuleChange(rule.id, "added", _describe(rule)))
        elif _describe(old) != _describe(rule):
            out.append(RuleChange(rule.id, "changed", f"{_describe(old)} → {_describe(rule)}"))
    return out


def _describe(rule: Rule) -> str:
    who = "; ".join(", ".join(r.value for r in group) for group in rule.approvers)
    return f"{rule.outcome.value}" + (f" by {who}" if who else "") + f": {rule.reason}"


def _judge_all(candidate: CedarPolicy, stored: Iterable[Stored], batch: int) -> WhatIf:
    report = WhatIf(candidate_version=candidate.version)
    rulings: dict[str, Ruling] = {}
    pending: list[tuple[str, Outcome, tuple[str, ...], str]] = []
    fresh: dict[str, None] = {}  # keys of the queries waiting for Cedar, in order
    queries: list[CedarQuery] = []

    def settle() -> None:
        if queries:
            for key, ruling in zip(fresh, candidate.judge(queries), strict=True):
                rulings[key] = ruling
            report.judged_by_cedar += len(queries)
            queries.clear()
            fresh.clear()
        for request_id, outcome, rules, key in pending:
            _compare(report, request_id, outcome, rules, rulings[key], candidate)
        pending.clear()

    for request_id, document, outcome, rules in stored:
        query = build_query(document)
        key = query.key()
        if key not in rulings and key not in fresh:
            fresh[key] = None
            queries.append(query)
        pending.append((request_id, Outcome(outcome), tuple(rules), key))
        if len(pending) >= batch:
            settle()
    settle()
    return report


def _compare(
    report: WhatIf,
    request_id: str,
    outcome: Outcome,
    rules: tuple[str, ...],
    ruling: Ruling,
    candidate: CedarPolicy,
) -> None:
    report.judged += 1
    report.transitions[(outcome, ruling.outcome)] += 1
    if outcome is ruling.outcome and set(rules) == set(ruling.rules):
        return
    reasons = dict(zip(ruling.rules, ruling.reasons, strict=True))
    report.changes.append(
        Change(
            request_id=request_id,
            old_outcome=outcome,
            old_rules=rules,
            new_outcome=ruling.outcome,
            new_rules=ruling.rules,
            now_deciding=tuple((r, reasons[r]) for r in ruling.rules if r not in rules),
            no_longer_deciding=tuple(r for r in rules if r not in ruling.rules),
        )
    )


def _judge_stored(candidate: CedarPolicy, decisions: StoredDecisions, batch: int) -> WhatIf:
    report = _judge_all(candidate, decisions, batch)
    report.not_rejudgeable.update(decisions.not_rejudgeable)
    report.not_rejudgeable_examples.extend(decisions.examples)
    return report


def _key_ranges(
    conn: Connection, parts: int, split_above: int
) -> list[tuple[str | None, str | None]]:
    """Key ranges ``(after, through]`` of about equal counts, bounded by the last key now."""
    table = policy_decisions.c
    total, last = conn.execute(select(func.count(), func.max(table.id))).one()
    if parts <= 1 or total <= split_above:
        return [(None, last)]
    cuts: list[str | None] = [None]
    for i in range(1, parts):
        cut = conn.execute(
            select(table.id).order_by(table.id).offset(total * i // parts - 1).limit(1)
        ).scalar_one()
        cuts.append(cut)
    cuts.append(last)
    return [(a, b) for a, b in pairwise(cuts) if a != b]


def _split(path: Path, size: int, parts: int) -> list[tuple[int, int]]:
    """Byte ranges of about equal size, each starting at the beginning of a line."""
    if parts <= 1 or size == 0:
        return [(0, size)]
    cuts = [0]
    with path.open("rb") as f:
        for i in range(1, parts):
            f.seek(size * i // parts)
            f.readline()
            cuts.append(max(f.tell(), cuts[-1]))
    cuts.append(size)
    return [(a, b) for a, b in pairwise(cuts) if b > a]


def _lines(path: Path, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """The lines between two byte offsets, with their byte offset for error messages."""
    with path.open("rb") as f:
        f.seek(start)
        offset = start
        while offset < end:
            line = f.readline()
            if not line:
                break
            yield offset, line
            offset += len(line)


def _parsed(path: Path, start: int, end: int) -> Iterator[Stored]:
    for offset, line in _lines(path, start, end):
        if not line.strip():
            continue
        try:
            s = StoredDecision.model_validate_json(line)
        except ValidationError as exc:
            problem = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in problem["loc"]) or "the line"
            raise InvalidInput(
                f"The stored decision at byte {offset} of {path} is not one: {where}: "
                f"{problem['msg']}. Each line is a JSON object with request_id, document, "
                "outcome and rules.",
                code="policy.whatif_line_invalid",
            ) from None
        yield s.request_id, s.document, s.outcome, s.rules


def _judge_range(candidate: CedarPolicy, path: Path, start: int, end: int, batch: int) -> WhatIf:
    return _judge_all(candidate, _parsed(path, start, end), batch)


@dataclass(frozen=True)
class _Refusal:
    """An error in a worker, carried back whole (a pickled GreenlightError loses its code)."""

    message: str
    code: str


def _judge_keys_in_worker(
    files: dict[str, str],
    schema: str,
    url: str,
    after: str | None,
    through: str | None,
    batch: int,
    page: int,
) -> WhatIf | _Refusal:
    # A connection does not cross processes either; each worker opens its own.
    try:
        candidate = CedarPolicy(files, schema, origin="candidate")
        db = Database(engine_for(url))
        try:
            with db.read() as conn:
                return _judge_stored(
                    candidate, StoredDecisions(conn, after, through, page=page), batch
                )
        finally:
            db.close()
    except InvalidInput as exc:
        return _Refusal(exc.message, exc.code)


def _judge_range_in_worker(
    files: dict[str, str], schema: str, path: str, start: int, end: int, batch: int
) -> WhatIf | _Refusal:
    # Cedar's handles do not cross processes; each worker parses the same text again.
    try:
        candidate = CedarPolicy(files, schema, origin="candidate")
        return _judge_range(candidate, Path(path), start, end, batch)
    except InvalidInput as exc:
        return _Refusal(exc.message, exc.code)
