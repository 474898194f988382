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


class DtmfSender:
    """Turns queued digits into RFC 4733 event packets, one per 20 ms tick. Sans-IO.

    Each digit is ``duration_ms`` of event packets sharing the event's start timestamp, with a
    growing duration, the marker bit on the first, and the end packet sent three times
    (RFC 4733 §2.5.1.4); then ``gap_ms`` of ordinary audio before the next digit.
    """

    def __init__(self, duration_ms: int = 100, gap_ms: int = 60, volume: int = 10, frame_samples: int = 160):
        self.frame = frame_samples
        self.frames_on = max(2, duration_ms * 8 // frame_samples)
        self.gap_frames = max(1, gap_ms * 8 // frame_samples)
        self.volume = volume
        self._digits: list[str] = []
        self._digit: str | None = None
        self._tick = 0
        self.sent_digits = 0

    def queue(self, digits: str) -> None:
        bad = [d for d in digits if d.upper() not in EVENTS]
        if bad:
            raise ValueError(f"not a DTMF digit: {''.join(bad)!r}")
        self._digits.extend(d.upper() for d in digits)

    @property
    def busy(self) -> bool:
        return self._digit is not None or bool(self._digits)

    def next(self) -> tuple[bytes, bool, bool] | None:
        """The event payload for this tick as (payload, marker, starts_event), or None when this
        tick carries audio (nothing queued, or the gap between digits)."""
        if self._digit is None:
            if not self._digits:
                return None
            self._digit = self._digits.pop(0)
            self._tick = 0
        tick = self._tick
        self._tick += 1
        last_on = self.frames_on + 2  # the end packet, then its two repeats
        if tick <= last_on:
            end = tick >= self.frames_on - 1
            duration = min(tick + 1, self.frames_on) * self.frame
            return build_event(self._digit, end, duration, self.volume), tick == 0, tick == 0
        if tick >= last_on + self.gap_frames:
            self._digit = None
            self.sent_digits += 1
            return self.next()
        return None
