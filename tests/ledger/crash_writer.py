"""A writer the crash test kills with SIGKILL: appends batches, acknowledges
each entry on stdout only after its transaction committed, integrates often."""

from __future__ import annotations

import random
import sys

from greenlight.core import Settings
from greenlight.ledger import Event, Ledger


def main() -> None:
    ledger = Ledger.open(Settings.from_env())
    rng = random.Random()
    batch_no = 0
    while True:
        batch_no += 1
        events = [
            Event(type="run.completed", actor="worker", payload={"r": rng.random().hex()})
            for _ in range(rng.randint(1, 20))
        ]
        appended = ledger.record(*events)  # committed when this returns
        sys.stdout.write("".join(f"ack {a.index} {a.leaf_hash.hex()}\n" for a in appended))
        sys.stdout.flush()
        if batch_no % 3 == 0:
            ledger.integrate()


if __name__ == "__main__":
    main()
