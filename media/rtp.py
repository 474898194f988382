"""RTP packets (RFC 3550 §5.1): parse and build. Sans-IO."""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER = struct.Struct("!BBHII")


class RtpError(ValueError):
    """A datagram that is not a valid RTP packet."""


@dataclass(slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrc: tuple[int, ...] = ()

    def serialize(self) -> bytes:
        if not self.csrc:
            return build_rtp(self.payload_type, self.sequence, self.timestamp, self.ssrc, self.payload, self.marker)
        first = 0x80 | len(self.csrc)
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        head = HEADER.pack(first, second, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF, self.ssrc)
        return head + b"".join(struct.pack("!I", c) for c in self.csrc) + self.payload


def build_rtp(payload_type: int, sequence: int, timestamp: int, ssrc: int, payload: bytes,
              marker: bool = False) -> bytes:
    """A packet without CSRCs, extension or padding (what a media sender sends every 20 ms)."""
    return HEADER.pack(0x80, (0x80 if marker else 0) | (payload_type & 0x7F), sequence & 0xFFFF,
                       timestamp & 0xFFFFFFFF, ssrc) + payload


def parse_rtp(data: bytes) -> RtpPacket:
    if len(data) < 12:
        raise RtpError("shorter than an RTP header")
    first, second, seq, ts, ssrc = HEADER.unpack_from(data)
    if first == 0x80 and not 72 <= second & 0x7F <= 76:  # the common case: a plain header
        return RtpPacket(second & 0x7F, seq, ts, ssrc, bytes(data[12:]), second > 0x7F)
    if first >> 6 != 2:
        raise RtpError("not RTP version 2")
    pt = second & 0x7F
    if 72 <= pt <= 76:
        raise RtpError("RTCP packet on the RTP port")
    offset = 12
    cc = first & 0x0F
    if len(data) < offset + 4 * cc:
        raise RtpError("truncated CSRC list")
    csrc = struct.unpack_from(f"!{cc}I", data, offset) if cc else ()
    offset += 4 * cc
    if first & 0x10:  # header extension
        if len(data) < offset + 4:
            raise RtpError("truncated header extension")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
        if len(data) < offset:
            raise RtpError("truncated header extension")
    end = len(data)
    if first & 0x20:  # padding
        pad = data[-1]
        if pad == 0 or offset + pad > end:
            raise RtpError("bad padding")
        end -= pad
    return RtpPacket(pt, seq, ts, ssrc, bytes(data[offset:end]), bool(second & 0x80), tuple(csrc))
