"""A UDP socket on the event loop without asyncio's datagram transport.

The loop's selector watches the non-blocking socket, and each wake-up reads up to ``batch``
datagrams and hands each to a callback. asyncio's transport reads one datagram per pass of the
loop, so a socket that many packets reach at once (SIP from a trunk) waits behind every other
ready socket, and setting one up (``create_datagram_endpoint``) costs more than the rest of a
call's setup. A send never blocks and never raises: UDP may drop, and SIP and RTP are built for it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from typing import Callable

log = logging.getLogger("frontdesk.udp")

Datagram = Callable[[bytes, tuple], None]
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; the control message type is the same number
_TIMESPEC = struct.Struct("qq")


def _drop(_data: bytes, _addr: tuple) -> None:
    """What a closed socket's callback becomes."""


class UdpSocket:
    """One bound UDP socket: ``on_datagram(data, addr)`` for what arrives, ``sendto`` to send."""

    def __init__(self, sock: socket.socket, on_datagram: Datagram, name: str = "UDP", batch: int = 1,
                 max_size: int = 65535, loop: asyncio.AbstractEventLoop | None = None, timestamps: bool = False):
        sock.setblocking(False)
        # timestamps: the kernel stamps each datagram on arrival, and ``waited_s`` says, while
        # ``on_datagram`` runs, how long the one being handled sat in the receive queue (the
        # process's backlog, which an overloaded server sees grow before its peers retransmit)
        self.waited_s = 0.0
        self._stamped = False
        if timestamps:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self._stamped = True
            except OSError:  # not Linux: no backlog measure, waited_s stays 0
                pass
        self.sock = sock
        self.on_datagram = on_datagram
        self.name = name  # for log lines: "SIP UDP", "RTP port 20000"
        self.batch = batch
        self.max_size = max_size
        self._loop = loop or asyncio.get_running_loop()
        self._fd = sock.fileno()
        self._loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        if self._stamped:
            self._read_stamped()
            return
        # one read per wake-up unless asked for more: a socket with one datagram per wake-up (RTP,
        # 20 ms apart) would pay a failed read, and its exception, for every packet
        recv = self.sock.recvfrom
        for _ in range(self.batch):
            try:
                data, addr = recv(self.max_size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. an ICMP port unreachable queued on the socket
                log.debug("%s: receive error: %s", self.name, exc)
                return
            self.on_datagram(data, addr)

    def _read_stamped(self) -> None:
        recv = self.sock.recvmsg
        for _ in range(self.batch):
            try:
                data, ancillary, _flags, addr = recv(self.max_size, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("%s: receive error: %s", self.name, exc)
                return
            waited = 0.0
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = _TIMESPEC.unpack_from(value)
                    waited = max(0.0, time.time() - (sec + nsec * 1e-9))
            self.waited_s = waited
            self.on_datagram(data, addr)
        self.waited_s = 0.0

    def sendto(self, data: bytes, addr: tuple) -> None:
        try:
            self.sock.sendto(data, addr)
            return
        except (BlockingIOError, InterruptedError):
            reason: object = "send buffer full"
        except OSError as exc:  # no route, a closed socket during shutdown
            reason = exc
        log.debug("%s: a datagram to %s:%s dropped: %s", self.name, addr[0], addr[1], reason)

    def close(self) -> None:
        self.on_datagram = _drop  # the owner's bound method would hold the owner, which holds this socket
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            self._fd = -1
            self.sock.close()
