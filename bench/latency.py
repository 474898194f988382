"""Reply latency over real SIP calls: from the end of the caller's speech to the first agent audio
the caller hears, with the server's breakdown (endpointing, ASR, dialog, first TTS audio).

    .venv/bin/python bench/latency.py --calls 5 [--json] [--uri sip:frontdesk@127.0.0.1:5060]

Without --uri it starts `frontdesk serve` on a free port with the demo clinic and stops it after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
LINES = ["Hi, I'd like to book a cleaning.", "My name is John Smith.", "Yes.", "What are your hours?", "Goodbye."]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--uri")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="frontdesk-latency-"))
    server = None
    uri = args.uri
    if not uri:
        ready = tmp / "ready"
        server = subprocess.Popen([str(BIN / "frontdesk"), "serve", "--port", "0", "--ready-file", str(ready),
                                   "--data-dir", str(tmp / "var")], stdout=open(tmp / "serve.log", "w"), stderr=subprocess.STDOUT)
        while not ready.exists():
            if server.poll() is not None:
                print((tmp / "serve.log").read_text()[-2000:], file=sys.stderr)
                return 1
            time.sleep(0.2)
        time.sleep(0.1)
        uri = f"sip:frontdesk@127.0.0.1:{ready.read_text().strip()}"
    heard: list[float] = []
    try:
        for i in range(args.calls):
            out = tmp / f"call{i}.json"
            cmd = [str(BIN / "frontdesk"), "call", uri, "--caller-id", f"+1202555{i:04d}", "--json", str(out), "--no-transcribe"]
            for line in LINES:
                cmd += ["--say", line]
            subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            heard += [v for v in json.loads(out.read_text())["latency_ms"] if v is not None]
    finally:
        if server:
            server.terminate()
            server.wait(20)
    parts: dict[str, list[float]] = {}
    calls_file = tmp / "var" / "calls.jsonl"
    if calls_file.exists():
        for line in calls_file.read_text().splitlines():
            for turn in json.loads(line)["latency"]:
                for key in ("endpoint_ms", "asr_ms", "dialog_ms", "tts_first_ms", "total_ms"):
                    parts.setdefault(key, []).append(turn[key])
    rows = {"heard_at_caller_ms": heard, **parts}
    summary = {k: {"n": len(v), "p50": pct(v, 0.5), "p95": pct(v, 0.95), "median": statistics.median(v) if v else None}
               for k, v in rows.items()}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{'measure':22} {'n':>4} {'p50 ms':>8} {'p95 ms':>8}")
        for k, v in summary.items():
            print(f"{k:22} {v['n']:4} {v['p50'] or 0:8.0f} {v['p95'] or 0:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
