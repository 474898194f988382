"""A small soak in `make test` (bench/soak.py at 300 calls, 10 per second, 2 s of pcap RTP each,
against the no-model echo app): no failed call, and sockets, tasks, RTP ports, SIP state and
memory back to where they were."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_soak_300_calls_leaves_nothing_behind():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "soak.py"), "--calls", "300", "--rate", "10", "--json"],
                          capture_output=True, text=True, timeout=900)
    result = json.loads(proc.stdout)
    print(json.dumps({k: result[k] for k in ("run", "before", "after", "rss_growth", "checks")}, indent=1))
    checks = {k: v for k, v in result["checks"].items() if not k.startswith("rss")}
    assert all(checks.values()), json.dumps(result, indent=1)[-4000:]
    # the bench's goal is 5%; on this shared machine inside the full suite, allow 10% here
    assert result["rss_growth"] <= 0.10, json.dumps(result, indent=1)[-4000:]
    assert result["run"]["successful"] == 300
