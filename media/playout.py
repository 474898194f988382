"""The agent's outbound audio for one call: a queue that a 20 ms clock drains, frame by frame.

Every transport (RTP, a Twilio Media Stream, a WebRTC track) plays agent speech through one of
these, so that barge-in pause/resume/clear and "how much did the caller hear" mean the same thing
on all of them.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import numpy as np

FRAME_SAMPLES = 160  # 20 ms at 8 kHz


class LatenessLog:
    """The last ``size`` pacing errors (ms) of one call, in a fixed numpy ring: a float object per
    frame in a deque would churn millions of small objects, whose freed memory the allocator keeps
    scattered across its arenas long after the calls end."""

    def __init__(self, size: int = 3000):
        self._ring = np.zeros(size, np.float32)
        self._n = 0

    def append(self, value_ms: float) -> None:
        self._ring[self._n % self._ring.size] = value_ms
        self._n += 1

    def values(self) -> np.ndarray:
        return self._ring[:min(self._n, self._ring.size)]

    def __len__(self) -> int:
        return min(self._n, self._ring.size)


def pacing_summary(lateness_ms) -> dict:
    """How late frames left against the 20 ms schedule (ms): median, p99 and worst."""
    values = np.sort(lateness_ms.values() if isinstance(lateness_ms, LatenessLog) else np.asarray(lateness_ms, float))
    if not values.size:
        return {}
    return {"n": int(values.size), "p50_ms": round(float(values[values.size // 2]), 2),
            "p99_ms": round(float(values[min(values.size - 1, int(values.size * 0.99))]), 2),
            "max_ms": round(float(values[-1]), 2)}


class Playout:
    def __init__(self) -> None:
        self._queue: deque[np.ndarray] = deque()
        self._queued_samples = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self.held = False  # barge-in pause: queued audio waits, silence goes out
        self.played_samples = 0
        self.first_audio_out_at: float | None = None  # monotonic time the current playback began
        self.last_audio_out_at = 0.0  # monotonic time the last agent audio frame went out

    def play(self, pcm: np.ndarray) -> None:
        """Queue int16 8 kHz audio."""
        if pcm.size == 0:
            return
        if self._queued_samples == 0:
            self.first_audio_out_at = None
        self._queue.append(np.asarray(pcm, dtype=np.int16))
        self._queued_samples += pcm.size
        self._drained.clear()

    def clear(self) -> int:
        """Stop playback now; returns how many queued samples were dropped."""
        dropped = self._queued_samples
        self._queue.clear()
        self._queued_samples = 0
        self.held = False
        self._drained.set()
        return dropped

    def hold(self) -> None:
        """Silence from the next frame on, keeping the queued audio for ``resume``."""
        self.held = True

    def resume(self) -> None:
        self.held = False

    @property
    def playing(self) -> bool:
        return self._queued_samples > 0

    @property
    def queued_samples(self) -> int:
        return self._queued_samples

    async def wait_played(self) -> None:
        await self._drained.wait()

    def release(self) -> None:
        """The call is over: nobody waits for audio that will not play."""
        self._drained.set()

    def next_frame(self, paused: bool = False) -> np.ndarray | None:
        """The next 20 ms of agent audio, or None for silence (nothing queued, held or paused)."""
        if not self._queue or self.held or paused:
            return None
        head = self._queue[0]
        if head.size >= FRAME_SAMPLES:  # the common case: a view of the queued audio, no copy
            out = head[:FRAME_SAMPLES]
            if head.size == FRAME_SAMPLES:
                self._queue.popleft()
            else:
                self._queue[0] = head[FRAME_SAMPLES:]
            return self._sent(out, FRAME_SAMPLES)
        out = np.zeros(FRAME_SAMPLES, np.int16)
        filled = 0
        while filled < FRAME_SAMPLES and self._queue:
            head = self._queue[0]
            take = min(FRAME_SAMPLES - filled, head.size)
            out[filled:filled + take] = head[:take]
            filled += take
            if take == head.size:
                self._queue.popleft()
            else:
                self._queue[0] = head[take:]
        return self._sent(out, filled)

    def _sent(self, out: np.ndarray, filled: int) -> np.ndarray:
        self._queued_samples -= filled
        now = time.monotonic()
        if self.first_audio_out_at is None:
            self.first_audio_out_at = now
        self.last_audio_out_at = now
        self.played_samples += FRAME_SAMPLES
        if self._queued_samples <= 0:
            self._queued_samples = 0
            self._drained.set()
        return out
