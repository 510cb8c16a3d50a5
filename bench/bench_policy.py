"""Policy speed: one decision against a bare Cedar call, and a what-if over stored requests.

Run: .venv/bin/python bench/bench_policy.py [--decisions 20000] [--stored 100000]
     .venv/bin/python bench/bench_policy.py --mode database [--stored 100000]

1. Decision latency. ``CedarPolicy.decide(document)`` on varied in-memory
   documents: the context built from the registry facts, one Cedar request
   against the shipped rules, the answer mapped back to rule ids. The baseline,
   timed in the same run and interleaved with it, is a bare pre-parsed
   ``cedarpy.is_authorized`` of a trivial request (one permit, empty context).
2. What-if. The same generator writes 100,000 varied stored requests (each with
   the outcome and rules the shipped rules give it) as JSON lines; a candidate
   rule set judges them all again from the file, in one process and in two,
   and the report's counts are printed with the total seconds. A second,
   high-variety mix (consents drawn afresh per request) shows the cost when
   far fewer situations repeat.
3. What-if over the platform database (``--mode database``, on its own). The
   same varied documents go into a real SQLite database as stored decisions:
   minimal people, production, vendor and tool rows, one generation_requests
   row per decision for the foreign key, and each policy_decisions row with its
   document in ``facts`` and the outcome and rules the shipped rules give it.
   ``what_if_database`` judges them all under the candidate rules, in one
   process and in two; the baseline, timed in the same run, is ``what_if_file``
   over the same decisions exported to JSON lines (as ``greenlight policy
   export`` writes them), with the same number of processes.

Targets (issue #5): decision p99 < 200 µs; what-if over 100,000 in < 10 s.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cedarpy
from sqlalchemy import insert

from greenlight.core.enums import AlterationPurpose, ConsentKind, Hosting, UseCase
from greenlight.core.ids import new_id
from greenlight.core.settings import Settings
from greenlight.policy import CedarPolicy, PolicyDocument
from greenlight.policy.cedar_engine import DEFAULT_DIRECTORY
from greenlight.policy.context import DECLARABLE, build_query
from greenlight.policy.whatif import (
    export_decisions,
    what_if_database,
    what_if_file,
    write_decisions,
)
from greenlight.store import Database, schema

START = datetime(2026, 1, 1, tzinfo=UTC)
USE_CASES = [u.value for u in UseCase]
MEDIA = ["series", "trailer", "theatrical", None]
TERRITORIES = ["us", "worldwide", "fr", None]
CATEGORIES = ["protected_character", "franchise", "real_person", "brand"]


def tools(rng: random.Random, n: int = 12) -> list[dict[str, Any]]:
    """A vendor catalogue: mostly attested and enclosed, some lapsed, public or suspended."""
    out = []
    for i in range(n):
        attested = rng.random() < 0.85
        start = START + timedelta(days=rng.randrange(-200, 200))
        out.append(
            {
                "id": f"tool_{i}",
                "name": f"Tool {i}",
                "version": f"{rng.randrange(1, 5)}.{rng.randrange(10)}",
                "vendor_id": f"ven_{i % 5}",
                "vendor": f"Vendor {i % 5}",
                "hosting": rng.choice([h.value for h in Hosting] + ["vendor_enclosed"] * 3),
                "use_cases": rng.sample(USE_CASES, rng.randrange(1, 4)),
                "allowed_on_production": rng.random() < 0.9,
                "suspended": rng.random() < 0.05,
                "attestation": {
                    "trains_on_inputs": rng.choice([False] * 6 + [True, None]),
                    "retains_data_days": rng.choice([0] * 6 + [30, None]),
                    "enclosed_environment": rng.choice([True] * 6 + [False, None]),
                    "training_data_sources": ["licensed library"],
                    "licences": ["commercial"],
                    "certification": rng.choice(["TPN Gold", "TPN Blue", None]),
                    "valid_from": start,
                    "expires_at": start + timedelta(days=365),
                }
                if attested
                else None,
            }
        )
    return out


def cast(rng: random.Random, n: int = 40) -> list[dict[str, Any]]:
    """Performers, some deceased, some with an estate."""
    out = []
    for i in range(n):
        deceased = rng.random() < 0.1
        out.append(
            {
                "id": f"tal_{i}",
                "name": f"Performer {i}",
                "union_member": rng.random() < 0.7,
                "deceased": deceased,
                "authorized_representative": "Estate" if deceased and rng.random() < 0.7 else None,
            }
        )
    return out


def consents(rng: random.Random, person: dict[str, Any], production: str) -> list[dict[str, Any]]:
    """A performer's consents on record: various kinds, scopes, terms, signers."""
    out = []
    for j in range(rng.randrange(0, 4)):
        granted = START + timedelta(days=rng.randrange(-300, 300))
        out.append(
            {
                "id": f"con_{person['id']}_{production}_{j}",
                "talent_id": person["id"],
                "kind": rng.choice([k.value for k in ConsentKind]),
                "intended_use": "as described in the rider",
                "production_ids": [production] if rng.random() < 0.85 else ["prod_other"],
                "use_cases": rng.sample(USE_CASES, rng.randrange(1, 5)),
                "media": [] if rng.random() < 0.6 else [rng.choice(MEDIA[:3])],
                "territories": [] if rng.random() < 0.6 else [rng.choice(TERRITORIES[:3])],
                "granted_at": granted,
                "expires_at": granted + timedelta(days=rng.randrange(30, 700))
                if rng.random() < 0.5
                else None,
                "revoked_at": granted + timedelta(days=rng.randrange(1, 200))
                if rng.random() < 0.1
                else None,
                "given_by": rng.choice(["performer"] * 6 + ["authorized_representative", "union"]),
                "compensation_ref": "rider",
            }
        )
    return out


class Studio:
    """The registries requests draw on: productions, tools, performers and their consents.

    By default a performer's consents are the same on every request, as in a
    registry, and a requester's answers are mostly no. With ``worst_case`` each
    request gets consents drawn afresh and three times as many yes-answers, so
    far fewer requests share a situation (about 60% distinct, against 40%).
    """

    def __init__(self, rng: random.Random, *, worst_case: bool = False) -> None:
        self.rng = rng
        self.worst_case = worst_case
        self.productions = [f"prod_{i}" for i in range(3)]
        self.tools = tools(rng)
        self.cast = cast(rng)
        self.consents = {
            (p["id"], production): consents(rng, p, production)
            for p in self.cast
            for production in self.productions
        }

    def document(self, n: int) -> dict[str, Any]:
        """One stored request's document, varied across everything the rules look at."""
        rng = self.rng
        production = rng.choice(self.productions)
        tool = rng.choice(self.tools)
        vetted = tool["use_cases"]
        use_case = rng.choice(vetted) if rng.random() < 0.9 else rng.choice(USE_CASES)
        talent = rng.sample(self.cast, rng.choice([0] * 6 + [1, 1, 2]))
        yes = 0.06 if self.worst_case else 0.02
        disclosure: dict[str, Any] = {name: rng.random() < yes for name in DECLARABLE}
        if use_case in ("crowd_replication", "vfx_cleanup", "de_aging"):
            disclosure["story_relevant"] = rng.random() < 0.3
        disclosure["replica"] = rng.choice(["none"] * 10 + ["employment_based"])
        if use_case in ("de_aging", "vfx_cleanup") and rng.random() < 0.7:
            disclosure["alteration_purpose"] = rng.choice([p.value for p in AlterationPurpose])
        disclosure["medium"] = rng.choice(MEDIA)
        disclosure["territory"] = rng.choice(TERRITORIES)
        hits = []
        if rng.random() < 0.03:
            hits.append(
                {
                    "entry_id": "w_1",
                    "term": "Darth Vader",
                    "category": rng.choice(CATEGORIES),
                    "found_in": "prompt",
                    "matched": "darth vader",
                }
            )
        if self.worst_case:
            on_record = [c for t in talent for c in consents(rng, t, production)]
        else:
            on_record = [c for t in talent for c in self.consents[(t["id"], production)]]
        return {
            "request": {
                "id": f"req_{n}",
                "production_id": production,
                "use_case": use_case,
                "intent": rng.choice(["ideation", "temporary", "temporary", "final_deliverable"]),
                "tool_id": tool["id"],
                "talent_ids": [t["id"] for t in talent],
                "third_party_ip": ["Metropolis (1927)"] if rng.random() < 0.05 else [],
                "disclosure": disclosure,
                "screening_hits": hits,
            },
            "tool": tool,
            "talent": talent,
            "consents": on_record,
            "production": {
                "id": production,
                "studio_contact": "contact@studio.test",
                "replica_models": [
                    {"talent_id": t["id"], "origin_production_id": rng.choice([production, "x"])}
                    for t in talent
                    if rng.random() < 0.1
                ],
            },
            "now": START + timedelta(minutes=rng.randrange(0, 525_600)),
        }


def documents(n: int, seed: int = 5, *, worst_case: bool = False) -> list[PolicyDocument]:
    studio = Studio(random.Random(seed), worst_case=worst_case)
    return [PolicyDocument.model_validate(studio.document(i)) for i in range(n)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def candidate_rules(folder: Path) -> Path:
    """The shipped rules with three edits a policy team might propose."""
    shutil.copytree(DEFAULT_DIRECTORY, folder)
    principles = folder / "principles.cedar"
    principles.write_text(
        principles.read_text().replace(
            '@approvers("legal")\n@reason("The tool does not run in a secured',
            '@approvers("producer")\n@reason("The tool does not run in a secured',
        )
    )
    (folder / "stricter.cedar").write_text(
        '@id("no-public-api-for-final-work")\n'
        '@outcome("deny")\n'
        '@reason("Final deliverables may not be made with a public API tool.")\n'
        'forbid (principal, action == Action::"submit", resource)\n'
        'when { context.intent == "final_deliverable" && resource.hosting == "public_api" };\n'
    )
    approvals = folder / "approvals.cedar"
    text = approvals.read_text()
    cut = text.index('@id("writer-material-needs-wga-disclosure")')
    approvals.write_text(text[:cut])
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--mode",
        choices=["decisions", "database"],
        default="decisions",
        help="decisions: latency and what-if from files (1, 2); database: what-if from SQLite (3)",
    )
    args = parser.parse_args()
    if args.mode == "database":
        database_main(args.stored, args.workers)
        return

    policy = CedarPolicy.load()
    print(f"policy bench: {len(policy.rules)} rules, version {policy.version}")

    # 1. Decision latency, interleaved with the bare Cedar call.
    docs = documents(2000)
    bare_set = cedarpy.PolicySet.from_str("permit (principal, action, resource);")
    bare_entities = cedarpy.Entities.from_json_str("[]")
    trivial = {
        "principal": {"type": "User", "id": "u"},
        "action": {"type": "Action", "id": "view"},
        "resource": {"type": "Asset", "id": "a"},
        "context": {},
    }
    for d in docs[:500]:  # warm up both paths
        policy.decide(d)
        cedarpy.is_authorized(trivial, bare_set, bare_entities)
    ours: list[float] = []
    bare: list[float] = []
    outcomes: dict[str, int] = {}
    gc.collect()
    gc.disable()  # a collection inside one timed call is noise on both sides alike
    try:
        for i in range(args.decisions):
            doc = docs[i % len(docs)]
            t = time.perf_counter()
            ruling = policy.decide(doc)
            ours.append((time.perf_counter() - t) * 1e6)
            t = time.perf_counter()
            cedarpy.is_authorized(trivial, bare_set, bare_entities)
            bare.append((time.perf_counter() - t) * 1e6)
            outcomes[ruling.outcome.value] = outcomes.get(ruling.outcome.value, 0) + 1
            if i % 1000 == 999:
                gc.collect()
    finally:
        gc.enable()
    print(f"{'measure':<44} {'greenlight':>11} {'bare cedar':>11} {'unit':<5} {'ratio':>7}")
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        a, b = percentile(ours, q), percentile(bare, q)
        print(f"{'decision latency ' + name:<44} {a:>11.1f} {b:>11.1f} {'µs':<5} {a / b:>6.2f}x")
    print(f"  {args.decisions:,} decisions over {len(docs):,} varied documents: {outcomes}")
    print_decision_parts(policy, docs)

    # 2. What-if over stored requests, from JSON-lines files.
    tmp = Path(tempfile.mkdtemp(prefix="bench-policy-"))
    try:
        candidate = CedarPolicy.load(candidate_rules(tmp / "candidate"))
        seconds = {}
        for worst_case in (False, True):
            path = stored_file(policy, tmp, args.stored, worst_case=worst_case)
            runs = sorted({1, args.workers}) if not worst_case else [args.workers]
            for workers in runs:
                report = what_if_file(candidate, path, current=policy, workers=workers)
                label = "high-variety mix" if worst_case else "studio mix"
                print(
                    f"{f'what-if, {report.judged:,} stored, {label}, {workers} proc':<44} "
                    f"{report.seconds:>11.2f} {'':>11} {'s':<5}"
                )
                seconds[(worst_case, workers)] = report.seconds
            top = sorted(report.transitions.items(), key=lambda kv: -kv[1])
            moved = [f"{a.value}→{b.value}: {n:,}" for (a, b), n in top if a is not b]
            print(
                f"  {report.judged_by_cedar:,} distinct situations went to Cedar; "
                f"{len(report.changes):,} decisions would change "
                f"({', '.join(moved) or 'same outcomes, other rules'}); "
                f"{len(report.rule_changes)} rules added, removed or changed"
            )
            path.unlink()
        p99 = percentile(ours, 0.99)
        mix = seconds[(False, args.workers)]
        worst = seconds[(True, args.workers)]
        print(
            f"targets: decision p99 < 200 µs: {'met' if p99 < 200 else 'MISSED'} ({p99:.0f} µs); "
            f"what-if 100,000 < 10 s: {'met' if mix < 10 else 'MISSED'} ({mix:.1f} s), "
            f"high-variety mix: {'met' if worst < 10 else 'MISSED'} ({worst:.1f} s)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def print_decision_parts(policy: CedarPolicy, docs: list[PolicyDocument]) -> None:
    """Where one decision's time goes: our context building, Cedar's parsing and its rules.

    Cedar measures its own parts (``metrics`` in the answers of cedarpy's
    internal batch call); the public call drops them. Cedar parses the context
    at one to two microseconds per value, which is why the context is kept lean.
    """
    rules = cedarpy.PolicySet.from_str("\n".join(policy.files.values()))
    building: list[float] = []
    parsing: list[int] = []
    judging: list[int] = []
    for doc in docs:
        t = time.perf_counter()
        query = build_query(doc)
        building.append((time.perf_counter() - t) * 1e6)
        answer = cedarpy._internal.is_authorized_batch(
            [query.to_cedar()], rules, query.tool_json, None, False
        )
        metrics = json.loads(answer[0])["metrics"]
        parsing.append(metrics["build_request_duration_micros"])
        judging.append(metrics["authz_duration_micros"])
    print(
        f"  medians: build_query {statistics.median(building):.1f} µs, Cedar build_request "
        f"(parsing the context) {statistics.median(parsing):.0f} µs, "
        f"authz (the rules) {statistics.median(judging):.0f} µs"
    )


def stored_file(policy: CedarPolicy, folder: Path, n: int, *, worst_case: bool) -> Path:
    """Write ``n`` stored requests, each with what the shipped rules decided on it."""
    t = time.perf_counter()
    stored = documents(n, seed=11, worst_case=worst_case)
    rulings = policy.decide_many(stored)
    path = folder / ("worst.jsonl" if worst_case else "studio.jsonl")
    write_decisions(path, stored, rulings)
    outcomes: dict[str, int] = {}
    for ruling in rulings:
        outcomes[ruling.outcome.value] = outcomes.get(ruling.outcome.value, 0) + 1
    size, took = path.stat().st_size / 1e6, time.perf_counter() - t
    print(f"  wrote {n:,} stored requests ({size:,.0f} MB, {outcomes}) in {took:.0f} s")
    return path


def database_main(n: int, workers: int) -> None:
    """What-if over ``n`` decisions stored in SQLite, against the same from a JSON-lines file."""
    policy = CedarPolicy.load()
    print(f"policy bench, database mode: {len(policy.rules)} rules, version {policy.version}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-policy-db-"))
    try:
        candidate = CedarPolicy.load(candidate_rules(tmp / "candidate"))
        config = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'greenlight.db'}")
        db = Database.open(config)
        try:
            stored_database(policy, db, n)
            t = time.perf_counter()
            path = tmp / "exported.jsonl"
            written, _ = export_decisions(db, path)
            exported = time.perf_counter() - t
            print(
                f"{'export ' + f'{written:,} decisions to JSON lines':<44} "
                f"{exported:>11.2f} {'':>11} {'s':<5}"
            )
            print(f"{'measure':<44} {'database':>11} {'file':>11} {'unit':<5} {'ratio':>7}")
            seconds = {}
            for count in sorted({1, workers}):
                ours = what_if_database(candidate, db, current=policy, workers=count)
                base = what_if_file(candidate, path, current=policy, workers=count)
                assert (ours.judged, len(ours.changes)) == (base.judged, len(base.changes))
                print(
                    f"{f'what-if, {ours.judged:,} stored, {count} proc':<44} "
                    f"{ours.seconds:>11.2f} {base.seconds:>11.2f} {'s':<5} "
                    f"{ours.seconds / base.seconds:>6.2f}x"
                )
                seconds[count] = ours.seconds
            print(
                f"  {ours.judged_by_cedar:,} distinct situations went to Cedar; "
                f"{len(ours.changes):,} decisions would change; "
                f"{sum(ours.not_rejudgeable.values()):,} not re-judgeable"
            )
            best = seconds[workers]
            print(
                f"target: what-if over {n:,} stored decisions in SQLite < 10 s: "
                f"{'met' if best < 10 else 'MISSED'} ({best:.1f} s in {workers} proc, "
                f"{seconds[1]:.1f} s in 1)"
            )
        finally:
            db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def stored_database(policy: CedarPolicy, db: Database, n: int, chunk: int = 5000) -> None:
    """Insert ``n`` decided requests as the engine keeps them, with minimal rows around them."""
    t = time.perf_counter()
    docs = documents(n, seed=11)
    rulings = policy.decide_many(docs)
    now = datetime.now(UTC)
    studio = Studio(random.Random(11))  # the same catalogue the documents name
    with db.transaction() as conn:
        conn.execute(
            insert(schema.people),
            [{"id": "per_bench", "email": "bench@studio.test", "name": "Bench", "created_at": now}],
        )
        conn.execute(
            insert(schema.productions),
            [
                {"id": p, "code": p.upper(), "title": p, "kind": "series", "created_at": now}
                for p in studio.productions
            ],
        )
        conn.execute(
            insert(schema.vendors),
            [{"id": f"ven_{i}", "name": f"Vendor {i}", "created_at": now} for i in range(5)],
        )
        conn.execute(
            insert(schema.tools),
            [
                {
                    "id": tool["id"],
                    "vendor_id": tool["vendor_id"],
                    "name": tool["name"],
                    "version": tool["version"],
                    "hosting": tool["hosting"],
                    "backend": None,
                    "use_cases": tool["use_cases"],
                    "created_at": now,
                }
                for tool in studio.tools
            ],
        )
        for start in range(0, n, chunk):
            part = list(
                zip(docs[start : start + chunk], rulings[start : start + chunk], strict=True)
            )
            conn.execute(
                insert(schema.generation_requests),
                [
                    {
                        "id": doc.request.id,
                        "production_id": doc.request.production_id,
                        "tool_id": doc.request.tool_id,
                        "use_case": doc.request.use_case.value,
                        "intent": doc.request.intent.value,
                        "prompt": "",
                        "parameters": {},
                        "third_party_ip": list(doc.request.third_party_ip),
                        "state": "denied",
                        "iteration": 1,
                        "requested_by": "per_bench",
                        "created_at": now,
                        "updated_at": now,
                        "disclosure": {},
                    }
                    for doc, _ in part
                ],
            )
            conn.execute(
                insert(schema.policy_decisions),
                [
                    {
                        "id": new_id("decision"),
                        "request_id": doc.request.id,
                        "outcome": ruling.outcome.value,
                        "policy_version": ruling.policy_version,
                        "rules": list(ruling.rules),
                        "reasons": list(ruling.reasons),
                        "required": [],
                        "created_at": now,
                        "facts": doc.model_dump(mode="json"),
                    }
                    for doc, ruling in part
                ],
            )
    size = Path(str(db.engine.url.database)).stat().st_size / 1e6
    took = time.perf_counter() - t
    print(f"  stored {n:,} decided requests in SQLite ({size:,.0f} MB) in {took:.0f} s")


if __name__ == "__main__":
    main()
