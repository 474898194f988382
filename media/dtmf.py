"""RFC 4733 telephone-event payloads: decode digits, build events. Sans-IO."""

from __future__ import annotations

import struct
from dataclasses import dataclass

EVENTS = "0123456789*#ABCD"


@dataclass
class ToneEvent:
    event: int
    end: bool
    volume: int
    duration: int

    @property
    def digit(self) -> str | None:
        return EVENTS[self.event] if self.event < len(EVENTS) else None


def parse_event(payload: bytes) -> ToneEvent | None:
    if len(payload) < 4:
        return None
    event, flags, duration = struct.unpack("!BBH", payload[:4])
    return ToneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


def build_event(digit: str, end: bool, duration: int, volume: int = 10) -> bytes:
    return struct.pack("!BBH", EVENTS.index(digit.upper()), (0x80 if end else 0) | (volume & 0x3F), duration)


class DtmfDetector:
    """Turns a stream of telephone-event packets into digits, once each.

    One digit is reported per event timestamp, at its first packet, so lost end packets or
    the three redundant end packets never double a digit.
    """

    def __init__(self) -> None:
        self._last_timestamp: int | None = None

    def feed(self, timestamp: int, payload: bytes) -> str | None:
        ev = parse_event(payload)
        if ev is None or ev.digit is None:
            return None
        if timestamp == self._last_timestamp:
            return None
        self._last_timestamp = timestamp
        return ev.digit
