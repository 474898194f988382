"""The simulated-caller suite: a folder of personas calls a live server (real models, real
calendar), and each call is judged by what the clinic's database holds afterwards.

    .venv/bin/python bench/personas.py [--personas tests/personas] [--runs 2] [--concurrent 1] [--json]
    .venv/bin/python bench/personas.py --only ngozi-obiora,minh-tran      # a few personas
    .venv/bin/python bench/personas.py --uri sip:frontdesk@HOST:5060 --data-dir /var/lib/frontdesk

Without --uri it starts `frontdesk serve` on a free port (the demo clinic, or --config) with a
fresh data directory and stops it after. Per persona and overall it prints: goal reached, every
field right, names right, caller turns, call duration, voice-to-voice latency p50/p95 at the
caller, the server's model turns apart (p50/p95), misunderstandings, agent audio over the
caller's speech, and facts the agent asked for again; then each failed call with its transcript.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from frontdesk.persona.suite import print_summary, run_suite, summarise  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--personas", default=str(Path(__file__).resolve().parent.parent / "tests" / "personas"))
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--concurrent", type=int, default=1, help="calls at once")
    ap.add_argument("--only", help="comma-separated persona ids")
    ap.add_argument("--uri", help="a running server (then --data-dir is its data directory)")
    ap.add_argument("--data-dir", help="the running server's data directory, for seeding and the verdicts")
    ap.add_argument("--config", help="the clinic config (default: the demo clinic)")
    ap.add_argument("--out", help="keep each call's JSON here (default: a temporary folder)")
    ap.add_argument("--json", action="store_true", help="print the summary and every call as JSON")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="frontdesk-personas-"))
    out.mkdir(parents=True, exist_ok=True)
    server = None
    if args.uri:
        if not args.data_dir:
            ap.error("--uri needs --data-dir (the verdict reads the server's database)")
        uri, data_dir = args.uri, args.data_dir
    else:
        from latency import Server
        server = Server(out, config=args.config)
        uri, data_dir = server.uri, str(server.data_dir)
    t0 = time.time()

    def progress(c: dict) -> None:
        v = c.get("verdict") or {}
        print(f"[{time.time() - t0:6.0f}s] {c['persona']:30} run {c['run']}: goal {'yes' if v.get('goal_reached') else 'NO '} "
              f"fields {'all right' if v.get('all_fields_right') else 'WRONG'}" + (f" ({c['error'][:80]})" if c.get('error') else ""),
              file=sys.stderr, flush=True)

    try:
        calls = run_suite(uri, args.personas, data_dir=data_dir, out_dir=out, runs=args.runs, concurrent=args.concurrent,
                          config=args.config, only=args.only.split(",") if args.only else None, progress=progress)
    finally:
        if server is not None:
            server.stop()
    summary = summarise(calls)
    if args.json:
        print(json.dumps({"summary": summary, "calls": calls}, indent=2, default=str))
    else:
        print_summary(summary, calls)
        print(f"\ncall results in {out}" + (f"; server log {server.log}" if server else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
