"""Soak: many short calls with real RTP against `frontdesk serve --app echo`, then a leak check.

sipp runs tests/sipp/soak_uac.xml: INVITE, 2 s of G.711 RTP played from Debian sipp's pcap, BYE.
Before (after a warm-up at the same rate, a fifth of the calls and at least 200) and after the run, once the server is idle again (its SIP
transactions expire 32 s after the last request), it reads the server's open file descriptors and
RSS from /proc and its event-loop tasks, RTP ports and SIP state from /metrics.

    .venv/bin/python bench/soak.py [--calls 10000] [--rate 50] [--json]

Goals: 0 failed calls; sockets, tasks, RTP ports and SIP state back to the baseline; RSS growth
at most 5%. (At 50 calls/s with 2 s of RTP each, about 100 calls are up at once: more than the
media plane carries today, see bench/media_capacity.py; `make test` runs 300 calls at 10/s.)
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sip_cps import last_stat_row  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCENARIO = ROOT / "tests" / "sipp" / "soak_uac.xml"


class EchoServer:
    def __init__(self, tmp: Path):
        cfg = (ROOT / "frontdesk" / "demo_clinic.toml").read_text()
        cfg = re.sub(r"^rate_limit = .*$", "rate_limit = 0", cfg, flags=re.M)
        cfg = re.sub(r"^rtp_port_min = .*$", "rtp_port_min = 20000", cfg, flags=re.M)
        cfg = re.sub(r"^rtp_port_max = .*$", "rtp_port_max = 39999", cfg, flags=re.M)
        (tmp / "soak.toml").write_text(cfg)
        ready = tmp / "ready"
        self.log = open(tmp / "serve.log", "w")
        self.proc = subprocess.Popen([str(BIN / "frontdesk"), "serve", "--app", "echo", "--config", str(tmp / "soak.toml"),
                                      "--port", "0", "--dashboard-port", "0", "--ready-file", str(ready),
                                      "--data-dir", str(tmp / "var")], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while not (ready.exists() and Path(str(ready) + ".dashboard").exists()):
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit("server did not start:\n" + (tmp / "serve.log").read_text()[-2000:])
            time.sleep(0.1)
        self.port = int(ready.read_text())
        self.dashboard = int(Path(str(ready) + ".dashboard").read_text())

    def metrics(self) -> dict[str, float]:
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.dashboard}/metrics", timeout=10).read().decode()
        out = {}
        for line in text.splitlines():
            m = re.match(r"^(frontdesk_[a-z_]+)(?:\{[^}]*\})? ([0-9.e+-]+)$", line)
            if m and "{" not in line:
                out[m.group(1)] = float(m.group(2))
        return out

    def sample(self) -> dict:
        pid = self.proc.pid
        status = Path(f"/proc/{pid}/status").read_text()
        rss_kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        m = self.metrics()
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
        sockets = 0
        for fd in fds:
            try:
                sockets += str(fd.readlink()).startswith("socket:")
            except OSError:
                pass
        return {"fds": len(fds), "sockets": sockets, "rss_mb": round(rss_kb / 1024, 1),
                "tasks": int(m.get("frontdesk_event_loop_tasks", -1)), "rtp_ports": int(m.get("frontdesk_rtp_ports_in_use", -1)),
                "sip_state": int(m.get("frontdesk_sip_transactions", -1)), "active_calls": int(m.get("frontdesk_active_calls", -1)),
                "heap_in_use_mb": round(m.get("frontdesk_heap_in_use_bytes", -1) / 2**20, 1),
                "heap_free_mb": round(m.get("frontdesk_heap_free_bytes", -1) / 2**20, 1)}

    def idle(self, baseline: dict | None, timeout: float = 90.0) -> dict:
        """Wait until no call is up and the SIP state has drained (to the baseline, if given)."""
        deadline = time.time() + timeout
        sample = self.sample()
        while time.time() < deadline:
            sample = self.sample()
            if sample["active_calls"] == 0 and sample["rtp_ports"] == 0 and \
                    (baseline is None or sample["sip_state"] <= baseline["sip_state"]):
                break
            time.sleep(1.0)
        return sample

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_sipp(port: int, calls: int, rate: float, cwd: Path) -> dict:
    exe = shutil.which("sipp")
    if not exe:
        raise SystemExit("sipp (Debian sip-tester) is needed")
    t = time.monotonic()
    proc = subprocess.run([exe, "-sf", str(SCENARIO), "-r", str(rate), "-m", str(calls), "-l", str(int(rate * 10)),
                           "-i", "127.0.0.1", "-p", "0", "-mp", "50000", "-nostdin", "-trace_err",
                           "-trace_stat", "-stf", "stat.csv", "-fd", "5", "-timeout", str(int(calls / rate) + 120),
                           f"127.0.0.1:{port}"], capture_output=True, text=True, cwd=cwd)
    ok = re.search(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", proc.stdout)
    bad = re.search(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", proc.stdout)
    stat = last_stat_row(cwd / "stat.csv") if (cwd / "stat.csv").exists() else {}
    retrans = stat.get("Retransmissions(C)", "")
    return {"successful": int(ok.group(1)) if ok else 0, "failed": int(bad.group(1)) if bad else calls,
            "retransmissions": int(retrans) if retrans.isdigit() else None, "sipp_rc": proc.returncode,
            "wall_s": round(time.monotonic() - t, 1), "tail": proc.stdout[-1500:] if not ok else ""}


def soak(calls: int, rate: float, warmup: int = 0) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="frontdesk-soak-"))
    server = EchoServer(tmp)
    try:
        # the warm-up has the run's rate (so its peak concurrency): memory the allocator keeps after a
        # peak is then in the baseline, and growth after the run means a leak
        warm = run_sipp(server.port, warmup or max(200, calls // 5), rate, tmp)
        before = server.idle(None)
        run = run_sipp(server.port, calls, rate, tmp)
        after = server.idle(before)
    finally:
        server.stop()
    growth = (after["rss_mb"] - before["rss_mb"]) / before["rss_mb"] if before["rss_mb"] else 0.0
    checks = {
        "no failed calls": run["failed"] == 0 and warm["failed"] == 0,
        # sockets (calls' RTP/RTCP, SIP connections) must all close; other descriptors may be the
        # database pool opening another connection for a thread
        "sockets back": after["sockets"] <= before["sockets"],
        "tasks back": after["tasks"] <= before["tasks"],
        "rtp ports back": after["rtp_ports"] == 0,
        "sip state back": after["sip_state"] <= before["sip_state"],
        "rss growth <= 5%": growth <= 0.05,
    }
    return {"calls": calls, "rate": rate, "run": run, "before": before, "after": after,
            "rss_growth": round(growth, 4), "checks": checks, "ok": all(checks.values()), "tmp": str(tmp)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = soak(args.calls, args.rate)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        r, b, a = result["run"], result["before"], result["after"]
        print(f"{args.calls} calls at {args.rate:g}/s (2 s of RTP each): {r['successful']} ok, {r['failed']} failed, "
              f"{r['retransmissions']} retransmissions, {r['wall_s']} s")
        print(f"{'':14} {'before':>8} {'after':>8}")
        for key in ("fds", "sockets", "tasks", "rtp_ports", "sip_state", "rss_mb", "heap_in_use_mb", "heap_free_mb"):
            print(f"{key:14} {b[key]:>8} {a[key]:>8}")
        print(f"RSS growth {100 * result['rss_growth']:.1f}% (heap_in_use: the C heap in use; heap_free: freed memory "
              f"the allocator keeps)")
        for name, ok in result["checks"].items():
            print(f"  {'ok ' if ok else 'FAIL'} {name}")
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
