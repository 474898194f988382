"""SIP call rate: the highest calls per second that `frontdesk serve` completes with no failed call.

sipp (Debian sip-tester) places INVITE/200/ACK/BYE calls with its built-in `-sn uac` scenario against
`frontdesk serve --app echo` (no models: the server answers with 100, 180, 200 + SDP, starts its
RTP sender and plays a 0.4 s beep; sipp sends BYE after --hold-ms). The rate is ramped (--rates),
--calls calls per step, and the ramp stops at the first step with a failed call or a rate sipp
could not reach. Each step gets a fresh server (--reuse-server: one for all steps).

Per step: calls placed and failed (sipp's own count, and the server's call records), sipp's
retransmissions, INVITE->200 response time p50/p95 (sipp -trace_rtt; sipp's clock is coarse, it
moves in ~4 ms steps here), SIP datagrams the kernel dropped at the server's socket, the server's
CPU seconds (/proc/<pid>/stat utime+stime), its RSS, and its open fds and sockets before the step
and once the step's calls have ended (the sockets should come back to the baseline: each call
holds an RTP and an RTCP socket only while it is up). A call counts as failed when sipp says so or
when the server did not see it end with the caller's BYE: sipp's uac can take a retransmitted 200
to its INVITE for the answer to a BYE the server never got.

    .venv/bin/python bench/sip_cps.py [--calls 5000] [--rates 50,100,200,...] [--hold-ms 0] [--quick] [--json [FILE]]
    .venv/bin/python bench/sip_cps.py --app hangup --hangup-after 0.5   # the server ends each call
    .venv/bin/python bench/sip_cps.py --rev HEAD --profile              # py-spy: where the server's time goes

The server runs with a copy of the demo clinic config with two changes: the RTP port range
(--rtp-range, default 21000-31999: clear of the demo's 20000-20999, which another server on this
machine may use, and of the kernel's ephemeral ports from 32768), and the per-source SIP rate limit
off (--sip-rate-limit; all of sipp's calls come from 127.0.0.1, as a trunk's come from one address).
sipp gets its own media port (-mp). The server's call records are read from <data-dir>/calls.jsonl
or, where the revision keeps them in its database, from the call_record table.

This machine is shared: each step waits (--quiet-wait) for the CPUs to go idle first, and the
table shows the CPU others used during the step. --rev HEAD runs the committed code while the
working tree is being edited. --profile runs the first failing rate again with py-spy on the server.

One script on purpose (about 700 lines): a bench runs alone, with its sipp control, its server
control and its report in one file, like the other bench/ scripts.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEMO_CONFIG = ROOT / "frontdesk" / "demo_clinic.toml"
DEFAULT_RATES = [50, 100, 200, 300, 400, 500, 600, 800, 1000, 1200, 1500, 2000]
QUICK_RATES = [50, 200, 400]
SIPP_MEDIA_PORT = 61000  # above the ephemeral range (32768-60999) and the server's RTP range
CLK_TCK = os.sysconf("SC_CLK_TCK")

# A UAC that lets the server hang up (for --app hangup): INVITE, 200, ACK, then answer its BYE.
UAC_RECV_BYE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="uac, the server hangs up">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: [service] <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:sipp@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
  <ResponseTimeRepartition value="10, 20, 30, 40, 50, 100, 150, 200"/>
</scenario>
"""


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def source_tree(src: str | None, rev: str | None, tmp: Path) -> Path | None:
    """Where the server's code comes from: None (this checkout, as it is now), --src DIR, or --rev
    REV exported with `git archive` (a committed state, unaffected by edits in progress)."""
    if rev:
        out = tmp / f"src-{re.sub(r'[^A-Za-z0-9._-]', '_', rev)}"
        out.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
        return out
    return Path(src).resolve() if src else None


def describe_source(src: Path | None, rev: str | None) -> str:
    if rev:
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev],
                             capture_output=True, text=True).stdout.strip()
        return f"git {rev} ({sha})"
    if src:
        return str(src)
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return f"working tree ({sha}{', with uncommitted changes' if dirty else ''})"


def write_config(tmp: Path, rtp_min: int, rtp_max: int, src: Path | None = None,
                 rate_limit: float | None = 0.0) -> tuple[Path, str]:
    """The demo clinic config with the RTP port range changed and, where the revision has one,
    the per-source SIP rate limit set (0: off; the bench's calls all come from 127.0.0.1, as a
    trunk's would from its one address). Returns the path and what became of the rate limit."""
    text = ((src / "frontdesk" / "demo_clinic.toml") if src else DEMO_CONFIG).read_text()
    text, n1 = re.subn(r"(?m)^rtp_port_min\s*=.*$", f"rtp_port_min = {rtp_min}", text)
    text, n2 = re.subn(r"(?m)^rtp_port_max\s*=.*$", f"rtp_port_max = {rtp_max}", text)
    if n1 != 1 or n2 != 1:
        raise SystemExit(f"cannot find rtp_port_min/max in {DEMO_CONFIG}")
    limit = "none in this revision"
    if rate_limit is not None:
        text, n3 = re.subn(r"(?m)^rate_limit\s*=.*$", f"rate_limit = {rate_limit:g}", text)
        if n3:
            limit = "off" if rate_limit == 0 else f"{rate_limit:g}/s per source"
    else:
        m = re.search(r"(?m)^rate_limit\s*=\s*(\S+)", text)
        limit = f"{m.group(1)}/s per source (as configured)" if m else limit
    path = tmp / "frontdesk.toml"
    path.write_text(text)
    return path, limit


class Server:
    """`frontdesk serve --app echo|hangup` on a free port, with /proc readings of its process."""

    def __init__(self, tmp: Path, config: Path, app: str = "echo", hangup_after: float = 0.0, extra: list[str] = (),
                 src: Path | None = None):
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        ready = tmp / "ready"
        self.log = tmp / "serve.log"
        self.data = tmp / "var"
        cmd = [str(BIN / "frontdesk"), "serve", "--app", app, "--config", str(config), "--port", "0",
               "--data-dir", str(self.data), "--ready-file", str(ready)]
        if app == "hangup":
            cmd += ["--hangup-after", str(hangup_after)]
        cli = ((src or ROOT) / "frontdesk" / "cli.py").read_text()
        if "--dashboard-port" in cli:  # the staff dashboard (on by default, port 8080): any free port
            cmd += ["--dashboard-port", "0"]
        env = dict(os.environ)
        if src is not None:  # ahead of the editable install's finder
            env["PYTHONPATH"] = str(src) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen([*cmd, *extra], stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
                                     env=env, cwd=str(tmp))
        deadline = time.monotonic() + 60
        while not ready.exists() or not ready.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("frontdesk serve did not start:\n" + self.log.read_text()[-2000:])
            time.sleep(0.1)
        self.port = int(ready.read_text().strip())
        self.pid = self.proc.pid

    def cpu_s(self) -> float:
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK  # utime, stime (fields 14, 15)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    # Call records: <data-dir>/calls.jsonl where the server writes one (older revisions; or
    # storage.call_log_file), else the call_record table of its SQLite database, read directly.
    def _db(self):
        path = self.data / "frontdesk.db"
        if not path.exists():
            return None
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            con.execute("SELECT 1 FROM call_record LIMIT 1")
        except sqlite3.Error:
            con.close()
            return None
        return con

    def records(self) -> int:
        """How many calls have ended (and been recorded)."""
        path = self.data / "calls.jsonl"
        if path.exists():
            with open(path, "rb") as f:
                return sum(1 for _ in f)
        con = self._db()
        if con is None:
            return 0
        try:
            return con.execute("SELECT count(*) FROM call_record WHERE ended_at IS NOT NULL").fetchone()[0]
        finally:
            con.close()

    def read_records(self, skip: set[str] | None = None) -> list[dict]:
        """The ended calls' records (as CallRecord dicts), but for the call IDs in skip."""
        skip = skip or set()
        path = self.data / "calls.jsonl"
        if path.exists():
            recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            return [r for r in recs if r.get("call_id") not in skip]
        con = self._db()
        if con is None:
            return []
        try:
            rows = con.execute("SELECT call_id, content FROM call_record WHERE ended_at IS NOT NULL ORDER BY rowid").fetchall()
        finally:
            con.close()
        out = []
        for call_id, content in rows:
            if call_id in skip:
                continue
            if content and not content.startswith("enc:"):
                out.append(json.loads(content))
            else:  # encrypted at rest (or purged): the ID is all a bench can use
                out.append({"call_id": call_id})
        return out

    def ended_ids(self) -> set[str]:
        return {r["call_id"] for r in self.read_records()}

    def socket_inodes(self) -> set[str]:
        out = set()
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                target = os.readlink(f"/proc/{self.pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                out.add(target[8:-1])
        return out

    def udp_drops(self) -> int:
        """Datagrams the kernel dropped on the server's open UDP sockets (receive buffer full)."""
        return udp_drops(self.socket_inodes())

    def log_problems(self) -> int:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return sum(1 for line in text.splitlines() if " ERROR " in line or line.startswith("Traceback"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def udp_drops(inodes: set[str]) -> int:
    total = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) >= 13 and parts[9] in inodes:
                total += int(parts[12])
    return total


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total * (os.cpu_count() or 1) if total > 0 else 0.0


def wait_quiet(max_wait_s: float, below_cores: float) -> tuple[float, float]:
    """This machine is shared: wait (up to max_wait_s) until the CPUs are nearly idle (less than
    below_cores busy over 2 s) before a step. Returns (seconds waited, busy cores last seen)."""
    t0 = time.monotonic()
    while True:
        a = machine_busy()
        time.sleep(2.0)
        busy = busy_cores(a, machine_busy())
        waited = time.monotonic() - t0
        if busy < below_cores or waited >= max_wait_s:
            return round(waited, 1), round(busy, 2)


# Leaf frames that are a thread waiting, not working (py-spy's idle detection misses some)
WAITING = {"Condition.wait (threading.py)", "Event.wait (threading.py)", "Queue.get (queue.py)",
           "_worker (futures/thread.py)", "EpollSelector.select (python3.11/selectors.py)", "select (selectors.py)",
           "EpollSelector.select (selectors.py)", "Thread.join (threading.py)", "_wait_for_tstate_lock (threading.py)"}


BOILERPLATE = {"<module>", "main", "_cmd_serve", "run", "Runner.run", "BaseEventLoop.run_until_complete",
               "BaseEventLoop.run_forever", "BaseEventLoop._run_once", "Handle._run", "Thread._bootstrap",
               "Thread._bootstrap_inner", "Thread.run"}


def profile_summary(raw: Path, top: int = 30) -> dict:
    """py-spy --format raw (collapsed stacks) -> self and inclusive shares by function of the
    samples where a thread was working (waits in select/queues/locks are counted apart)."""
    self_t: dict[str, int] = {}
    incl: dict[str, int] = {}
    by_file: dict[str, int] = {}
    threads = {"event loop": 0, "other threads": 0}
    total = waiting = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = []
        for f in stack.split(";"):
            # "function (path/to/file.py:123)" -> "function (dir/file.py)"
            name, _, where = f.partition(" (")
            where = where.rstrip(")").rsplit(":", 1)[0]
            parts = Path(where).parts
            short = "/".join(parts[-2:]) if len(parts) >= 2 else where
            frames.append(f"{name} ({short})")
        if not frames:
            continue
        if frames[-1] in WAITING:
            waiting += n
            continue
        total += n
        threads["other threads" if frames[0].startswith("Thread._bootstrap") else "event loop"] += n
        self_t[frames[-1]] = self_t.get(frames[-1], 0) + n
        leaf_file = frames[-1].rsplit(" (", 1)[-1].rstrip(")")
        by_file[leaf_file] = by_file.get(leaf_file, 0) + n
        for f in set(frames):
            incl[f] = incl.get(f, 0) + n
    if not total:
        return {"samples": 0, "waiting_samples": waiting}

    def share(d: dict[str, int]) -> list[tuple[str, float]]:
        return [(k, round(100 * v / total, 1)) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]]

    return {"samples": total, "waiting_samples": waiting, "threads_pct": dict(share(threads)), "self_pct": share(self_t),
            "inclusive_pct": share(incl), "self_by_file_pct": share(by_file)}


def print_profile(prof: dict, title: str) -> None:
    if not prof or not prof.get("samples"):
        return
    print(f"\n{title} ({prof['samples']} py-spy samples of a working thread, 100 Hz, {prof.get('waiting_samples', 0)} "
          f"more of threads waiting left out; {prof.get('raw', '')}):")
    print("  by thread: " + ", ".join(f"{k} {v:.0f}%" for k, v in prof.get("threads_pct", {}).items()))
    print("  self time (the function running):")
    for name, share in prof["self_pct"][:15]:
        print(f"    {share:5.1f}%  {name}")
    print("  self time by file: " + ", ".join(f"{name} {share:.0f}%" for name, share in prof["self_by_file_pct"][:10]))
    print("  inclusive time (the function on the stack; the event loop's and threads' own frames left out):")
    shown = [(name, share) for name, share in prof["inclusive_pct"] if name.split(" (")[0] not in BOILERPLATE]
    for name, share in shown[:15]:
        print(f"    {share:5.1f}%  {name}")


def py_spy_record(py_spy: str, pid: int, duration_s: float, out: Path, log: Path) -> subprocess.Popen:
    """Sample a running server (100 Hz; idle samples left out) into collapsed stacks."""
    return subprocess.Popen([py_spy, "record", "--pid", str(pid), "--duration", str(max(1, int(duration_s))),
                             "--rate", "100", "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"))


def last_stat_row(path: Path) -> dict:
    """sipp -trace_stat: a ;-separated CSV, one row per -fd period; the last one has the totals."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1]))


def rtt_values(step_dir: Path) -> list[tuple[float, float]]:
    """sipp -trace_rtt: (ms since sipp started, INVITE->200 response time ms) per call."""
    values: list[tuple[float, float]] = []
    for path in step_dir.glob("*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 2:
                try:
                    values.append((float(parts[0]), float(parts[1])))
                except ValueError:
                    pass
    return values


def run_step(server: Server, rate: int, calls: int, hold_ms: int, step_dir: Path, scenario: Path | None,
             limit: int | None, app: str = "echo", py_spy: str | None = None) -> dict:
    step_dir.mkdir(parents=True, exist_ok=True)
    sipp = shutil.which("sipp")
    if not sipp:
        raise SystemExit("sipp not found (Debian package sip-tester)")
    # the most calls up at once: rate x call length; -l only as a safety net far above that
    expected_concurrent = rate * (hold_ms / 1000 + 0.05)
    limit = limit or int(max(200, 4 * expected_concurrent + 2 * rate))
    duration = calls / rate
    cmd = [sipp, *(["-sf", str(scenario)] if scenario else ["-sn", "uac"]), "-r", str(rate), "-m", str(calls),
           "-l", str(limit), "-d", str(hold_ms), "-nostdin", "-i", "127.0.0.1", "-p", str(free_udp_port()),
           "-mp", str(SIPP_MEDIA_PORT), "-trace_stat", "-stf", "stat.csv", "-fd", "1", "-trace_rtt",
           "-rtt_freq", "1", "-recv_timeout", "20000", "-timeout", str(int(duration * 3 + 60)),
           "-timeout_error", f"127.0.0.1:{server.port}"]
    records0, fds0, cpu0, rss0 = server.records(), server.fds(), server.cpu_s(), server.rss_mb()
    socks0 = len(server.socket_inodes())
    ids0 = server.ended_ids()
    drops0 = server.udp_drops()
    busy0, children0 = machine_busy(), resource.getrusage(resource.RUSAGE_CHILDREN)
    prof_raw = step_dir / "server.pyspy.txt"
    spy = py_spy_record(py_spy, server.pid, duration, prof_raw, step_dir / "py-spy.log") if py_spy else None
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=step_dir, timeout=duration * 3 + 120)
    wall = time.monotonic() - t0
    busy = busy_cores(busy0, machine_busy())
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    sipp_cpu = (children1.ru_utime - children0.ru_utime) + (children1.ru_stime - children0.ru_stime)
    (step_dir / "sipp.out").write_text(proc.stdout + proc.stderr)
    cpu_during = server.cpu_s() - cpu0
    drops = server.udp_drops() - drops0  # the SIP socket's (RTP sockets close with their calls)
    stat = last_stat_row(step_dir / "stat.csv") if (step_dir / "stat.csv").exists() else {}

    def num(key: str) -> float:
        try:
            return float(stat.get(key, "") or 0)
        except ValueError:
            return 0.0

    ok, failed = int(num("SuccessfulCall(C)")), int(num("FailedCall(C)"))
    created = int(num("TotalCallCreated")) or (ok + failed)
    answers = rtt_values(step_dir)
    rtt = [rt for _, rt in answers]
    if spy is not None:
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()
    # the rate reached: answers over the time they span (sipp's CallRate(C) counts the last
    # calls' hold time too)
    span_s = (max(t for t, _ in answers) - min(t for t, _ in answers)) / 1000 if len(answers) > 1 else 0
    achieved = (len(answers) - 1) / span_s if span_s > 0 else num("CallRate(C)")
    # the server writes a record for each call it answered once the call ends; wait for them,
    # then for its sockets to be closed
    deadline = time.monotonic() + 15
    while server.records() - records0 < created and time.monotonic() < deadline:
        time.sleep(0.2)
    recs = server.read_records(ids0)
    records = len(recs)
    # a call the server saw end with the caller's BYE; sipp's own count can miss a lost BYE: while
    # it waits for the BYE's 200 it takes a retransmitted 200 to the INVITE for it
    by_bye = sum(1 for r in recs if r.get("ended_by") == "caller" and r.get("end_reason") == "BYE")
    by_agent = sum(1 for r in recs if r.get("ended_by") == "agent" and r.get("bye_status") == 200)
    completed = by_agent if app == "hangup" else by_bye
    deadline = time.monotonic() + 10
    while len(server.socket_inodes()) > socks0 and time.monotonic() < deadline:
        time.sleep(0.2)
    fds1, socks1 = server.fds(), len(server.socket_inodes())
    return {
        "rate": rate, "calls": created, "failed": max(failed, created - completed), "completed_at_server": completed,
        "sipp_successful": ok, "sipp_failed": failed, "sipp_rc": proc.returncode,
        "achieved_cps": round(achieved, 1),
        "sipp_call_rate": num("CallRate(C)"),
        "retransmissions": int(num("Retransmissions(C)")),
        "failed_max_udp_retrans": int(num("FailedMaxUDPRetrans(C)")),
        "failed_timeout_on_recv": int(num("FailedTimeoutOnRecv(C)")),
        "failed_unexpected_msg": int(num("FailedUnexpectedMessage(C)")),
        "dead_call_msgs": int(num("DeadCallMsgs(C)")), "out_of_call_msgs": int(num("OutOfCallMsgs(C)")),
        "response_ms": {"n": len(rtt), "p50": pct(rtt, 0.5), "p95": pct(rtt, 0.95), "p99": pct(rtt, 0.99),
                        "max": max(rtt) if rtt else None},
        "server_records": records, "server_ended_by_caller_bye": by_bye, "server_ended_by_agent_bye_200": by_agent,
        "server_sip_udp_drops": drops,
        "server_cpu_s": round(cpu_during, 2), "wall_s": round(wall, 1),
        "server_cpu_pct": round(100 * cpu_during / wall, 1) if wall else None,
        "sipp_cpu_pct": round(100 * sipp_cpu / wall, 1) if wall else None,
        "other_cpu_pct": round(100 * busy - 100 * (cpu_during + sipp_cpu) / wall, 1) if wall else None,
        "server_cpu_ms_per_call": round(1000 * cpu_during / created, 2) if created else None,
        "rss_mb_before": round(rss0, 1), "rss_mb_after": round(server.rss_mb(), 1),
        "fds_before": fds0, "fds_after": fds1, "sockets_before": socks0, "sockets_after": socks1,
        "sockets_back_to_baseline": socks1 <= socks0,
        # a call whose BYE was lost is still up (until the RTP timeout): its 2 sockets are not a leak
        "calls_not_recorded": created - records, "sockets_unexplained": max(0, socks1 - socks0 - 2 * max(0, created - records)),
        "calls_still_up": max(0, socks1 - socks0) // 2,
        "server_log_errors": server.log_problems(),
        "sipp_dir": str(step_dir),
        **({"profile": {**profile_summary(prof_raw), "raw": str(prof_raw)}} if spy is not None and prof_raw.exists() else {}),
    }


def passed(step: dict, rate: int) -> bool:
    """0 failed calls, every call answered and recorded, and the rate actually reached (95%)."""
    return (step["failed"] == 0 and step["sipp_rc"] == 0 and step["sipp_successful"] == step["calls"] > 0
            and step["completed_at_server"] >= step["calls"] and (step["achieved_cps"] or 0) >= 0.95 * rate)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=5000, help="calls per rate step (default 5000)")
    ap.add_argument("--rates", help="comma-separated calls per second to try, in order "
                                    f"(default {','.join(map(str, DEFAULT_RATES))})")
    ap.add_argument("--quick", action="store_true", help=f"500 calls per step at {QUICK_RATES}")
    ap.add_argument("--hold-ms", type=int, default=0, help="sipp's pause between ACK and BYE (sipp -d; default 0)")
    ap.add_argument("--limit", type=int, help="sipp -l: the most calls at once (default: far above rate x call length)")
    ap.add_argument("--app", choices=["echo", "hangup"], default="echo",
                    help="echo (sipp sends BYE, default) or hangup (the server sends BYE after --hangup-after)")
    ap.add_argument("--hangup-after", type=float, default=0.5, help="seconds before the hangup app's BYE")
    ap.add_argument("--rtp-range", default="21000-31999", help="the server's RTP ports (config copy), default 21000-31999")
    ap.add_argument("--sip-rate-limit", type=float, default=0.0,
                    help="sip.rate_limit for the server (new requests/s per source address; default 0: off, since all "
                         "the bench's calls come from 127.0.0.1; -1: leave the demo config's)")
    ap.add_argument("--rev", help="run the server from this git revision (git archive into the temp dir), "
                                  "e.g. HEAD while the working tree is being edited")
    ap.add_argument("--src", help="run the server from this source tree (PYTHONPATH) instead of the checkout")
    ap.add_argument("--reuse-server", action="store_true", help="one server for all steps (default: a fresh one per step)")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="before each step, wait up to this many seconds for the shared machine to go idle (default 60)")
    ap.add_argument("--quiet-below", type=float, default=0.3, help="idle: fewer busy cores than this (default 0.3)")
    ap.add_argument("--profile", action="store_true",
                    help="run the first failing rate again with py-spy on the server; print where its time goes")
    ap.add_argument("--profile-rate", type=int, help="py-spy the server during this rate's step")
    ap.add_argument("--py-spy", default=shutil.which("py-spy") or str(BIN / "py-spy"), help="py-spy executable")
    ap.add_argument("--keep-going", action="store_true", help="do not stop at the first failing step")
    ap.add_argument("--json", nargs="?", const="-", help="print the result as JSON (or write it to FILE)")
    args = ap.parse_args()
    calls = 500 if args.quick and args.calls == 5000 else args.calls
    rates = [int(r) for r in args.rates.split(",")] if args.rates else (QUICK_RATES if args.quick else DEFAULT_RATES)
    if (args.profile or args.profile_rate) and not Path(args.py_spy).exists():
        raise SystemExit(f"--profile: py-spy not found at {args.py_spy} (pip install py-spy, or --py-spy PATH)")
    rtp_min, rtp_max = (int(x) for x in args.rtp_range.split("-"))
    tmp = Path(tempfile.mkdtemp(prefix="frontdesk-sipcps-"))
    src = source_tree(args.src, args.rev, tmp)
    config, limit = write_config(tmp, rtp_min, rtp_max, src, None if args.sip_rate_limit < 0 else args.sip_rate_limit)
    scenario = None
    if args.app == "hangup":
        scenario = tmp / "uac_recv_bye.xml"
        scenario.write_text(UAC_RECV_BYE)
    hold_ms = 0 if args.app == "hangup" else args.hold_ms
    call_s = (args.hangup_after if args.app == "hangup" else hold_ms / 1000) + 0.05
    port_capacity = (rtp_max - rtp_min) // 2
    result: dict = {"app": args.app, "hold_ms": hold_ms, "hangup_after_s": args.hangup_after if args.app == "hangup" else None,
                    "calls_per_step": calls, "server": "one for all steps" if args.reuse_server else "fresh per step",
                    "rtp_range": args.rtp_range, "sip_rate_limit": limit, "source": describe_source(src, args.rev),
                    "tmp": str(tmp), "steps": []}
    server = None
    best = None
    try:
        for i, rate in enumerate(rates):
            if rate * call_s * 2 > port_capacity:
                print(f"note: {rate} cps x {call_s:.2f} s may need more than the {port_capacity} calls' worth of RTP ports",
                      file=sys.stderr)
            if server is None or not args.reuse_server:
                server = Server(tmp / f"server{i}", config, args.app, args.hangup_after, src=src)
            waited, busy = wait_quiet(args.quiet_wait, args.quiet_below) if args.quiet_wait > 0 else (0.0, None)
            print(f"rate {rate}/s: {calls} calls ... (machine: {busy} cores busy before, after {waited:.0f} s waiting)",
                  file=sys.stderr, flush=True)
            spy = args.py_spy if args.profile_rate == rate else None
            step = run_step(server, rate, calls, hold_ms, tmp / f"step{i}_{rate}", scenario, args.limit, args.app, spy)
            step["busy_cores_before"], step["waited_for_quiet_s"] = busy, waited
            step["ok"] = passed(step, rate)
            result["steps"].append(step)
            if not args.reuse_server:
                server.stop()
                server = None
            if step["ok"]:
                best = rate if best is None else max(best, rate)
            elif args.profile and "profile" not in step and not any("profile" in s for s in result["steps"]):
                # the first failing rate again, under the profiler (the row above is without it)
                print(f"rate {rate}/s again under py-spy ...", file=sys.stderr, flush=True)
                again = Server(tmp / f"server{i}p", config, args.app, args.hangup_after, src=src)
                try:
                    prof = run_step(again, rate, calls, hold_ms, tmp / f"step{i}_{rate}_profiled", scenario, args.limit,
                                    args.app, args.py_spy).get("profile")
                finally:
                    again.stop()
                if prof:
                    step["profile"] = prof
            if not step["ok"] and not args.keep_going:
                break
    finally:
        if server is not None:
            server.stop()
    result["highest_rate_with_0_failed"] = best
    if args.json:
        text = json.dumps(result, indent=2)
        if args.json == "-":
            print(text)
            return 0
        Path(args.json).write_text(text + "\n")
    print(f"\nfrontdesk serve --app {args.app}: sipp {'uac' if args.app == 'echo' else 'uac, server BYE'}, "
          f"{calls} calls per step, call held {call_s - 0.05:.2f} s, server {result['server']}; code: {result['source']}; "
          f"SIP rate limit: {limit}")
    print(f"{'cps':>5} {'reached':>7} {'calls':>6} {'failed':>6} {'retr':>5} {'drops':>5} {'rt p50':>6} {'rt p95':>6} "
          f"{'srv cpu s':>9} {'cpu %':>6} {'ms/call':>7} {'sipp%':>5} {'other%':>6} {'rss MB':>7} "
          f"{'fds/sockets before→after':>24} {'':4}")
    for s in result["steps"]:
        r = s["response_ms"]
        fd = f"{s['fds_before']}/{s['sockets_before']}→{s['fds_after']}/{s['sockets_after']}" + (
            "" if s["sockets_back_to_baseline"] else " (!)" if s["sockets_unexplained"]
            else f" ({(s['sockets_after'] - s['sockets_before']) // 2} up)")
        print(f"{s['rate']:5} {s['achieved_cps'] or 0:7.1f} {s['calls']:6} {s['failed']:6} {s['retransmissions']:5} "
              f"{s['server_sip_udp_drops']:5} "
              f"{r['p50'] if r['p50'] is not None else '-':>6} {r['p95'] if r['p95'] is not None else '-':>6} "
              f"{s['server_cpu_s']:9.2f} {s['server_cpu_pct'] or 0:6.1f} {s['server_cpu_ms_per_call'] or 0:7.2f} "
              f"{s['sipp_cpu_pct'] or 0:5.0f} {s['other_cpu_pct'] or 0:6.0f} "
              f"{s['rss_mb_after']:7.1f} {fd:>24} {'ok' if s['ok'] else 'FAIL'}")
        if not s["ok"]:
            why = []
            if s["sipp_failed"]:
                why.append(f"sipp: {s['sipp_failed']} failed (max UDP retrans {s['failed_max_udp_retrans']}, recv timeout "
                           f"{s['failed_timeout_on_recv']}, unexpected {s['failed_unexpected_msg']})")
            if s["completed_at_server"] < s["calls"]:
                why.append(f"server: {s['completed_at_server']} of {s['calls']} calls ended by "
                           f"{'its own BYE answered 200' if args.app == 'hangup' else 'the caller BYE'} "
                           f"({s['server_records']} recorded, {s['server_sip_udp_drops']} SIP datagrams dropped "
                           f"by the kernel at the server's socket)")
            if (s["achieved_cps"] or 0) < 0.95 * s["rate"]:
                why.append(f"rate reached {s['achieved_cps']}/s of {s['rate']}/s")
            if s["sipp_rc"] not in (0,):
                why.append(f"sipp exit {s['sipp_rc']}")
            print(f"      {s['rate']}/s: " + "; ".join(why) + f"  (sipp output in {s['sipp_dir']})")
    print(f"\nhighest rate with 0 failed calls: {best if best is not None else '-'} calls/s"
          + ("" if len(result["steps"]) < len(rates) or not result["steps"] or not result["steps"][-1]["ok"]
             else " (the highest rate tried; try --rates with higher ones)"))
    print("failed: calls sipp counted failed, or not ended at the server by the caller's BYE (whichever is more); "
          "retr: sipp's retransmissions; drops: SIP datagrams the kernel dropped at the server's full socket; "
          "rt: INVITE sent -> 200 received at sipp, ms (sipp's clock, coarse); reached: answers per second; "
          "cpu %, sipp%, other%: of one core during the step (other: the rest of this shared machine); "
          "fds/sockets: the server's open fds and the sockets among them, before the step and after its calls ended "
          "(each call holds 2 sockets while up; (N up): calls the server still has, e.g. after a lost BYE; "
          "(!): more sockets than those)")
    for s in result["steps"]:
        if s.get("profile"):
            print_profile(s["profile"], f"server profile at {s['rate']} calls/s")
    print(f"files: {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
