"""Barge-in: when caller audio during agent playback is a real interruption. Sans-IO.

The agent's own voice can come back on the line (echo, up to -10 dB, 0-300 ms late). Each caller
frame is compared with what the agent sent over the echo window: the best-matching delayed copy of
the agent's audio is fitted by least squares and removed. What is left is the caller. A frame
counts as the caller's only if it is speech-like (VAD) and the echo model explains less than
``echo_share`` of its energy. Speech must last ``min_speech_ms`` (short gaps forgiven) to
interrupt, so backchannels ("uh-huh", "okay") and clicks do not.
"""

from __future__ import annotations

import numpy as np

from .vad import FRAME_MS, FRAME_SAMPLES, frame_energy_db


class BargeInDetector:
    def __init__(self, *, min_speech_ms: int = 400, echo_window_ms: int = 340, echo_share: float = 0.8,
                 floor_db: float = -50.0):
        self.min_speech_ms = min_speech_ms
        self.echo_share = echo_share
        self.floor_db = floor_db
        self._ref = np.zeros((echo_window_ms // FRAME_MS + 1) * FRAME_SAMPLES, np.float64)
        self._speech_ms = 0
        self._gap_ms = 0
        self.fired = False

    def on_sent(self, frame: np.ndarray | None) -> None:
        """Every 20 ms frame the agent sends (None for silence)."""
        self._ref = np.roll(self._ref, -FRAME_SAMPLES)
        self._ref[-FRAME_SAMPLES:] = 0.0 if frame is None else frame.astype(np.float64)

    def reset(self) -> None:
        self._speech_ms = self._gap_ms = 0
        self.fired = False

    def residual_db(self, frame: np.ndarray) -> float:
        """Energy of the frame once the best-fitting echo of the agent's audio is removed."""
        x = frame.astype(np.float64)
        ref = self._ref
        if not ref.any():
            return frame_energy_db(frame)
        n = x.size
        corr = np.correlate(ref, x, mode="valid")  # <ref[k:k+n], x> for every lag k
        sq = np.convolve(ref * ref, np.ones(n), mode="valid")  # ||ref[k:k+n]||^2
        with np.errstate(divide="ignore", invalid="ignore"):
            explained = np.where(sq > 1e-9, corr * corr / sq, 0.0)  # energy the best gain removes
        k = int(np.argmax(explained))
        left = max(float(x @ x) - float(explained[k]), 0.0)
        return 20.0 * np.log10(max(np.sqrt(left / n), 1.0) / 32768.0)

    def caller_like(self, frame: np.ndarray, voiced: bool) -> bool:
        if not voiced:
            return False
        total = frame_energy_db(frame)
        left = self.residual_db(frame)
        # echo alone leaves little; a caller leaves most of the energy in place
        return left > self.floor_db and left > total + 10 * np.log10(1 - self.echo_share)

    def on_received(self, frame: np.ndarray, voiced: bool, playing: bool) -> bool:
        """Feed each caller frame; True once, when the caller has interrupted the agent."""
        if not playing:
            self.reset()
            return False
        if self.fired:
            return False
        if self.caller_like(frame, voiced):
            self._speech_ms += FRAME_MS
            self._gap_ms = 0
        else:
            self._gap_ms += FRAME_MS
            if self._gap_ms > 100:  # the stretch of speech is over
                self._speech_ms = 0
        if self._speech_ms >= self.min_speech_ms:
            self.fired = True
            return True
        return False
