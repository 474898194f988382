"""Speech recognition with faster-whisper (CTranslate2) over a local model directory."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import resample_poly

log = logging.getLogger("frontdesk.asr")


@dataclass
class Transcript:
    text: str
    confidence: float  # exp(mean token log-probability), 0..1
    no_speech_prob: float
    duration_s: float


class WhisperASR:
    """Loads one Whisper model per instance; ``transcribe`` is thread-confined by the caller."""

    def __init__(self, model_dir: str, *, cpu_threads: int = 2, beam_size: int = 1):
        from faster_whisper import WhisperModel

        self.model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=cpu_threads)
        self.beam_size = beam_size

    def transcribe(self, audio: np.ndarray, sample_rate: int = 8000, prompt: str | None = None) -> Transcript:
        """Transcribe int16 or float audio at ``sample_rate`` (8 kHz telephone audio by default)."""
        x = np.asarray(audio)
        if x.dtype == np.int16:
            x = x.astype(np.float32) / 32768.0
        x = x.astype(np.float32)
        if sample_rate != 16000:
            g = math.gcd(16000, sample_rate)
            x = resample_poly(x, 16000 // g, sample_rate // g).astype(np.float32)
        if x.size < 1600:
            return Transcript("", 0.0, 1.0, x.size / 16000)
        segments, _info = self.model.transcribe(
            x, language="en", beam_size=self.beam_size, vad_filter=False,
            condition_on_previous_text=False, initial_prompt=prompt, without_timestamps=True,
            temperature=0.0,
        )
        texts, logprobs, no_speech = [], [], []
        for seg in segments:
            if seg.no_speech_prob > 0.8 and seg.avg_logprob < -1.0:
                continue
            texts.append(seg.text.strip())
            logprobs.append(seg.avg_logprob)
            no_speech.append(seg.no_speech_prob)
        text = " ".join(t for t in texts if t).strip()
        conf = float(math.exp(sum(logprobs) / len(logprobs))) if logprobs else 0.0
        return Transcript(text, conf, max(no_speech) if no_speech else 1.0, x.size / 16000)
