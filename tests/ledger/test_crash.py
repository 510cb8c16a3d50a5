"""Kill a writer mid-append, many times: no acknowledged entry is lost, no fork."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from greenlight.core import Settings
from greenlight.ledger import Ledger, verify_log

WRITER = Path(__file__).with_name("crash_writer.py")
KILLS = 12


@pytest.mark.slow
def test_sigkill_mid_append_loses_no_acknowledged_entry(settings: Settings) -> None:
    env = {
        **os.environ,
        "GREENLIGHT_DATA_DIR": str(settings.data_dir),
        "GREENLIGHT_DATABASE_URL": settings.database_url,
    }
    Ledger.open(settings)  # migrate once, create the key
    acked: dict[int, str] = {}
    rng = random.Random(7)
    for _ in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, str(WRITER)], env=env, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lines.extend, args=(proc.stdout,))
        reader.start()
        time.sleep(rng.uniform(0.3, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader.join()
        for line in lines:
            if line.endswith("\n") and line.startswith("ack "):
                _, index, leaf = line.split()
                assert int(index) not in acked, "an index was handed out twice"
                acked[int(index)] = leaf
    assert len(acked) > KILLS, "the writer never got going"

    ledger = Ledger.open(settings)
    ledger.integrate()
    for index, leaf in acked.items():
        assert ledger.entry(index).leaf_hash.hex() == leaf
    report = verify_log(ledger)
    assert report.ok, report.problems
    assert report.entries == ledger.size() >= max(acked) + 1
    assert report.checkpoints >= 2
