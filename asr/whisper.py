"""Speech recognition with faster-whisper (CTranslate2) over a local model directory."""

from __future__ import annotations

import logging
import math
import re
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


SHORT_CONTEXT_MIN_FRAMES = 1000  # 10 s: shorter windows make tiny.en loop ("Yes. Yes. Yes.")
FULL_FRAMES = 3000  # Whisper's 30 s window
SHORT_CHECK_S, MIN_WORDS_PER_S = 5.0, 0.6  # a turn this long with fewer words was cut off: decode again


def _collapse_repeats(text: str) -> str:
    """'No, thank you. No, thank you.' -> 'No, thank you.' (a decoder loop, not the caller)."""
    parts = re.split(r"(?<=[.!?])\s+", text.strip())
    out: list[str] = []
    for part in parts:
        if not out or part.lower() != out[-1].lower():
            out.append(part)
    return " ".join(out)


class WhisperASR:
    """Loads one Whisper model per instance; ``transcribe`` is thread-confined by the caller.

    A caller's turn is a few seconds long, but Whisper encodes a 30 s window, padded with silence.
    CTranslate2 also takes a shorter window. Here it is cut to the clip plus 1 s, and at least 10 s.
    That is about 4x faster on this CPU and gives the same text on short turns. Repeated
    sentences, the usual artefact of a short window, are collapsed. Clips longer than 28 s use
    the library's own 30 s windowing.
    """

    def __init__(self, model_dir: str, *, cpu_threads: int = 2, beam_size: int = 1, short_context: bool = True):
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self.model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=cpu_threads)
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual, task="transcribe",
                                   language="en")
        self.beam_size = beam_size
        self.short_context = short_context

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
        if self.short_context and x.size < 28 * 16000:
            return self._short(x, prompt)
        return self._windowed(x, prompt)

    def _short(self, x: np.ndarray, prompt: str | None, frames: int = 0) -> Transcript:
        import ctranslate2

        frames = frames or min(FULL_FRAMES, max(SHORT_CONTEXT_MIN_FRAMES, int(math.ceil((x.size / 160 + 100) / 100)) * 100))
        padded = np.zeros(frames * 160, np.float32)
        padded[:x.size] = x
        feats = self.model.feature_extractor(padded)[:, :frames]
        features = ctranslate2.StorageView.from_array(np.ascontiguousarray(feats[None].astype(np.float32)))
        encoded = self.model.model.encode(features, to_cpu=False)
        tok = self.tokenizer
        tokens = list(tok.sot_sequence) + [tok.no_timestamps]
        if prompt:
            tokens = [tok.sot_prev] + tok.encode(" " + prompt.strip())[-200:] + tokens
        result = self.model.model.generate(
            # spelled letters and digits run to ~10 tokens a second ("B, H, A, T, T, ..."); a lower
            # cap cut read-backs short
            encoded, [tokens], beam_size=self.beam_size, max_length=min(440, len(tokens) + 16 + int(x.size / 16000 * 12)),
            return_scores=True, return_no_speech_prob=True, suppress_blank=True, suppress_tokens=[-1],
        )[0]
        ids = [t for t in result.sequences_ids[0] if t < tok.eot]
        text = _collapse_repeats(tok.decode(ids).strip())
        avg_logprob = float(result.scores[0]) if result.scores else -10.0
        no_speech = float(result.no_speech_prob)
        if no_speech > 0.8 and avg_logprob < -1.0:
            text = ""
        seconds = x.size / 16000
        if text and frames < FULL_FRAMES and seconds > SHORT_CHECK_S and len(text.split()) < seconds * MIN_WORDS_PER_S:
            # a long turn cut off after its first words ("Of course." for 12 s of spelling): in some
            # shortened windows the decoder ends early. The full window does not.
            return self._short(x, prompt, FULL_FRAMES)
        return Transcript(text, float(math.exp(avg_logprob)) if text else 0.0, no_speech, seconds)

    def _windowed(self, x: np.ndarray, prompt: str | None) -> Transcript:
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
