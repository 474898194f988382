"""A SIP-aware UDP relay that impairs a call's RTP in both directions: bursty loss (Gilbert-Elliott),
per-packet jitter (which reorders packets) and nothing else. The caller sends its INVITE to the
relay; the relay rewrites the SDP on the way so that both sides send their RTP through it.

This stands in for `tc netem`, whose kernel module this machine does not have; the impairment is
the same kind, applied in user space on loopback."""

from __future__ import annotations

import asyncio
import random
import re
import threading
from dataclasses import dataclass, field

from media.sip.message import Request, Response, parse


@dataclass
class Impairment:
    loss: float = 0.30  # long-run share of packets lost
    burst: float = 3.0  # mean length of a loss burst, in packets
    jitter_s: float = 0.200  # each packet is delayed by a uniform 0..jitter
    seed: int = 7
    stats: dict = field(default_factory=lambda: {"sent": 0, "dropped": 0, "reordered": 0})

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
        self.stats["sent"] += 1
        return delay


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, on_packet):
        self.on_packet = on_packet
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.on_packet(data, addr)


class ImpairingRelay:
    def __init__(self, server: tuple[str, int], impairment: Impairment | None = None):
        self.server = server
        self.up = impairment or Impairment(seed=7)  # caller -> server
        self.down = Impairment(loss=self.up.loss, burst=self.up.burst, jitter_s=self.up.jitter_s, seed=8)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self._caller_sip = None
        self._caller_rtp = None
        self._server_rtp = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self):
        ep = self.loop.create_datagram_endpoint
        self.sip, _ = await ep(lambda: _Udp(self._on_sip), local_addr=("127.0.0.1", 0))
        self.to_server, _ = await ep(lambda: _Udp(self._from_server_rtp), local_addr=("127.0.0.1", 0))
        self.to_caller, _ = await ep(lambda: _Udp(self._from_caller_rtp), local_addr=("127.0.0.1", 0))
        self.port = self.sip.get_extra_info("sockname")[1]

    # -- signalling: only the INVITE transaction passes here; the SDP is rewritten --------------

    def _rewrite(self, data: bytes, port: int) -> tuple[bytes, tuple[str, int] | None]:
        try:
            msg = parse(data)
        except Exception:
            return data, None
        body = msg.body.decode("latin-1")
        m = re.search(r"^m=audio (\d+)", body, re.M)
        c = re.search(r"^c=IN IP4 (\S+)", body, re.M)
        if not m:
            return data, None
        original = (c.group(1) if c else "127.0.0.1", int(m.group(1)))
        body = re.sub(r"^m=audio \d+", f"m=audio {port}", body, flags=re.M)
        body = re.sub(r"^c=IN IP4 \S+", "c=IN IP4 127.0.0.1", body, flags=re.M)
        body = re.sub(r"^a=rtcp:.*\r?\n", "", body, flags=re.M)
        msg.body = body.encode("latin-1")
        return msg.serialize(), original

    def _on_sip(self, data: bytes, addr):
        if addr == self.server:  # a response (or request) from the server: back to the caller
            msg = None
            try:
                msg = parse(data)
            except Exception:
                pass
            if isinstance(msg, Response) and msg.body:
                data, original = self._rewrite(data, self.to_caller.get_extra_info("sockname")[1])
                if original:
                    self._server_rtp = ("127.0.0.1", original[1])
            if self._caller_sip:
                self.sip.sendto(data, self._caller_sip)
            return
        self._caller_sip = addr
        try:
            msg = parse(data)
        except Exception:
            msg = None
        if isinstance(msg, Request) and msg.body:
            data, original = self._rewrite(data, self.to_server.get_extra_info("sockname")[1])
            if original:
                self._caller_rtp = ("127.0.0.1", original[1])
        self.sip.sendto(data, self.server)

    # -- media: impaired both ways -------------------------------------------------------------

    def _from_caller_rtp(self, data: bytes, addr):
        if self._server_rtp is None:
            return
        delay = self.up.decide(self.loop.time())
        if delay is not None:
            self.loop.call_later(delay, self.to_server.sendto, data, self._server_rtp)

    def _from_server_rtp(self, data: bytes, addr):
        if self._caller_rtp is None:
            return
        delay = self.down.decide(self.loop.time())
        if delay is not None:
            self.loop.call_later(delay, self.to_caller.sendto, data, self._caller_rtp)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
