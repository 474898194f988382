"""Thin asyncio adapter around the sans-IO :class:`UserAgent`: UDP and TCP sockets, timers."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Callable

from ..udp_socket import UdpSocket
from .message import MAX_MESSAGE_BYTES
from .useragent import Addr, Event, UserAgent

log = logging.getLogger("frontdesk.sip")

# Stream limits: a message must arrive whole within MESSAGE_TIMEOUT_S of its first byte (slowloris),
# a connection with no traffic closes after IDLE_TIMEOUT_S, a TLS handshake must finish within
# HANDSHAKE_TIMEOUT_S, and one source may hold at most MAX_CONNECTIONS_PER_SOURCE connections.
MESSAGE_TIMEOUT_S = 10.0
TIMER_TICK_S = 0.02  # the longest the transport sleeps while SIP timers are pending
IDLE_TIMEOUT_S = 3600.0
HANDSHAKE_TIMEOUT_S = 10.0
MAX_CONNECTIONS_PER_SOURCE = 32
MAX_CONNECTIONS = 2048
UDP_BATCH = 32  # datagrams read per wake-up of the SIP UDP socket
UDP_MAX_DATAGRAM = 65535


class _TcpConnection(asyncio.Protocol):
    """Frames SIP messages on a stream by Content-Length; closes on framing errors."""

    def __init__(self, server: "SipServer", name: str = "TCP"):
        self.server = server
        self.name = name  # TCP or TLS
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.peer: Addr = ("", 0)
        self._message_started: float | None = None  # when the first byte of an unfinished message came
        self._last_data = 0.0
        self._watch: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        same_source = sum(1 for addr in self.server._tcp if addr[0] == self.peer[0])
        if same_source >= MAX_CONNECTIONS_PER_SOURCE or len(self.server._tcp) >= MAX_CONNECTIONS:
            self.server.refused_connections += 1
            transport.abort()
            return
        self.server._tcp[self.peer] = self
        self._last_data = self.server.loop.time()
        self._watch = self.server.loop.call_later(1.0, self._check_time)

    def connection_lost(self, exc) -> None:
        if self.server._tcp.get(self.peer) is self:
            self.server._tcp.pop(self.peer, None)
        if self._watch:
            self._watch.cancel()

    def _check_time(self) -> None:
        now = self.server.loop.time()
        if self._message_started is not None and now - self._message_started > MESSAGE_TIMEOUT_S:
            self._abort(f"message incomplete after {MESSAGE_TIMEOUT_S:.0f} s")
            return
        if now - self._last_data > IDLE_TIMEOUT_S:
            self._abort("idle")
            return
        self._watch = self.server.loop.call_later(1.0, self._check_time)

    def data_received(self, data: bytes) -> None:
        self._last_data = self.server.loop.time()
        if self._message_started is None:
            self._message_started = self._last_data
        self.buffer += data
        while True:
            self.buffer = self.buffer.lstrip(b"\r\n")
            if not self.buffer:  # keep-alive CRLFs (RFC 5626) are not a message in progress
                self._message_started = None
                return
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_MESSAGE_BYTES:
                    self._abort("header section too large")
                return
            head = self.buffer[:end].decode("latin-1")
            length = None
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() in ("content-length", "l"):
                    if not value.strip().isdecimal():
                        self._abort("bad Content-Length")
                        return
                    length = int(value.strip())
            if length is None:
                self._abort("missing Content-Length")
                return
            total = end + 4 + length
            if total > MAX_MESSAGE_BYTES:
                self._abort("message too large")
                return
            if len(self.buffer) < total:
                return
            msg, self.buffer = self.buffer[:total], self.buffer[total:]
            self._message_started = self.server.loop.time() if self.buffer.strip(b"\r\n") else None
            self.server.feed(msg, self.peer, self.name)

    def _abort(self, why: str) -> None:
        log.warning("closing SIP %s connection from %s:%s: %s", self.name, self.peer[0], self.peer[1], why)
        if self._watch:
            self._watch.cancel()
            self._watch = None
        if self.transport:
            self.transport.abort()


class SipServer:
    """Owns the sockets and the timer; hands events to ``on_event``."""

    def __init__(self, ua: UserAgent, on_event: Callable[[Event], None]):
        self.ua = ua
        self.on_event = on_event
        self.loop = asyncio.get_event_loop()
        self._udp: UdpSocket | None = None
        self._tcp: dict[Addr, _TcpConnection] = {}
        self._connecting: dict[Addr, list[bytes]] = {}  # outbound TCP connections being opened
        self._tcp_server: asyncio.base_events.Server | None = None
        self._tls_server: asyncio.base_events.Server | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.refused_connections = 0  # over the per-source or total connection limit

    async def listen_udp(self, host: str, port: int) -> int:
        infos = await self.loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
        family, _, proto, _, addr = infos[0]
        sock = socket.socket(family, socket.SOCK_DGRAM, proto)
        try:
            sock.setblocking(False)
            try:  # bursts of requests wait in the kernel instead of being dropped
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            except OSError:
                pass
            sock.bind(addr)
        except OSError:
            sock.close()
            raise
        # each wake-up drains up to UDP_BATCH datagrams: with a hundred RTP sockets ready in every pass
        # of the loop, a burst of INVITEs and BYEs would otherwise wait in the kernel behind media,
        # get retransmitted, and add to the burst
        self._udp = UdpSocket(sock, self._datagram, "SIP UDP", batch=UDP_BATCH, max_size=UDP_MAX_DATAGRAM, loop=self.loop,
                              timestamps=True)
        return sock.getsockname()[1]

    def _datagram(self, data: bytes, addr: tuple) -> None:
        self.feed(data, (addr[0], addr[1]), "UDP", self._udp.waited_s if self._udp else 0.0)

    async def listen_tcp(self, host: str, port: int) -> int:
        self._tcp_server = await self.loop.create_server(lambda: _TcpConnection(self), host, port)
        return self._tcp_server.sockets[0].getsockname()[1]

    async def listen_tls(self, host: str, port: int, certfile: str, keyfile: str) -> int:
        """SIP over TLS (RFC 3261 §26.2) with the configured certificate; framing as for TCP."""
        import ssl

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(certfile, keyfile)
        self._tls_server = await self.loop.create_server(lambda: _TcpConnection(self, "TLS"), host, port, ssl=ctx,
                                                         ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S)
        return self._tls_server.sockets[0].getsockname()[1]

    def now(self) -> float:
        return self.loop.time()

    def feed(self, data: bytes, addr: Addr, transport: str, waited_s: float = 0.0) -> None:
        try:
            self.ua.receive(data, addr, self.now(), transport, waited_s=waited_s)
        except Exception:  # never let one message take the server down
            log.exception("internal error handling a SIP message from %s:%s", *addr)
        self.flush()

    def act(self, action: Callable[..., None], *args, **kwargs) -> None:
        """Run a UserAgent action (answer, reject, hangup...) at the loop's time and flush its output."""
        action(*args, now=self.now(), **kwargs)
        self.flush()

    def flush(self) -> None:
        for out in self.ua.take_outgoing():
            if out.transport == "UDP":
                if self._udp:
                    self._udp.sendto(out.data, out.addr)
            else:
                conn = self._tcp.get(out.addr)
                if conn and conn.transport:
                    conn.transport.write(out.data)
                elif out.transport == "TCP":  # a request of ours (REGISTER) to a server: connect first
                    self._connect(out.addr, out.data)
                else:
                    log.warning("no %s connection to %s:%s for an outgoing message", out.transport, *out.addr)
        for event in self.ua.take_events():
            try:
                self.on_event(event)
            except Exception:
                log.exception("error in SIP event handler for %r", event)
        self._schedule()

    def _connect(self, addr: Addr, data: bytes) -> None:
        waiting = self._connecting.get(addr)
        if waiting is not None:
            waiting.append(data)
            return
        self._connecting[addr] = [data]

        async def connect() -> None:
            try:
                await asyncio.wait_for(self.loop.create_connection(lambda: _TcpConnection(self), addr[0], addr[1]), 10)
            except (OSError, asyncio.TimeoutError) as exc:
                log.warning("SIP TCP connection to %s:%s failed: %s", addr[0], addr[1], exc)
                self._connecting.pop(addr, None)
                return  # the transaction's timer reports the failure
            conn = self._tcp.get(addr)
            for queued in self._connecting.pop(addr, []):
                if conn and conn.transport:
                    conn.transport.write(queued)

        self.loop.create_task(connect())

    def _schedule(self) -> None:
        # Finding the next deadline looks at every call, so it is not done after every datagram:
        # while a wake-up is pending (at most TIMER_TICK_S away) it stands. A timer set meanwhile
        # fires up to TIMER_TICK_S late; SIP's are 500 ms and up.
        if self._timer is not None:
            return
        deadline = self.ua.next_timer()
        if deadline is not None:
            now = self.now()
            self._timer = self.loop.call_at(min(max(deadline, now), now + TIMER_TICK_S), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.ua.handle_timers(self.now())
        self.flush()

    def close(self) -> None:
        if self._timer:
            self._timer.cancel()
        if self._udp:
            self._udp.close()
        for server in (self._tcp_server, self._tls_server):
            if server:
                server.close()
        for conn in list(self._tcp.values()):
            if conn.transport:
                conn.transport.close()

