"""Network impairment in the kernel's forwarding path, for tests: bursty loss (Gilbert-Elliott),
per-packet jitter (which reorders packets), both ways, on every packet a router forwards.

This does what `tc netem` on a router would do. This machine's kernel is built without netem
(CONFIG_NET_SCH_NETEM is not set), so the router hands each packet it forwards to this program
through NFQUEUE (iptables' `-j NFQUEUE`), and this program gives each one its verdict: drop it
now, or let it go on after a delay. The packet waits in the kernel meanwhile. Verdicts given out
of order reorder the packets. The endpoints see an ordinary routed network: nothing rewrites
their SIP or SDP.

    ip netns exec ROUTER python -m tests.helpers.impair --queue 0 --queue 1

Queue K is impaired with seed K; SIGTERM prints each queue's counts as one JSON line.
The netlink messages are those of linux/netfilter/nfnetlink_queue.h."""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_PAYLOAD = 1, 2, 10
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_PACKET = 2
NF_DROP, NF_ACCEPT = 0, 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
SOL_NETLINK, NETLINK_NO_ENOBUFS = 270, 5
SO_RCVBUFFORCE = 33


@dataclass
class Impairment:
    loss: float = 0.30  # long-run share of packets lost
    burst: float = 3.0  # mean length of a loss burst, in packets
    jitter_s: float = 0.200  # each packet is delayed by a uniform 0..jitter
    seed: int = 7
    stats: dict = field(default_factory=lambda: {"passed": 0, "dropped": 0, "reordered": 0, "udp": 0})

    def __post_init__(self):
        self._rng = random.Random(self.seed)
        self._bad = False
        self._last_due = 0.0

    def decide(self, now: float) -> float | None:
        """The delay for this packet, or None to drop it."""
        leave = 1.0 / self.burst
        enter = self.loss * leave / max(1e-9, 1.0 - self.loss)
        self._bad = (self._rng.random() >= leave) if self._bad else (self._rng.random() < enter)
        if self._bad:
            self.stats["dropped"] += 1
            return None
        delay = self._rng.uniform(0.0, self.jitter_s)
        if now + delay < self._last_due:
            self.stats["reordered"] += 1
        self._last_due = max(self._last_due, now + delay)
        self.stats["passed"] += 1
        return delay


def _attr(kind: int, value: bytes) -> bytes:
    size = 4 + len(value)
    return struct.pack("=HH", size, kind) + value + b"\0" * (-size % 4)


def _attrs(data: bytes) -> dict[int, bytes]:
    out, at = {}, 0
    while at + 4 <= len(data):
        size, kind = struct.unpack_from("=HH", data, at)
        if size < 4:
            break
        out[kind & 0x7FFF] = data[at + 4:at + size]
        at += (size + 3) & ~3
    return out


class QueueSocket:
    """One netlink socket bound to the given NFQUEUE numbers."""

    def __init__(self, queues: list[int]):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        self._seq = 0
        for q in queues:
            self._config(q, _attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_INET)))
            # the IP and UDP headers are enough to tell what a packet is
            self._config(q, _attr(NFQA_CFG_PARAMS, struct.pack("!IB", 28, NFQNL_COPY_PACKET))
                         + _attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", 4096)))

    def _send(self, msg_type: int, flags: int, queue: int, payload: bytes) -> None:
        self._seq += 1
        body = struct.pack("!BBH", socket.AF_UNSPEC, 0, queue) + payload
        header = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, self._seq, 0)
        self.sock.send(header + body)

    def _config(self, queue: int, payload: bytes) -> None:
        self._send(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, queue, payload)
        data = self.sock.recv(65536)
        length, kind = struct.unpack_from("=IH", data)
        if kind == NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", data, 16)
            if error:
                raise OSError(-error, f"NFQUEUE {queue}: {socket.errno.errorcode.get(-error, error)}")

    def verdict(self, queue: int, packet_id: int, verdict: int) -> None:
        self._send(NFQNL_MSG_VERDICT, NLM_F_REQUEST, queue, _attr(NFQA_VERDICT_HDR, struct.pack("!II", verdict, packet_id)))

    def packets(self):
        """(queue, packet id, first bytes of the packet) for each packet in one read."""
        data = self.sock.recv(1 << 16)
        at = 0
        while at + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, at)
            if length < 16:
                break
            if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                (queue,) = struct.unpack_from("!H", data, at + 18)
                attrs = _attrs(data[at + 20:at + length])
                (packet_id,) = struct.unpack_from("!I", attrs[NFQA_PACKET_HDR])
                yield queue, packet_id, attrs.get(NFQA_PAYLOAD, b"")
            at += (length + 3) & ~3


def run(queues: list[int], impairments: dict[int, Impairment]) -> None:
    nfq = QueueSocket(queues)
    due: list[tuple[float, int, int]] = []  # (when, packet id, queue)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("ready", flush=True)
    while not stop:
        wait = max(0.0, due[0][0] - time.monotonic()) if due else 0.5
        try:
            readable, _, _ = select.select([nfq.sock], [], [], wait)
        except InterruptedError:
            continue
        if readable:
            now = time.monotonic()
            for queue, packet_id, head in nfq.packets():
                imp = impairments[queue]
                imp.stats["udp"] += len(head) >= 20 and head[9] == socket.IPPROTO_UDP
                delay = imp.decide(now)
                if delay is None:
                    nfq.verdict(queue, packet_id, NF_DROP)
                else:
                    heapq.heappush(due, (now + delay, packet_id, queue))
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, packet_id, queue = heapq.heappop(due)
            nfq.verdict(queue, packet_id, NF_ACCEPT)
    for _, packet_id, queue in due:
        nfq.verdict(queue, packet_id, NF_ACCEPT)
    print(json.dumps({str(q): impairments[q].stats for q in queues}), flush=True)


class ImpairedPath:
    """Two hosts in their own network namespaces, "caller" (10.78.1.2) and "server" (10.78.2.2),
    with a router between them that impairs every packet it forwards, both ways (queue 0: caller
    to server, queue 1: server to caller). ``on(host)`` prefixes a command to run it on a host;
    ``close()`` tears it all down and returns the impairer's counts per direction."""

    ADDRESSES = {"caller": "10.78.1.2", "server": "10.78.2.2"}

    def __init__(self, loss: float = 0.30, burst: float = 3.0, jitter_ms: float = 200.0):
        tag = f"fdi{os.getpid() % 100000}"
        self.ns = {h: f"{tag}{h[0]}" for h in ("caller", "router", "server")}
        self.stats: dict = {}
        self._impairer = None
        for ns in self.ns.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            self._ip("netns", "add", ns)
        try:
            router = self.ns["router"]
            for i, host in enumerate(("caller", "server"), start=1):
                ns, leg = self.ns[host], f"leg{i}"
                self._ip("-n", ns, "link", "set", "lo", "up")
                self._ip("-n", router, "link", "add", leg, "type", "veth", "peer", "name", "eth0", "netns", ns)
                self._ip("-n", router, "addr", "add", f"10.78.{i}.1/24", "dev", leg)
                self._ip("-n", router, "link", "set", leg, "up")
                self._ip("-n", ns, "addr", "add", f"{self.ADDRESSES[host]}/24", "dev", "eth0")
                self._ip("-n", ns, "link", "set", "eth0", "up")
                self._ip("-n", ns, "route", "add", "default", "via", f"10.78.{i}.1")
                self._run(*self.on("router"), "iptables", "-A", "FORWARD", "-i", leg, "-j", "NFQUEUE",
                          "--queue-num", str(i - 1))
            self._run(*self.on("router"), "sysctl", "-qw", "net.ipv4.ip_forward=1")
            self._impairer = subprocess.Popen(
                self.on("router") + [sys.executable, "-m", "tests.helpers.impair", "--queue", "0", "--queue", "1",
                                     "--loss", str(loss), "--burst", str(burst), "--jitter-ms", str(jitter_ms)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(Path(__file__).parents[2]))
            line = self._impairer.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError("the impairer did not start: " + line + self._impairer.stdout.read())
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _run(*cmd: str) -> None:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()}")

    def _ip(self, *args: str) -> None:
        self._run("ip", *args)

    def on(self, host: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns[host]]

    def close(self) -> dict:
        if self._impairer is not None and self._impairer.poll() is None:
            self._impairer.terminate()
            out = self._impairer.communicate(timeout=10)[0]
            self.stats = {("up", "down")[int(q)]: v for q, v in json.loads(out.splitlines()[-1]).items()}
        for ns in self.ns.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        return self.stats


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--queue", type=int, action="append", required=True)
    p.add_argument("--loss", type=float, default=0.30)
    p.add_argument("--burst", type=float, default=3.0)
    p.add_argument("--jitter-ms", type=float, default=200.0)
    a = p.parse_args(argv)
    run(a.queue, {q: Impairment(a.loss, a.burst, a.jitter_ms / 1000, seed=q) for q in a.queue})


if __name__ == "__main__":
    sys.exit(main())
