"""Asyncio RTP endpoint for one call: G.711 in and out with 20 ms pacing, DTMF, playback queue.

``RtpSession.open`` gives the C version (rtp_native.py) for plain G.711 RTP when it is built.

One module on purpose (about 470 lines): one call's RTP both ways around one socket and one
clock tick (receive, jitter buffer, concealment, playout, RTCP, SRTP, DTMF); each of those is its
own module, and this class is the order they run in.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
import time
from typing import Callable

import numpy as np

from . import g711
from .clock import media_clock
from .dtmf import DtmfDetector, DtmfSender
from .jitter import AUDIO, CONCEAL, AdaptiveJitterBuffer
from .playout import FRAME_SAMPLES, LatenessLog, Playout, pacing_summary
from .plc import G711Concealer
from .rtcp import RTCP_SR, RtcpError, ReceiverStats, build_report, parse_reports, round_trip_ms
from .pcm import rms
from .rtp import RtpError, build_rtp, parse_rtp
from .srtp import SrtpContext, SrtpError
from .udp_socket import UdpSocket

log = logging.getLogger("frontdesk.rtp")

FRAME_S = 0.020
RTCP_INTERVAL_FRAMES = 250  # a report every 5 s (RFC 3550's minimum interval)


class PortAllocator:
    """Hands out even RTP ports from a range; RTCP would take the odd one above."""

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo + (lo % 2), hi
        self._next = self.lo
        self.in_use: set[int] = set()

    def candidates(self):
        span = (self.hi - self.lo) // 2 + 1
        for i in range(span):
            port = self.lo + ((self._next - self.lo) // 2 + i) % span * 2
            if port not in self.in_use:
                yield port

    def bind(self, host: str) -> tuple[socket.socket, int]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for port in self.candidates():
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind((host, port))
            except OSError:
                sock.close()
                continue
            self.in_use.add(port)
            self._next = port + 2
            return sock, port
        raise OSError(f"no free RTP port in {self.lo}-{self.hi}")

    def release(self, port: int) -> None:
        self.in_use.discard(port)


def _ignore(_item) -> None:
    """What a closed session's callbacks become."""


def _never_quiet(_payload) -> bool:
    return False


class RtpSession:
    """One call's media. ``on_frame`` gets decoded 20 ms int16 frames in sequence order
    (silence for lost packets); ``on_dtmf`` gets digits (both may be set after opening)."""

    def __init__(self, sock: socket.socket, port: int, *, codec: str, payload_type: int,
                 dtmf_payload_type: int | None, remote: tuple[str, int],
                 on_frame: Callable[[np.ndarray], None] = _ignore, on_dtmf: Callable[[str], None] = _ignore,
                 srtp: SrtpContext | None = None):
        self.sock = sock
        self.srtp = srtp  # SDES-keyed SRTP, or None for plain RTP
        self.port = port
        self.codec = codec
        self.payload_type = payload_type
        self.dtmf_payload_type = dtmf_payload_type
        # the per-packet state first: a native session's lane exists before any callback is set on it
        self._init_media(remote, random.randint(0, 0xFFFF), random.randint(0, 0xFFFFFFFF), random.randint(1, 0xFFFFFFFF))
        self.on_frame = on_frame
        self.on_dtmf = on_dtmf
        self._dtmf_out = DtmfSender()
        self._dtmf_ts = 0
        self._transport: UdpSocket | None = None
        self._started = False
        self._loop_time = time.monotonic
        self._talking = False
        self.on_hold = False  # the peer put the call on hold: nothing is sent, the queue waits
        self._rtcp: UdpSocket | None = None
        self._rtcp_remote: tuple[str, int] | None = None
        self.rtcp_in = 0
        self.rtcp_out = 0
        self.peer_report: dict = {}  # what the peer's RTCP says about our stream, with the RTT
        self._frames_to_report = RTCP_INTERVAL_FRAMES // 2
        self.send_lateness_ms = LatenessLog(3000)  # last minute of pacing error
        self.on_sent: Callable[[np.ndarray | None], None] | None = None  # each 20 ms sent (None: silence)

    def _init_media(self, remote: tuple[str, int], seq: int, ts: int, ssrc: int) -> None:
        """The per-packet state: the stream's address, codec, jitter buffer, playout queue and counters."""
        self.playout = Playout()
        self.remote = remote
        self._encode = g711.encoder(self.codec)
        self._decode = g711.decoder(self.codec)
        self._silence = self._encode(np.zeros(FRAME_SAMPLES, np.int16))
        self._jitter = self._new_jitter_buffer()
        self._plc = G711Concealer()
        self._heard_any = False  # inbound playout starts with the first packet
        self._floor = 1e9  # the quietest recent inbound frame (rms), for the buffer's pause test
        self._floor_age = 0
        self._dtmf = DtmfDetector()
        self._seq, self._ts, self._ssrc = seq, ts, ssrc
        self.ssrc_changes = 0
        self._lost_before = 0
        self.rx_stats = ReceiverStats()
        self.octets_out = 0
        self._remote_ssrc: int | None = None
        self._latched: tuple[str, int] | None = None  # the source address the stream comes from
        self.foreign_packets = 0  # packets from other addresses, dropped
        self.packets_in = 0
        self.packets_out = 0
        self.bad_packets = 0
        self.last_packet_at = time.monotonic()

    @classmethod
    async def open(cls, allocator: PortAllocator, host: str, **kwargs) -> "RtpSession":
        sock, port = allocator.bind(host)
        if cls is RtpSession:
            from .rtp_native import NativeRtpSession
            if NativeRtpSession.suits(kwargs):
                cls = NativeRtpSession
        session = cls(sock, port, **kwargs)
        session._attach_socket()
        rtcp_sock = socket.socket(sock.family, socket.SOCK_DGRAM)
        try:  # RTCP on the odd port above (RFC 3550 §11)
            rtcp_sock.bind((host, port + 1))
            session._rtcp = UdpSocket(rtcp_sock, session.rtcp_received, f"RTCP port {port + 1}")
        except OSError as exc:
            rtcp_sock.close()
            log.warning("RTCP port %d unavailable (%s); this call has no RTCP", port + 1, exc)
        return session

    # -- the socket ----------------------------------------------------------------------

    def _attach_socket(self) -> None:
        self._transport = UdpSocket(self.sock, self.datagram_received, f"RTP port {self.port}")

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            if self.srtp is not None:
                data = self.srtp.unprotect(data)
            pkt = parse_rtp(data)
        except (RtpError, SrtpError):
            self.bad_packets += 1
            return
        now = time.monotonic()
        source = (addr[0], addr[1])
        if self._latched is not None and source != self._latched:
            # RTP from somewhere else than the stream we latched to: an injection attempt or a
            # stray stream. Only when the latched source has been silent for 2 s do we move.
            if now - self.last_packet_at < 2.0:
                self.foreign_packets += 1
                return
            log.info("RTP port %s: the stream moved from %s:%s to %s:%s", self.port, *self._latched, *source)
            self._remote_ssrc = None
        self.packets_in += 1
        self.last_packet_at = now
        if self._remote_ssrc is None:
            self._remote_ssrc = pkt.ssrc
            # symmetric RTP: answer where the media actually comes from (NAT)
            self.remote = source
            self._latched = source
        elif pkt.ssrc != self._remote_ssrc:
            # a new source (the PBX bridged us elsewhere, or the sender restarted): start afresh
            self._remote_ssrc = pkt.ssrc
            self.ssrc_changes += 1
            self._lost_before += self._jitter.stats.lost
            self._jitter = self._new_jitter_buffer()
            self._plc = G711Concealer()
            self._dtmf = DtmfDetector()
            self.rx_stats.reset()
        if self.dtmf_payload_type is not None and pkt.payload_type == self.dtmf_payload_type:
            self.rx_stats.on_packet(pkt.sequence, pkt.timestamp, now, timing=False)
            digit = self._dtmf.feed(pkt.timestamp, pkt.payload)
            if digit:
                self.on_dtmf(digit)
            return
        if pkt.payload_type != self.payload_type:
            self.bad_packets += 1
            return
        self.rx_stats.on_packet(pkt.sequence, pkt.timestamp, now)  # jitter: differences of arrival times
        pcm = self._decode(pkt.payload)
        if pcm.size != FRAME_SAMPLES:  # another packet time than 20 ms: pad or cut to one frame
            pcm = np.resize(pcm, FRAME_SAMPLES) if pcm.size else np.zeros(FRAME_SAMPLES, np.int16)
        self._jitter.put(pkt.sequence, pkt.timestamp, pcm, now)
        self._heard_any = True

    # -- inbound playout (one frame per 20 ms tick of the send clock) ------------------------

    def _new_jitter_buffer(self) -> AdaptiveJitterBuffer[np.ndarray]:
        return AdaptiveJitterBuffer(quiet=self._quiet)

    def _quiet(self, pcm: np.ndarray) -> bool:
        """A frame at the line's noise floor (or below -50 dBFS): the buffer may stretch or skip it."""
        level = rms(pcm)
        self._floor_age += 1
        if level < self._floor or self._floor_age > 150:  # the floor forgets after 3 s
            self._floor, self._floor_age = max(level, 1.0), 0
        return level < max(100.0, 2.0 * self._floor)

    def _receive(self) -> None:
        """The inbound half of a tick (packets came in through datagram_received)."""
        self._play_in(time.monotonic())

    def _play_in(self, now: float) -> None:
        if not self._heard_any:
            return
        out = self._jitter.get(now)
        if out.kind == AUDIO:
            frame = self._plc.good(out.payload)
        elif out.kind == CONCEAL:
            frame = self._plc.conceal(FRAME_SAMPLES)
        else:
            frame = self._plc.good(np.zeros(FRAME_SAMPLES, np.int16))
        self.on_frame(frame)

    # -- sending -------------------------------------------------------------------------

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._loop_time = asyncio.get_running_loop().time
            media_clock().add(self)

    def play(self, pcm: np.ndarray) -> None:
        """Queue int16 8 kHz audio for sending."""
        self.playout.play(pcm)

    def send_dtmf(self, digits: str) -> None:
        """Send digits as RFC 4733 events (100 ms each), in place of audio while they last.
        Without a negotiated telephone-event payload type, nothing can be sent: ValueError."""
        if self.dtmf_payload_type is None:
            raise ValueError("the peer did not offer telephone-event; DTMF cannot be sent")
        self._dtmf_out.queue(digits)

    def clear(self) -> int:
        """Stop playback now; returns how many queued samples were dropped."""
        return self.playout.clear()

    def update(self, *, codec: str, payload_type: int, dtmf_payload_type: int | None,
               remote: tuple[str, int], may_send: bool) -> None:
        """A renegotiated session (re-INVITE/UPDATE): codec, address, or hold."""
        self._set_codec(codec, payload_type, dtmf_payload_type)
        if remote != self.remote and remote[0] not in ("0.0.0.0", "::"):
            self._relatch(remote)
        was_on_hold = self.on_hold
        self.on_hold = not may_send
        if self.on_hold:
            self._want_python_out()
        if was_on_hold and not self.on_hold:
            self.last_packet_at = time.monotonic()  # the RTP timeout starts again on resume

    def _set_codec(self, codec: str, payload_type: int, dtmf_payload_type: int | None) -> None:
        if codec != self.codec:
            self.codec = codec
            self._encode = g711.encoder(codec)
            self._decode = g711.decoder(codec)
            self._silence = self._encode(np.zeros(FRAME_SAMPLES, np.int16))
        self.payload_type = payload_type
        self.dtmf_payload_type = dtmf_payload_type

    def _want_python_out(self) -> None:
        """What goes out next needs Python (the native session's lane sends audio and silence itself)."""

    def _relatch(self, remote: tuple[str, int]) -> None:
        """Send to the new address, and latch again to wherever the new stream comes from."""
        self.remote = remote
        self._remote_ssrc = None
        self._latched = None

    @property
    def lost(self) -> int:
        return self._lost_before + self._jitter.stats.lost

    def hold(self) -> None:
        """Send silence from the next packet on, keeping the queued audio for ``resume``."""
        self.playout.hold()

    def resume(self) -> None:
        self.playout.resume()

    @property
    def held(self) -> bool:
        return self.playout.held

    @property
    def played_samples(self) -> int:
        return self.playout.played_samples

    @property
    def first_audio_out_at(self) -> float | None:
        return self.playout.first_audio_out_at

    @property
    def last_audio_out_at(self) -> float:
        return self.playout.last_audio_out_at

    def pacing_stats(self) -> dict:
        """How late packets left against the 20 ms schedule (ms): median, p99 and worst."""
        return pacing_summary(self.send_lateness_ms)

    @property
    def playing(self) -> bool:
        return self.playout.playing

    async def wait_played(self) -> None:
        await self.playout.wait_played()

    def tick(self, due: float) -> None:
        """One 20 ms step of the call's media clock (media.clock): play one inbound frame out of
        the jitter buffer, send one packet (or advance the timestamp while on hold)."""
        self.send_lateness_ms.append(max(0.0, (self._loop_time() - due) * 1000))
        self._receive()
        self._tick_out()
        self._frames_to_report -= 1
        if self._frames_to_report <= 0:
            self._frames_to_report = RTCP_INTERVAL_FRAMES
            self._send_rtcp()

    def _tick_out(self) -> None:
        """The outbound half of a tick: a DTMF event, 20 ms of agent audio, or silence."""
        event = self._dtmf_out.next() if self._dtmf_out.busy and not self.on_hold else None
        if event is not None and self.dtmf_payload_type is not None:
            payload, marker, starts = event
            if starts:
                self._dtmf_ts = self._ts
            self._send(payload, marker, payload_type=self.dtmf_payload_type, timestamp=self._dtmf_ts)
            if self.on_sent is not None:
                self.on_sent(None)
            return
        frame = self.playout.next_frame(paused=self.on_hold) if self.playout.playing else None
        marker = frame is not None and not self._talking
        self._talking = frame is not None
        if self.on_sent is not None:
            self.on_sent(frame)
        if self.on_hold:
            self._advance()  # recvonly/inactive: send nothing, but the clock runs on
        else:
            self._send_audio(frame, marker)

    # -- RTCP ----------------------------------------------------------------------------

    def _send_rtcp(self, bye: bool = False) -> None:
        if self._rtcp is None:
            return
        block = self.rx_stats.block(self._remote_ssrc, time.time()) if self._remote_ssrc is not None else None
        data = build_report(self._ssrc, time.time(), rtp_timestamp=self._ts, packets_sent=self.packets_out,
                            octets_sent=self.octets_out, block=block)
        if bye:  # RFC 3550 §6.6: the stream ends
            data += struct.pack("!BBHI", 0x81, 203, 1, self._ssrc)
        if self.srtp is not None:
            data = self.srtp.protect_rtcp(data)
        self._rtcp.sendto(data, self._rtcp_remote or (self.remote[0], self.remote[1] + 1))
        self.rtcp_out += 1

    def rtcp_received(self, data: bytes, addr) -> None:
        try:
            if self.srtp is not None:
                data = self.srtp.unprotect_rtcp(data)
            reports = parse_reports(data)
        except (RtcpError, SrtpError):
            self.bad_packets += 1
            return
        self.rtcp_in += 1
        self._rtcp_remote = (addr[0], addr[1])  # symmetric RTCP
        now = time.time()
        for report in reports:
            if report.kind == RTCP_SR:
                self.rx_stats.on_sender_report(report, now)
            for block in report.blocks:
                if block.ssrc == self._ssrc:
                    rtt = round_trip_ms(block, now)
                    self.peer_report = {"fraction_lost": round(block.fraction_lost / 256, 4),
                                        "cumulative_lost": block.cumulative_lost,
                                        "jitter_ms": round(block.jitter / 8, 1),
                                        "rtt_ms": round(rtt, 1) if rtt is not None else self.peer_report.get("rtt_ms")}

    def stats(self) -> dict:
        """The call's media statistics for the call record."""
        rx = self.rx_stats
        return {"packets_in": self.packets_in, "packets_out": self.packets_out, "bad_packets": self.bad_packets,
                "foreign_packets": self.foreign_packets,
                "lost": self.lost, "expected_in": rx.expected, "lost_in": rx.cumulative_lost,
                "jitter_in_ms": round(rx.jitter / 8, 1), "ssrc_changes": self.ssrc_changes,
                "rtcp_in": self.rtcp_in, "rtcp_out": self.rtcp_out, "peer_report": self.peer_report,
                "jitter_buffer": self.jitter_stats(),
                "srtp": self.srtp.suite if self.srtp else None,
                "srtp_auth_failures": self.srtp.auth_failures if self.srtp else 0,
                "send_pacing": self.pacing_stats()}

    def jitter_stats(self) -> dict:
        return _jitter_summary(self._jitter.target_s, self._jitter.stats)

    def _send_audio(self, frame: np.ndarray | None, marker: bool) -> None:
        """Send 20 ms of agent audio (None: silence)."""
        self._send(self._encode(frame) if frame is not None else self._silence, marker)

    def _advance(self) -> None:
        """Time passes without a packet: the timestamp moves on, the sequence number does not."""
        self._ts = (self._ts + FRAME_SAMPLES) & 0xFFFFFFFF
        self._talking = False

    def _send(self, payload: bytes, marker: bool, payload_type: int | None = None, timestamp: int | None = None) -> None:
        seq = self._seq
        self._seq = (seq + 1) & 0xFFFF
        ts = self._ts
        self._ts = (ts + FRAME_SAMPLES) & 0xFFFFFFFF
        if self._transport is not None:
            data = build_rtp(self.payload_type if payload_type is None else payload_type, seq,
                             ts if timestamp is None else timestamp, self._ssrc, payload, marker)
            if self.srtp is not None:
                try:
                    data = self.srtp.protect(data)
                except SrtpError as exc:
                    log.warning("RTP port %s: %s", self.port, exc)
                    return
            self._transport.sendto(data, self.remote)  # a datagram the kernel drops counts as sent, as loss
            self.packets_out += 1
            self.octets_out += len(payload)

    def close(self) -> None:
        media_clock().remove(self)
        # The app's callbacks (its bound methods hold the app, which holds this session) and the jitter
        # buffer's pause test (a bound method of this session) are cycles: cut them, so that the call's
        # memory goes back when its last reference does, not at the garbage collector's next full pass.
        self.on_frame, self.on_dtmf = _ignore, _ignore
        self._close_media()
        if self._rtcp:
            self._send_rtcp_bye()
            self._rtcp.close()
        self.playout.release()

    def _close_media(self) -> None:
        self._jitter.quiet = _never_quiet
        if self._transport:
            self._transport.close()

    def _send_rtcp_bye(self) -> None:
        try:
            self._send_rtcp(bye=True)
        except (OSError, SrtpError):
            pass


def _jitter_summary(target_s: float, st) -> dict:
    """A jitter buffer's figures for the call record (``st``: JitterStats or the native buffer)."""
    return {"target_ms": round(target_s * 1000), "mean_delay_ms": round(st.mean_delay_ms, 1),
            "played": st.played, "concealed": st.concealed, "late": st.late, "duplicates": st.duplicates,
            "underruns": st.underruns, "shrinks": st.shrinks, "grows": st.grows}
