"""Adaptive jitter buffer for 20 ms audio frames, driven by the playout clock. Sans-IO.

``put`` files each arriving packet by sequence number with its arrival time; ``get`` is called
once per 20 ms tick and says what to play: a packet's payload, a frame to conceal, or silence.

- Reordered packets are put back in order; duplicates and packets that come after their
  playout time ("late") are dropped and counted.
- The target delay follows the measured jitter: a high quantile of the packets' relative transit
  times over the last few seconds, plus a margin.
- The delay moves towards the target only where nobody hears it: a quiet frame is skipped when the
  buffer holds too much, and a silent frame is inserted when it holds too little. A buffer far
  above its target (a burst after a stall) drops frames even in speech.
- Sender clock drift is the same problem slowed down: a fast sender fills the buffer (quiet frames
  are skipped), a slow one drains it (silence is inserted).
- A missing frame whose playout time has come, with later packets waiting, is lost: the caller
  conceals it. An empty buffer in the middle of a talkspurt is an underrun: the frame is concealed
  and playout waits for the packet (the delay grows by one frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

import numpy as np

T = TypeVar("T")

AUDIO, CONCEAL, SILENCE = "audio", "conceal", "silence"


def seq_diff(a: int, b: int) -> int:
    """a - b in 16-bit sequence space, in -32768..32767."""
    return ((a - b + 32768) & 0xFFFF) - 32768


@dataclass(frozen=True, slots=True)
class Playout(Generic[T]):
    kind: str  # AUDIO, CONCEAL or SILENCE
    payload: T | None = None


_PLAY_SILENCE: Playout = Playout(SILENCE)  # one each, not one per 20 ms tick
_PLAY_CONCEAL: Playout = Playout(CONCEAL)


@dataclass
class JitterStats:
    received: int = 0
    played: int = 0
    concealed: int = 0  # lost packets and underruns in speech
    lost: int = 0  # frames whose packet never came in time
    late: int = 0  # packets that came after their playout time
    duplicates: int = 0
    underruns: int = 0
    shrinks: int = 0  # frames skipped to cut the delay
    grows: int = 0  # silent frames inserted to raise it
    resyncs: int = 0
    delay_sum_s: float = 0.0  # time each played packet waited in the buffer

    @property
    def mean_delay_ms(self) -> float:
        return 1000 * self.delay_sum_s / self.played if self.played else 0.0


class AdaptiveJitterBuffer(Generic[T]):
    def __init__(self, *, frame_ms: int = 20, clock_rate: int = 8000, min_delay_ms: int = 20,
                 max_delay_ms: int = 300, initial_delay_ms: int = 40, quantile: float = 0.97,
                 margin_ms: float = 3.0, window: int = 250, quiet: Callable[[T], bool] | None = None):
        self.frame_s = frame_ms / 1000
        self.samples_per_frame = clock_rate * frame_ms // 1000
        self.clock_rate = clock_rate
        self.min_delay_s = min_delay_ms / 1000
        self.max_delay_s = max_delay_ms / 1000
        self.quantile = quantile
        self.margin_s = margin_ms / 1000
        self.quiet = quiet or (lambda payload: False)
        self.target_s = initial_delay_ms / 1000
        self.stats = JitterStats()
        # the last `window` packets' relative transit times and arrival times, in ring buffers (the
        # estimate needs neither their order nor a copy): _n held, the next written at _pos
        self._transit = np.zeros(window)
        self._arrivals = np.zeros(window)
        self._n = self._pos = 0
        self._packets: dict[int, tuple[T, float]] = {}  # seq -> (payload, arrival)
        self._next: int | None = None  # the sequence number to play next
        self._newest: int | None = None
        self._last_ts: int | None = None
        self._ext_ts = 0  # timestamps unwrapped past 2^32
        self._since_estimate = 0
        self._talking = False  # the last tick played speech (or concealed it)
        self._idle = False  # the buffer ran dry outside speech: refill to the target first
        self._dry = 0  # ticks in a row with nothing to play
        self._quiet_run = 0  # quiet frames played in a row
        self._avg_level = 0.0

    # -- input ---------------------------------------------------------------------------

    def put(self, seq: int, timestamp: int, payload: T, arrival: float) -> None:
        st = self.stats
        st.received += 1
        if self._next is not None:
            d = seq_diff(seq, self._next)
            if d < -1000 or d > 1000:  # the sender jumped or restarted its sequence
                self._resync()
            elif d < 0:
                st.late += 1
                self._observe(timestamp, arrival, late=True)  # a late packet is the jitter we failed to cover
                return
        if seq in self._packets:
            st.duplicates += 1
            return
        self._packets[seq] = (payload, arrival)
        if self._newest is None or seq_diff(seq, self._newest) > 0:
            self._newest = seq
        self._observe(timestamp, arrival)
        # never hold more than the largest delay: the oldest goes (it would be too late anyway)
        while len(self._packets) * self.frame_s > self.max_delay_s + self.frame_s:
            oldest = self._oldest()
            del self._packets[oldest]
            st.lost += 1
            if self._next is not None and oldest == self._next:
                self._next = (self._next + 1) & 0xFFFF

    def _oldest(self) -> int:
        newest = self._newest
        return min(self._packets, key=lambda s: seq_diff(s, newest if newest is not None else s))

    def _observe(self, timestamp: int, arrival: float, late: bool = False) -> None:
        """Record the packet's relative transit time; re-estimate the target twice a second
        (at once after a late packet, but not more than every third packet: a burst of late packets
        after a stall would otherwise re-estimate on each)."""
        if self._last_ts is not None:
            step = ((timestamp - self._last_ts + 2**31) & 0xFFFFFFFF) - 2**31
            if abs(step) > self.clock_rate * 60:  # a timestamp jump (hold, restart): measure afresh
                self._n = self._pos = 0
            self._ext_ts += step
        self._last_ts = timestamp
        pos = self._pos
        self._transit[pos] = arrival - self._ext_ts / self.clock_rate
        self._arrivals[pos] = arrival
        self._pos = (pos + 1) % self._transit.size
        n = self._n = min(self._n + 1, self._transit.size)
        self._since_estimate += 1
        if n >= 10 and (self._since_estimate >= 25 or (late and self._since_estimate >= 3) or n < 50):
            self._since_estimate = 0
            self.target_s = min(self.max_delay_s, max(self.min_delay_s, self._spread() + self.margin_s))

    def _spread(self) -> float:
        """The quantile of relative transit times, with the senders' clock drift (a slope) removed."""
        n = self._n
        y = self._transit[:n]
        x = self._arrivals[:n]
        x = x - x.mean()
        denom = float(np.dot(x, x))
        if denom > 0:
            y = y - x * (float(np.dot(x, y - y.mean())) / denom)
        k = min(n - 1, int(self.quantile * n))
        return float(np.partition(y, k)[k] - y.min())

    def _resync(self) -> None:
        self._packets.clear()
        self._next = self._newest = None
        self._last_ts = None
        self._n = self._pos = 0
        self.stats.resyncs += 1

    # -- output --------------------------------------------------------------------------

    @property
    def level_frames(self) -> int:
        """Frames from the playout point to the newest packet held."""
        if self._next is None or self._newest is None or not self._packets:
            return 0
        return max(0, seq_diff(self._newest, self._next) + 1)

    @property
    def target_frames(self) -> int:
        return max(2, math.ceil(self.target_s / self.frame_s - 0.25))

    def get(self, now: float) -> Playout[T]:
        """What to play for the tick at ``now``."""
        st = self.stats
        if self._next is None or self._idle:
            if not self._packets:
                return _PLAY_SILENCE
            first = self._oldest()
            waited = now - self._packets[first][1]
            if waited + self.frame_s < self.target_s:
                return _PLAY_SILENCE  # (re)fill up to the target delay before a talkspurt
            self._next = first
            self._idle = False
        if not self._packets:
            return self._underrun()
        level, target = self.level_frames, self.target_frames
        self._avg_level += 0.1 * (level - self._avg_level)  # the level jitters by a frame tick to tick
        item = self._packets.get(self._next)
        if item is None:
            if level < target and self._talking:
                # not too late for it yet: conceal one frame and wait (the delay grows by one frame)
                st.underruns += 1
                return self._conceal(advance=False)
            st.lost += 1  # a hole with later packets waiting, at its playout time: lost
            return self._conceal(advance=True)
        payload, arrival = item
        quiet = self.quiet(payload)
        pause = quiet and self._quiet_run >= 2  # inside a pause, not a quiet moment within a word
        if self._avg_level > target + 1 and level > target and pause and self._next_present(1):
            self._drop()
            self._avg_level -= 1
            st.shrinks += 1
            return self.get(now)
        if level > target + 6:  # far too much (a burst after a stall): cut even in speech
            self._drop()
            st.shrinks += 1
            return self.get(now)
        if self._avg_level < target - 0.5 and level <= target and pause:
            self._avg_level += 1
            st.grows += 1
            return _PLAY_SILENCE  # wait one frame in a pause: the delay grows unheard
        del self._packets[self._next]
        self._next = (self._next + 1) & 0xFFFF
        st.played += 1
        st.delay_sum_s += max(0.0, now - arrival)
        self._talking = not quiet
        self._quiet_run = self._quiet_run + 1 if quiet else 0
        self._dry = 0
        return Playout(AUDIO, payload)

    def _next_present(self, ahead: int) -> bool:
        assert self._next is not None
        return ((self._next + ahead) & 0xFFFF) in self._packets

    def _drop(self) -> None:
        assert self._next is not None
        self._packets.pop(self._next, None)
        self._next = (self._next + 1) & 0xFFFF

    def _underrun(self) -> Playout[T]:
        """Nothing to play. In speech, conceal and wait; after 60 ms (or in a pause) the stream
        has stopped (silence suppression, hold, the end): play silence and refill before resuming."""
        self._dry += 1
        if self._talking and self._dry <= 3:
            self.stats.underruns += 1
            return self._conceal(advance=False)
        self._talking = False
        self._idle = True
        return _PLAY_SILENCE

    def _conceal(self, advance: bool) -> Playout[T]:
        self.stats.concealed += 1
        if advance:
            assert self._next is not None
            self._next = (self._next + 1) & 0xFFFF
        return _PLAY_CONCEAL
