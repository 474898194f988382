"""RtpSession with each packet's work in C (media/_native's RtpLane), for plain RTP with G.711."""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Callable

import numpy as np

from .clock import media_clock
from .playout import pacing_summary
from .rtp_session import RtpSession, _ignore, _jitter_summary
from .udp_socket import SO_TIMESTAMPNS

try:  # the per-packet work in C (media/_native, built when frontdesk is installed)
    from ._native.native import Playout as NativePlayout
    from ._native.native import RtpLane
except ImportError:  # pragma: no cover - a source tree without the build: RtpSession does it all
    NativePlayout = RtpLane = None

log = logging.getLogger("frontdesk.rtp")


def _numeric(address: tuple[str, int], family: int) -> tuple[str, int] | None:
    """The address with a numeric host (an SDP may name a host: resolved once, here; the Python
    session's sendto resolves it on every packet). None when it does not resolve."""
    host, port = address[0], int(address[1])
    try:
        ipaddress.ip_address(host)
        return host, port
    except ValueError:
        pass
    try:
        return socket.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM)[0][4][:2]
    except (OSError, UnicodeError) as exc:
        log.warning("RTP: the peer's address %s does not resolve (%s); nothing is sent there", host, exc)
        return None


def _lane_attribute(name: str, doc: str) -> property:
    return property(lambda self: getattr(self._lane, name), doc=doc)


class NativeRtpSession(RtpSession):
    """RtpSession with each packet's work in C (media/_native's RtpLane): the same media, for plain
    RTP with G.711 (SRTP calls run RtpSession). The socket has no reader on the event loop: the
    lane reads what it holds at each 20 ms tick, with the kernel's arrival time of each datagram
    (SO_TIMESTAMPNS), so the jitter buffer sees the same times as if each had been read at once,
    and the loop wakes once per slot of the media clock, not once per packet. The lane does the
    checks, latching, SSRC changes, RFC 4733 digits received, receiver statistics, G.711, the jitter
    buffer, concealment, the agent's audio queue and the packets sent; this class sends what needs
    Python (DTMF, hold, a listener to the audio sent) and RTCP."""

    @staticmethod
    def suits(kwargs: dict) -> bool:
        return (RtpLane is not None and kwargs.get("srtp") is None
                and str(kwargs.get("codec", "")).upper() in ("PCMU", "PCMA"))

    def _init_media(self, remote: tuple[str, int], seq: int, ts: int, ssrc: int) -> None:
        self.playout = NativePlayout()
        address = _numeric(remote, self.sock.family) or ("0.0.0.0", 9)  # unresolved: latching fixes it
        self._lane = RtpLane(self.sock.fileno(), codec=self.codec, payload_type=self.payload_type,
                             dtmf_payload_type=self.dtmf_payload_type, remote=address, on_frame=self._on_frame,
                             on_dtmf=self._on_dtmf, playout=self.playout, seq=seq, ts=ts, ssrc=ssrc)
        self._lane.on_tick = self._after_tick

    # the app's callbacks go to the lane, which calls them (the recorder wraps on_frame later)
    _on_frame: Callable[[np.ndarray], None] = _ignore
    _on_dtmf: Callable[[str], None] = _ignore

    @property
    def on_frame(self) -> Callable[[np.ndarray], None]:
        return self._on_frame

    @on_frame.setter
    def on_frame(self, callback: Callable[[np.ndarray], None]) -> None:
        self._on_frame = callback
        self._lane.on_frame = callback

    @property
    def on_dtmf(self) -> Callable[[str], None]:
        return self._on_dtmf

    @on_dtmf.setter
    def on_dtmf(self, callback: Callable[[str], None]) -> None:
        self._on_dtmf = callback
        self._lane.on_dtmf = callback

    remote = _lane_attribute("remote", "where packets go: the SDP's address, then where the stream comes from")
    rx_stats = _lane_attribute("rx_stats", "the peer's stream, for RTCP (RFC 3550 A.1, A.3, A.8)")
    packets_in = _lane_attribute("packets_in", "")
    packets_out = _lane_attribute("packets_out", "")
    octets_out = _lane_attribute("octets_out", "")
    bad_packets = _lane_attribute("bad_packets", "")
    foreign_packets = _lane_attribute("foreign_packets", "packets from other addresses than the latched one, dropped")
    ssrc_changes = _lane_attribute("ssrc_changes", "")
    _ts = _lane_attribute("ts", "the RTP timestamp of the next packet")
    _ssrc = _lane_attribute("ssrc", "")
    _remote_ssrc = _lane_attribute("remote_ssrc", "the SSRC of the stream latched to, or None")

    @property
    def _talking(self) -> bool:
        return self._lane.talking

    @_talking.setter
    def _talking(self, value: bool) -> None:
        self._lane.talking = value

    @property
    def last_packet_at(self) -> float:
        return self._lane.last_packet_at

    @last_packet_at.setter
    def last_packet_at(self, value: float) -> None:  # the RTP timeout starts again (resume)
        self._lane.last_packet_at = value

    @property
    def lost(self) -> int:
        return self._lane.lost

    def _attach_socket(self) -> None:
        self.sock.setblocking(False)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:  # pragma: no cover - not Linux: arrival is the time the tick reads it
            pass

    def _set_codec(self, codec: str, payload_type: int, dtmf_payload_type: int | None) -> None:
        self._lane.set_codec(codec, payload_type, dtmf_payload_type)
        self.codec, self.payload_type, self.dtmf_payload_type = codec, payload_type, dtmf_payload_type

    def _relatch(self, remote: tuple[str, int]) -> None:
        address = _numeric(remote, self.sock.family)
        if address is not None:
            self._lane.relatch(address)

    def datagram_received(self, data: bytes, addr) -> None:  # pragma: no cover - the lane reads the socket
        raise RuntimeError("a native RTP session reads its own socket")

    def start(self) -> None:
        """The media clock ticks the lane itself (media.clock), which calls back only when there is
        work in Python (_after_tick)."""
        if not self._started:
            self._started = True
            media_clock().add(self._lane)

    def tick(self, due: float) -> None:
        """As RtpSession.tick (the clock ticks the lane; this is for driving a session by hand)."""
        self._lane.tick(due)

    def _after_tick(self, result: int) -> None:
        """Unless a DTMF digit is going out, the call is on hold or something listens to what is
        sent (on_sent), the lane sends the playout's next frame or silence itself; else here."""
        if result & 1:
            self._tick_out()
            if not (self._dtmf_out.busy or self.on_hold or self.on_sent is not None):
                self._lane.python_out = False
        if result & 2:
            self._send_rtcp()

    def _want_python_out(self) -> None:
        self._lane.python_out = True

    def send_dtmf(self, digits: str) -> None:
        super().send_dtmf(digits)
        self._want_python_out()

    _on_sent: Callable[[np.ndarray | None], None] | None = None

    @property
    def on_sent(self) -> Callable[[np.ndarray | None], None] | None:
        """Called with each 20 ms sent (None: silence): while set, every packet goes out from Python."""
        return self._on_sent

    @on_sent.setter
    def on_sent(self, callback: Callable[[np.ndarray | None], None] | None) -> None:
        self._on_sent = callback
        if callback is not None:
            self._want_python_out()

    def pacing_stats(self) -> dict:
        return pacing_summary(self._lane.lateness_ms())

    def _send_audio(self, frame: np.ndarray | None, marker: bool) -> None:
        self._lane.send_frame(frame, marker)

    def _send(self, payload: bytes, marker: bool, payload_type: int | None = None, timestamp: int | None = None) -> None:
        lane = self._lane
        lane.send_payload(payload, marker, self.payload_type if payload_type is None else payload_type,
                          lane.ts if timestamp is None else timestamp)

    def _advance(self) -> None:
        self._lane.advance()
        self._talking = False

    def jitter_stats(self) -> dict:
        jb = self._lane.jitter  # its counters are JitterStats' (media/_native/jitter.pxi)
        return _jitter_summary(jb.target_s, jb)

    def _close_media(self) -> None:
        media_clock().remove(self._lane)
        self._lane.close()
        self.sock.close()
