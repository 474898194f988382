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


def pacing_summary(lateness_ms) -> dict:
    """How late frames left against the 20 ms schedule (ms): median, p99 and worst."""
    values = sorted(lateness_ms)
    if not values:
        return {}
    return {"n": len(values), "p50_ms": round(values[len(values) // 2], 2),
            "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))], 2),
            "max_ms": round(values[-1], 2)}


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
