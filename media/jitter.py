"""A small reordering jitter buffer keyed by RTP sequence number. Sans-IO.

Packets are released in sequence order. A gap is waited for until ``depth`` later packets
have arrived, then declared lost (the caller conceals it). Duplicates and packets older
than what was already released are dropped.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


def seq_diff(a: int, b: int) -> int:
    """a - b in 16-bit sequence space, in -32768..32767."""
    return ((a - b + 32768) & 0xFFFF) - 32768


class JitterBuffer(Generic[T]):
    def __init__(self, depth: int = 3, max_size: int = 64):
        self.depth = depth
        self.max_size = max_size
        self._next: int | None = None
        self._pending: dict[int, T] = {}
        self.lost = 0
        self.late = 0
        self.duplicates = 0

    def push(self, seq: int, item: T) -> list[T | None]:
        """Add a packet; return what can be played now, with None for each lost packet."""
        if self._next is None:
            self._next = seq
        d = seq_diff(seq, self._next)
        if d > 1000 or d < -1000:  # the sender jumped or restarted its sequence: resynchronise
            self._pending.clear()
            self._next = seq
            d = 0
        if d < 0:
            self.late += 1
            return []
        if seq in self._pending:
            self.duplicates += 1
            return []
        self._pending[seq] = item
        out: list[T | None] = []
        while self._pending:
            if self._next in self._pending:
                out.append(self._pending.pop(self._next))
                self._next = (self._next + 1) & 0xFFFF
            elif len(self._pending) > self.depth or len(self._pending) >= self.max_size:
                out.append(None)
                self.lost += 1
                self._next = (self._next + 1) & 0xFFFF
            else:
                break
        return out
