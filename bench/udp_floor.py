"""The per-packet I/O floor of a Python media plane on this machine, for reading media_capacity.py.

Before any media work, a server carrying N calls must receive and send 50 G.711 packets per second
on each call's own socket. This bench measures what that alone costs here: an "echo" process binds
N sockets and sends every datagram straight back, and a load process (one per step, plain sockets)
sends N streams of 172-byte packets at 50 per second, spread over the 20 ms, and reads the echoes.

Echo variants, each a fresh process per step:
  * epoll: select.epoll and a plain loop: recvfrom + sendto per packet (the bare syscalls, Python's
    socket calls included);
  * asyncio: loop.add_reader per socket, a callback per datagram (how frontdesk's UdpSocket reads
    RTP: the event loop's own cost per packet on top);
  * c: the same epoll loop in C (bench/udp_echo.c, built with the system's cc into a temporary
    folder; left out without a compiler): the kernel's own cost per packet, the floor under a media
    core written in C.

The table gives the echo's CPU (user + system, % of one core, /proc/<pid>/stat) over the measured
window, per call, and the echoes the load process got back. media_capacity.py's server CPU at the
same N minus the asyncio figure is what the media work itself (jitter buffer, VAD, G.711, pacing)
costs.

    .venv/bin/python bench/udp_floor.py [--calls 150,500] [--seconds 10] [--json [FILE]]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PACKET = b"\x80\x00" + b"\x00" * 10 + b"\xff" * 160  # an RTP header and 20 ms of µ-law silence
VARIANTS = ("c", "epoll", "asyncio")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def bind_all(n: int, base: int) -> list[socket.socket]:
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", base + 2 * i))
        s.setblocking(False)
        socks.append(s)
    return socks


def echo_epoll(n: int, base: int) -> None:
    socks = bind_all(n, base)
    ep = select.epoll()
    by_fd = {s.fileno(): s for s in socks}
    for fd in by_fd:
        ep.register(fd, select.EPOLLIN)
    print("ready", flush=True)
    while True:
        for fd, _ in ep.poll(1.0):
            s = by_fd[fd]
            try:
                data, addr = s.recvfrom(2048)
            except BlockingIOError:
                continue
            s.sendto(data, addr)


def echo_asyncio(n: int, base: int) -> None:
    import asyncio

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for s in bind_all(n, base):
            def readable(s: socket.socket = s) -> None:
                try:
                    data, addr = s.recvfrom(2048)
                except BlockingIOError:
                    return
                s.sendto(data, addr)
            loop.add_reader(s.fileno(), readable)
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def load(n: int, base: int, seconds: float, echo_pid: int) -> dict:
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        s.connect(("127.0.0.1", base + 2 * i))
        socks.append(s)
    slots, step = 10, 0.002
    warmup = 2.0
    t0 = time.monotonic()
    k, got, sent = 0, 0, 0
    c0 = c1 = None
    while True:
        now = time.monotonic()
        if c0 is None and now - t0 >= warmup:
            c0, w0, got, sent = cpu_s(echo_pid), now, 0, 0
        if now - t0 >= warmup + seconds:
            c1, w1 = cpu_s(echo_pid), now
            break
        due = t0 + k * step
        if due > now:
            time.sleep(due - now)
        for s in socks[k % slots::slots]:
            s.send(PACKET)
            sent += 1
            try:
                while True:
                    s.recv(2048)
                    got += 1
            except BlockingIOError:
                pass
        k += 1
    cpu_pct = 100 * (c1 - c0) / (w1 - w0)
    return {"calls": n, "echo_cpu_pct": round(cpu_pct, 1), "us_per_packet_pair": round(1e6 * (c1 - c0) / max(1, sent), 1),
            "sent": sent, "echoed": got}


def build_c_echo(where: Path) -> Path | None:
    """bench/udp_echo.c built with the system's C compiler; None without one."""
    import shutil

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    exe = where / "udp_echo"
    subprocess.run([cc, "-O2", "-o", str(exe), str(Path(__file__).with_name("udp_echo.c"))], check=True)
    return exe


def step(variant: str, n: int, seconds: float, base: int, c_echo: Path | None = None) -> dict:
    cmd = ([str(c_echo), str(n), str(base)] if variant == "c" else
           [sys.executable, __file__, "--_echo", variant, "--_n", str(n), "--_base", str(base)])
    echo = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert echo.stdout is not None and echo.stdout.readline().strip() == "ready"
        result = load(n, base, seconds, echo.pid)
    finally:
        echo.kill()
        echo.wait()
    return {"variant": variant, **result}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", default="150,500", help="comma-separated call counts (default 150,500)")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per step (default 10)")
    ap.add_argument("--base-port", type=int, default=41000, help="the echo's first port (even ports from it)")
    ap.add_argument("--json", nargs="?", const="-", help="print the result as JSON (or write it to FILE)")
    ap.add_argument("--_echo", choices=("epoll", "asyncio"), help=argparse.SUPPRESS)
    ap.add_argument("--_n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--_base", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._echo:
        (echo_epoll if args._echo == "epoll" else echo_asyncio)(args._n, args._base)
        return 0
    try:
        counts = [int(x) for x in args.calls.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--calls: expected numbers separated by commas, got {args.calls!r}")
    if not counts or min(counts) < 1 or args.base_port + 2 * max(counts) > 65535:
        ap.error("--calls: each at least 1, and the ports must fit below 65536")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="udp-floor-") as tmp:
        c_echo = build_c_echo(Path(tmp))
        variants = [v for v in VARIANTS if v != "c" or c_echo is not None]
        rows = [step(variant, n, args.seconds, args.base_port, c_echo) for n in counts for variant in variants]
    if args.json:
        text = json.dumps({"seconds": args.seconds, "cpus": os.cpu_count(), "steps": rows}, indent=2)
        if args.json == "-":
            print(text)
            return 0
        Path(args.json).write_text(text + "\n")
    print(f"UDP echo of N calls' RTP (50 packets/s each way per call), {args.seconds:.0f} s per step, {os.cpu_count()} CPUs")
    print(f"{'calls':>6} {'echo':>8} {'cpu %':>7} {'us/pkt pair':>12} {'sent':>8} {'echoed':>8}")
    for r in rows:
        print(f"{r['calls']:>6} {r['variant']:>8} {r['echo_cpu_pct']:>7} {r['us_per_packet_pair']:>12} {r['sent']:>8} {r['echoed']:>8}")
    print("cpu %: the echo process, of one core; us/pkt pair: its CPU per packet received and sent back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
