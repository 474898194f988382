"""A folder of personas against a live server: each call a `frontdesk call --persona` process,
then the figures a clinic cares about, per persona and overall (bench/personas.py prints them)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .spec import load_personas

BIN = Path(sys.executable).parent
CALLER_NICE = 10


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def place(uri: str, persona_path: str, out: Path, *, config: str | None, data_dir: str, timeout: float = 900) -> dict:
    # the caller stands in for a phone on another machine: on a shared 2-core host it runs niced,
    # so that its own recogniser and voice do not take the CPU from the server it measures
    cmd = ["nice", "-n", str(CALLER_NICE), str(BIN / "frontdesk"), "call", uri, "--persona", persona_path,
           "--json", str(out), "--data-dir", data_dir, "--seed"]
    if config:
        cmd += ["--config", config]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"persona": Path(persona_path).stem, "error": "the caller process timed out", "turns": []}
    if out.exists():
        return json.loads(out.read_text())
    return {"persona": Path(persona_path).stem, "error": (proc.stderr or proc.stdout)[-2000:], "turns": []}


def run_suite(uri: str, folder: str, *, data_dir: str, out_dir: Path, runs: int = 1, concurrent: int = 1,
              config: str | None = None, only: list[str] | None = None, progress=None) -> list[dict]:
    personas = load_personas(folder)  # a bad persona file stops the run here, with its field
    if only:
        personas = [p for p in personas if p.id in only]
    jobs = [(p, r) for r in range(runs) for p in personas]
    out_dir.mkdir(parents=True, exist_ok=True)

    def one(job):
        p, r = job
        data = place(uri, p.path, out_dir / f"{p.id}.run{r}.json", config=config, data_dir=data_dir)
        data["run"] = r
        data.setdefault("persona", p.id)
        data.setdefault("goal", p.goal)
        if progress:
            progress(data)
        return data

    with ThreadPoolExecutor(max(1, concurrent)) as pool:
        return list(pool.map(one, jobs))


def call_figures(c: dict) -> dict:
    v = c.get("verdict") or {}
    server = c.get("server") or {}
    sources = server.get("turn_sources") or []
    totals = server.get("server_turn_ms") or []
    return {
        "goal": bool(v.get("goal_reached")), "all_right": bool(v.get("all_fields_right")),
        "name": v.get("name_right"), "turns": (c.get("progress") or {}).get("caller_turns", 0),
        "duration_s": (c.get("duration_ms") or 0) / 1000,
        "v2v": [x for x in c.get("latency_ms") or [] if x is not None],
        "llm_ms": [t for s, t in zip(sources, totals) if s == "llm" and t is not None],
        "rule_ms": [t for s, t in zip(sources, totals) if s != "llm" and t is not None],
        "misunderstandings": (server.get("misunderstandings") or 0),
        "agent_over_caller": c.get("agent_over_caller", 0),
        "reasked": len((c.get("progress") or {}).get("reasked") or []),
        "error": c.get("error"),
    }


def summarise(calls: list[dict]) -> dict:
    per: dict[str, list[dict]] = {}
    for c in calls:
        per.setdefault(c["persona"], []).append(call_figures(c))

    def agg(rows: list[dict]) -> dict:
        v2v = [x for r in rows for x in r["v2v"]]
        llm = [x for r in rows for x in r["llm_ms"]]
        rule = [x for r in rows for x in r["rule_ms"]]
        names = [r["name"] for r in rows if r["name"] is not None]
        return {
            "calls": len(rows), "goal": sum(r["goal"] for r in rows), "all_right": sum(r["all_right"] for r in rows),
            "names_right": sum(bool(n) for n in names), "names": len(names),
            "turns": statistics.median([r["turns"] for r in rows]) if rows else 0,
            "duration_s": round(statistics.median([r["duration_s"] for r in rows]), 1) if rows else 0,
            "v2v_p50": pct(v2v, 0.5), "v2v_p95": pct(v2v, 0.95),
            "llm_turn_p50": pct(llm, 0.5), "llm_turn_p95": pct(llm, 0.95), "llm_turns": len(llm),
            "rule_turn_p50": pct(rule, 0.5), "rule_turn_p95": pct(rule, 0.95),
            "misunderstandings": sum(r["misunderstandings"] for r in rows),
            "agent_over_caller": sum(r["agent_over_caller"] for r in rows),
            "reasked": sum(r["reasked"] for r in rows),
            "errors": sum(bool(r["error"]) for r in rows),
        }

    return {"personas": {k: agg(v) for k, v in sorted(per.items())},
            "overall": agg([r for rows in per.values() for r in rows])}


def print_summary(summary: dict, calls: list[dict], *, show_failed: bool = True) -> None:
    head = (f"{'persona':30} {'calls':>5} {'goal':>5} {'all ok':>6} {'names':>6} {'turns':>5} {'dur s':>6} "
            f"{'v2v p50':>7} {'p95':>6} {'llm p50':>7} {'p95':>6} {'misund':>6} {'over':>4} {'reask':>5}")
    print(head)

    def row(name: str, s: dict) -> None:
        def ms(x):
            return f"{x:.0f}" if x is not None else "-"
        print(f"{name:30} {s['calls']:5} {s['goal']:5} {s['all_right']:6} {s['names_right']:>3}/{s['names']:<2} "
              f"{s['turns']:5} {s['duration_s']:6} {ms(s['v2v_p50']):>7} {ms(s['v2v_p95']):>6} "
              f"{ms(s['llm_turn_p50']):>7} {ms(s['llm_turn_p95']):>6} {s['misunderstandings']:6} "
              f"{s['agent_over_caller']:4} {s['reasked']:5}")

    for name, s in summary["personas"].items():
        row(name, s)
    o = summary["overall"]
    print("-" * len(head))
    row("overall", o)
    n = o["calls"] or 1
    print(f"\ngoal reached {o['goal']}/{o['calls']} ({100 * o['goal'] / n:.0f}%), every field right {o['all_right']}/{o['calls']} "
          f"({100 * o['all_right'] / n:.0f}%), names right {o['names_right']}/{o['names']}; "
          f"voice-to-voice p50 {o['v2v_p50']} ms, p95 {o['v2v_p95']} ms (at the caller); "
          f"model turns {o['llm_turns']} (server p50 {o['llm_turn_p50']} ms, p95 {o['llm_turn_p95']} ms)")
    if not show_failed:
        return
    for c in calls:
        f = call_figures(c)
        if f["all_right"]:
            continue
        v = c.get("verdict") or {}
        print(f"\n--- FAILED {c['persona']} run {c.get('run', 0)} ({c.get('goal')}): "
              + ("; ".join(v.get("notes") or []) or c.get("error") or "fields wrong"))
        for name, fld in (v.get("fields") or {}).items():
            if not fld["ok"]:
                print(f"    wrong {name}: expected {fld['expected']}, got {fld['got']}")
        for t in c.get("turns") or []:
            print(f"    {t['start_ms'] / 1000:6.1f}s {t['speaker']:>6}: {t['text']}")
