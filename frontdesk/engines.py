"""Load the three local models once per process and run them off the event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import AsyncIterator

import numpy as np

from models.store import default_models_dir, model_for_role

from tts.phrases import PhraseCache, split_pieces

from .config import Config, ConfigError
from .workers import (
    FIRST_AUDIO, LATER, SPECULATIVE, TURN, EngineFailure, Overloaded, PriorityWorker, lower_thread_priority,
)

log = logging.getLogger("frontdesk.engines")
TTS_TIMEOUT_S = 5.0  # one clause; Piper takes 0.1-0.5 s, longer means the worker is wedged


def model_path(cfg: Config, role: str) -> Path:
    configured = getattr(cfg.models, role)
    if configured:
        return Path(configured).expanduser()
    path = model_for_role(role).path(default_models_dir())
    if not path.exists():
        raise ConfigError(f"models.{role}: the default model is not installed at {path} (run: frontdesk models install)")
    return path


def trim_leading_silence(pcm: np.ndarray, threshold_db: float = -55.0, keep_samples: int = 80) -> np.ndarray:
    """Drop the voice's silent lead-in (40-80 ms with Piper), keeping 10 ms: the caller hears
    the reply that much sooner."""
    x = np.abs(pcm.astype(np.int32))
    loud = np.flatnonzero(x > 32768 * 10 ** (threshold_db / 20) * 4)  # a sample well above the floor
    if loud.size == 0:
        return pcm
    return pcm[max(0, int(loud[0]) - keep_samples):]


class Engines:
    """The three models, loaded once and shared by every call through prioritised workers."""

    def __init__(self, cfg: Config):
        from asr.whisper import WhisperASR
        from llm.llama import LlamaLLM
        from tts.piper import PiperTTS

        paths = {role: model_path(cfg, role) for role in ("asr", "tts", "llm")}
        lower_thread_priority()  # the models' thread pools start here and inherit it
        t = time.monotonic()
        self.asr = WhisperASR(str(paths["asr"]), cpu_threads=cfg.models.threads)
        self.tts = PiperTTS(str(paths["tts"]), sample_rate=8000)
        self.llm = LlamaLLM(str(paths["llm"]), n_threads=cfg.models.threads)
        log.info("models loaded in %.1f s", time.monotonic() - t)
        voice = paths["tts"]
        voice_id = f"{voice.stem}-{voice.stat().st_size}-{self.tts.sample_rate}-trim1"
        self.phrases = PhraseCache(voice_id, cfg.data_dir / "tts-cache")
        self.asr_worker = PriorityWorker("asr")
        self.llm_worker = PriorityWorker("llm")
        self.tts_worker = PriorityWorker("tts")

    def workers(self) -> list[PriorityWorker]:
        return [self.asr_worker, self.llm_worker, self.tts_worker]

    async def transcribe(self, audio: np.ndarray, prompt: str | None = None, *, priority: int = TURN):
        return await asyncio.wrap_future(self.asr_worker.submit(priority, self.asr.transcribe, audio, 8000, prompt))

    def transcribe_later(self, audio: np.ndarray, prompt: str | None = None) -> Future:
        """Speculative recognition: runs when nothing more urgent waits; cancel() if not needed."""
        return self.asr_worker.submit(SPECULATIVE, self.asr.transcribe, audio, 8000, prompt)

    async def run_llm(self, fn, *args):
        """Run a blocking function that uses the language model on its worker thread."""
        return await asyncio.wrap_future(self.llm_worker.submit(TURN, fn, *args))

    def _synthesize_piece(self, text: str) -> np.ndarray:
        chunks = list(self.tts.synthesize(text))
        return trim_leading_silence(np.concatenate(chunks)) if chunks else np.zeros(0, np.int16)

    async def synthesize(self, text: str, cancel: threading.Event | None = None) -> AsyncIterator[tuple[str, np.ndarray]]:
        """Yield (piece, 8 kHz int16 audio) clause by clause, each as soon as it is ready. Cached
        fixed phrases cost nothing; the first piece to synthesize goes ahead of other calls' work.
        Setting ``cancel`` (barge-in) drops the pieces not yet synthesized."""
        pieces = split_pieces(text)
        futures: list[Future | None] = []
        first = True
        for piece in pieces:
            if self.phrases.get(piece) is not None:
                futures.append(None)
                continue
            futures.append(self.tts_worker.submit(FIRST_AUDIO if first else LATER, self._synthesize_piece, piece))
            first = False
        try:
            for piece, future in zip(pieces, futures):
                if cancel is not None and cancel.is_set():
                    break
                try:
                    pcm = self.phrases.get(piece) if future is None else \
                        await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), TTS_TIMEOUT_S)
                except asyncio.TimeoutError:
                    raise EngineFailure(f"speech synthesis gave nothing in {TTS_TIMEOUT_S:.0f} s") from None
                except Overloaded:
                    raise
                except Exception as exc:
                    raise EngineFailure(f"speech synthesis failed: {exc!r}") from None
                if cancel is not None and cancel.is_set():
                    break
                yield piece, pcm
        finally:
            for future in futures:
                if future is not None:
                    future.cancel()

    def prepare_phrases(self, phrases: list[str]) -> None:
        """Synthesize fixed phrases once (disk-cached across restarts); blocking, at start-up."""
        t = time.monotonic()
        pieces = dict.fromkeys(p for text in phrases for p in split_pieces(text))
        for piece in pieces:
            self.phrases.load_or_make(piece, self._synthesize_piece)
        log.info("%d fixed phrases ready in %.1f s", len(pieces), time.monotonic() - t)

    def warm(self, messages: list[dict]) -> None:
        t = time.monotonic()
        self.llm_worker.call(self.llm.warm, messages)
        self.tts_worker.call(self._synthesize_piece, "Hello.")
        self.asr_worker.call(self.asr.transcribe, np.zeros(8000, np.int16), 8000)
        log.info("models warmed in %.1f s", time.monotonic() - t)

    def inject_fault(self, spec: str) -> None:
        """Chaos testing ($FRONTDESK_FAULT, e.g. "llm:hang" or "asr:crash"): from now on that
        model's jobs block forever or raise, as a wedged or broken model would."""
        engine, _, kind = spec.partition(":")
        target = {"asr": (self.asr, "transcribe"), "llm": (self.llm, "score"), "tts": (self.tts, "synthesize")}
        if engine not in target or kind not in ("hang", "crash"):
            raise ValueError(f"FRONTDESK_FAULT: expected asr|llm|tts:hang|crash, got {spec!r}")
        obj, name = target[engine]

        def broken(*args, **kwargs):
            if kind == "hang":
                threading.Event().wait()
            raise RuntimeError(f"injected fault: {spec}")

        setattr(obj, name, broken)
        log.warning("fault injected: %s", spec)

    def close(self) -> None:
        for worker in self.workers():
            worker.close()
