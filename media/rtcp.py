"""RTCP (RFC 3550 §6): sender and receiver reports, and the receiver statistics behind them. Sans-IO.

``ReceiverStats`` follows each incoming RTP packet (extended highest sequence number, loss per
Appendix A.3, interarrival jitter per A.8). ``build_report`` makes an SR (when we sent media) or an
RR with one report block about the peer; ``parse_reports`` reads the peer's SR/RR packets, skipping
SDES, BYE and anything else in the compound packet. The round-trip time comes from the peer's
report block about us: arrival - LSR - DLSR.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTCP_SR, RTCP_RR, RTCP_SDES = 200, 201, 202
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900 to 1970


class RtcpError(ValueError):
    pass


def ntp_time(unix: float) -> tuple[int, int]:
    secs = int(unix) + NTP_EPOCH_OFFSET
    return secs & 0xFFFFFFFF, int((unix % 1) * (1 << 32)) & 0xFFFFFFFF


def ntp_middle(unix: float) -> int:
    """The middle 32 bits of the NTP timestamp (units of 1/65536 s), as LSR and arrival times use."""
    hi, lo = ntp_time(unix)
    return ((hi & 0xFFFF) << 16) | (lo >> 16)


@dataclass
class ReportBlock:
    ssrc: int
    fraction_lost: int  # of 256
    cumulative_lost: int
    highest_seq: int
    jitter: int  # timestamp units
    lsr: int
    dlsr: int  # 1/65536 s


@dataclass
class Report:
    kind: int  # RTCP_SR or RTCP_RR
    ssrc: int
    blocks: list[ReportBlock]
    ntp: tuple[int, int] | None = None  # SR only
    packets_sent: int | None = None
    octets_sent: int | None = None


class ReceiverStats:
    """What we know about the peer's stream (RFC 3550 A.1, A.3, A.8)."""

    def __init__(self, clock_rate: int = 8000):
        self.clock_rate = clock_rate
        self.base_seq: int | None = None
        self.max_seq = 0
        self.cycles = 0
        self.received = 0
        self.jitter = 0.0  # timestamp units
        self._transit: float | None = None
        self._expected_prior = 0
        self._received_prior = 0
        self.last_sr_middle = 0  # LSR for our report: the middle of the peer's last SR NTP time
        self.last_sr_at: float | None = None

    def reset(self) -> None:
        self.__init__(self.clock_rate)

    def on_packet(self, seq: int, timestamp: int, arrival: float, timing: bool = True) -> None:
        """Count a packet of the stream. ``timing`` False (RFC 4733 events, whose timestamp is the
        event's start) counts it for loss but not for jitter."""
        if self.base_seq is None:
            self.base_seq = self.max_seq = seq
        else:
            delta = (seq - self.max_seq) & 0xFFFF
            if delta < 0x8000:  # in order (or a jump ahead)
                if seq < self.max_seq:
                    self.cycles += 1 << 16
                self.max_seq = seq
        self.received += 1
        if not timing:
            return
        transit = arrival * self.clock_rate - timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            if d < self.clock_rate * 10:  # not across a timestamp jump (hold, a new talkspurt clock)
                self.jitter += (d - self.jitter) / 16
        self._transit = transit

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return 0 if self.base_seq is None else self.extended_max - self.base_seq + 1

    @property
    def cumulative_lost(self) -> int:
        return max(0, self.expected - self.received)

    def block(self, ssrc: int, now: float) -> ReportBlock:
        expected, received = self.expected, self.received
        exp_int, rec_int = expected - self._expected_prior, received - self._received_prior
        self._expected_prior, self._received_prior = expected, received
        lost_int = exp_int - rec_int
        fraction = 0 if exp_int <= 0 or lost_int <= 0 else min(255, (lost_int << 8) // exp_int)
        dlsr = int((now - self.last_sr_at) * 65536) if self.last_sr_at is not None else 0
        return ReportBlock(ssrc, fraction, min(self.cumulative_lost, 0x7FFFFF), self.extended_max & 0xFFFFFFFF,
                           int(self.jitter), self.last_sr_middle, dlsr)

    def on_sender_report(self, report: Report, arrival: float) -> None:
        if report.ntp is not None:
            hi, lo = report.ntp
            self.last_sr_middle = ((hi & 0xFFFF) << 16) | (lo >> 16)
            self.last_sr_at = arrival


def build_report(ssrc: int, now: float, *, rtp_timestamp: int, packets_sent: int, octets_sent: int,
                 block: ReportBlock | None, cname: str = "frontdesk") -> bytes:
    """A compound RTCP packet: SR (or RR when nothing was sent) then SDES with our CNAME."""
    blocks = [block] if block is not None else []
    body = b"".join(struct.pack("!IB3sIIII", b.ssrc, b.fraction_lost, b.cumulative_lost.to_bytes(3, "big"),
                                b.highest_seq, b.jitter & 0xFFFFFFFF, b.lsr, b.dlsr & 0xFFFFFFFF) for b in blocks)
    if packets_sent > 0:
        hi, lo = ntp_time(now)
        payload = struct.pack("!IIIIII", ssrc, hi, lo, rtp_timestamp & 0xFFFFFFFF, packets_sent & 0xFFFFFFFF,
                              octets_sent & 0xFFFFFFFF) + body
        kind = RTCP_SR
    else:
        payload = struct.pack("!I", ssrc) + body
        kind = RTCP_RR
    first = struct.pack("!BBH", 0x80 | len(blocks), kind, len(payload) // 4) + payload
    name = cname.encode()[:255]
    item = struct.pack("!IBB", ssrc, 1, len(name)) + name + b"\x00"  # CNAME, then the end of the list
    item += b"\x00" * (-len(item) % 4)
    sdes = struct.pack("!BBH", 0x81, RTCP_SDES, len(item) // 4) + item
    return first + sdes


def parse_reports(data: bytes) -> list[Report]:
    """The SR and RR packets in a compound RTCP packet; RtcpError if it is not RTCP at all."""
    reports: list[Report] = []
    pos = 0
    if len(data) < 8:
        raise RtcpError("RTCP packet too short")
    while pos + 4 <= len(data):
        first, kind, length = struct.unpack_from("!BBH", data, pos)
        if first >> 6 != 2:
            raise RtcpError("not RTCP version 2")
        end = pos + 4 + length * 4
        if end > len(data):
            raise RtcpError("RTCP length runs past the packet")
        count = first & 0x1F
        if kind in (RTCP_SR, RTCP_RR):
            at = pos + 4
            if at + 4 > end:
                raise RtcpError("report without an SSRC")
            (ssrc,) = struct.unpack_from("!I", data, at)
            at += 4
            ntp = sent = octets = None
            if kind == RTCP_SR:
                if at + 20 > end:
                    raise RtcpError("short sender report")
                hi, lo, _ts, sent, octets = struct.unpack_from("!IIIII", data, at)
                ntp = (hi, lo)
                at += 20
            blocks = []
            for _ in range(count):
                if at + 24 > end:
                    raise RtcpError("short report block")
                bssrc, frac, lost3, highest, jitter, lsr, dlsr = struct.unpack_from("!IB3sIIII", data, at)
                lost = int.from_bytes(lost3, "big")
                if lost & 0x800000:
                    lost -= 1 << 24
                blocks.append(ReportBlock(bssrc, frac, lost, highest, jitter, lsr, dlsr))
                at += 24
            reports.append(Report(kind, ssrc, blocks, ntp, sent, octets))
        pos = end
    return reports


def round_trip_ms(block: ReportBlock, arrival: float) -> float | None:
    """RTT from the peer's report about our stream (None before it has seen an SR from us)."""
    if block.lsr == 0:
        return None
    rtt = (ntp_middle(arrival) - block.lsr - block.dlsr) & 0xFFFFFFFF
    if rtt > 0x7FFFFFFF:
        return 0.0
    return rtt / 65536 * 1000
