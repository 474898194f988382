"""Turn-taking speed over real SIP calls with the real models.

Voice-to-voice latency is measured at the caller (pjsua2, `frontdesk call`): from the end of the
caller's speech to the first agent audio it hears. The server's own record gives the breakdown
per stage (endpointing silence, ASR, dialog/LLM, first TTS audio). Barge-in stop time is the time
from the caller's first sound over the agent's greeting to the agent's audio going quiet at the
caller.

    .venv/bin/python bench/latency.py [--calls 4] [--barge-ins 10] [--concurrent 4] [--json]

Without --uri it starts `frontdesk serve` on a free port with the demo clinic (a fresh data
directory) and stops it after.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BIN = Path(sys.executable).parent
SCRIPT = ["Hi, I'd like to book a cleaning.", "My name is John Smith.", "Yes.", "What are your hours?",
          "Next Tuesday at ten in the morning.", "The first one.", "Yes, please.", "No, that's all. Goodbye."]
INTERRUPTION = "Sorry to interrupt, I need to cancel my appointment for tomorrow."
STAGES = ("endpoint_ms", "asr_ms", "dialog_ms", "tts_first_ms", "total_ms")
GOALS = {"single p50": 800, "single p95": 1500, "barge-in p95": 150, "concurrent p95": 2000}


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50": pct(values, 0.5), "p95": pct(values, 0.95),
            "mean": round(statistics.mean(values), 1) if values else None}


class Server:
    def __init__(self, tmp: Path, config: str | None = None):
        self.tmp = tmp
        ready = tmp / "ready"
        self.log = tmp / "serve.log"
        self.data_dir = tmp / "var"
        cmd = [str(BIN / "frontdesk"), "serve", "--port", "0", "--ready-file", str(ready),
               "--data-dir", str(self.data_dir), "--dashboard-port", "0", *(["--config", config] if config else [])]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        while not ready.exists():
            if self.proc.poll() is not None:
                raise SystemExit(self.log.read_text()[-2000:])
            time.sleep(0.2)
        time.sleep(0.2)
        self.uri = f"sip:frontdesk@127.0.0.1:{ready.read_text().strip()}"

    def records(self) -> list[dict]:
        from tools.db import make_engine
        from tools.records import Filters, RecordStore

        db = self.tmp / "var" / "frontdesk.db"
        if not db.exists():
            return []
        store = RecordStore(make_engine(f"sqlite:///{db}"))
        return [store.content(r) for r in reversed(store.list(Filters(limit=10**6))) if r.ended_at is not None]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def place(uri: str, out: Path, caller: int, lines: list[str], *extra: str) -> dict:
    cmd = [str(BIN / "frontdesk"), "call", uri, "--caller-id", f"+1202555{caller:04d}", "--json", str(out),
           "--no-transcribe", *extra]
    for line in lines:
        cmd += ["--say", line]
    subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    return json.loads(out.read_text()) if out.exists() else {}


def run_round(uri: str, tmp: Path, k: int, first_caller: int) -> list[dict]:
    with ThreadPoolExecutor(k) as pool:
        futures = [pool.submit(place, uri, tmp / f"call{first_caller + i}.json", first_caller + i, SCRIPT) for i in range(k)]
        return [f.result() for f in futures]


def stage_rows(records: list[dict]) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {k: [] for k in STAGES}
    for rec in records:
        for turn in rec.get("latency", []):
            for key in STAGES:
                if turn.get(key) is not None:
                    rows[key].append(turn[key])
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=4, help=f"single calls of {len(SCRIPT)} caller turns each")
    ap.add_argument("--barge-ins", type=int, default=10, help="calls that interrupt the greeting")
    ap.add_argument("--concurrent", type=int, default=0, help="then K calls at once (one round)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="frontdesk-latency-"))
    server = Server(tmp)
    result: dict = {"server_log": str(server.log)}
    try:
        heard: list[float] = []
        for i in range(args.calls):
            heard += [v for v in run_round(server.uri, tmp, 1, i)[0].get("latency_ms", []) if v is not None]
        single_records = server.records()
        stops: list[float] = []
        for i in range(args.barge_ins):
            # at different points of the greeting, mostly mid-word
            r = place(server.uri, tmp / f"barge{i}.json", 100 + i, [INTERRUPTION], "--barge-in-ms", str(2200 + 370 * i))
            if (r.get("barge_in") or {}).get("stop_after_ms") is not None:
                stops.append(r["barge_in"]["stop_after_ms"])
        result["single"] = {"heard_at_caller_ms": summary(heard),
                            **{k: summary(v) for k, v in stage_rows(single_records).items()}}
        result["barge_in_stop_ms"] = summary(stops)
        if args.concurrent:
            before = len(server.records())
            calls = run_round(server.uri, tmp, args.concurrent, 200)
            heard_k = [v for c in calls for v in c.get("latency_ms", []) if v is not None]
            time.sleep(1.0)
            recs = server.records()[before:]
            result[f"concurrent_{args.concurrent}"] = {"heard_at_caller_ms": summary(heard_k),
                                                       **{k: summary(v) for k, v in stage_rows(recs).items()}}
            paces = [r["rtp"].get("send_pacing", {}).get("p99_ms") for r in recs if r.get("rtp")]
            result[f"concurrent_{args.concurrent}"]["rtp_send_lateness_p99_ms"] = max((p for p in paces if p is not None), default=None)
    finally:
        server.stop()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for section in [k for k in result if k == "single" or k.startswith("concurrent_")]:
        print(f"\n{section} (ms)         {'n':>4} {'p50':>7} {'p95':>7}")
        for k, v in result[section].items():
            if isinstance(v, dict):
                print(f"  {k:22} {v['n']:4} {v['p50'] or 0:7.0f} {v['p95'] or 0:7.0f}")
            else:
                print(f"  {k:22} {'':4} {v if v is not None else '-':>7}")
    b = result["barge_in_stop_ms"]
    print(f"\nbarge-in stop at caller   {b['n']:4} {b['p50'] or 0:7.0f} {b['p95'] or 0:7.0f}")
    single = result["single"]
    print("\ngoals:")
    checks = [("single p50", single["heard_at_caller_ms"]["p50"]), ("single p95", single["heard_at_caller_ms"]["p95"]),
              ("barge-in p95", b["p95"])]
    if args.concurrent:
        checks.append(("concurrent p95", result[f"concurrent_{args.concurrent}"]["heard_at_caller_ms"]["p95"]))
    for name, value in checks:
        ok = value is not None and value <= GOALS[name]
        print(f"  {name:16} goal ≤ {GOALS[name]:5} ms  reached {value if value is not None else '-':>6}  {'met' if ok else 'NOT met'}")
    stages = {k: single[k]["p50"] or 0 for k in ("endpoint_ms", "asr_ms", "dialog_ms", "tts_first_ms")}
    print("  largest stage at p50: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(stages.items(), key=lambda kv: -kv[1])))
    stages95 = {k: single[k]["p95"] or 0 for k in ("endpoint_ms", "asr_ms", "dialog_ms", "tts_first_ms")}
    print("  largest stage at p95: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(stages95.items(), key=lambda kv: -kv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
