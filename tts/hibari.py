"""A second, different voice (hibari-tts, bundled American female voice) for the test caller."""

from __future__ import annotations

import numpy as np

from .piper import resample


class HibariTTS:
    def __init__(self, *, sample_rate: int = 8000):
        from hibari import Hibari

        self.engine = Hibari()
        self.native_rate = int(self.engine.sample_rate)
        self.sample_rate = sample_rate

    def synthesize_all(self, text: str) -> np.ndarray:
        audio = np.asarray(self.engine(text, seed=0), dtype=np.float32) * 32767.0
        return resample(audio, self.native_rate, self.sample_rate)
