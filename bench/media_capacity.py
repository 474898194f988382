"""Media capacity: how many concurrent calls `frontdesk serve` keeps on time (RTP pacing, no underruns).

A load generator (this script, in a separate process: one thread, a 2 ms timer, plain non-blocking
sockets and epoll; its per-packet sending and reading in C, bench/rtp_load.c through ctypes, built
with the system's cc, or in Python without one: --python-rtp) sets up N calls over loopback (SIP INVITE offering PCMU and telephone-event,
ACK), each with its own RTP socket, and sends 20 ms G.711 µ-law packets on every call (spread over
the 20 ms, --slots): a synthetic speech-like signal with talkspurts and pauses (the server's
endpointer hears utterances and the echo app plays each one back, so the server both receives and
plays audio). After --warmup-s it measures for --hold-s, then ends each call with BYE.

Per step (N calls, a fresh `frontdesk serve --app echo` each):
  * server pacing: how late the server handled each call's 20 ms frame against its schedule, in the
    window, from the frontdesk_media_tick_lateness_seconds histogram on /metrics (scraped at the start
    and end of the window); also each call record's rtp.send_pacing over the whole call (its setup
    among the others' included), the worst call's p99;
  * receiver pacing: the inter-arrival time of the server's packets at the load generator, from
    kernel receive timestamps (SO_TIMESTAMPNS, so the generator's own scheduling does not count):
    p99 of |interval - 20 ms| over all calls' packets in the window, and the worst call's p99;
  * underruns, per call, in the window: gaps > 40 ms between the server's packets plus missing
    sequence numbers (also counted over the whole call); when the gaps began, in bursts (a burst
    with a gap on most calls is the whole server falling behind), and how often the server's media
    clock fell over 20 ms behind in the window, by cause (frontdesk_media_clock_stalls_total: its
    event loop busy, or the process not running);
  * server CPU % (of one core; /proc/<pid>/stat) in the window, RSS, kernel drops at its sockets;
  * the load generator's CPU % and timer lateness (it flags itself when it may be the bottleneck),
    and the CPU used by everything else on this shared machine (each step first waits, up to
    --quiet-wait, for the CPUs to go idle).
A step passes with every call set up, p99 <= 5 ms at both ends in the window (the server's over all
its ticks, the receiver's for the worst call) and 0 underruns.

    .venv/bin/python bench/media_capacity.py [--calls 25,50,75,100,...,600] [--hold-s 20] [--quick] [--repeat K]
                                             [--profile] [--rev HEAD] [--json [FILE]]

The server runs with a copy of the demo config: RTP ports 21000-31999 (--rtp-range) and the
per-source SIP rate limit off (--sip-rate-limit: all calls come from 127.0.0.1). Call records come
from <data-dir>/calls.jsonl or the database's call_record table. --rev HEAD runs the committed code.

--profile runs the first failing step (or the last) once more with py-spy sampling the server during
the hold, and prints where its time goes (self and inclusive, by function).

The server's pacing figures cover each whole call (its setup among the others' and teardown
included); the receiver's cover the measured window only.

One script on purpose (about 980 lines): a bench runs alone, with its load generator, its server
control and its report in one file, like the other bench/ scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sip_cps import (BIN, Server, busy_cores, describe_source, machine_busy, pct, print_profile,  # noqa: E402
                     profile_summary, py_spy_record, source_tree, wait_quiet, write_config)

DEFAULT_STEPS = [25, 50, 75, 100, 150, 200, 300, 400, 500, 600]
QUICK_STEPS = [20, 100]
GOAL_CALLS = 500
PACING_GOAL_MS = 5.0
GAP_S = 0.040
GAPS_AT: list[float] = []  # the load generator's in-window gaps: when each began
FRAME_S = 0.020
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; the cmsg type is the same number
RTP_HEADER = struct.Struct("!BBHII")
SILENCE = b"\xff" * 160  # µ-law zero: what the server sends between utterances
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the caller's audio ------------------------------------------------------------------

def speech_like(seconds: float = 12.0, seed: int = 1):
    """Vowel-like talkspurts (harmonics of a moving pitch under three formants, in 120-280 ms
    syllables) of 0.7-1.8 s, between 0.75-1.4 s pauses of faint noise: webrtcvad and the
    endpointer take each talkspurt for an utterance (end of turn after 550 ms of silence)."""
    import numpy as np

    fs = 8000
    rng = np.random.default_rng(seed)
    parts, total = [], 0
    while total < seconds * fs:
        talk, spurt = rng.uniform(0.7, 1.8), []
        t = 0.0
        while t < talk:
            n = int(rng.uniform(0.12, 0.28) * fs)
            f0 = np.linspace(rng.uniform(110, 170), rng.uniform(100, 180), n)
            phase = 2 * np.pi * np.cumsum(f0) / fs
            formants = [(rng.uniform(350, 800), 90), (rng.uniform(900, 2200), 120), (rng.uniform(2300, 3000), 180)]
            x = np.zeros(n)
            for k in range(1, 30):
                fk = k * f0.mean()
                if fk > 3600:
                    break
                x += sum(np.exp(-0.5 * ((fk - f) / bw) ** 2) for f, bw in formants) / k ** 0.5 * np.sin(k * phase)
            spurt.append(x * np.sin(np.pi * np.arange(n) / n) ** 0.6)
            gap = int(rng.uniform(0.0, 0.05) * fs)
            spurt.append(np.zeros(gap))
            t += n / fs + gap / fs
        s = np.concatenate(spurt)
        s = s / np.max(np.abs(s)) * rng.uniform(6000, 10000)
        pause = np.zeros(int(rng.uniform(0.75, 1.4) * fs))
        parts += [s, pause]
        total += s.size + pause.size
    x = np.concatenate(parts)
    x = x + rng.normal(0, 8, x.size)
    n = x.size // 160 * 160
    return np.clip(x[:n], -32768, 32767).astype(np.int16)


def ulaw_encode(pcm):
    """G.711 µ-law, the Sun reference algorithm (as audioop; bit-exact with media.g711)."""
    import numpy as np

    v = pcm.astype(np.int32) >> 2  # 14 bits, arithmetic shift
    neg = v < 0
    mag = np.minimum(np.where(neg, -v, v), 8159) + 33
    seg = np.floor(np.log2(mag)).astype(np.int32) - 5
    exp = np.clip(seg, 0, 7)
    code = np.where(seg > 7, 0x7F, (exp << 4) | ((mag >> (exp + 1)) & 0x0F))
    return (code ^ np.where(neg, 0x7F, 0xFF)).astype(np.uint8)


def caller_frames() -> list[tuple[bytes, int]]:
    """(µ-law payload, marker byte) per 20 ms frame of the looped caller signal."""
    import numpy as np

    pcm = speech_like()
    codes = ulaw_encode(pcm).tobytes()
    frames, talking = [], False
    for i in range(0, len(codes), 160):
        loud = float(np.abs(pcm[i:i + 160].astype(np.int32)).mean()) > 200
        frames.append((codes[i:i + 160], 0x80 if loud and not talking else 0))
        talking = loud
    return frames


# -- the load generator (a separate process) ----------------------------------------------

class Call:
    __slots__ = ("i", "call_id", "from_tag", "to_tag", "sock", "fd", "port", "remote", "state", "seq", "ts", "ssrc",
                 "frame", "invite", "invite_at", "answered_at", "retries", "next_retry", "ack", "contact", "bye",
                 "bye_at", "bye_retries", "bye_next", "bye_done", "ended_by_server", "failed",
                 "rx_last_seq", "rx_last_t", "rx_first_t", "rx_base_seq", "rx_ext", "rx_n", "rx_voice",
                 "gaps", "missing", "w_gaps", "w_missing", "w_n", "w_dev", "w_transit", "sent")

    def __init__(self, i: int):
        self.i = i
        self.call_id = f"load-{os.getpid()}-{i}-{random.getrandbits(32):08x}@127.0.0.1"
        self.from_tag = f"{random.getrandbits(48):012x}"
        self.to_tag = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.fd = self.sock.fileno()
        self.port = self.sock.getsockname()[1]
        self.remote = None
        self.state = "new"  # new, inviting, up, bye, done, failed
        self.seq = random.randint(0, 0xFFFF)
        self.ts = random.randint(0, 0xFFFFFFFF)
        self.ssrc = random.randint(1, 0xFFFFFFFF)
        self.frame = 0
        self.invite = b""
        self.invite_at = self.answered_at = 0.0
        self.retries = 0
        self.next_retry = 0.0
        self.ack = b""
        self.contact = ""
        self.bye = b""
        self.bye_at = 0.0
        self.bye_retries = 0
        self.bye_next = 0.0
        self.bye_done = False
        self.ended_by_server = False
        self.failed = ""
        self.rx_last_seq = -1
        self.rx_last_t = 0.0
        self.rx_first_t = 0.0
        self.rx_base_seq = 0
        self.rx_ext = 0
        self.rx_n = self.rx_voice = 0
        self.gaps = self.missing = 0
        self.w_gaps = self.w_missing = self.w_n = 0
        self.w_dev = array("f")  # |interval - 20 ms| in the window, ms
        self.w_transit = array("d")  # arrival - 20 ms x packets since the first, s (lateness, up to a constant)
        self.sent = 0


def sip_headers(data: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    compact = {"i": "call-id", "f": "from", "t": "to", "m": "contact", "v": "via", "l": "content-length"}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        name = compact.get(name, name)
        if name not in headers:
            headers[name] = value.strip()
    return lines[0], headers, body


class PyRtp:
    """The load generator's media in Python: one sendto per call and 20 ms, and an epoll pass per
    slot that reads one datagram per ready socket (what bench/rtp_load.c does in C)."""

    def __init__(self, calls: list[Call], frames: list[tuple[bytes, int]], slots: int, on_packet):
        self.calls, self.frames, self.on_packet = calls, frames, on_packet
        self.slot_calls = [calls[k::slots] for k in range(slots)]
        self.ep = select.epoll()
        self.by_fd = {c.fd: c for c in calls}
        for c in calls:
            self.ep.register(c.fd, select.EPOLLIN)

    def up(self, c: Call, on: bool) -> None:
        """Media on (the call is answered, c.remote set) or off (BYE)."""

    def send(self, slot: int) -> None:
        frames = self.frames
        for c in self.slot_calls[slot]:
            if c.state == "up" and c.remote is not None:
                payload, marker = frames[c.frame]
                c.frame = (c.frame + 1) % len(frames)
                try:
                    c.sock.sendto(RTP_HEADER.pack(0x80, marker, c.seq, c.ts, c.ssrc) + payload, c.remote)
                    c.sent += 1
                except OSError:
                    pass
                c.seq = (c.seq + 1) & 0xFFFF
                c.ts = (c.ts + 160) & 0xFFFFFFFF

    def read(self) -> None:
        for _ in range(8):  # one packet per ready socket per round; again for those with more
            events = self.ep.poll(0)
            if not events:
                break
            for fd, _ in events:
                c = self.by_fd[fd]
                try:
                    data, anc, _flags, _addr = c.sock.recvmsg(2048, 64)
                except OSError:  # nothing after all, or an ICMP error
                    continue
                if len(data) < 12 or data[0] >> 6 != 2 or (data[1] & 0x7F) not in (0, 101):
                    continue  # RTCP (to our port + 1 when that is another call's socket) or junk
                t = 0.0
                for level, kind, value in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                        sec, nsec = struct.unpack_from("qq", value)
                        t = sec + nsec * 1e-9
                self.on_packet(c, (data[2] << 8) | data[3], data[12:] != SILENCE, t or time.time())

    def finish(self) -> None:
        """The run is over (Python has counted each packet as it came)."""


class CRtp(PyRtp):
    """The same in C (bench/rtp_load.c through ctypes): the calls' state in a numpy array the C code
    updates, and each datagram received kept as a record, counted here when the run is over."""

    CALL = None  # numpy dtypes, matching rtp_load.c's structs
    RECORD = None

    def __init__(self, lib, calls: list[Call], frames: list[tuple[bytes, int]], slots: int, on_packet,
                 max_records: int):
        import ctypes

        import numpy as np

        self.lib, self.calls, self.on_packet, self.np = lib, calls, on_packet, np
        self.arr = np.zeros(len(calls), CRtp.CALL)
        for c in calls:
            self.arr[c.i] = (c.fd, 0, 0, c.seq, c.ts, c.ssrc, c.frame, 0, 0)
        self.slot_idx = [np.arange(k, len(calls), slots, dtype=np.int32) for k in range(slots)]
        self.payloads = np.frombuffer(b"".join(p for p, _ in frames), np.uint8).copy()
        self.markers = np.array([m for _, m in frames], np.uint8)
        self.nframes = len(frames)
        self.records = np.zeros(max_records, CRtp.RECORD)
        self.count = np.zeros(1, np.int64)
        self.ep = select.epoll()
        for c in calls:
            if lib.watch(self.ep.fileno(), c.fd, c.i) != 0:
                raise OSError("epoll_ctl failed")
        p = ctypes.c_void_p
        self._arr, self._payloads, self._markers = p(self.arr.ctypes.data), p(self.payloads.ctypes.data), \
            p(self.markers.ctypes.data)
        self._records, self._count = p(self.records.ctypes.data), p(self.count.ctypes.data)
        self._slots = [(p(idx.ctypes.data), len(idx)) for idx in self.slot_idx]

    @staticmethod
    def load(where: Path):
        """bench/rtp_load.c built with the system's C compiler and loaded; None without a compiler."""
        import ctypes

        import numpy as np

        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            return None
        lib_path = where / "rtp_load.so"
        subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(lib_path), str(Path(__file__).with_name("rtp_load.c"))],
                       check=True)
        lib = ctypes.CDLL(str(lib_path))
        v, i, i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
        lib.send_slot.argtypes = [v, v, i, v, v, i]
        lib.read_ready.argtypes = [i, i, v, v, i64]
        lib.watch.argtypes = [i, i, i]
        CRtp.CALL = np.dtype([("fd", "<i4"), ("ip", "<u4"), ("port", "<u2"), ("seq", "<u2"), ("ts", "<u4"),
                              ("ssrc", "<u4"), ("frame", "<i4"), ("up", "<i4"), ("sent", "<i8")], align=True)
        CRtp.RECORD = np.dtype([("t", "<f8"), ("call", "<i4"), ("seq", "<u2"), ("voice", "u1"), ("pt", "u1")],
                               align=True)
        assert CRtp.CALL.itemsize == 40 and CRtp.RECORD.itemsize == 16
        return lib

    def up(self, c: Call, on: bool) -> None:
        row = self.arr[c.i]
        if on:
            row["ip"] = int.from_bytes(socket.inet_aton(c.remote[0]), "little")
            row["port"] = socket.htons(c.remote[1])
        row["up"] = int(on)

    def send(self, slot: int) -> None:
        idx, n = self._slots[slot]
        self.lib.send_slot(self._arr, idx, n, self._payloads, self._markers, self.nframes)

    def read(self) -> None:
        self.lib.read_ready(self.ep.fileno(), 8, self._records, self._count, len(self.records))

    def finish(self) -> None:
        calls, on_packet = self.calls, self.on_packet
        recs = self.records[:int(self.count[0])]
        for t, i, seq, voice in zip(recs["t"].tolist(), recs["call"].tolist(), recs["seq"].tolist(),
                                    recs["voice"].tolist()):
            on_packet(calls[i], seq, bool(voice), t)
        for c in calls:
            c.sent = int(self.arr[c.i]["sent"])


def loadgen(cfg: dict) -> None:
    """Runs in its own process: set up cfg["n"] calls, send and receive media, measure, BYE."""
    server_port, n, hold_s, warmup_s, rate = cfg["port"], cfg["n"], cfg["hold_s"], cfg["warmup_s"], cfg["setup_rate"]
    random.seed(cfg.get("seed", 7) + n)
    frames = caller_frames()
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    sip.setblocking(False)
    sip.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sip_port = sip.getsockname()[1]
    server_sip = ("127.0.0.1", server_port)
    calls = [Call(i) for i in range(n)]
    by_id = {c.call_id: c for c in calls}
    for c in calls:
        c.frame = random.randrange(len(frames))  # each caller somewhere else in the conversation
    # The RTP sockets are read once per 2 ms slot (their kernel receive timestamps say when each
    # packet came, so reading late costs no accuracy); between slots only SIP wakes us up.
    sip_ep = select.epoll()
    sip_ep.register(sip.fileno(), select.EPOLLIN)

    def say(what: str) -> None:
        print(what, flush=True)

    def branch() -> str:
        return f"z9hG4bK{random.getrandbits(64):016x}"

    def invite(c: Call) -> bytes:
        sdp = ("v=0\r\no=- {0} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=audio {1} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
               "a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n").format(c.i + 1, c.port)
        return (f"INVITE sip:frontdesk@127.0.0.1:{server_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{sip_port};branch={branch()};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:+1202555{c.i % 10000:04d}@127.0.0.1>;tag={c.from_tag}\r\n"
                f"To: <sip:frontdesk@127.0.0.1:{server_port}>\r\n"
                f"Call-ID: {c.call_id}\r\nCSeq: 1 INVITE\r\n"
                f"Contact: <sip:load{c.i}@127.0.0.1:{sip_port}>\r\n"
                "Content-Type: application/sdp\r\n"
                f"Content-Length: {len(sdp)}\r\n\r\n{sdp}").encode()

    def in_dialog(c: Call, method: str, cseq: int, br: str | None = None) -> bytes:
        return (f"{method} {c.contact or f'sip:frontdesk@127.0.0.1:{server_port}'} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{sip_port};branch={br or branch()};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:+1202555{c.i % 10000:04d}@127.0.0.1>;tag={c.from_tag}\r\n"
                f"To: <sip:frontdesk@127.0.0.1:{server_port}>;tag={c.to_tag}\r\n"
                f"Call-ID: {c.call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n").encode()

    def on_sip(data: bytes, addr) -> None:
        try:
            start, h, body = sip_headers(data)
        except Exception:
            return
        c = by_id.get(h.get("call-id", ""))
        if not start.startswith("SIP/2.0"):
            # a request from the server (BYE after an RTP timeout, OPTIONS...): 200 OK
            copied = "".join(f"{k}: {h[k]}\r\n" for k in ("via", "from", "to", "call-id", "cseq") if k in h)
            reply = "SIP/2.0 200 OK\r\n" + copied
            sip.sendto((reply + "Content-Length: 0\r\n\r\n").encode(), addr)
            if c is not None and start.startswith("BYE"):
                c.ended_by_server = True
                c.state = "done"
                rtp.up(c, False)
            return
        if c is None:
            return
        status = int(start.split()[1])
        method = h.get("cseq", "").split()[-1].upper() if h.get("cseq") else ""
        if method == "INVITE":
            if status < 200:
                return
            to = h.get("to", "")
            c.to_tag = to.split("tag=", 1)[1].split(";")[0].strip() if "tag=" in to else ""
            if status >= 300:
                if c.state == "inviting":
                    c.state, c.failed = "failed", f"INVITE answered {status}"
                # ACK for a non-2xx: same branch as the INVITE
                inv_branch = c.invite.split(b"branch=", 1)[1].split(b";", 1)[0].decode()
                sip.sendto(in_dialog(c, "ACK", 1, inv_branch), server_sip)
                return
            if c.state == "inviting":
                contact = h.get("contact", "")
                if "<" in contact:
                    contact = contact.split("<", 1)[1].split(">", 1)[0]
                c.contact = contact
                host, port = "127.0.0.1", 0
                for line in body.decode("latin-1").splitlines():
                    if line.startswith("c=IN IP4 "):
                        host = line.split()[-1]
                    elif line.startswith("m=audio "):
                        port = int(line.split()[1])
                c.remote = (host, port)
                c.ack = in_dialog(c, "ACK", 1)
                c.answered_at = time.monotonic()
                c.state = "up"
                rtp.up(c, True)
            if c.ack:
                sip.sendto(c.ack, server_sip)  # also for a retransmitted 200
        elif method == "BYE" and status >= 200:
            c.bye_done = status < 300
            if c.state == "bye":
                c.state = "done"
                if status >= 300:
                    c.failed = f"BYE answered {status}"

    def on_packet(c: Call, seq: int, voice: bool, t: float) -> None:
        """One RTP datagram from the server on call c: seq, not silence, kernel receive time (s)."""
        c.rx_n += 1
        if voice:
            c.rx_voice += 1
        in_window = w_start <= t < w_end
        if c.rx_last_seq < 0:
            c.rx_first_t, c.rx_base_seq, c.rx_ext = t, seq, 0
        else:
            d = (seq - c.rx_last_seq) & 0xFFFF
            if d == 0 or d > 0x8000:
                return  # duplicate or reordered late packet
            c.rx_ext += d
            if d > 1:
                c.missing += d - 1
                if in_window:
                    c.w_missing += d - 1
            dt = t - c.rx_last_t
            if dt > GAP_S:
                c.gaps += 1
                if in_window:
                    c.w_gaps += 1
                    GAPS_AT.append(c.rx_last_t)  # when the silence began (realtime, as w_start)
            if in_window and d == 1:
                c.w_dev.append(abs(dt - FRAME_S) * 1000)
        if in_window:
            c.w_n += 1
            c.w_transit.append(t - c.rx_first_t - c.rx_ext * FRAME_S)
        c.rx_last_seq, c.rx_last_t = seq, t

    w_start = w_end = float("inf")  # realtime (kernel timestamps)
    t0 = time.monotonic()
    next_tick = t0
    slots = max(1, int(cfg.get("slots", 10)))
    slot_s = FRAME_S / slots
    lib = CRtp.load(Path(cfg["out"]).parent) if cfg.get("c_rtp", True) else None
    if lib is not None:
        records = int(n * (hold_s + warmup_s + n / rate + 60) / FRAME_S * 1.2) + 10000
        rtp: PyRtp = CRtp(lib, calls, frames, slots, on_packet, records)
    else:
        rtp = PyRtp(calls, frames, slots, on_packet)
    say(f"RTP {'c' if lib is not None else 'python'}")
    slot = 0
    invites_sent = 0
    phase = "setup"
    setup_deadline = None
    measure_at = None
    bye_started = None
    tick_late: list[float] = []
    ru0 = None
    ru1 = None
    setup_timeout = cfg.get("setup_timeout_s", 15.0)
    while True:
        now = time.monotonic()
        if now < next_tick:
            if sip_ep.poll(next_tick - now):
                for _ in range(256):
                    try:
                        data, addr = sip.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    on_sip(data, addr)
            continue
        late = now - next_tick
        rtp.read()
        if phase == "measure":
            tick_late.append(late * 1000)
        cur = slot
        slot = (slot + 1) % slots
        next_tick += slot_s
        if now - next_tick > 0.2:
            next_tick = now  # fell far behind: resynchronise rather than burst
        # media: one packet per call that is up, every 20 ms; the calls are spread over the 20 ms
        # in `slots` groups, as independent callers' packets would be
        rtp.send(cur)
        if cur != 0:
            continue
        # signalling, paced
        if phase == "setup":
            due = min(n, int((now - t0) * rate) + 1)
            while invites_sent < due:
                c = calls[invites_sent]
                c.invite = invite(c)
                c.state, c.invite_at, c.next_retry = "inviting", now, now + 0.5
                sip.sendto(c.invite, server_sip)
                invites_sent += 1
            if invites_sent == n and setup_deadline is None:
                setup_deadline = now + setup_timeout
            if invites_sent == n and (all(c.state != "inviting" for c in calls) or now > setup_deadline):
                for c in calls:
                    if c.state == "inviting":
                        c.state, c.failed = "failed", "no answer to INVITE"
                up = sum(1 for c in calls if c.state == "up")
                say(f"UP {up} {now - t0:.2f}")
                phase = "warmup"
                measure_at = now + warmup_s
        for c in calls:  # INVITE and BYE retransmissions (T1 = 0.5 s, doubling)
            if c.state == "inviting" and now >= c.next_retry:
                c.retries += 1
                sip.sendto(c.invite, server_sip)
                c.next_retry = now + min(0.5 * 2 ** c.retries, 4.0)
            elif c.state == "bye" and now >= c.bye_next:
                if c.bye_retries >= 7:
                    c.state, c.failed = "done", "no answer to BYE"
                    continue
                c.bye_retries += 1
                sip.sendto(c.bye, server_sip)
                c.bye_next = now + min(0.5 * 2 ** c.bye_retries, 4.0)
        if phase == "warmup" and now >= measure_at:
            phase = "measure"
            w_start = time.time()
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            say(f"MEASURE {w_start:.3f}")
            measure_end_at = now + hold_s
        if phase == "measure" and now >= measure_end_at:
            w_end = time.time()
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
            say(f"END {w_end:.3f}")
            phase = "bye"
            bye_started = now
            byes = 0
        if phase == "bye":
            due = int((now - bye_started) * rate) + 1
            for c in calls:
                if byes >= due:
                    break
                if c.state == "up":
                    c.bye = in_dialog(c, "BYE", 2)
                    c.state, c.bye_at, c.bye_next = "bye", now, now + 0.5
                    rtp.up(c, False)
                    sip.sendto(c.bye, server_sip)
                    byes += 1
            if all(c.state in ("done", "failed") for c in calls):
                break
            if now - bye_started > n / rate + 40:
                break
    rtp.finish()
    # what the kernel dropped at our own sockets (a generator too slow to read)
    inodes = {str(os.fstat(c.fd).st_ino) for c in calls} | {str(os.fstat(sip.fileno()).st_ino)}
    from sip_cps import udp_drops
    own_drops = udp_drops(inodes)
    result = summarise(calls, tick_late, ru0, ru1, w_end - w_start if w_end != float("inf") else 0.0)
    result["loadgen_udp_drops"] = own_drops
    result["gap_bursts"] = gap_bursts([t - w_start for t in GAPS_AT])
    result["window_start_epoch"] = w_start
    if cfg.get("dump"):  # raw lateness (ms) of a few calls' packets in the window, for a closer look
        result["dump"] = {c.call_id: [round((x - min(c.w_transit)) * 1000, 2) for x in c.w_transit]
                          for c in calls[:cfg["dump"]] if len(c.w_transit)}
    Path(cfg["out"]).write_text(json.dumps(result))
    say("DONE")


def gap_bursts(times: list[float], within_s: float = 0.1) -> list[list[float]]:
    """Gaps grouped into bursts (each within within_s of the burst's first): [[seconds into the
    window, gaps], ...]. One burst with a gap on every call is one stall of the whole server."""
    bursts: list[list[float]] = []
    for t in sorted(times):
        if bursts and t - bursts[-1][0] <= within_s:
            bursts[-1][1] += 1
        else:
            bursts.append([round(t, 2), 1])
    return bursts


def summarise(calls: list[Call], tick_late: list[float], ru0, ru1, window_s: float) -> dict:
    import numpy as np

    per_call = []
    devs, lateness = [], []
    for c in calls:
        d = np.frombuffer(c.w_dev, dtype=np.float32) if len(c.w_dev) else np.zeros(0, np.float32)
        tr = np.frombuffer(c.w_transit, dtype=np.float64) if len(c.w_transit) else np.zeros(0)
        late = (tr - tr.min()) * 1000 if tr.size else tr
        devs.append(d)
        lateness.append(late)
        per_call.append({
            "call_id": c.call_id, "state": c.state, "failed": c.failed, "ended_by_server": c.ended_by_server,
            "setup_ms": round((c.answered_at - c.invite_at) * 1000, 1) if c.answered_at else None,
            "invite_retries": c.retries, "bye_retries": c.bye_retries, "bye_ok": c.bye_done,
            "sent": c.sent, "received": c.rx_n, "received_voice": c.rx_voice,
            "gaps": c.gaps, "missing": c.missing, "w_packets": c.w_n, "w_gaps": c.w_gaps, "w_missing": c.w_missing,
            "w_dev_p99_ms": round(float(np.percentile(d, 99)), 2) if d.size else None,
            "w_late_p99_ms": round(float(np.percentile(late, 99)), 2) if late.size else None,
        })
    alld = np.concatenate(devs) if devs else np.zeros(0)
    alll = np.concatenate(lateness) if lateness else np.zeros(0)
    cpu = None
    if ru0 is not None and ru1 is not None and window_s > 0:
        used = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        cpu = round(100 * used / window_s, 1)
    tl = sorted(tick_late)
    return {
        "calls": per_call, "window_s": round(window_s, 2),
        "rx_dev_ms": {"n": int(alld.size), **({"p50": round(float(np.percentile(alld, 50)), 2),
                                              "p99": round(float(np.percentile(alld, 99)), 2),
                                              "max": round(float(alld.max()), 2)} if alld.size else {})},
        "rx_late_ms": {"n": int(alll.size), **({"p50": round(float(np.percentile(alll, 50)), 2),
                                               "p99": round(float(np.percentile(alll, 99)), 2),
                                               "max": round(float(alll.max()), 2)} if alll.size else {})},
        "loadgen_cpu_pct": cpu,
        "loadgen_tick_late_ms": {"n": len(tl), "p50": pct(tl, 0.5), "p99": pct(tl, 0.99), "max": tl[-1] if tl else None},
    }


# -- the controller ------------------------------------------------------------------------

def run_step(n: int, args, tmp: Path, config: Path, src: Path | None, profile: bool) -> dict:
    step_dir = tmp / f"n{n}"
    server = Server(step_dir / "server", config, "echo", src=src)
    out = step_dir / "loadgen.json"
    cfg = {"port": server.port, "n": n, "hold_s": args.hold_s, "warmup_s": args.warmup_s,
           "setup_rate": args.setup_rate, "out": str(out), "dump": args.dump, "slots": args.slots,
           "c_rtp": not args.python_rtp}
    gen = subprocess.Popen([sys.executable, __file__, "--_loadgen", json.dumps(cfg)], stdout=subprocess.PIPE,
                           stderr=open(step_dir / "loadgen.log", "w"), text=True)
    res: dict = {"calls": n}
    prof_proc = None
    prof_raw = step_dir / "server.pyspy.txt"
    try:
        cpu0 = busy0 = None
        for line in gen.stdout:
            word = line.split()
            if not word:
                continue
            if word[0] == "RTP":
                res["loadgen_rtp"] = word[1]  # c or python
            elif word[0] == "UP":
                scrape_lateness(server)  # the first scrape loads the metrics code: before the window
                res["up"] = int(word[1])
                res["setup_s"] = float(word[2])
            elif word[0] == "MEASURE":
                cpu0, busy0, t0 = server.cpu_s(), machine_busy(), time.monotonic()
                sys0 = server.cpu_split()[1]
                late0 = scrape_lateness(server)
                if profile:
                    prof_proc = py_spy_record(args.py_spy, server.pid, args.hold_s, prof_raw, step_dir / "py-spy.log")
            elif word[0] == "END":
                late1 = scrape_lateness(server)
                res["server_tick_late_ms"] = window_lateness(late0, late1)
                res["server_clock_stalls"] = window_stalls(late0, late1)
                wall = time.monotonic() - t0
                busy1 = machine_busy()
                cpu = server.cpu_s() - cpu0
                res["server_cpu_pct"] = round(100 * cpu / wall, 1)
                res["server_sys_pct"] = round(100 * (server.cpu_split()[1] - sys0) / wall, 1)  # of it, in the kernel
                res["machine_busy_cores"] = round(busy_cores(busy0, busy1), 2)
                res["server_rss_mb"] = round(server.rss_mb(), 1)
                res["server_fds"] = server.fds()
                res["server_udp_drops"] = server.udp_drops()
            elif word[0] == "DONE":
                break
        gen.wait(60)
    finally:
        if gen.poll() is None:
            gen.kill()
        if prof_proc is not None:
            try:
                prof_proc.wait(args.hold_s + 30)
            except subprocess.TimeoutExpired:
                prof_proc.kill()
    if not out.exists():
        server.stop()
        raise SystemExit(f"the load generator failed: {(step_dir / 'loadgen.log').read_text()[-2000:]}")
    lg = json.loads(out.read_text())
    deadline = time.monotonic() + 20
    while server.records() < res.get("up", n) and time.monotonic() < deadline:
        time.sleep(0.2)
    recs = {r["call_id"]: r for r in server.read_records()}
    server.stop()
    calls = lg.pop("calls")
    ours = [recs[c["call_id"]] for c in calls if c["call_id"] in recs]
    p99s = sorted(r["rtp"]["send_pacing"]["p99_ms"] for r in ours if r.get("rtp", {}).get("send_pacing"))
    maxes = sorted(r["rtp"]["send_pacing"]["max_ms"] for r in ours if r.get("rtp", {}).get("send_pacing"))
    utter = [sum(1 for t in r.get("turns", []) if t.get("speaker") == "caller") for r in ours]
    rx_p99 = sorted(c["w_dev_p99_ms"] for c in calls if c["w_dev_p99_ms"] is not None)
    setup = sorted(c["setup_ms"] for c in calls if c["setup_ms"] is not None)
    res.update({
        "failed_calls": sum(1 for c in calls if c["failed"]),
        "failures": sorted({c["failed"] for c in calls if c["failed"]}),
        "ended_by_server": sum(1 for c in calls if c["ended_by_server"]),
        "setup_ms": {"p50": pct(setup, 0.5), "p95": pct(setup, 0.95), "max": setup[-1] if setup else None},
        "server_records": len(ours),
        "server_pacing_p99_ms": {"worst_call": p99s[-1] if p99s else None, "median_call": pct(p99s, 0.5),
                                 "p95_of_calls": pct(p99s, 0.95)},
        "server_pacing_max_ms": maxes[-1] if maxes else None,
        "server_packets_in_lost": sum(r["rtp"].get("lost", 0) for r in ours if r.get("rtp")),
        "server_packets_in": sum(r["rtp"].get("packets_in", 0) for r in ours if r.get("rtp")),
        "server_packets_out": sum(r["rtp"].get("packets_out", 0) for r in ours if r.get("rtp")),
        "utterances_per_call": round(sum(utter) / len(utter), 1) if utter else 0,
        "rx_dev_p99_ms": {"all_packets": lg["rx_dev_ms"].get("p99"), "worst_call": rx_p99[-1] if rx_p99 else None,
                          "median_call": pct(rx_p99, 0.5), "max": lg["rx_dev_ms"].get("max")},
        "rx_late_p99_ms": lg["rx_late_ms"].get("p99"),
        "underruns": sum(c["w_gaps"] + c["w_missing"] for c in calls),
        "calls_with_underruns": sum(1 for c in calls if c["w_gaps"] + c["w_missing"]),
        "underruns_whole_call": sum(c["gaps"] + c["missing"] for c in calls),
        "gaps": sum(c["w_gaps"] for c in calls), "missing": sum(c["w_missing"] for c in calls),
        "voice_packets_back": sum(c["received_voice"] for c in calls),
        "rx_packets_window": sum(c["w_packets"] for c in calls),
        "loadgen_cpu_pct": lg["loadgen_cpu_pct"], "loadgen_tick_late_ms": lg["loadgen_tick_late_ms"],
        "loadgen_udp_drops": lg["loadgen_udp_drops"], "window_s": lg["window_s"],
        "gap_bursts": lg.get("gap_bursts", []),
        "dir": str(step_dir),
    })
    if res.get("machine_busy_cores") is not None:
        res["other_cpu_pct"] = round(100 * res["machine_busy_cores"] - res["server_cpu_pct"] - (lg["loadgen_cpu_pct"] or 0), 1)
    lat = lg["loadgen_tick_late_ms"]
    res["loadgen_saturated"] = bool((lg["loadgen_cpu_pct"] or 0) > 85 or (lat.get("p99") or 0) > 20 or lg["loadgen_udp_drops"])
    win = res.get("server_tick_late_ms") or {}
    sp, rx = win.get("p99_at_most"), res["rx_dev_p99_ms"]["worst_call"]
    res["ok"] = bool(res.get("up") == n and res["failed_calls"] == 0 and res["underruns"] == 0
                     and sp is not None and sp <= PACING_GOAL_MS and rx is not None and rx <= PACING_GOAL_MS)
    if profile and prof_raw.exists():
        res["profile"] = profile_summary(prof_raw)
        res["profile"]["raw"] = str(prof_raw)
    return res


def summarise_runs(n: int, runs: list[dict]) -> dict:
    """One call count over its runs: how many passed (most must, for the count to pass), and the
    medians of the pacing, underrun and CPU figures."""
    def med(values):
        values = sorted(v for v in values if v is not None)
        if not values:
            return None
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else round((values[mid - 1] + values[mid]) / 2, 1)
    passed = sum(1 for r in runs if r["ok"])
    return {"calls": n, "runs": len(runs), "passed": passed, "ok": passed * 2 > len(runs), "median": {
        "server_p99_ms": med([(r.get("server_tick_late_ms") or {}).get("p99_at_most") for r in runs]),
        "worst_rx_p99_ms": med([r["rx_dev_p99_ms"]["worst_call"] for r in runs]),
        "underruns": med([r["underruns"] for r in runs]),
        "server_cpu_pct": med([r.get("server_cpu_pct") for r in runs])}}


def scrape_lateness(server) -> dict | None:
    """From /metrics: the server's media tick lateness histogram ("buckets": cumulative counts by
    upper bound, s) and its media clock's stall counters ("stalls", by cause)."""
    import re
    import urllib.request

    port_file = server.tmp / "ready.dashboard"
    if not port_file.exists():
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{int(port_file.read_text())}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    out = {}
    for le, n in re.findall(r'^frontdesk_media_tick_lateness_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M):
        out[float("inf") if le == "+Inf" else float(le)] = int(float(n))
    stalls = dict(re.findall(r'^frontdesk_media_clock_stalls_total\{cause="([^"]+)"\} (\S+)$', text, re.M))
    return {"buckets": out, "stalls": {k: int(float(v)) for k, v in stalls.items()}} if out else None


def window_stalls(before: dict | None, after: dict | None) -> dict:
    """Times the server's media clock fell over 20 ms behind in the window, by cause (busy: more
    work than time on its event loop; off_cpu: the process was not running)."""
    if not before or not after:
        return {}
    return {k: n - before["stalls"].get(k, 0) for k, n in after["stalls"].items()}


def window_lateness(before: dict | None, after: dict | None) -> dict:
    """p50/p99 upper bounds (ms) of how late the server handled each call's frame, in the window:
    every call's every tick, from the difference of two histogram scrapes."""
    if not before or not after:
        return {}
    before, after = before["buckets"], after["buckets"]
    edges = sorted(after)
    counts = [after[e] - before.get(e, 0) for e in edges]
    total = counts[-1]
    if total <= 0:
        return {}

    def bound(q: float):
        for e, c in zip(edges, counts):
            if c >= q * total:
                return None if e == float("inf") else round(e * 1000, 1)
        return None
    return {"ticks": total, "p50_at_most": bound(0.5), "p99_at_most": bound(0.99),
            "over_5ms": round(1 - next(c for e, c in zip(edges, counts) if e >= 0.005) / total, 5)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", help=f"comma-separated concurrent call counts (default {','.join(map(str, DEFAULT_STEPS))})")
    ap.add_argument("--hold-s", type=float, default=20.0, help="measured seconds per step (default 20)")
    ap.add_argument("--warmup-s", type=float, default=2.0, help="seconds after the last call is up before measuring")
    ap.add_argument("--setup-rate", type=float, default=100.0, help="INVITEs (and BYEs) per second (default 100)")
    ap.add_argument("--quick", action="store_true", help=f"steps {QUICK_STEPS}, 8 s each")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="before each step, wait up to this many seconds for the shared machine to go idle (default 60)")
    ap.add_argument("--quiet-below", type=float, default=0.3, help="idle: fewer busy cores than this (default 0.3)")
    ap.add_argument("--keep-going", action="store_true", help="go on after the first step that fails")
    ap.add_argument("--repeat", type=int, default=1, help="runs per call count (default 1); a count passes when "
                    "most of its runs do, and the medians are printed (this machine is shared and noisy)")
    ap.add_argument("--profile", action="store_true",
                    help="after the ramp, run the first failing step (or the last) again with py-spy on the server")
    ap.add_argument("--profile-all", action="store_true", help="py-spy the server in every step")
    ap.add_argument("--py-spy", default=shutil.which("py-spy") or str(BIN / "py-spy"), help="py-spy executable")
    ap.add_argument("--rtp-range", default="21000-31999", help="the server's RTP ports (config copy), default 21000-31999")
    ap.add_argument("--sip-rate-limit", type=float, default=0.0,
                    help="sip.rate_limit for the server (new requests/s per source address; default 0: off, since all "
                         "the bench's calls come from 127.0.0.1; -1: leave the demo config's)")
    ap.add_argument("--rev", help="run the server from this git revision (git archive), e.g. HEAD")
    ap.add_argument("--src", help="run the server from this source tree (PYTHONPATH) instead of the checkout")
    ap.add_argument("--json", nargs="?", const="-", help="print the result as JSON (or write it to FILE)")
    ap.add_argument("--slots", type=int, default=10, help="spread each 20 ms of the calls' packets over this many "
                                                           "sending times (default 10; 1: all at once)")
    ap.add_argument("--python-rtp", action="store_true",
                    help="the load generator sends and reads RTP in Python, not C (bench/rtp_load.c)")
    ap.add_argument("--dump", type=int, default=0, help="keep the raw receive lateness of this many calls per step "
                                                         "in <tmp>/n<N>/loadgen.json")
    ap.add_argument("--_loadgen", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._loadgen:
        loadgen(json.loads(args._loadgen))
        return 0
    steps = [int(x) for x in args.calls.split(",")] if args.calls else (QUICK_STEPS if args.quick else DEFAULT_STEPS)
    if args.quick and args.hold_s == 20.0:
        args.hold_s = 8.0
    if (args.profile or args.profile_all) and not Path(args.py_spy).exists():
        raise SystemExit(f"--profile: py-spy not found at {args.py_spy} (pip install py-spy, or --py-spy PATH)")
    if args.repeat < 1:
        raise SystemExit("--repeat: at least 1")
    rtp_min, rtp_max = (int(x) for x in args.rtp_range.split("-"))
    if max(steps) > (rtp_max - rtp_min) // 2:
        raise SystemExit(f"--rtp-range {args.rtp_range} has ports for {(rtp_max - rtp_min) // 2} calls only")
    tmp = Path(tempfile.mkdtemp(prefix="frontdesk-media-"))
    src = source_tree(args.src, args.rev, tmp)
    config, limit = write_config(tmp, rtp_min, rtp_max, src, None if args.sip_rate_limit < 0 else args.sip_rate_limit)
    result: dict = {"hold_s": args.hold_s, "warmup_s": args.warmup_s, "setup_rate": args.setup_rate,
                    "source": describe_source(src, args.rev), "sip_rate_limit": limit, "cpus": os.cpu_count(),
                    "tmp": str(tmp), "repeat": args.repeat, "steps": [], "by_calls": []}
    best = None
    for n in steps:
        waited, busy = wait_quiet(args.quiet_wait, args.quiet_below) if args.quiet_wait > 0 else (0.0, None)
        print(f"{n} calls: setting up, then {args.hold_s:.0f} s ... (machine: {busy} cores busy before, after "
              f"{waited:.0f} s waiting)", file=sys.stderr, flush=True)
        runs = []
        for i in range(args.repeat):
            if i:
                waited, busy = wait_quiet(args.quiet_wait, args.quiet_below) if args.quiet_wait > 0 else (0.0, None)
                print(f"{n} calls, run {i + 1} of {args.repeat} ...", file=sys.stderr, flush=True)
            step = run_step(n, args, tmp / f"run{i}" if i else tmp, config, src, args.profile_all)
            step["busy_cores_before"], step["waited_for_quiet_s"], step["run"] = busy, waited, i + 1
            result["steps"].append(step)
            runs.append(step)
        summary = summarise_runs(n, runs)
        result["by_calls"].append(summary)
        if summary["ok"]:
            best = n
        elif not args.keep_going:
            break
    if args.profile and result["steps"]:
        # the first failing step (or the last) once more, under the profiler: the table keeps the
        # numbers measured without it
        target = next((s for s in result["steps"] if not s["ok"]), result["steps"][-1])
        wait_quiet(args.quiet_wait, args.quiet_below) if args.quiet_wait > 0 else None
        print(f"{target['calls']} calls again under py-spy ...", file=sys.stderr, flush=True)
        target["profile"] = run_step(target["calls"], args, tmp / "profiled", config, src, True).get("profile")
    result["largest_ok"] = best
    if args.json:
        text = json.dumps(result, indent=2)
        if args.json == "-":
            print(text)
            return 0
        Path(args.json).write_text(text + "\n")
    print(f"\nfrontdesk serve --app echo, media over loopback; {args.hold_s:.0f} s measured per step after "
          f"{args.warmup_s:.0f} s warm-up; a fresh server per step; code: {result['source']}; {os.cpu_count()} CPUs; "
          f"SIP rate limit: {limit}; the load generator's RTP in "
          f"{'/'.join(sorted({st.get('loadgen_rtp', '?') for st in result['steps']}))}")
    print(f"{'calls':>5} {'up':>4} {'srv p99':>7} {'call':>6} {'rx p99':>6} {'worst':>6} {'under':>5} {'(calls)':>7} "
          f"{'srv cpu%':>8} {'(sys)':>5} {'gen cpu%':>8} {'other%':>6} {'rss MB':>6} {'utt/call':>8} {'drops':>5} {'':4}")
    for s in result["steps"]:
        sp, rx = s["server_pacing_p99_ms"], s["rx_dev_p99_ms"]
        win = s.get("server_tick_late_ms") or {}

        def f(v, w=6, d=1):
            return f"{v:{w}.{d}f}" if isinstance(v, (int, float)) else f"{'-':>{w}}"
        print(f"{s['calls']:5} {s.get('up', 0):4} {f(win.get('p99_at_most'), 7)} {f(sp['worst_call'])} {f(rx['all_packets'])} "
              f"{f(rx['worst_call'])} {s['underruns']:5} {s['calls_with_underruns']:7} {f(s.get('server_cpu_pct'), 8, 0)} "
              f"{f(s.get('server_sys_pct'), 5, 0)} {f(s['loadgen_cpu_pct'], 8, 0)} {f(s.get('other_cpu_pct'), 6, 0)} {f(s.get('server_rss_mb'), 6, 0)} "
              f"{f(s['utterances_per_call'], 8)} {s.get('server_udp_drops', 0) + s['loadgen_udp_drops']:5} "
              f"{'ok' if s['ok'] else 'FAIL'}{' (load generator saturated)' if s['loadgen_saturated'] else ''}"
              + (f" (machine busy: other {s['other_cpu_pct']:.0f}%)" if (s.get("other_cpu_pct") or 0) > 30 else ""))
        if s["failed_calls"]:
            print(f"      {s['failed_calls']} calls failed: {', '.join(s['failures'])}")
        if s.get("gap_bursts"):
            st = s.get("server_clock_stalls") or {}
            print("      gaps began at (s into the window x how many calls): "
                  + ", ".join(f"{t:.2f}x{k}" for t, k in s["gap_bursts"][:12])
                  + (f" ... ({len(s['gap_bursts'])} bursts)" if len(s["gap_bursts"]) > 12 else "")
                  + (f"; the server's clock fell > 20 ms behind {st.get('busy', 0)} times with its loop busy, "
                     f"{st.get('off_cpu', 0)} times with the process not running" if st else ""))
    print(f"\nsrv p99: how late the server handled each call's 20 ms frame against its schedule, in the window, "
          f"all calls (an upper bound, from the /metrics histogram); call: the worst call's p99 of the same over "
          f"its whole life (call record: setup among the other calls' included); rx p99: |inter-arrival - 20 ms| at the caller, kernel timestamps, all packets "
          f"(worst: worst call); under: gaps > {GAP_S * 1000:.0f} ms + missing sequence numbers in the window "
          f"(calls: how many calls had any); cpu%: of one core in the window (sys: the server's, in the kernel); other%: everything else on the machine; "
          f"utt/call: caller utterances the echo app heard and played back; drops: kernel drops at full sockets")
    if args.repeat > 1:
        print(f"\nper call count, over {args.repeat} runs (a count passes when most of its runs do); medians:")
        for b in result["by_calls"]:
            m = b["median"]
            print(f"  {b['calls']:4} calls: {b['passed']} of {b['runs']} runs passed; srv p99 {m['server_p99_ms']} ms, "
                  f"worst caller's rx p99 {m['worst_rx_p99_ms']} ms, underruns {m['underruns']}, "
                  f"server CPU {m['server_cpu_pct']}%")
    goal = "met" if best is not None and best >= GOAL_CALLS else "NOT met"
    print(f"largest N with p99 <= {PACING_GOAL_MS:.0f} ms at both ends and 0 underruns: {best if best is not None else '-'}"
          f"  (goal >= {GOAL_CALLS} on this machine: {goal})")
    if any((s.get("other_cpu_pct") or 0) > 30 for s in result["steps"]):
        print("note: other processes on this shared machine used > 30% of a core during some steps: their pacing "
              "numbers may be worse than the server alone would give")
    if any(s["loadgen_saturated"] for s in result["steps"]):
        print("note: the load generator was saturated in some steps (CPU > 85%, timer p99 late > 20 ms, or its "
              "sockets dropped packets): those results are bounded by the generator, not only the server")
    for s in result["steps"]:
        if s.get("profile"):
            print_profile(s["profile"], f"server profile at {s['calls']} calls")
    print(f"files: {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
