"""Ledger speed: durable appends, proofs on a 1,000,000-entry log, full verify.

Run: .venv/bin/python bench/bench_ledger.py [--entries 1000000]

Each figure is printed next to a baseline measured in the same run:
pymerkle (a Python Merkle-log library) doing the same appends and proofs on
its own SQLite backend, and for verify the bare in-memory hashing of the
same entries (the least work any verifier must do).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pymerkle import SqliteTree

from greenlight.core import Settings
from greenlight.ledger import Event, Integrator, Ledger, merkle, verify_log


def events(start: int, n: int) -> list[Event]:
    return [
        Event(
            type="run.completed",
            actor="worker-1",
            production="prod_nightfall",
            subjects={"request": f"req_{i // 4}", "run": f"run_{i}"},
            payload={"backend": "inpaint-opencv", "seconds": i % 97, "outputs": 1},
        )
        for i in range(start, start + n)
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latencies_ms(call: Callable[[int], object], args: list[int]) -> list[float]:
    """Milliseconds each ``call(arg)`` took."""
    out = []
    for arg in args:
        started = time.perf_counter()
        call(arg)
        out.append((time.perf_counter() - started) * 1000)
    return out


def row(name: str, ours: float, base: float, unit: str, better: str = "higher") -> None:
    ratio = ours / base if better == "higher" else base / ours
    print(f"{name:<46} {ours:>12,.1f} {base:>12,.1f} {unit:<10} {ratio:>7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    total = args.entries
    tmp = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'greenlight.db'}")
    ledger = Ledger.open(settings)
    pm = SqliteTree(str(tmp / "pymerkle.db"))
    print(f"ledger bench: {total:,} entries, batches of {args.batch}, SQLite synchronous=FULL")
    print(f"{'measure':<46} {'greenlight':>12} {'baseline':>12} {'unit':<10} {'ratio':>8}")

    # 1. Single entry per transaction (each durable on its own).
    n_single = 2000
    singles = events(0, n_single)
    t = time.perf_counter()
    for e in singles:
        ledger.record(e)
    ours_single = n_single / (time.perf_counter() - t)
    bodies = [e.canonical() for e in singles]
    t = time.perf_counter()
    for b in bodies:
        pm.append_entry(b)
    base_single = n_single / (time.perf_counter() - t)
    row("appends, one entry per transaction", ours_single, base_single, "entries/s")

    # 2. Batched appends with the integrator signing checkpoints every second.
    integrator = Integrator(ledger, interval=1.0)
    integrator.start()
    done = n_single
    build_events = 0.0
    t = time.perf_counter()
    while done < total:
        n = min(args.batch, total - done)
        batch = events(done, n)
        t_ev = time.perf_counter()
        with ledger.db.transaction() as conn:
            ledger.append_many(conn, batch)
        build_events += time.perf_counter() - t_ev
        done += n
    append_s = time.perf_counter() - t
    integrator.stop()
    ours_batch = (total - n_single) / append_s
    checkpoints = len(ledger.checkpoints())
    # pymerkle takes the same canonical bodies (it does no canonicalization).
    pm_bodies = [e.canonical() for e in events(n_single, total - n_single)]
    t = time.perf_counter()
    pm.append_entries(pm_bodies, chunksize=args.batch)
    base_batch = (total - n_single) / (time.perf_counter() - t)
    row(f"appends, batches of {args.batch} (+checkpoints/s)", ours_batch, base_batch, "entries/s")
    print(f"  {checkpoints} checkpoints signed during {append_s:.1f} s of appends")

    # 3. Inclusion proofs on the full log.
    assert ledger.tree_size() == total
    rng = random.Random(1)
    picks = [rng.randrange(total) for _ in range(5000)]
    ours_lat = latencies_ms(ledger.inclusion_proof, picks)
    base_lat = latencies_ms(lambda i: pm.prove_inclusion(i + 1, total), picks[:2000])  # 1-based
    row(
        f"inclusion proof p50 ({total:,} log)",
        statistics.median(ours_lat),
        statistics.median(base_lat),
        "ms",
        "lower",
    )
    row(
        f"inclusion proof p99 ({total:,} log)",
        percentile(ours_lat, 0.99),
        percentile(base_lat, 0.99),
        "ms",
        "lower",
    )
    sizes = [rng.randrange(1, total) for _ in range(1000)]
    cons = latencies_ms(lambda a: ledger.consistency_proof(a, total), sizes)
    base_cons = latencies_ms(lambda a: pm.prove_consistency(a, total), sizes[:300])
    row(
        f"consistency proof p99 ({total:,} log)",
        percentile(cons, 0.99),
        percentile(base_cons, 0.99),
        "ms",
        "lower",
    )

    # 4. Full verify: replay, rebuild, compare tiles, check checkpoints.
    t = time.perf_counter()
    report = verify_log(ledger)
    verify_s = time.perf_counter() - t
    assert report.ok, report.problems
    with ledger.db.read() as conn:
        from sqlalchemy import select

        from greenlight.store.schema import ledger_entries

        all_bodies = [bytes(b) for b in conn.execute(select(ledger_entries.c.body)).scalars()]
    t = time.perf_counter()
    merkle.root([merkle.leaf_hash(b) for b in all_bodies])
    bare_s = time.perf_counter() - t
    row("full verify of the log", verify_s, bare_s, "s", "lower")
    print(f"  verify checked {report.entries:,} entries and {report.checkpoints} checkpoints;")
    print("  baseline = in-memory leaf hashing + root of the same bodies (no I/O, no checks)")
    print(
        f"targets: batched >= 20,000/s: {'met' if ours_batch >= 20000 else 'MISSED'}; "
        f"proof p99 < 1 ms: {'met' if percentile(ours_lat, 0.99) < 1 else 'MISSED'}; "
        f"verify < 10 s: {'met' if verify_s < 10 else 'MISSED'}"
    )
    pm.close()


if __name__ == "__main__":
    main()
