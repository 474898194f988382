"""Text to speech with Piper (ONNX voice), resampled to telephone rate."""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
from scipy.signal import resample_poly


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Resample float or int16 audio, returning int16."""
    if src != dst:
        g = math.gcd(src, dst)
        x = resample_poly(np.asarray(x, dtype=np.float32), dst // g, src // g)
    return np.clip(np.asarray(x, dtype=np.float32), -32768, 32767).astype(np.int16)


class PiperTTS:
    """The agent's voice. ``synthesize`` yields one int16 chunk per sentence at ``sample_rate``."""

    def __init__(self, model_path: str, *, sample_rate: int = 8000):
        from piper import PiperVoice

        self.voice = PiperVoice.load(str(model_path))
        self.native_rate = int(self.voice.config.sample_rate)
        self.sample_rate = sample_rate

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        for chunk in self.voice.synthesize(text):
            yield resample(chunk.audio_int16_array.astype(np.float32), chunk.sample_rate, self.sample_rate)
