"""Packet loss concealment for G.711 by pitch waveform substitution. Sans-IO.

In the spirit of ITU-T G.711 Appendix I: when a frame is missing, the pitch period of the last
received speech is found by autocorrelation and the last period is repeated. As the erasure grows,
more periods (up to three) are cycled so the sound does not buzz, and after the first 10 ms the
signal fades by 20% per 10 ms, to silence at 60 ms. The first good frame after an erasure is
cross-faded with the continuing synthetic signal. Own implementation; no code from the standard.
"""

from __future__ import annotations

from collections import deque

import numpy as np

RATE = 8000
PITCH_MIN = 40  # 200 Hz
PITCH_MAX = 120  # 66.7 Hz
CORR_LEN = 160  # 20 ms matched when searching the pitch
HISTORY = 3 * PITCH_MAX + CORR_LEN // 2
FADE_START = 80  # samples (10 ms) at full level
FADE_STEP = 80  # then 20% less every 10 ms
SILENT_AFTER = FADE_START + 5 * FADE_STEP  # 60 ms


def find_pitch(history: np.ndarray) -> int:
    """The lag in PITCH_MIN..PITCH_MAX whose normalised correlation with the last CORR_LEN samples is highest."""
    x = history.astype(np.float64)
    tail = x[-CORR_LEN:]
    best, best_score = PITCH_MIN, -np.inf
    energy_tail = float(np.dot(tail, tail)) + 1e-9
    for lag in range(PITCH_MIN, PITCH_MAX + 1):
        seg = x[-CORR_LEN - lag:-lag]
        energy = float(np.dot(seg, seg)) + 1e-9
        score = float(np.dot(tail, seg)) / np.sqrt(energy * energy_tail)
        if score > best_score:
            best, best_score = lag, score
    return best


class G711Concealer:
    """Feed every played frame through ``good`` and ask ``conceal`` for each missing one."""

    def __init__(self) -> None:
        self._history = np.zeros(HISTORY, np.float64)
        self._recent: deque[np.ndarray] = deque(maxlen=HISTORY // 80 + 1)  # good frames not yet in _history
        self._erased = 0  # samples concealed in the current erasure
        self._pitch = PITCH_MIN
        self._periods = 0
        self._loop = np.zeros(0)
        self._phase = 0
        self.concealed_frames = 0

    def good(self, frame: np.ndarray) -> np.ndarray:
        """A received frame. Returns it, cross-faded into the end of a concealment if one just ended."""
        if not self._erased:  # the common case: remember it, pass it through untouched
            self._recent.append(frame)
            return frame
        self._flush_recent()
        out = frame.astype(np.float64)
        if self._erased:
            # Appendix I's rule: overlap 1/4 pitch, plus 4 ms per extra 10 ms erased, at most 10 ms
            overlap = min(self._pitch // 4 + 32 * max(0, self._erased // 80 - 1), 80, out.size)
            if overlap > 0 and self._erased < SILENT_AFTER + 80:
                synth = self._synthesize(overlap)
                ramp = (np.arange(overlap) + 0.5) / overlap
                out[:overlap] = synth * (1 - ramp) + out[:overlap] * ramp
            self._erased = 0
        self._remember(out)
        return np.clip(out, -32768, 32767).astype(np.int16)

    def conceal(self, n: int = 160) -> np.ndarray:
        """n samples to play in place of a lost frame."""
        self.concealed_frames += 1
        self._flush_recent()
        if self._erased == 0:
            self._pitch = find_pitch(self._history)
            self._periods = 0
            self._phase = 0
        out = self._synthesize(n)
        self._remember(out)  # so that a long erasure keeps continuity with what was played
        return np.clip(out, -32768, 32767).astype(np.int16)

    def _synthesize(self, n: int) -> np.ndarray:
        out = np.empty(n)
        done = 0
        while done < n:
            # 1 period for the first 10 ms, 2 for the next 10 ms, then 3
            periods = 1 if self._erased < 80 else (2 if self._erased < 160 else 3)
            if periods != self._periods:
                self._build_loop(periods)
            take = min(n - done, 80 - self._erased % 80)
            idx = (self._phase + np.arange(take)) % self._loop.size
            out[done:done + take] = self._loop[idx] * self._gains(self._erased, take)
            self._phase = (self._phase + take) % self._loop.size
            self._erased += take
            done += take
        return out

    def _build_loop(self, periods: int) -> None:
        """The last ``periods`` pitch periods of real signal, made to wrap around smoothly."""
        p = self._pitch
        hist = self._source if self._periods else self._history.copy()
        if not self._periods:
            self._source = hist
        length = periods * p
        loop = hist[-length:].copy()
        quarter = max(1, p // 4)
        # cross-fade the loop's end into what came just before its start, so the wrap is seamless
        before = hist[-length - quarter:-length]
        ramp = (np.arange(quarter) + 0.5) / quarter
        loop[-quarter:] = loop[-quarter:] * (1 - ramp) + before * ramp
        if self._periods:
            self._phase = self._phase % p + (periods - 1) * p  # keep the phase within the newest period
        self._loop = loop
        self._periods = periods

    @staticmethod
    def _gains(start: int, n: int) -> np.ndarray:
        pos = start + np.arange(n)
        return np.clip(1.0 - 0.2 * (pos - FADE_START) / FADE_STEP, 0.0, 1.0)

    def _flush_recent(self) -> None:
        if self._recent:
            recent = np.concatenate(list(self._recent)).astype(np.float64)
            self._recent.clear()
            self._remember(recent)

    def _remember(self, samples: np.ndarray) -> None:
        if samples.size >= HISTORY:
            self._history = samples[-HISTORY:].astype(np.float64)
        else:
            self._history = np.concatenate([self._history[samples.size:], samples])
