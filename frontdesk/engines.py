"""Load the three local models once per process and run them off the event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import AsyncIterator

import numpy as np

from models.store import default_models_dir, model_for_role

from .config import Config, ConfigError

log = logging.getLogger("frontdesk.engines")


def model_path(cfg: Config, role: str) -> Path:
    configured = getattr(cfg.models, role)
    if configured:
        return Path(configured).expanduser()
    path = model_for_role(role).path(default_models_dir())
    if not path.exists():
        raise ConfigError(f"models.{role}: the default model is not installed at {path} (run: frontdesk models install)")
    return path


class Engines:
    def __init__(self, cfg: Config):
        from asr.whisper import WhisperASR
        from llm.llama import LlamaLLM
        from tts.piper import PiperTTS

        paths = {role: model_path(cfg, role) for role in ("asr", "tts", "llm")}
        t = time.monotonic()
        self.asr = WhisperASR(str(paths["asr"]), cpu_threads=cfg.models.threads)
        self.tts = PiperTTS(str(paths["tts"]), sample_rate=8000)
        self.llm = LlamaLLM(str(paths["llm"]), n_threads=cfg.models.threads)
        log.info("models loaded in %.1f s", time.monotonic() - t)
        self._asr_pool = ThreadPoolExecutor(1, thread_name_prefix="asr")
        self._tts_pool = ThreadPoolExecutor(1, thread_name_prefix="tts")
        self._llm_pool = ThreadPoolExecutor(1, thread_name_prefix="llm")

    async def transcribe(self, audio: np.ndarray, prompt: str | None = None):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._asr_pool, self.asr.transcribe, audio, 8000, prompt)

    def complete_json_blocking(self, messages: list[dict], schema: dict) -> dict:
        """For code already on the LLM worker thread (the dialog runs there via run_llm)."""
        return self.llm.complete_json(messages, schema)

    async def run_llm(self, fn, *args):
        """Run a blocking function that uses the language model on its worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._llm_pool, fn, *args)

    async def synthesize(self, text: str, cancel: threading.Event | None = None) -> AsyncIterator[np.ndarray]:
        """Yield 8 kHz int16 audio sentence by sentence, as soon as each is ready; ``cancel``
        stops the synthesis between sentences (barge-in)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def work() -> None:
            try:
                for chunk in self.tts.synthesize(text):
                    if cancel is not None and cancel.is_set():
                        break
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except Exception as exc:  # delivered to the consumer
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        future = loop.run_in_executor(self._tts_pool, work)
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            await asyncio.shield(future)

    def warm(self, messages: list[dict]) -> None:
        t = time.monotonic()
        self.llm.warm(messages)
        list(self.tts.synthesize("Hello."))
        self.asr.transcribe(np.zeros(8000, np.int16), 8000)
        log.info("models warmed in %.1f s", time.monotonic() - t)
