"""Barge-in: when caller audio during agent playback is a real interruption. Sans-IO.

The agent's own voice can come back on the line (echo, up to -10 dB, 0-300 ms late). Each caller
frame is compared with what the agent sent over the echo window: the best-matching delayed copy of
the agent's audio is fitted by least squares and removed. What is left is the caller. A frame
counts as the caller's only if it is speech-like (VAD) and the echo model explains less than
``echo_share`` of its energy, and it is loud enough to be the caller (``floor_db``, which follows
the caller's own level once they have spoken) rather than someone across the room.

Two stages, so that the agent goes quiet fast without being stopped by every "uh-huh":

* ``PAUSE`` after ``pause_ms`` of caller speech: the media layer holds the agent's audio (it
  sends silence but keeps what was queued);
* ``INTERRUPT`` once the caller has spoken ``min_speech_ms`` within ``window_ms``: the agent's
  turn is over;
* ``RESUME`` when the caller stops before that (a backchannel, a cough, a door): the held audio
  plays on from where it stopped.

A short burst that paused the agent is still transcribed afterwards: a real word ("stop", "no")
makes it an interruption after all, a backchannel does not (that is the session's call).
"""

from __future__ import annotations

import enum
from collections import deque

import numpy as np

from .vad import FRAME_MS, FRAME_SAMPLES, frame_energy_db


class BargeIn(enum.Enum):
    PAUSE = "pause"
    RESUME = "resume"
    INTERRUPT = "interrupt"


class BargeInDetector:
    def __init__(self, *, min_speech_ms: int = 600, pause_ms: int = 60, resume_gap_ms: int = 160,
                 window_ms: int = 1500, echo_window_ms: int = 340, echo_share: float = 0.8, floor_db: float = -36.0):
        self.min_speech_ms = min_speech_ms
        self.pause_ms = min(pause_ms, min_speech_ms)
        self.resume_gap_ms = resume_gap_ms
        self.echo_share = echo_share
        self.floor_db = floor_db
        self._ref = np.zeros((echo_window_ms // FRAME_MS + 1) * FRAME_SAMPLES, np.float64)
        self._window: deque[bool] = deque(maxlen=window_ms // FRAME_MS)
        self._run_ms = 0
        self._gap_ms = 0
        self.paused = False
        self.fired = False
        self.last_caller_like = False

    def set_caller_level(self, active_db: float) -> None:
        """The caller's own speech level (dBFS, from their turns): quieter sound is someone
        else in the room, not the caller taking the turn."""
        self.floor_db = float(np.clip(active_db - 10.0, -50.0, -34.0))

    def on_sent(self, frame: np.ndarray | None) -> None:
        """Every 20 ms frame the agent sends (None for silence)."""
        self._ref = np.roll(self._ref, -FRAME_SAMPLES)
        self._ref[-FRAME_SAMPLES:] = 0.0 if frame is None else frame.astype(np.float64)

    def reset(self) -> None:
        self._run_ms = self._gap_ms = 0
        self._window.clear()
        self.paused = False
        self.fired = False

    def residual(self, frame: np.ndarray) -> np.ndarray:
        """The frame with the best-fitting delayed copy of the agent's audio taken out: the
        caller's part of it (float64)."""
        x = frame.astype(np.float64)
        ref = self._ref
        if not ref.any():
            return x
        n = x.size
        corr = np.correlate(ref, x, mode="valid")  # <ref[k:k+n], x> for every lag k
        sq = np.convolve(ref * ref, np.ones(n), mode="valid")  # ||ref[k:k+n]||^2
        with np.errstate(divide="ignore", invalid="ignore"):
            explained = np.where(sq > 1e-9, corr * corr / sq, 0.0)  # energy the best gain removes
        k = int(np.argmax(explained))
        if sq[k] <= 1e-9:
            return x
        return x - (corr[k] / sq[k]) * ref[k:k + n]

    def caller_like(self, frame: np.ndarray, voiced: bool) -> bool:
        if not voiced:
            return False
        total = frame_energy_db(frame)
        residual = self.residual(frame)
        self.last_residual = residual
        left = 20.0 * np.log10(max(float(np.sqrt(np.mean(residual * residual))), 1.0) / 32768.0)
        # echo alone leaves little; a caller leaves most of the energy in place
        return left > self.floor_db and left > total + 10 * np.log10(1 - self.echo_share)

    def on_received(self, frame: np.ndarray, voiced: bool, playing: bool) -> BargeIn | None:
        """Feed each caller frame with whether the agent has audio to play (held audio counts)."""
        self.last_caller_like = False
        self.last_residual = None  # the caller's part of this frame, when it was computed
        if not playing:
            self.reset()
            return None
        if self.fired:
            return None
        self.last_caller_like = self.caller_like(frame, voiced)
        self._window.append(self.last_caller_like)
        if self.last_caller_like:
            self._run_ms += FRAME_MS
            self._gap_ms = 0
        else:
            self._gap_ms += FRAME_MS
            if self._gap_ms > 40:  # an isolated click or two is not the start of speech
                self._run_ms = 0
        # "No, no, that's the wrong day" comes in bursts: count the caller's speech over a window
        if FRAME_MS * sum(self._window) >= self.min_speech_ms:
            self.fired = True
            return BargeIn.INTERRUPT
        if self.paused:
            if self._gap_ms >= self.resume_gap_ms:
                self.paused = False
                return BargeIn.RESUME
            return None
        if self._run_ms >= self.pause_ms:
            self.paused = True
            return BargeIn.PAUSE
        return None
