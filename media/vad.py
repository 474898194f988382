"""Voice activity detection and end-of-utterance endpointing on 8 kHz, 20 ms frames. Sans-IO.

Each frame is judged speech by webrtcvad (when installed) and an energy gate above a tracked
noise floor. An utterance starts after ``start_ms`` of speech within a short window, keeps
``preroll_ms`` of audio from before its start, and ends after ``end_silence_ms`` of silence
(or at ``max_utterance_ms``). After ``speculate_ms`` of that silence a SpeechPaused event
carries the audio so far, so that recognition can start before the turn is over; the listener
may then ``hold_open`` the utterance (the caller is mid-number, say).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from .pcm import rms

try:  # webrtcvad-wheels
    import webrtcvad  # type: ignore
except ImportError:  # pragma: no cover - the energy gate alone still works
    webrtcvad = None

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
RECENT_FRAMES = 150  # 3 s: the window of the quietest-frame floor
_NATIVE_I16 = np.dtype("<i2")


def frame_energy_db(frame: np.ndarray) -> float:
    if not frame.size:
        return _FLOOR_DB
    level = rms(frame)
    return 10.0 * math.log10(max(level * level, 1.0)) - _FULL_SCALE_DB


_FULL_SCALE_DB = 20.0 * math.log10(32768.0)
_FLOOR_DB = -_FULL_SCALE_DB


@dataclass
class Utterance:
    audio: np.ndarray  # int16 at 8 kHz
    start_ms: int  # position in the inbound stream
    end_ms: int  # when the speech ended (before the trailing silence)
    detected_ms: int  # when end-of-utterance was declared


@dataclass
class SpeechStarted:
    start_ms: int


@dataclass
class SpeechPaused:
    """The caller has been quiet ``speculate_ms`` inside an utterance: a transcript of ``audio``
    started now is usually the final one, ready by the time the turn ends."""
    audio: np.ndarray
    start_ms: int
    end_ms: int  # the last voiced frame; an Utterance with the same end_ms has the same speech


class Endpointer:
    def __init__(self, *, aggressiveness: int = 2, start_ms: int = 100, end_silence_ms: int = 700,
                 preroll_ms: int = 200, max_utterance_ms: int = 20000, min_snr_db: float = 9.0,
                 floor_db: float = -55.0, speculate_ms: int = 100):
        self._vad = webrtcvad.Vad(aggressiveness) if webrtcvad is not None else None
        self.start_frames = max(1, start_ms // FRAME_MS)
        self.end_silence_ms = end_silence_ms
        self.speculate_ms = speculate_ms
        self._hold_ms = 0  # a longer end silence for the current utterance only
        self._cap_ms = 0  # a shorter one: the words so far are a whole answer
        self.max_frames = max_utterance_ms // FRAME_MS
        self.min_snr_db = min_snr_db
        self.noise_floor_db = floor_db
        self._recent: deque[tuple[int, float]] = deque()  # (frame, energy), increasing energy: the window's minimum first
        self._frame_no = 0
        self._preroll: deque[np.ndarray] = deque(maxlen=max(1, preroll_ms // FRAME_MS))
        self._window: deque[bool] = deque(maxlen=self.start_frames + 2)
        self._frames: list[np.ndarray] = []
        self._in_speech = False
        self._silence_frames = 0
        self._position_ms = 0
        self._speech_start_ms = 0
        self._last_voiced_ms = 0
        self.last_voiced = False

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    def is_speech(self, frame: np.ndarray) -> bool:
        energy = frame_energy_db(frame)
        # the floor is also the quietest frame of the last 3 s: speech always has quiet gaps
        # between words, steady sound (music, a fan) does not, so it cannot pass for speech
        recent, n = self._recent, self._frame_no
        self._frame_no += 1
        while recent and recent[-1][1] >= energy:
            recent.pop()
        recent.append((n, energy))
        if recent[0][0] <= n - RECENT_FRAMES:
            recent.popleft()
        floor = max(self.noise_floor_db, recent[0][1])
        loud = energy > floor + self.min_snr_db and energy > -50.0
        if not loud:
            # track the noise floor: fast down, slow up
            rate = 0.3 if energy < self.noise_floor_db else 0.02
            self.noise_floor_db += rate * (energy - self.noise_floor_db)
            return False
        if self._vad is not None and frame.size == FRAME_SAMPLES:
            data = frame if frame.dtype == _NATIVE_I16 and frame.flags.c_contiguous else frame.astype("<i2").tobytes()
            return bool(self._vad.is_speech(data, SAMPLE_RATE))
        return True

    def set_end_silence(self, ms: int) -> None:
        self.end_silence_ms = ms

    def hold_open(self, ms: int) -> None:
        """Wait at least ``ms`` of silence before ending the current utterance (this pause only)."""
        if self._in_speech:
            self._hold_ms = max(self._hold_ms, ms)
            self._cap_ms = 0

    def end_after(self, ms: int) -> None:
        """End the current utterance after ``ms`` of silence if that is sooner (this pause only):
        the words so far are a whole answer. A hold_open wins over it."""
        if self._in_speech and not self._hold_ms:
            self._cap_ms = ms

    def reset(self) -> None:
        self._frames = []
        self._in_speech = False
        self._silence_frames = 0
        self._hold_ms = self._cap_ms = 0
        self._window.clear()
        self._preroll.clear()

    def feed(self, frame: np.ndarray) -> list[Utterance | SpeechStarted | SpeechPaused]:
        """Feed one 20 ms frame (int16); returns speech-start and utterance events."""
        events: list[Utterance | SpeechStarted | SpeechPaused] = []
        voiced = self.is_speech(frame)
        self.last_voiced = voiced
        self._position_ms += FRAME_MS
        if not self._in_speech:
            self._preroll.append(frame)
            self._window.append(voiced)
            if sum(self._window) >= self.start_frames:
                self._in_speech = True
                self._frames = list(self._preroll)
                self._speech_start_ms = self._position_ms - FRAME_MS * len(self._frames)
                self._silence_frames = 0
                self._last_voiced_ms = self._position_ms
                self._preroll.clear()
                self._window.clear()
                events.append(SpeechStarted(self._speech_start_ms))
            return events
        self._frames.append(frame)
        if voiced:
            if self._silence_frames:
                self._hold_ms = self._cap_ms = 0  # speech again: the next pause is judged afresh
            self._silence_frames = 0
            self._last_voiced_ms = self._position_ms
        else:
            self._silence_frames += 1
        silence_ms = self._silence_frames * FRAME_MS
        end_silence = max(self.end_silence_ms, self._hold_ms)
        if self._cap_ms:
            end_silence = min(end_silence, self._cap_ms)
        if silence_ms >= end_silence or len(self._frames) >= self.max_frames:
            audio = np.concatenate(self._frames) if self._frames else np.zeros(0, np.int16)
            events.append(Utterance(audio, self._speech_start_ms, self._last_voiced_ms, self._position_ms))
            self._frames = []
            self._in_speech = False
            self._silence_frames = 0
            self._hold_ms = self._cap_ms = 0
        elif silence_ms == self.speculate_ms and self.speculate_ms < end_silence:
            events.append(SpeechPaused(np.concatenate(self._frames), self._speech_start_ms, self._last_voiced_ms))
        return events


PythonEndpointer = Endpointer  # the reference: the same decisions as the C one, in Python
try:  # the same endpointer in C (media/_native/endpointer.pxi), when frontdesk was built
    from ._native.native import Endpointer  # type: ignore[assignment]  # noqa: F811
except ImportError:  # pragma: no cover - a source tree without the build
    pass
