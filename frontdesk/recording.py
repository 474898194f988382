"""Call recording (off by default): the caller on the left channel, the agent on the right, 8 kHz
16-bit WAV, written when the call ends (encrypted when encryption at rest is on)."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Callable

import numpy as np

from tools.crypto import ContentCipher

FRAME = 160
MAX_FRAMES = 50 * 60 * 60  # one hour per channel at most


class Recorder:
    def __init__(self) -> None:
        self.caller: list[np.ndarray] = []
        self.agent: list[np.ndarray] = []

    def on_caller(self, frame: np.ndarray) -> None:
        if len(self.caller) < MAX_FRAMES:
            self.caller.append(frame)

    def on_agent(self, frame: np.ndarray | None) -> None:
        if len(self.agent) < MAX_FRAMES:
            self.agent.append(frame if frame is not None else np.zeros(FRAME, np.int16))

    def tap_caller(self, then: Callable[[np.ndarray], None]) -> Callable[[np.ndarray], None]:
        """A media on_frame callback that records each caller frame, then calls ``then``."""
        def on_frame(frame: np.ndarray) -> None:
            self.on_caller(frame)
            then(frame)
        return on_frame

    def tap_agent(self, then: Callable[[np.ndarray | None], None] | None) -> Callable[[np.ndarray | None], None]:
        """A media on_sent callback that records each agent frame (None: silence), then calls ``then``."""
        def on_sent(frame: np.ndarray | None) -> None:
            self.on_agent(frame)
            if then is not None:
                then(frame)
        return on_sent

    def wav_bytes(self) -> bytes:
        n = max(len(self.caller), len(self.agent)) * FRAME
        stereo = np.zeros((n, 2), np.int16)
        for ch, frames in enumerate((self.caller, self.agent)):
            if frames:
                pcm = np.concatenate(frames)
                stereo[:pcm.size, ch] = pcm
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(stereo.astype("<i2").tobytes())
        return buf.getvalue()

    def save(self, directory: Path, call_id: str, cipher: ContentCipher) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in call_id)[:120]
        path = directory / (f"{safe}.wav.enc" if cipher.enabled else f"{safe}.wav")
        path.write_bytes(cipher.seal_bytes(self.wav_bytes()))
        return path
