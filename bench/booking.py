"""Run the scripted-caller suite (tests/scenarios/*.yaml) N times over SIP and print the pass rate
per scenario. Each run is a full pytest session: a fresh server, Radicale and SMTP server.

    .venv/bin/python bench/booking.py --runs 5 [--json] [-k book_cleaning]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_once(select: str | None, checks_out: Path) -> dict[str, bool]:
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               str(ROOT / "tests" / "e2e" / "test_scenarios.py"), f"--junitxml={xml}"]
        if select:
            cmd += ["-k", select]
        env = {**os.environ, "FRONTDESK_BENCH_OUT": str(checks_out)}
        subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
        results = {}
        for case in ET.parse(xml).getroot().iter("testcase"):
            name = case.get("name", "").removeprefix("test_scenario[").rstrip("]")
            results[name] = not any(child.tag in ("failure", "error") for child in case)
        return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("-k", dest="select", help="pytest -k expression to run a subset")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    passes: dict[str, list[bool]] = defaultdict(list)
    started = time.time()
    checks_out = Path(tempfile.mkdtemp()) / "checks.jsonl"
    for i in range(args.runs):
        for name, ok in run_once(args.select, checks_out).items():
            passes[name].append(ok)
        print(f"run {i + 1}/{args.runs} done", file=sys.stderr)
    checks = [json.loads(line) for line in checks_out.read_text().splitlines()] if checks_out.exists() else []
    unconfirmed = sum(c["unconfirmed_bookings"] for c in checks)
    not_free = sum(c["offered_not_free"] for c in checks)
    rows = {name: {"passed": sum(v), "runs": len(v), "rate": sum(v) / len(v)} for name, v in sorted(passes.items())}
    total = sum(r["passed"] for r in rows.values())
    count = sum(r["runs"] for r in rows.values())
    summary = {"scenarios": rows, "overall_rate": total / count if count else 0.0, "calls_checked": len(checks),
               "unconfirmed_bookings": unconfirmed, "offered_slots_not_free": not_free,
               "seconds": round(time.time() - started)}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{'scenario':28} {'passed':>7} {'runs':>5} {'rate':>6}")
        for name, r in rows.items():
            print(f"{name:28} {r['passed']:7} {r['runs']:5} {r['rate']:6.0%}")
        print(f"{'overall':28} {total:7} {count:5} {summary['overall_rate']:6.0%}")
        print(f"calls checked: {len(checks)}; bookings the caller did not confirm: {unconfirmed}; "
              f"offered slots that were not free: {not_free}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
